"""One HTTP/1.1 client connection on a blocking socket: what a Locust worker's greenlets use.

Under gevent (every Locust process is monkey-patched) a blocking ``recv`` parks the greenlet,
not the process, so a request reads as straight-line code. It speaks HTTP through the own
engine's sans-IO parser (``load.http11.parse``) and hands back the own engine's
``Response``, and it fails with the same exceptions (``ConnectionRefusedError``,
``ServerDisconnected``, ``ProtocolError``, ``TimeoutError`` ...), so a request sent from a
Locust worker becomes the same ``RequestRecord`` as one the own engine sent.

Why not Locust's ``FastHttpUser`` client: its responses would need translating into these
records (its errors are its own classes), it keeps whole bodies, and it times from its own
start, not from an open loop's intended send time.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Final

from servelab.load.http11.connection import BODY_KEEP, READ_SIZE, Response
from servelab.load.http11.parse import (
    END,
    Head,
    ProtocolError,
    ResponseParser,
    ServerDisconnected,
    whole_response,
)

_RETRYABLE: Final = (ServerDisconnected, ConnectionResetError, BrokenPipeError)


class RequestFailed(Exception):
    """A request ended with ``error`` at ``end`` (``perf_counter_ns``); ``partial`` is the
    response's head if it had come."""

    def __init__(self, error: BaseException, partial: Response | None, end: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.partial = partial
        self.end = end


class BlockingConnection:
    """A TCP connection carrying one request at a time; reused while the server allows."""

    __slots__ = ("_sock", "closed", "ended", "got_bytes", "head_only")

    def __init__(
        self, address: tuple[str, int], family: int, deadline: float, head_only: bool
    ) -> None:
        """Connect by ``deadline`` (``time.perf_counter()``) or raise (``TimeoutError``...)."""
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(_remaining(deadline))
            sock.connect(address)
            # One request is written whole: Nagle never holds it, but the tail of a large
            # body could wait for a delayed ACK. A blocking client sets it once per socket.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self.head_only = head_only
        self.closed = False
        self.got_bytes = False
        self.ended = 0  # perf_counter_ns when the last response was whole

    def exchange(self, data: bytes, deadline: float, reuse: bool) -> Response:
        """Send one whole request and read its response by ``deadline``.

        Raises ``RequestFailed`` with the cause; the connection is closed then, and after a
        response that allows no keep-alive (or ``reuse=False``).
        """
        self.got_bytes = False
        head: Head | None = None
        try:
            sock = self._sock
            sock.settimeout(_remaining(deadline))
            sock.sendall(data)
            parser: ResponseParser | None = None
            body = b""
            while True:
                sock.settimeout(_remaining(deadline))
                chunk = sock.recv(READ_SIZE)
                if not chunk:  # the server closed: a body that ends at the close, or a loss
                    if parser is None:
                        parser = ResponseParser(head_only=self.head_only)
                    events = parser.feed_eof()
                else:
                    self.got_bytes = True
                    if parser is None:
                        whole = whole_response(chunk, self.head_only)
                        if whole is not None:  # most responses: one read, one head, done
                            head, body = whole
                            return self._finish(head, body[:BODY_KEEP], head.keep_alive, reuse)
                        parser = ResponseParser(head_only=self.head_only)
                    events = parser.feed(chunk)
                for event in events:
                    if type(event) is bytes:
                        if len(body) < BODY_KEEP:
                            body += event[: BODY_KEEP - len(body)]
                    elif type(event) is Head:
                        head = event
                    elif event is END:
                        assert head is not None, "a parser ends no response before its head"
                        keep_alive = head.keep_alive and bool(chunk) and not parser.buffered
                        return self._finish(head, body, keep_alive, reuse)
        except (OSError, ProtocolError, ServerDisconnected) as error:
            end = time.perf_counter_ns()  # before the close, which costs tens of us
            self.close()
            partial = None if head is None else Response(head, b"", False)
            raise RequestFailed(error, partial, end) from None

    def _finish(self, head: Head, body: bytes, keep_alive: bool, reuse: bool) -> Response:
        self.ended = time.perf_counter_ns()  # before a close, as for a failure
        if not (keep_alive and reuse):
            self.close()
        return Response(head, body, keep_alive)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self._sock.close()


def _remaining(deadline: float) -> float:
    left = deadline - time.perf_counter()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


def send_request(
    conn: BlockingConnection | None,
    data: bytes,
    *,
    address: tuple[str, int],
    family: int,
    deadline: float,
    reuse: bool,
    head_only: bool,
) -> tuple[Response | None, BaseException | None, BlockingConnection | None, int]:
    """Send ``data`` on ``conn`` if it is open, else on a new connection.

    Returns (response, error, the connection to reuse or None, ``perf_counter_ns`` at the
    end), as the own engine's callback gets them. A request on a kept-alive connection that
    the server had closed as it was reused (nothing came back) is sent again, once, on a new
    one, as the own engine and browsers do.
    """
    reused = conn is not None and not conn.closed
    try:
        if conn is None or conn.closed:
            conn = BlockingConnection(address, family, deadline, head_only)
        try:
            response = conn.exchange(data, deadline, reuse)
        except RequestFailed as failed:
            if not (reused and isinstance(failed.error, _RETRYABLE) and not conn.got_bytes):
                raise
            conn = BlockingConnection(address, family, deadline, head_only)
            response = conn.exchange(data, deadline, reuse)
    except RequestFailed as failed:
        return failed.partial, failed.error, None, failed.end
    except OSError as error:  # the connect itself
        return None, error, None, time.perf_counter_ns()
    return response, None, None if conn.closed else conn, conn.ended
