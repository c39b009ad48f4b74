"""What the lab's gunicorn does on its own, before or after the app, kept to the README's word.

Two promises the app cannot keep alone under gunicorn:

- **Every 4xx is JSON.** gunicorn answers requests its parser rejects (a bad Content-Length
  400, a request line over its limit 414, over-large or too many headers 431, ...) itself,
  with an HTML page, before the app sees them. ``write_json_error`` writes the same status
  with the service's ``{"error": ...}`` body instead; ``answer_errors_in_json`` puts it in
  the place gunicorn's workers call (``gunicorn.util.write_error``), in the worker only.
- **A refused body still gets its answer.** The app answers 413 (or 401) without reading a
  large body; gunicorn then closes the socket with at most 64 KiB of it drained, the kernel
  resets the connection, and a client still sending sees ``EPIPE`` instead of the answer.
  ``drain_unread_body`` reads and discards the rest of the body after the response is
  written, up to ``DRAIN_MAX_BYTES`` and ``DRAIN_SECONDS``: within those bounds the client
  finishes sending and reads the answer; past them it is reset as before, so a hostile
  client holds a worker for at most ``DRAIN_SECONDS`` this way.

Imports nothing of the lab and nothing heavy: gunicorn's master loads it with its config.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from typing import Any, Protocol

# Enough for any body a client might send before it reads the answer (the 6 MiB);
# on loopback 16 MiB drains in a few milliseconds.
DRAIN_MAX_BYTES = 16 * 1024 * 1024
# A sync worker serves nobody else meanwhile: this is how long one refused body may hold it.
DRAIN_SECONDS = 5.0
_CHUNK = 64 * 1024


class _Body(Protocol):
    def read(self, size: int) -> bytes: ...


def json_error_response(status: int, reason: str, message: str) -> bytes:
    """The bytes of a ``Connection: close`` response with the service's JSON error body."""
    body = json.dumps({"error": message or reason}).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """``gunicorn.util.write_error``'s signature, writing JSON instead of HTML.

    Sent without blocking, as gunicorn's own: a client that reads nothing cannot hold the
    worker on its error page.
    """
    from gunicorn import util

    util.write_nonblock(sock, json_error_response(status_int, reason, mesg))


def answer_errors_in_json() -> None:
    """Make this gunicorn worker answer its own errors with ``write_json_error``.

    gunicorn has no setting for its error pages; every worker class (sync, gthread, gevent)
    renders them through ``gunicorn.util.write_error``, looked up at each call, so replacing
    that one function covers them all. Called from the ``post_worker_init`` hook: in the
    worker, never at import time, never in the master.
    """
    from gunicorn import util

    util.write_error = write_json_error


def drain_unread_body(
    body: _Body | None,
    sock: socket.socket | None,
    *,
    max_bytes: int = DRAIN_MAX_BYTES,
    seconds: float = DRAIN_SECONDS,
) -> int:
    """Read and discard what is left of a request body; returns the bytes discarded in whole
    reads (a read cut short by the time bound is not counted).

    Stops at the body's end, at ``max_bytes``, after ``seconds`` (each read waits at most
    for what is left of them, through ``sock``'s timeout, restored afterwards), and at the
    first error: a client that hung up or sent a malformed chunk has nothing left to answer.
    """
    if body is None:
        return 0
    deadline = time.monotonic() + seconds
    prior = sock.gettimeout() if sock is not None else None
    drained = 0
    try:
        while drained < max_bytes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if sock is not None:
                sock.settimeout(remaining)
            try:
                data = body.read(min(_CHUNK, max_bytes - drained))
            except Exception:  # timeout, reset, gunicorn's parse errors: stop, the answer is out
                break
            if not data:
                break
            drained += len(data)
    finally:
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.settimeout(prior)
    return drained


def drain_after_response(req: Any, environ: dict[str, Any]) -> int:
    """``drain_unread_body`` for a gunicorn request, with the socket gunicorn hands the app."""
    return drain_unread_body(getattr(req, "body", None), environ.get("gunicorn.socket"))
