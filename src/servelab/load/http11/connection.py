"""One HTTP/1.1 client connection on a non-blocking socket: the socket side of ``parse``.

It does what a load generator needs and no more: one request at a time per connection (no
pipelining), keep-alive by default, the connection closed after a response that does not
allow keep-alive (``Connection: close``, an HTTP/1.0 one without keep-alive, a body that
ends at the close). Request bytes come built (``request.build_request``) and are written as
they are; the response's bytes go to a ``ResponseParser`` and only the first ``BODY_KEEP``
bytes of a body are kept (records store ``BODY_LIMIT`` characters), so a large body costs
no memory.

Why its own client rather than asyncio streams or http.client: client CPU per request is
what limits throughput when client and server share two cores. A thread per in-flight
request with http.client pays for a thread switch and a Python-level header parser per
request; ``asyncio.open_connection`` streams add a StreamReader, a StreamWriter and a future
per read. Here a ``Connection`` is the handler the ``reactor`` calls when its socket is
ready (``on_readable``, ``on_writable``); it feeds what it read to its parser and calls the
request's callback once per response.

Errors a request can end with: ``OSError`` from the socket (``ConnectionRefusedError``,
``ConnectionResetError`` ...), the parser's ``ProtocolError`` and ``ServerDisconnected``,
and ``TimeoutError`` once ``expire`` finds its deadline passed (``outcome.classify``).
"""

from __future__ import annotations

import _socket
import contextlib
import errno
import os
import socket
import time
from collections.abc import Callable
from typing import Final

from servelab.load.http11.parse import (
    Head,
    ProtocolError,
    ResponseParser,
    ServerDisconnected,
    whole_response,
)
from servelab.load.reactor import Reactor

BODY_KEEP: Final = 2048
# Bytes asked for per read: one allocation that is shrunk to what came. Below glibc's mmap
# threshold (128 KiB), so it never costs an mmap and a munmap per read.
READ_SIZE: Final = 64 * 1024
# The C socket type, not ``socket.socket``: its Python-level __init__ and close() cost a
# microsecond per connection, which a client opening thousands a second feels.
_NONBLOCK: Final = getattr(socket, "SOCK_NONBLOCK", 0)  # Linux: non-blocking from the start
_STREAM_NONBLOCK: Final = socket.SOCK_STREAM | _NONBLOCK


class Response:
    """A response as the loops need it: status, headers, the body's first bytes."""

    __slots__ = ("_head", "body", "keep_alive", "status")

    def __init__(self, head: Head, body: bytes, keep_alive: bool) -> None:
        self.status = head.status
        self._head = head
        self.body = body
        self.keep_alive = keep_alive

    @property
    def headers(self) -> dict[str, str]:
        """Every header by lower-cased name; repeated ones joined with ``", "``."""
        return self._head.headers


# How a request ends: callback(response, error, the connection to reuse or None, end time).
Callback = Callable[[Response | None, BaseException | None, "Connection | None", int], None]


