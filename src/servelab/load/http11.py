"""A minimal HTTP/1.1 client on non-blocking sockets, for the closed and open loops.

It does what a load generator needs and no more: one request at a time per connection (no
pipelining), keep-alive by default, responses framed by ``Content-Length``, by the chunked
transfer coding or by the connection closing; 1xx interim responses skipped; no body after
HEAD, 204 or 304; the connection closed after a response that says ``Connection: close`` (or
an HTTP/1.0 one without keep-alive). Request bytes are built once (``build_request``) and
written as they are; only the first ``BODY_KEEP`` bytes of a response body are kept (records
store ``BODY_LIMIT`` characters), so a large body costs no memory.

Why its own client rather than asyncio streams or http.client: client CPU per request is
what limits throughput when client and server share two cores. A thread per in-flight
request with http.client pays for a thread switch and a Python-level header parser per
request; ``asyncio.open_connection`` streams add a StreamReader, a StreamWriter and a future
per read. Here a ``Connection`` is called by the ``reactor`` when its socket is ready,
parses what it read in place and calls the request's callback once per response.

Errors a request can end with (``classify`` maps them to ``records.ERROR_CLASSES``):

    ConnectionRefusedError        refused: nothing listens at the address
    ConnectionResetError, ...     reset: the peer reset the connection
    ServerDisconnected            disconnected: closed before a whole response came
    TimeoutError                  timeout: the request's deadline passed
    ProtocolError                 other: the reply is not HTTP/1.x as this client reads it
"""

from __future__ import annotations

import _socket
import contextlib
import errno
import os
import re
import socket
import time
from collections.abc import Mapping
from typing import Final

from servelab.errors import LoadError
from servelab.load.engine import (
    Target,
    check_header_fields,
    classify_exception,
    content_type_of,
)
from servelab.load.reactor import Callback, Reactor

BODY_KEEP: Final = 2048
# Bytes asked for per read: one allocation that is shrunk to what came. Below glibc's mmap
# threshold (128 KiB), so it never costs an mmap and a munmap per read.
READ_SIZE: Final = 64 * 1024
_MAX_HEAD: Final = 64 * 1024
# The C socket type, not ``socket.socket``: its Python-level __init__ and close() cost a
# microsecond per connection, which a client opening thousands a second feels.
_NONBLOCK: Final = getattr(socket, "SOCK_NONBLOCK", 0)  # Linux: non-blocking from the start
_STREAM_NONBLOCK: Final = socket.SOCK_STREAM | _NONBLOCK
# The headers that frame a response body, read from a lower-cased head in one pass.
_FRAMING = re.compile(rb"\r\n(connection|content-length|transfer-encoding)[ \t]*:[ \t]*([^\r\n]*)")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token: header names, methods
# Set by the client from the URL, the body and --keep-alive; a user header would contradict them.
_RESERVED = frozenset({"host", "content-length", "connection", "transfer-encoding"})
_NO_BODY_STATUS = frozenset({204, 304})
# A response head's (status, keep-alive, body length or one of these), by the head's bytes.
Framing = tuple[int, bool, int]
_CHUNKED: Final = -1
_UNTIL_CLOSE_LENGTH: Final = -2
# Servers send the same head, byte for byte, for the same kind of response (within the
# second of its Date header), so reading each distinct head once saves the per-response
# lower-casing and regex search. Cleared when full, and heads over 2 KiB are not kept: a
# server whose every head differs costs a dict store per response and at most 512 KiB.
_FRAMINGS: dict[bytes, Framing] = {}
_FRAMINGS_KEPT: Final = 256
_FRAMING_HEAD_MAX: Final = 2048

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_CLOSE = range(7)


class ProtocolError(Exception):
    """The server's reply is not a well-formed HTTP/1.x response."""


class ServerDisconnected(Exception):
    """The connection closed before a whole response arrived."""


def classify(exc: BaseException) -> str:
    """The ``error_class`` of an exception a request ended with: the burst's classes, plus
    this client's own ``ServerDisconnected``."""
    if isinstance(exc, ServerDisconnected):
        return "disconnected"
    return classify_exception(exc)


