"""gunicorn settings and server hooks that keep the service's promises under gunicorn.

    PROMETHEUS_MULTIPROC_DIR=/empty/dir \\
        gunicorn --config python:servelab.service.gunicorn_hooks servelab.service:app

A gunicorn config module: gunicorn reads the names that are its settings and hooks and
ignores the others. The lab's servers use it as it is; a config file such as the seed's
``gunicorn.conf.py`` imports the hooks and calls ``ensure_multiproc_dir()``.

- ``on_starting``: invalid ``SERVELAB_*`` settings (an empty ``SERVELAB_TOKEN``, say) stop
  the master with one line, before it listens, instead of a traceback per worker boot.
- ``post_worker_init``: gunicorn's own error answers (400, 414, 431 ...) are JSON.
- ``post_request``: a body the app did not read is drained (bounded) after the answer, so a
  client still sending it reads the 413 instead of a reset (``gunicorn_answers``).
- ``child_exit``, ``on_exit``: Prometheus metrics stay right across workers.

Imports nothing heavy: it runs in gunicorn's master, whose memory the lab measures.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

from .config import ServiceConfig, ServiceConfigError
from .gunicorn_answers import answer_errors_in_json, drain_after_response

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# gunicorn answers a request line over 4094 bytes (its default) with its own HTML 414; at
# its maximum, every query the service refuses (over 2 KiB) reaches the service's JSON 414.
limit_request_line = 8190

# The directory ensure_multiproc_dir made, which on_exit removes; never one it was given.
_created: str | None = None


def ensure_multiproc_dir() -> str:
    """Point ``PROMETHEUS_MULTIPROC_DIR`` at a fresh temporary directory unless it is set.

    Call it in a gunicorn config file: that runs in the master before any worker starts (and
    before ``--preload`` imports the app), which is when the variable must be in place.
    Returns the directory in use. A directory given through the environment is used as it
    is: whoever set it must empty it between runs.
    """
    global _created
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        return path
    _created = tempfile.mkdtemp(prefix="servelab-prometheus-")
    os.environ[MULTIPROC_ENV] = _created
    return _created


def on_starting(server: Any) -> None:
    """In the master, before it listens: refuse settings the service would refuse.

    Without it each worker dies on import with a traceback and gunicorn gives up with
    "Worker failed to boot"; with it the one line that says what to change, and exit 2.
    """
    try:
        ServiceConfig.load()
    except ServiceConfigError as error:
        print(f"gunicorn: servelab service: {error}", file=sys.stderr, flush=True)
        if getattr(server, "pidfile", None) is not None:
            server.pidfile.unlink()
        raise SystemExit(2) from None


def post_worker_init(worker: Any) -> None:
    """In each worker, before its first request: gunicorn's own error pages become JSON."""
    answer_errors_in_json()


def post_request(worker: Any, req: Any, environ: dict[str, Any], resp: Any) -> None:
    """After each response is written: drain what the app left of the request's body."""
    drain_after_response(req, environ)


def child_exit(server: Any, worker: Any) -> None:
    """In the master, after a worker exited: drop its live gauges (in-flight requests).

    Its counters and histograms stay in the directory, so totals keep its requests.
    """
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, path)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """Just before gunicorn exits: remove the directory ``ensure_multiproc_dir`` created."""
    if _created is not None and os.environ.get(MULTIPROC_ENV) == _created:
        shutil.rmtree(_created, ignore_errors=True)
