"""The benchmark's target: a WSGI app that answers ``ok`` and does nothing else.

Run as ``gunicorn -w 2 bench.target_app:app``. It is deliberately not
``servelab.service``: its ``/health`` goes through Flask, the Prometheus counters and the
servelab headers, which would make the server, not the load generators, the story.

The one extra is a request counter so the harness can check each tool's own count
against the server's: every worker bumps its own slot of a shared array (no lock on the
hot path), and ``GET /__count`` answers the sum over all workers. The array lives in
shared memory made at import, so the app must be loaded before gunicorn forks
(``--preload``); without it each worker would count alone and ``/__count`` would lie.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from typing import Any

_SLOTS = 64
_counts = multiprocessing.RawArray("q", _SLOTS)
_pids = multiprocessing.RawArray("q", _SLOTS)
_claim = multiprocessing.Lock()
_slot: list[int] = []  # this process's slot, claimed on its first request

_OK = b"ok"
_OK_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(_OK)))]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _my_slot() -> int:
    if _slot and _pids[_slot[0]] == os.getpid():
        return _slot[0]
    with _claim:
        pid = os.getpid()
        for index in range(_SLOTS):
            if _pids[index] in (0, pid):
                _pids[index] = pid
                _slot[:] = [index]
                return index
    raise RuntimeError(f"more than {_SLOTS} worker processes")


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """``ok`` for every request; ``/__count`` answers the number of requests served."""
    if environ.get("PATH_INFO") == "/__count":
        body = str(sum(_counts)).encode()
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        return [body]
    _counts[_my_slot()] += 1
    start_response("200 OK", _OK_HEADERS)
    return [_OK]
