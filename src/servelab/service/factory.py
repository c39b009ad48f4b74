"""The house-price Flask app: the system under test.

This package imports nothing from the lab side, so any WSGI server can run it and a user
can swap in their own app.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from . import auth, headers, metrics, openapi
from .config import ServiceConfig
from .guard import MemoryGuard, Rejected, return_freed_arrays
from .model import default_model
from .validation import (
    InvalidInput,
    PredictRequest,
    check_query_length,
    parse_predict,
    parse_request,
)
from .workloads import predict_cpu, predict_io, predict_numpy


def _predict(req: PredictRequest, config: ServiceConfig) -> int:
    if req.workload == "io":
        return predict_io(req.area, config.io_delay)
    if req.workload == "cpu":
        return predict_cpu(req.area, req.n)
    if req.workload == "numpy":
        return predict_numpy(req.area, req.n)
    return default_model().predict(req.area, req.floor, req.floors_count)


def _error(status: int, message: str, field: str | None = None) -> tuple[Response, int]:
    payload: dict[str, str] = {"error": message}
    if field is not None:
        payload["field"] = field
    return jsonify(payload), status


def create_app(config: ServiceConfig | Mapping[str, Any] | None = None) -> Flask:
    """Build the service. ``config`` overrides defaults; ``SERVELAB_*`` variables override it.

    Raises ``ServiceConfigError`` for invalid settings, before any request is served.
    """
    settings = config if isinstance(config, ServiceConfig) else ServiceConfig.load(config)
    app = Flask(__name__)
    app.extensions["servelab"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    memory_guard = MemoryGuard(settings.memory_budget)
    app.extensions["servelab.guard"] = memory_guard
    if settings.memory_budget is not None:
        return_freed_arrays()  # else freed arrays stay resident beyond the guard's sum
    if settings.workload == "model":
        default_model()  # train now, not inside the first request's latency

    @app.before_request
    def _mark_start() -> None:
        g.start_wall = time.time()
        g.start_perf = time.perf_counter()

    @app.after_request
    def _say_who_and_when(response: Response) -> Response:
        start_wall = g.get("start_wall")
        if start_wall is not None:
            duration_ms = (time.perf_counter() - g.start_perf) * 1000
            response.headers[headers.PID] = str(os.getpid())
            response.headers[headers.THREAD] = str(threading.get_native_id())
            response.headers[headers.START] = f"{start_wall:.6f}"
            response.headers[headers.SERVER_TIMING] = (
                f"{headers.SERVER_TIMING_METRIC};dur={duration_ms:.3f}"
            )
        return response

    @app.before_request
    def _refuse_long_queries() -> None:
        check_query_length(request.query_string)

    # Order matters only for before_request hooks: timing, the query's length, auth, metrics.
    auth.init_app(app, settings)
    metrics.init_app(app, settings)
    openapi.init_app(app, settings)

    @app.errorhandler(Rejected)
    def _rejected(error: Rejected) -> tuple[Response, int]:
        g.rejected = error.reason
        response, status = _error(error.status, error.message, "n")
        if error.retry_after is not None:
            response.headers["Retry-After"] = str(error.retry_after)
        return response, status

    @app.errorhandler(InvalidInput)
    def _invalid(error: InvalidInput) -> tuple[Response, int]:
        return _error(error.status, error.message, error.field)

    @app.errorhandler(MemoryError)
    def _out_of_memory(error: MemoryError) -> tuple[Response, int]:
        # Under an address-space limit (RLIMIT_AS) allocation fails in-process instead of the
        # kernel killing it; say so plainly rather than as a generic 500.
        return _error(500, "out of memory: MemoryError while computing the prediction")

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[Response, int]:
        response, status = _error(error.code or 500, error.description or error.name)
        # The exception's own headers say what the status needs: Allow on a 405, for one.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    @app.get("/")
    def home() -> str:
        return render_template("index.html", workload=settings.workload)

    @app.get("/health")
    def health() -> Response:
        return jsonify(status="ok", pid=os.getpid(), workload=settings.workload)

    @app.post("/predict")
    def predict() -> Response:
        body = parse_request(request)
        req = parse_predict(body, request.args, settings)
        g.workload = req.workload  # metrics label the request by it
        with memory_guard.admit(req.workload, req.n):
            price = _predict(req, settings)
        return jsonify(price=price)

    return app