class Connection:
    """One TCP connection on a non-blocking socket, driven by the ``Reactor``.

    Made by connecting to ``address`` (an IP address: resolve names once, beforehand); it
    returns as soon as the connect is under way: on loopback it has completed by then, and
    elsewhere ``send`` writes once the socket turns writable.

    ``send`` writes a request and calls ``callback(response, None, conn, end)`` or
    ``callback(partial, error, None, end)`` exactly once, from the reactor, as soon as the
    response is complete or the request failed (``expire`` past the deadline: a
    ``TimeoutError``); ``partial`` is the response without its body when its head had come
    (a record keeps the status), else None. ``conn`` is this connection when it may carry
    the next request, else None; ``end`` is the ``time.perf_counter_ns()`` of that moment,
    taken before anything else is done (closing the socket costs tens of microseconds on
    loopback). No future or task per request: the callback starts the next request at once,
    as a C client would.
    The socket stays registered with the reactor for as long as it is open (the reactor's
    ``handlers()`` are the open connections), so a server closing an idle kept-alive
    connection is noticed (``closed`` turns true). A failed connection is closed; so is one
    whose response did not allow keep-alive (or ``reuse=False``), at once, which a server
    waiting for the client's FIN needs. ``head_only``: the requests are HEAD requests,
    whose responses have no body whatever their headers say.
    """

    __slots__ = (
        "_body",
        "_callback",
        "_fd",
        "_head",
        "_head_only",
        "_nodelay",
        "_parser",
        "_pending",
        "_reactor",
        "_reuse",
        "_sock",
        "closed",
        "deadline",
        "got_bytes",
    )
    # Set per request by send(), not in __init__.
    _body: bytes
    _head: Head | None
    deadline: float

    def __init__(
        self,
        address: tuple[str, int],
        reactor: Reactor,
        family: int = socket.AF_INET,
        reuse: bool = True,
        head_only: bool = False,
    ) -> None:
        sock = _socket.socket(family, _STREAM_NONBLOCK)
        try:
            if not _NONBLOCK:
                sock.setblocking(False)
            err = sock.connect_ex(address)
            if err and err != errno.EINPROGRESS:
                raise OSError(err, os.strerror(err))  # its subclass: ConnectionRefusedError...
            fd = sock.fileno()
            reactor.add(fd, self)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._fd = fd
        self._reactor = reactor
        self._reuse = reuse
        self._head_only = head_only
        # Made when a response does not come whole in one read (whole_response): between
        # responses, and for most responses, a connection holds no parser.
        self._parser: ResponseParser | None = None
        self._nodelay = False
        self._pending = b""
        self._callback: Callback | None = None
        self.closed = False
        self.got_bytes = False
        # The rest of a request's state is set by send(): a connection per request is common.

    def send(self, data: bytes, callback: Callback, deadline: float) -> None:
        """Send ``data`` (one whole request) to be answered by ``deadline`` (``Reactor.time``).

        The deadline is enforced by whoever calls ``expire``: one sweep over every open
        connection now and then costs less than a timer per request.
        """
        assert self._callback is None, "one request at a time"
        self._callback = callback
        self.deadline = deadline
        self.got_bytes = False
        self._head = None
        self._body = b""
        if self.closed:
            self._fail_soon(ServerDisconnected("the connection was already closed"))
            return
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0  # still connecting, or a full buffer: send when writable
        except OSError as exc:
            self._fail_soon(exc)
            return
        if sent < len(data):
            self._pending = data[sent:]
            self._send_rest_promptly()
            self._reactor.want_write(self._fd, True)

    def _send_rest_promptly(self) -> None:
        """Turn Nagle's algorithm off before a request's rest is sent.

        Nagle holds a small segment back only while earlier data is unacknowledged. A
        request written whole by one ``send``, on a connection that carries one request at a
        time (the last one was answered, so acknowledged), never waits for it; the tail of a
        request that did not fit could wait for the server's delayed ACK (40 ms on Linux).
        Setting TCP_NODELAY here rather than on every new socket saves a system call per
        connection, which a client opening thousands a second feels.
        """
        if not self._nodelay:
            self._nodelay = True
            # A socket already reset refuses it: the send itself will say so.
            with contextlib.suppress(OSError):
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def expire(self, now: float) -> None:
        """Fail the request in flight with a ``TimeoutError`` if ``now`` is past its deadline."""
        if self._callback is not None and now >= self.deadline:
            self._fail(TimeoutError("timed out"))

    def close(self) -> None:
        """Close the socket now, dropping anything unsent (our FIN leaves at once)."""
        fd = self._fd
        if fd >= 0:
            self._fd = -1
            self._reactor.discard(fd)
            self._sock.close()
            self._pending = b""
        self.closed = True

    # --- the reactor's calls ---------------------------------------------------------------

    def on_writable(self) -> None:
        try:
            sent = self._sock.send(self._pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            return
        self._pending = self._pending[sent:]
        if not self._pending:
            self._reactor.want_write(self._fd, False)

    def on_readable(self) -> None:
        try:
            data = self._sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            return
        if not data:
            self._lost()
            return
        if self._callback is None:
            self._fail(ProtocolError("the server sent bytes no request asked for"))
            return
        self.got_bytes = True
        parser = self._parser
        if parser is None:
            whole = whole_response(data, self._head_only)
            if whole is not None:
                self._head, body = whole
                self._body = body[:BODY_KEEP] if len(body) > BODY_KEEP else body
                self._finish()
                return
            parser = self._parser = ResponseParser(head_only=self._head_only)
        try:
            events = parser.feed(data)
        except ProtocolError as exc:
            self._fail(exc)
            return
        for event in events:  # most often [Head, bytes, END]
            if type(event) is bytes:
                body = self._body
                if not body:
                    self._body = event[:BODY_KEEP]
                elif len(body) < BODY_KEEP:
                    self._body = body + event[: BODY_KEEP - len(body)]
            elif type(event) is Head:
                self._head = event
            else:  # END, always the last event
                self._finish()

    def _lost(self) -> None:
        """The server closed the connection."""
        if self._callback is None:  # an idle kept-alive connection: nothing is lost
            self.close()
            return
        parser = self._parser
        if parser is None:  # nothing of a response had come
            parser = self._parser = ResponseParser(head_only=self._head_only)
        try:
            parser.feed_eof()
        except ServerDisconnected as exc:
            self._fail(exc)
            return
        self._finish()  # a body that ends at the close

    # --- ending a request -----------------------------------------------------------------

    def _done(
        self,
        response: Response | None,
        exc: BaseException | None,
        conn: Connection | None,
        end: int,
    ) -> None:
        callback, self._callback = self._callback, None
        if callback is None:
            return
        batch = self._reactor.batch
        if batch is None:
            callback(response, exc, conn, end)
        else:
            batch.append((callback, (response, exc, conn, end)))

    def _fail(self, exc: BaseException) -> None:
        end = time.perf_counter_ns()
        self.close()
        if self._callback is None:
            return  # no request waits (a server's stray bytes): the close is all
        head = self._head
        self._done(None if head is None else Response(head, b"", False), exc, None, end)

    def _fail_soon(self, exc: BaseException) -> None:
        # Never call back from inside send(): a caller that sends again from its callback
        # would recurse once per request against a dead server.
        end = time.perf_counter_ns()
        self.close()
        self._reactor.call_soon(self._done, None, exc, None, end)

    def _finish(self) -> None:
        """The response is whole."""
        end = time.perf_counter_ns()
        head = self._head
        assert head is not None, "a parser ends no response before its head"
        # Bytes after the response: no pipelining here, so the framing is off.
        parser = self._parser
        keep_alive = head.keep_alive and (parser is None or not parser.buffered)
        if keep_alive:
            self._parser = None  # nothing buffered: the next response starts afresh
        response = Response(head, self._body, keep_alive)
        callback, self._callback = self._callback, None
        assert callback is not None, "a response is only read while a request waits for it"
        conn: Connection | None = self
        if not (keep_alive and self._reuse):
            # Close now, before the callback runs anything else: a server that lingers for
            # the client's FIN (gunicorn's sync worker does) sits idle until it comes.
            self.close()
            conn = None
        # _done's hand-over, inlined: this runs once per response, _done once per failure.
        batch = self._reactor.batch
        if batch is None:
            callback(response, None, conn, end)
        else:
            batch.append((callback, (response, None, conn, end)))
