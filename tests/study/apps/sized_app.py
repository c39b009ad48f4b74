"""A user's app as the lab meets it: stdlib-only WSGI, no servelab, memory linear in its input.

``POST /predict`` with ``{"kib": K}`` builds a K KiB string (written, so it is resident) and
answers its length; ``GET /health`` answers 200. Anything else is a 4xx with a JSON message.
"""

import json
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path, method = environ.get("PATH_INFO", "/"), environ.get("REQUEST_METHOD", "GET")
    if path == "/health":
        return _answer(start_response, "200 OK", {"status": "ok"})
    if path != "/predict" or method != "POST":
        return _answer(start_response, "404 Not Found", {"error": "no such route"})
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        kib = int(json.loads(environ["wsgi.input"].read(length))["kib"])
    except (ValueError, KeyError, TypeError):
        return _answer(start_response, "400 Bad Request", {"error": 'send {"kib": <int>}'})
    block = b"x" * (kib * 1024)  # written: every page is resident, like a model's arrays
    return _answer(start_response, "200 OK", {"bytes": len(block)})


def _answer(start_response: StartResponse, status: str, payload: dict[str, Any]) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
