"""A WSGI app, standard library only, that holds BALLAST_BYTES of written memory from import
time on: a model loaded when the app is imported. Under gunicorn with ``--preload`` the master
imports it once before it forks, and the workers share those pages; without it every worker
imports it and holds its own copy.

    GET /anything       200 "ok"
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

StartResponse = Callable[[str, list[tuple[str, str]]], object]

BALLAST_BYTES = 64 << 20
# Every byte written (not calloc's untouched zero pages, which are not resident); the bytes
# object's data is never written again, so a forked worker copies none of it.
BALLAST = b"\xa5" * BALLAST_BYTES


def app(environ: dict[str, object], start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
