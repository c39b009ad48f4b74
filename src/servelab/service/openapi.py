"""The OpenAPI 3.0 document of the service, served at ``GET /openapi.json``.

It is built per app from the app's settings, so it states the limits that app enforces:
``n`` up to ``max_n``, bodies up to ``max_body_bytes``, the bearer scheme only when a token
is set, 413 and 503 from the memory guard only when it has a budget. The body and query rules
themselves live in ``validation.py``; this module only describes them, and
``tests/test_schemathesis.py`` checks the two against each other on real servers.
"""

from __future__ import annotations

from importlib import metadata

from flask import Flask, Response, jsonify

from . import headers
from .config import WORKLOADS, ServiceConfig
from .gunicorn_hooks import limit_request_line as GUNICORN_REQUEST_LINE
from .validation import (
    BODY_FIELDS,
    JSON_MEDIA_TYPE,
    MAX_AREA,
    MAX_FLOORS,
    MAX_QUERY_BYTES,
    QUERY_PARAMETERS,
)

OPENAPI_VERSION = "3.0.3"
PATH = "/openapi.json"
BEARER_SCHEME = "bearerAuth"
_WHO_HEADERS = {
    headers.PID: "Pid of the process that ran the handler.",
    headers.THREAD: "Native thread id of the handler.",
    headers.START: "Handler start, seconds since the epoch, 6 decimals.",
    headers.SERVER_TIMING: f"{headers.SERVER_TIMING_METRIC};dur=<milliseconds> the handler took.",
}
_METRICS_TYPES = ("text/plain", "application/openmetrics-text")

# The document is JSON: every part of it is one of these (no ``Any``: a typo of a type shows).
Json = None | bool | int | float | str | list["Json"] | dict[str, "Json"]
JsonObject = dict[str, Json]


def init_app(app: Flask, settings: ServiceConfig) -> None:
    """Serve /openapi.json describing exactly what this app does under ``settings``."""
    document = openapi_document(settings)

    @app.get(PATH, endpoint="openapi")
    def openapi() -> Response:
        return jsonify(document)


def _ref(kind: str, name: str) -> JsonObject:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: JsonObject) -> JsonObject:
    return {JSON_MEDIA_TYPE: {"schema": schema}}


def _ok(description: str, content: JsonObject) -> JsonObject:
    return {
        "description": description,
        "headers": {name: _ref("headers", name) for name in _WHO_HEADERS},
        "content": content,
    }


def _error(description: str, extra_headers: dict[str, str] | None = None) -> JsonObject:
    response: JsonObject = {
        "description": description,
        "content": _json(_ref("schemas", "Error")),
    }
    if extra_headers:
        response["headers"] = {
            name: {"description": text, "required": True, "schema": {"type": "string"}}
            for name, text in extra_headers.items()
        }
    return response


def _schemas(settings: ServiceConfig) -> JsonObject:
    floor: JsonObject = {"type": "integer", "minimum": 1, "maximum": MAX_FLOORS}
    return {
        "PredictRequest": {
            "type": "object",
            "description": (
                "A flat. Only these fields: any other is refused with 400 naming it, as is a"
                " key given twice. floor must not be above floors_count (400, field floor)."
                " Without floor data the model assumes a middle floor of a 9-storey block."
            ),
            "required": ["area"],
            "additionalProperties": False,
            "properties": {
                "area": {
                    "type": "number",
                    "description": "Square metres.",
                    "minimum": 0,
                    "exclusiveMinimum": True,
                    "maximum": MAX_AREA,
                },
                "floor": {**floor, "description": "Floor of the flat, from 1."},
                "floors_count": {**floor, "description": "Floors in the building."},
            },
            "example": {"area": 42, "floor": 3, "floors_count": 9},
        },
        "Price": {
            "type": "object",
            "required": ["price"],
            "additionalProperties": False,
            "properties": {"price": {"type": "integer", "minimum": 0, "description": "Roubles."}},
        },
        "Health": {
            "type": "object",
            "required": ["status", "pid", "workload"],
            "properties": {
                "status": {"type": "string", "enum": ["ok"]},
                "pid": {"type": "integer", "description": "Pid of the process that answered."},
                "workload": {"type": "string", "enum": [settings.workload]},
            },
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "additionalProperties": False,
            "properties": {
                "error": {"type": "string", "description": "What was wrong, for people."},
                "field": {
                    "type": "string",
                    "description": (
                        "What was wrong: a body field, a query parameter, a header"
                        " (Content-Type), or body for the body as a whole."
                    ),
                },
            },
        },
    }


