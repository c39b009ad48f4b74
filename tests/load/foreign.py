"""A foreign app for the load tests: a stdlib WSGI app on a threaded ``wsgiref`` server.

Nothing of servelab in it: it stands for a user's app at a URL the lab did not start. It
answers every request with JSON ``{"body": <the request's body>, "auth": <ok|missing|wrong>,
"method": ...}`` after ``delay`` seconds. ``--served-by`` makes it send servelab's served-by
headers (``X-Servelab-*``, ``Server-Timing``) as a wrapped app does.

    with foreign_app(tmp_path, token="s3cret") as url: ...
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ..helpers import free_port, process_group

_APP = r"""
import json, os, sys, threading, time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

PORT, DELAY, SERVED_BY = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "1"
TOKEN = os.environ.get("EXPECTED_TOKEN")

def app(environ, start_response):
    started = time.time()
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length).decode("utf-8", "replace")
    given = environ.get("HTTP_AUTHORIZATION")
    auth = "missing" if given is None else ("ok" if given == "Bearer %s" % TOKEN else "wrong")
    time.sleep(DELAY)
    data = json.dumps({"body": body, "auth": auth, "method": environ["REQUEST_METHOD"]})
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    if SERVED_BY:
        headers += [
            ("X-Servelab-Pid", str(os.getpid())),
            ("X-Servelab-Thread", str(threading.get_native_id())),
            ("X-Servelab-Start", "%.6f" % started),
            ("Server-Timing", "handler;dur=%.3f" % ((time.time() - started) * 1000)),
        ]
    start_response("200 OK", headers)
    return [data.encode()]

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

class Threaded(ThreadingMixIn, WSGIServer):
    daemon_threads = True

make_server("127.0.0.1", PORT, app, server_class=Threaded, handler_class=Quiet).serve_forever()
"""


@contextlib.contextmanager
def foreign_app(
    tmp_path: Path, *, delay: float = 0.0, served_by: bool = False, token: str | None = None
) -> Iterator[str]:
    """The app's base URL (``http://127.0.0.1:PORT``) while it runs; stopped on the way out."""
    script = tmp_path / "foreign_app.py"
    script.write_text(_APP, encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "EXPECTED_TOKEN"}
    if token is not None:
        env["EXPECTED_TOKEN"] = token
    command = [sys.executable, str(script), str(port), str(delay), "1" if served_by else "0"]
    with process_group(command, cwd=tmp_path, env=env, grace=5.0) as process:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            assert process.poll() is None, "the foreign app died before it listened"
            assert time.monotonic() < deadline, "the foreign app did not listen within 20 s"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
