"""Prometheus metrics of the service, served at ``GET /metrics``.

Series (``endpoint`` is the Flask endpoint, ``unmatched`` when no route matched)::

    servelab_requests_total{endpoint,workload,status}            responses sent
    servelab_request_duration_seconds{endpoint,workload,status}  request start to response
    servelab_requests_in_flight                                  being served (scrapes excluded)
    servelab_rejected_total{reason}                              refused before doing the work

``workload`` is what the predict view put in ``flask.g.workload``: ``none`` on other routes
and for a prediction refused before its workload was known (bad input, missing token).
``reason`` is ``flask.g.rejected``: ``too-big`` or ``busy`` from the memory guard,
``unauthorized`` from auth. Every response counts, the 401s of auth included: the timing
starts on Flask's ``request_started`` signal, before any ``before_request`` hook can answer.

One process (the Flask dev server): every app gets its own ``CollectorRegistry``, with the
process and Python collectors, so building several apps in one process (tests do) never
registers a metric twice and each app counts only its own requests.

Several processes (gunicorn workers): set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory
before the server starts. Each worker then writes its values to files there and /metrics
merges all the files, so whichever worker answers a scrape shows the totals of all of them,
including workers that have died. The master must call ``mark_process_dead`` for each worker
that exits, or a dead worker's in-flight requests stay in the live gauge forever:
``gunicorn --config python:servelab.service.gunicorn_hooks`` does that. The directory must be
emptied between server runs; do not use it for two servers at once.
"""

from __future__ import annotations

import functools
import glob
import os
import time
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, g, request, request_finished, request_started
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    values,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from .config import ServiceConfig, ServiceConfigError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
ENDPOINT = "metrics"
NO_WORKLOAD = "none"
UNMATCHED = "unmatched"
# Up to two minutes: a cpu or numpy prediction with a large n takes tens of seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_START = "_servelab_metrics_start"
_IN_FLIGHT = "_servelab_metrics_in_flight"
# A worker's file starts with an 8-byte header (4 bytes: bytes used, 4 of padding).
_FILE_HEADER = 8


class WorkerFiles:
    """The multiprocess collector, minus the files a worker is still creating.

    prometheus_client creates a worker's ``*.db`` file empty and sizes it a moment later; its
    own collector reads every file it globs and fails on an empty one (``struct.error``,
    prometheus/client_python#1199), so a scrape that lands while a new worker boots (gunicorn
    replacing a killed worker) answered 500. A file without its header holds no values yet:
    skipping it loses nothing.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def collect(self) -> Iterable[Metric]:
        files = [f for f in glob.glob(os.path.join(self.path, "*.db")) if _has_header(f)]
        return MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call,no-any-return]


def _has_header(path: str) -> bool:
    try:
        return os.path.getsize(path) >= _FILE_HEADER
    except FileNotFoundError:  # a dead worker's live gauge, removed since the glob
        return False


class ServiceMetrics:
    """The service's metric objects and the registry that /metrics exposes."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        if multiprocess_dir is None:
            owner: CollectorRegistry | None = self.registry
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                self.registry.register(collector)
        else:
            # The metric objects write to this process's files; the registry reads everyone's.
            owner = None
            self.registry.register(WorkerFiles(multiprocess_dir))
        labels = ("endpoint", "workload", "status")
        self.requests = Counter("servelab_requests", "HTTP responses sent.", labels, registry=owner)
        self.duration = Histogram(
            "servelab_request_duration_seconds",
            "Seconds from the start of a request to its response.",
            labels,
            buckets=DURATION_BUCKETS,
            registry=owner,
        )
        self.in_flight = Gauge(
            "servelab_requests_in_flight",
            "Requests being served now, /metrics scrapes not counted.",
            registry=owner,
            multiprocess_mode="livesum",
        )
        self.rejected = Counter(
            "servelab_rejected",
            "Requests refused before doing the work, by reason.",
            ("reason",),
            registry=owner,
        )

    def __repr__(self) -> str:
        where = f"multiprocess {self.multiprocess_dir}" if self.multiprocess_dir else "in-process"
        return f"<ServiceMetrics {where}>"

    def started(self, sender: Flask, **extra: Any) -> None:
        """Flask's ``request_started``: time the request; count it in flight."""
        setattr(g, _START, time.perf_counter())
        if request.endpoint != ENDPOINT:
            self.in_flight.inc()
            setattr(g, _IN_FLIGHT, True)

    def finished(self, sender: Flask, response: Response, **extra: Any) -> None:
        """Flask's ``request_finished``: count the response and its duration."""
        start = g.get(_START)
        labels = (
            request.endpoint or UNMATCHED,
            str(g.get("workload") or NO_WORKLOAD),
            str(response.status_code),
        )
        self.requests.labels(*labels).inc()
        if start is not None:
            self.duration.labels(*labels).observe(time.perf_counter() - start)
        reason = g.get("rejected")
        if reason:
            self.rejected.labels(str(reason)).inc()

    def torn_down(self, error: BaseException | None) -> None:
        """Teardown runs after every request, also one that failed: leave flight."""
        if g.pop(_IN_FLIGHT, False):
            self.in_flight.dec()

    def exposition(self, accept: str) -> Response:
        """The registry in the format the ``Accept`` header asks for (Prometheus text or
        OpenMetrics)."""
        encoder, content_type = choose_encoder(accept)
        return Response(encoder(self.registry), content_type=content_type)


def init_app(app: Flask, settings: ServiceConfig) -> None:
    """Count and time every request; serve /metrics."""
    service_metrics = _metrics_for(os.environ.get(MULTIPROC_ENV) or None)
    # Signals hold their receivers weakly: the app's extensions keep these alive with the app.
    app.extensions["servelab.metrics"] = service_metrics
    request_started.connect(service_metrics.started, app)
    request_finished.connect(service_metrics.finished, app)
    app.teardown_request(service_metrics.torn_down)

    @app.get("/metrics", endpoint=ENDPOINT)
    def metrics() -> Response:
        return service_metrics.exposition(request.headers.get("Accept", ""))


def _metrics_for(multiprocess_dir: str | None) -> ServiceMetrics:
    if multiprocess_dir is None:
        return ServiceMetrics()
    return _multiprocess_metrics(multiprocess_dir)


@functools.cache
def _multiprocess_metrics(path: str) -> ServiceMetrics:
    # In multiprocess mode a value lives in this process's file and each metric object
    # caches it: two apps in one process must share the objects, or they overwrite each other.
    if not os.path.isdir(path):
        raise ServiceConfigError(f"{MULTIPROC_ENV}={path!r} is not a directory")
    if not getattr(values.ValueClass, "_multiprocess", False):
        raise ServiceConfigError(
            f"{MULTIPROC_ENV} was set after prometheus_client was imported; set it before"
            " the process starts"
        )
    return ServiceMetrics(path)