def check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Validate extra request headers; a ``LoadError`` names a bad one (never its value)."""
    return check_header_fields(headers, _RESERVED)


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` -> ``("Name", "value")``; a ``LoadError`` if it is not that shape."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise LoadError(f"a header must look like 'Name: value', not {text!r}")
    return name.strip(), value.strip()


def build_request(
    method: str,
    target: Target,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    keep_alive: bool = True,
) -> bytes:
    """The bytes of one request, ready to write. ``headers`` must be ``check_headers``'d.

    A body gets ``Content-Length`` and, unless ``headers`` has one, a ``Content-Type``:
    ``application/json`` when the body parses as JSON, else ``application/octet-stream``.
    """
    if not _TOKEN.fullmatch(method):
        raise LoadError(f"not a valid HTTP method: {method!r}")
    host = f"[{target.host}]" if ":" in target.host else target.host
    if target.port != 80:
        host = f"{host}:{target.port}"
    lines = [f"{method} {target.path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        if not any(name.lower() == "content-type" for name in headers):
            lines.append(f"Content-Type: {content_type_of(body)}")
        lines.append(f"Content-Length: {len(body)}")
    elif method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Length: 0")
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + (body or b"")


class Response:
    """A response as the loops need it: status, headers, the body's first bytes.

    The headers are parsed into a dict (lower-cased names) only when asked for: the loops
    read just the few fields that frame the body, and only records need the rest.
    """

    __slots__ = ("_head", "body", "keep_alive", "status")

    def __init__(self, status: int, head: bytes, body: bytes, keep_alive: bool) -> None:
        self.status = status
        self._head = head
        self.body = body
        self.keep_alive = keep_alive

    @property
    def headers(self) -> dict[str, str]:
        """Every header by lower-cased name; repeated ones joined with ``", "``."""
        fields: dict[str, str] = {}
        for line in self._head.decode("latin-1").split("\r\n")[1:]:
            name, sep, value = line.partition(":")
            if sep:
                key, value = name.strip().lower(), value.strip()
                fields[key] = f"{fields[key]}, {value}" if key in fields else value
        return fields


class Connection:
    """One TCP connection on a non-blocking socket, driven by the ``Reactor``.

    Made by connecting to ``address`` (an IP address: resolve names once, beforehand); it
    returns as soon as the connect is under way: on loopback it has completed by then, and
    elsewhere ``send`` writes once the socket turns writable.

    ``send`` writes a request and calls ``callback(response, None, conn, end)`` or
    ``callback(None, error, None, end)`` exactly once, from the reactor, as soon as the
    response is complete or the request failed (``expire`` past the deadline: a
    ``TimeoutError``). ``conn`` is this connection when it may carry the next request, else
    None; ``end`` is the ``time.perf_counter_ns()`` of that moment, taken before anything
    else is done (closing the socket costs tens of microseconds on loopback). No future or
    task per request: the callback starts the next request at once, as a C client would.
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
        "_keep_alive",
        "_nodelay",
        "_pending",
        "_reactor",
        "_remaining",
        "_rest",
        "_reuse",
        "_sock",
        "_state",
        "_status",
        "closed",
        "deadline",
        "got_bytes",
    )
    # Set per response, by send() and _parse(), not in __init__.
    _body: bytes
    _head: bytes
    _keep_alive: bool
    _remaining: int
    _status: int

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
                raise OSError(err, os.strerror(err))
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
        self._nodelay = False
        self._pending = b""
        self._rest = b""
        self._callback: Callback | None = None
        self.closed = False
        self.got_bytes = False
        # The rest of a request's state is set by send() and _parse().

    def send(self, data: bytes, callback: Callback, deadline: float) -> None:
        """Send ``data`` (one whole request) to be answered by ``deadline`` (``Reactor.time``).

        The deadline is enforced by whoever calls ``expire``: one sweep over every open
        connection now and then costs less than a timer per request.
        """
        assert self._callback is None, "one request at a time"
        self._callback = callback
        self.deadline = deadline
        self._state = _HEAD
        self.got_bytes = False
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

    # --- the loop's callbacks -------------------------------------------------------------

    def _on_writable(self) -> None:
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

    def _on_readable(self) -> None:
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
        if self._rest:
            data = self._rest + data
            self._rest = b""
        try:
            self._parse(data)
        except ProtocolError as exc:
            self._fail(exc)

    def _lost(self) -> None:
        if self._callback is not None and self._state == _UNTIL_CLOSE:
            self._finish()
            return
        if not self.got_bytes:
            error = ServerDisconnected("server closed the connection without a reply")
        else:
            error = ServerDisconnected("server closed the connection mid-response")
        self._fail(error)

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
            batch.append((callback, response, exc, conn, end))

    def _fail(self, exc: BaseException) -> None:
        end = time.perf_counter_ns()
        self.close()
        self._done(None, exc, None, end)

    def _fail_soon(self, exc: BaseException) -> None:
        # Never call back from inside send(): a caller that sends again from its callback
        # would recurse once per request against a dead server.
        end = time.perf_counter_ns()
        self.close()
        self._reactor.call_soon(self._done, None, exc, None, end)

    def _finish(self, extra: bool = False) -> None:
        """The response is whole; ``extra``: more bytes came after it."""
        end = time.perf_counter_ns()
        if extra:  # bytes after the response: no pipelining here, so the framing is off
            self._keep_alive = False
        keep_alive = self._keep_alive
        response = Response(self._status, self._head, self._body, keep_alive)
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
            batch.append((callback, response, None, conn, end))

    def _keep(self, data: bytes, start: int, size: int) -> None:
        """Keep the body's ``size`` bytes at ``data[start:]``, up to ``BODY_KEEP`` in all."""
        room = BODY_KEEP - len(self._body)
        if room > 0:
            self._body += data[start : start + min(size, room)]

    def _wait_for_more(self, data: bytes, start: int) -> None:
        """Keep ``data[start:]``, an unfinished head or line, to read on with the next bytes."""
        if len(data) - start > _MAX_HEAD:
            raise ProtocolError("response head or chunk line larger than 64 KiB")
        self._rest = data[start:]

    def _parse(self, data: bytes) -> None:
        """Read ``data`` (with what was left unfinished before it) as far as it goes.

        A position moves through ``data`` rather than bytes being cut off a buffer: a
        response that arrives whole in one read, as most do, costs two slices (its head, to
        look its framing up, and its body's first bytes) and no copy of what is skipped.
        """
        pos = 0
        while True:
            state = self._state
            if state == _HEAD:
                end = data.find(b"\r\n\r\n", pos)
                if end < 0:
                    self._wait_for_more(data, pos)
                    return
                head = data[pos:end]
                pos = end + 4
                framing = _FRAMINGS.get(head)
                if framing is None:
                    framing = _remember_framing(head)
                status, keep_alive, length = framing
                if 100 <= status < 200:
                    continue  # an interim response (100 Continue): the real one follows
                self._status, self._head, self._keep_alive = status, head, keep_alive
                if self._head_only or status in _NO_BODY_STATUS:
                    length = 0
                elif length < 0:
                    if length == _CHUNKED:
                        self._state = _CHUNK_SIZE
                    else:
                        self._keep_alive = False
                        self._state = _UNTIL_CLOSE
                    continue
                if len(data) - pos >= length:  # the whole body came with the head, as usual
                    if length:
                        self._body = data[pos : pos + min(length, BODY_KEEP)]
                        pos += length
                    self._finish(pos < len(data))
                    return
                self._remaining = length
                self._state = _LENGTH
            elif state in (_LENGTH, _CHUNK_DATA):
                take = min(len(data) - pos, self._remaining)
                self._keep(data, pos, take)
                pos += take
                self._remaining -= take
                if self._remaining:
                    return  # all of data is read
                if state == _LENGTH:
                    self._finish(pos < len(data))
                    return
                self._state = _CHUNK_END
            elif state == _CHUNK_SIZE:
                end = data.find(b"\r\n", pos)
                if end < 0:
                    self._wait_for_more(data, pos)
                    return
                size_text = data[pos:end].split(b";", 1)[0].strip()
                pos = end + 2
                try:
                    self._remaining = int(size_text, 16)
                except ValueError:
                    raise ProtocolError(f"bad chunk size {size_text[:20]!r}") from None
                self._state = _CHUNK_DATA if self._remaining else _TRAILER
            elif state == _CHUNK_END:
                if len(data) - pos < 2:
                    self._wait_for_more(data, pos)
                    return
                if data[pos : pos + 2] != b"\r\n":
                    raise ProtocolError("chunk not followed by CRLF")
                pos += 2
                self._state = _CHUNK_SIZE
            elif state == _TRAILER:
                end = data.find(b"\r\n", pos)
                if end < 0:
                    self._wait_for_more(data, pos)
                    return
                blank = end == pos  # the empty line that ends the trailer
                pos = end + 2
                if blank:
                    self._finish(pos < len(data))
                    return
            else:  # _UNTIL_CLOSE: the body ends when the connection does
                self._keep(data, pos, len(data) - pos)
                return


