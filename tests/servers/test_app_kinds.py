"""Every server kind serving a user's app from a second venv that has only the servers.

The apps (tests/apps/) are a stdlib WSGI app and a raw-protocol ASGI app; servelab is not
installed in their venv (``app_venv``), so whatever runs there is the server, the app and
the served-by shim. Each server must become ready, answer through the shim (who served it,
when, for how long), count its workers among ``process_pids``, and leave nothing behind.
"""

from __future__ import annotations

import concurrent.futures
import re
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from servelab.servers import AppTarget, RunningServer, ServerSpec, launch

from ..helpers import APPS, Reply, http_request

# spec, app, at least this many processes (a master or supervisor counts), requests to send
# at once and the distinct threads they must show (a threaded server runs them together).
KINDS = [
    ("flask-dev", "wsgi", 1, 3),
    ("flask-dev:single", "wsgi", 1, 1),
    ("flask-dev:debug", "wsgi", 2, 3),  # the reloader's parent and the serving child
    ("gunicorn:w2", "wsgi", 3, 1),
    ("gunicorn:w1:gthread:t3", "wsgi", 2, 3),
    ("gunicorn:w1:gevent", "wsgi", 2, 1),  # greenlets: one native thread
    ("gunicorn:w2:uvicorn", "asgi", 3, 1),
    ("uvicorn", "asgi", 1, 1),
    ("uvicorn:w2", "asgi", 3, 1),
    ("waitress:t3", "wsgi", 1, 3),
    ("granian:w1:t3", "wsgi", 2, 3),
    ("granian:w2", "asgi", 3, 1),
    ("granian:w1:t2:rss200", "wsgi", 2, 2),  # --workers-max-rss
]


@pytest.fixture(scope="module")
def apps(app_venv: Path) -> dict[str, AppTarget]:
    return {
        "wsgi": AppTarget.load("wsgi_app:app", app_dir=APPS, python=app_venv),
        "asgi": AppTarget.load("asgi_app.py:app", app_dir=APPS, python=app_venv),
    }


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[list[RunningServer]]:
    started: list[RunningServer] = []
    yield started
    for server in started:
        server.stop(grace=2.0)


def _sleep_at_once(server: RunningServer, count: int) -> list[tuple[float, float, Reply]]:
    def one(_: int) -> tuple[float, float, Reply]:
        before = time.time()
        reply = http_request(server.port, "GET", "/sleep?s=0.3")
        return before, time.time(), reply

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


@pytest.mark.parametrize(("text", "interface", "processes", "threads"), KINDS)
def test_every_kind_serves_an_app_from_its_own_venv(
    apps: dict[str, AppTarget],
    serve: list[RunningServer],
    tmp_path: Path,
    text: str,
    interface: str,
    processes: int,
    threads: int,
) -> None:
    spec = ServerSpec.parse(text)
    server = launch(spec, run_dir=tmp_path, app=apps[interface], ready_timeout=60.0)
    serve.append(server)
    assert server.command[0] == str(apps[interface].python)
    pids = server.process_pids()
    assert len(pids) >= processes, pids
    results = _sleep_at_once(server, max(threads, 2))
    seen_threads = set()
    for before, after, reply in results:
        assert reply.status == 200, reply.body
        assert int(reply.headers["X-Servelab-Pid"]) in pids
        seen_threads.add(reply.headers["X-Servelab-Thread"])
        start = float(reply.headers["X-Servelab-Start"])
        assert before - 0.01 <= start <= after
        duration = re.fullmatch(r"handler;dur=([0-9.]+)", reply.headers["Server-Timing"])
        assert duration is not None and float(duration.group(1)) >= 300.0
    # The threads a handler ran in: several for a threaded server handed requests at once.
    assert all(t.isdigit() for t in seen_threads)
    assert len(seen_threads) >= threads
    every = [psutil.Process(pid) for pid in pids]
    end = server.stop(grace=5.0)
    assert end.stopped_by_lab
    assert not [p for p in every if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