def _predict(settings: ServiceConfig) -> JsonObject:
    parameters: list[Json] = [
        {
            "name": "workload",
            "in": "query",
            "required": False,
            "description": "What computes the price. At most once.",
            "schema": {"type": "string", "enum": list(WORKLOADS), "default": settings.workload},
        },
        {
            "name": "n",
            "in": "query",
            "required": False,
            "description": "Elements for the cpu and numpy workloads. Digits only; at most once.",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": settings.max_n,
                "default": settings.n,
            },
        },
    ]
    responses: JsonObject = {
        "200": _ok("The predicted price.", _json(_ref("schemas", "Price"))),
        "400": _error(
            "The body or the query is outside the contract: not one JSON object, NaN or"
            " Infinity, an unknown or repeated field or query parameter, a value of the wrong"
            " type or out of range, a floor above floors_count. field names it."
        ),
        "413": _error(
            f"The body is over {settings.max_body_bytes} bytes (declared or sent chunked)."
            + (
                " Or the memory guard: this n alone needs more memory than the process's budget"
                f" of {settings.memory_budget} bytes (field n); ask for a smaller n."
                if settings.memory_budget is not None
                else ""
            )
        ),
        "414": _error(
            f"The query string is over {MAX_QUERY_BYTES} bytes (field query). A request line"
            f" over {GUNICORN_REQUEST_LINE} bytes is refused by gunicorn itself, before the app."
        ),
        "415": _error(
            f"Content-Type is not {JSON_MEDIA_TYPE} (charset absent or utf-8), or the body is"
            " compressed (Content-Encoding)."
        ),
        "500": _error(
            "Out of memory: the prediction raised MemoryError, as under an address-space limit."
        ),
    }
    if settings.token is not None:
        responses["401"] = _error(
            "Missing or wrong Authorization: Bearer token.",
            {"WWW-Authenticate": "Bearer challenge (RFC 6750)."},
        )
    if settings.memory_budget is not None:
        responses["503"] = _error(
            "The memory guard: the predictions running now leave no room for this one; retry.",
            {"Retry-After": "Seconds to wait before retrying."},
        )
    operation: JsonObject = {
        "operationId": "predict",
        "summary": "Predict the price of a flat.",
        "description": (
            f"Query parameters other than {' and '.join(QUERY_PARAMETERS)} are refused with 400."
            f" The body is at most {settings.max_body_bytes} bytes."
        ),
        "parameters": parameters,
        "requestBody": {
            "required": True,
            "description": f"{', '.join(BODY_FIELDS)}; up to {settings.max_body_bytes} bytes.",
            "content": _json(_ref("schemas", "PredictRequest")),
        },
        "responses": dict(sorted(responses.items())),
    }
    if settings.token is not None:
        operation["security"] = [{BEARER_SCHEME: []}]
    return operation


def openapi_document(settings: ServiceConfig) -> JsonObject:
    """The OpenAPI 3.0 document of an app built with ``settings``."""
    try:
        version = metadata.version("servelab")
    except metadata.PackageNotFoundError:  # the service copied out of the lab
        version = "0"
    components: JsonObject = {
        "schemas": _schemas(settings),
        "headers": {
            name: {"description": text, "required": True, "schema": {"type": "string"}}
            for name, text in _WHO_HEADERS.items()
        },
    }
    if settings.token is not None:
        components["securitySchemes"] = {
            BEARER_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "description": "The server's SERVELAB_TOKEN; only POST /predict needs it.",
            }
        }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "servelab house-price service",
            "version": version,
            "description": (
                "Predicts the price of a Moscow flat. Unknown routes answer 404 and methods a"
                " route does not take answer 405 with Allow, a query string over"
                f" {MAX_QUERY_BYTES} bytes answers 414; every error body is an Error."
            ),
        },
        "paths": {
            "/": {
                "get": {
                    "operationId": "home",
                    "summary": "The home page: a form that asks /predict.",
                    "responses": {
                        "200": _ok("The page.", {"text/html": {"schema": {"type": "string"}}})
                    },
                }
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness, and which process answered.",
                    "responses": {"200": _ok("Alive.", _json(_ref("schemas", "Health")))},
                }
            },
            "/predict": {"post": _predict(settings)},
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics; open even when a token is set.",
                    "responses": {
                        "200": _ok(
                            "Prometheus text, or OpenMetrics when the Accept header asks.",
                            {kind: {"schema": {"type": "string"}} for kind in _METRICS_TYPES},
                        )
                    },
                }
            },
            PATH: {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "responses": {"200": _ok("The document.", _json({"type": "object"}))},
                }
            },
        },
        "components": components,
    }
