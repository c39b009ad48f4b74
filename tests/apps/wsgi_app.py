"""A tiny WSGI app, standard library only, with no ``/health``: served in the tests from a
second venv that has only the servers (not servelab).

    GET /               200 "hello"
    GET /ready-here     200 (a custom readiness path)
    GET /sleep?s=0.2    200 after sleeping (to hold requests at once)
    GET /env?name=X     200 with the value of the environment variable X
    anything else       404
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs

StartResponse = Callable[[str, list[tuple[str, str]]], object]


def app(environ: dict[str, object], start_response: StartResponse) -> Iterable[bytes]:
    path = str(environ.get("PATH_INFO", ""))
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    if path == "/sleep":
        time.sleep(float(query.get("s", ["0.2"])[0]))
    if path == "/env":
        body = os.environ.get(query.get("name", [""])[0], "").encode()
    elif path in ("/", "/ready-here", "/sleep"):
        body = b"hello"
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