def _remember_framing(head: bytes) -> Framing:
    """``read_framing(head)``, remembered for the next response with the same head."""
    framing = read_framing(head)
    if len(head) <= _FRAMING_HEAD_MAX:
        if len(_FRAMINGS) >= _FRAMINGS_KEPT:
            _FRAMINGS.clear()
        _FRAMINGS[head] = framing
    return framing


def read_framing(head: bytes) -> Framing:
    """A response head's status, whether it allows keep-alive, and its body's length.

    The length is ``_CHUNKED`` for the chunked transfer coding and ``_UNTIL_CLOSE_LENGTH``
    when nothing frames the body; a ``ProtocolError`` says what is malformed.
    """
    code = head[9:12]  # "HTTP/1.1 200 OK": the status line comes first
    if head[:7] != b"HTTP/1." or head[8:9] != b" " or not code.isdigit():
        first_line = head.split(b"\r\n", 1)[0]
        raise ProtocolError(f"bad status line {first_line[:60]!r}")
    status = int(code)
    fields = dict(_FRAMING.findall(head.lower()))
    # ``find`` rather than ``in``: bytes' ``in`` first tries its operand as an integer,
    # and raising and clearing that TypeError costs more than the search.
    connection = fields.get(b"connection", b"")
    if head[7:8] == b"0":  # HTTP/1.0
        keep_alive = connection.find(b"keep-alive") >= 0
    else:
        keep_alive = connection.find(b"close") < 0
    if fields.get(b"transfer-encoding", b"").find(b"chunked") >= 0:
        return status, keep_alive, _CHUNKED
    length = fields.get(b"content-length")
    if length is None:
        return status, keep_alive, _UNTIL_CLOSE_LENGTH
    length = length.strip()
    if not length.isdigit():
        raise ProtocolError(f"bad Content-Length {length[:20]!r}")
    return status, keep_alive, int(length)
