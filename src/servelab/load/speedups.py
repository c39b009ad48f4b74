"""Which loops run: the C ones (``_speedups``, built by setup.py where it can be) or the
pure-Python ones, and the switch between them.

The C loops are the pure loops' per-request path without a Python frame per request (see
``_speedups.c``); the HTTP rules they do not read themselves (other heads, split and
chunked responses, errors) come from ``http11.parse``, handed to them here. They are
optional: a platform without epoll, an install without a C compiler, or
``SERVELAB_PURE_PYTHON=1`` in the environment run the pure loops, which behave the same
request for request, at the client CPU ``make bench`` measures for each (bench/README.md).
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Final

from servelab.load.http11 import parse
from servelab.load.http11.connection import BODY_KEEP, Response

PURE_ENV: Final = "SERVELAB_PURE_PYTHON"


def _load() -> ModuleType | None:
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return None
    try:
        import servelab.load._speedups as _speedups
    except ImportError:  # not built here: the pure loop runs
        return None
    _speedups.setup(
        parse._HEADS,
        parse._HEADS_HEAD_ONLY,
        parse.ResponseParser,
        parse.Head,
        Response,
        parse.ProtocolError,
        parse.ServerDisconnected,
        parse.IncompleteRead,
        BODY_KEEP,
    )
    return _speedups


# The C module, or None. Read at each run, so a test can run both loops in one process.
native: ModuleType | None = _load()


def engine() -> str:
    """``"C"`` when the closed and open loops run in C, else ``"Python"``."""
    return "C" if native is not None else "Python"
