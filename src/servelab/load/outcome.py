"""How a request ended, as a record says it: its error class and text, and who served it.

Pure functions over what the client saw (an exception, a status, a body, the response's
headers), shared by every mode so that a request ends up in the same record whatever
drove it. The error classes are ``records.ERROR_CLASSES``:

    ConnectionRefusedError                          refused
    ConnectionResetError, BrokenPipeError, ...      reset
    ServerDisconnected (RemoteDisconnected, ...)    disconnected
    TimeoutError                                    timeout
    a 4xx / 5xx status                              http-4xx / http-5xx
    the client's own OSError (EMFILE, ENFILE,       client
      ENOBUFS, ENOMEM, EADDRNOTAVAIL): it never
      reached the server
    anything else (ProtocolError, ...)              other
"""

from __future__ import annotations

import errno
import json
from collections.abc import Callable
from http import HTTPStatus

from servelab.load.http11.parse import ServerDisconnected
from servelab.load.records import BODY_LIMIT
from servelab.service import headers

# The client ran out of something of its own (descriptors, buffers, ports): the request
# never reached the server, and must not count as the server's failure.
_CLIENT_ERRNOS = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EADDRNOTAVAIL}
)


def classify(exc: BaseException) -> str:
    """The ``error_class`` of an exception a request ended with."""
    if isinstance(exc, OSError) and exc.errno in _CLIENT_ERRNOS:
        return "client"
    if isinstance(exc, ServerDisconnected):
        return "disconnected"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "reset"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "other"


def classify_status(status: int) -> str:
    """The ``error_class`` of a response that is not 2xx."""
    if 400 <= status < 500:
        return "http-4xx"
    if 500 <= status < 600:
        return "http-5xx"
    return "other"


def describe_exception(exc: BaseException) -> str:
    """``"ClassName: message"``, or the class name alone when there is no message."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def http_error(status: int, text: str) -> str:
    """A record's ``error`` for a response that is not 2xx: the ``error`` field of its JSON
    body, else ``HTTP <status> <reason>: <the body's start>``."""
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and "error" in payload:
        return str(payload["error"])
    snippet = " ".join(text.split())[:BODY_LIMIT]
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    return f"HTTP {status} {reason}: {snippet}" if snippet else f"HTTP {status} {reason}"


def served_by(
    get: Callable[[str], str | None],
) -> tuple[int | None, int | None, float | None, float | None]:
    """(pid, thread, handler start, handler duration) from the servelab headers ``get`` finds.

    ``get(name)`` returns a response header's value by its name, or None.
    """
    return (
        _as_int(get(headers.PID)),
        _as_int(get(headers.THREAD)),
        _as_float(get(headers.START)),
        _handler_duration(get(headers.SERVER_TIMING)),
    )


def _handler_duration(value: str | None) -> float | None:
    """Seconds from ``Server-Timing: handler;dur=<ms>`` (other metrics are skipped)."""
    if not value:
        return None
    for metric in value.split(","):
        name, *params = (part.strip() for part in metric.split(";"))
        if name != headers.SERVER_TIMING_METRIC:
            continue
        for param in params:
            key, _, raw = param.partition("=")
            if key.strip() == "dur":
                ms = _as_float(raw.strip().strip('"'))
                return ms / 1000.0 if ms is not None else None
    return None


def _as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _as_float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
