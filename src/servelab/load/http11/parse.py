"""A sans-IO HTTP/1.1 response parser: feed it the bytes a socket gave, get events back.

Theory of operation. A ``ResponseParser`` reads the responses of one connection, one after
the other; it never touches a socket or a clock. ``feed(data)`` returns the events ``data``
completes, in order, and keeps what it could not use yet (an unfinished head or chunk line)
for the next call:

    Head(status, keep_alive, raw)   the final response's head (1xx interim ones are skipped)
    bytes                           some bytes of the body, as they came (never empty)
    END                             the response is whole

A response ends at ``Content-Length`` bytes, at the chunked coding's last chunk and trailer,
at once for HEAD (``head_only``), 204 and 304, or when the connection closes
(``feed_eof``) when nothing frames the body. ``feed`` stops at ``END``: bytes after it stay
buffered (``buffered``) and the next ``feed`` reads them as the next response. This client
never pipelines, so the connection takes leftover bytes as a sign the framing is off.

Strict about what it accepts, and every buffer has a bound: a head (and a trailer) of at
most ``MAX_HEAD`` bytes and ``MAX_HEADERS`` lines; ``Content-Length`` only digits, at most
``MAX_LENGTH_DIGITS`` of them, the same value when repeated; a chunk size only hex digits
(no sign, no ``0x``, no blank but before an extension's ``;``), at most
``MAX_CHUNK_DIGITS`` of them, on a line of at most ``MAX_CHUNK_LINE`` bytes with its
extensions. Anything else raises a ``ProtocolError`` naming what is wrong; after an error
the parser is not used again.

Errors (``outcome.classify`` maps them to ``records.ERROR_CLASSES``):

    ProtocolError           other: the bytes are not an HTTP/1.x response as read here
      BadStatusLine           the first line is not ``HTTP/1.x NNN ...``
    ServerDisconnected      disconnected: the connection closed before the response was whole
      RemoteDisconnected      nothing of a response had come (http.client's name and words,
                              which the seed's logs show)
      IncompleteRead          part of it had come

Fast path: a server sends the same head, byte for byte, for the same kind of response
(within the second of its Date header), so each distinct head is read once and its ``Head``
(immutable) remembered with its framing; a response that arrives whole in one read, as most
do, costs two slices (its head and its body), a dict lookup and a list of three events. A
client makes a connection per request against servers that close them (gunicorn's sync
worker), so a parser is cheap to make too: body bytes are events as they are, no wrapper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

MAX_HEAD: Final = 64 * 1024
MAX_HEADERS: Final = 100
MAX_CHUNK_LINE: Final = 4096
MAX_LENGTH_DIGITS: Final = 18  # below 2**63
MAX_CHUNK_DIGITS: Final = 15  # below 2**60

# The headers that frame a response body, read from a lower-cased head in one pass.
_FRAMING = re.compile(rb"\r\n(connection|content-length|transfer-encoding)[ \t]*:[ \t]*([^\r\n]*)")
_LENGTH = re.compile(rb"[0-9]{1,%d}" % MAX_LENGTH_DIGITS)
# Hex digits, then extensions if any; blanks only before an extension's ";" (RFC 9112's BWS).
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,%d})(?:[ \t]*;[^\r\n]*)?" % MAX_CHUNK_DIGITS)
_NO_BODY_STATUS: Final = frozenset({204, 304})
_CHUNKED: Final = -1
_UNTIL_CLOSE: Final = -2
# A head's (status, keep-alive, body length or _CHUNKED or _UNTIL_CLOSE).
Framing = tuple[int, bool, int]
# Heads read before, by their bytes: for GET/POST... responses, and for HEAD ones (whose
# body length is 0). Cleared when full, and long heads are not kept: a server whose every
# head differs costs a dict store per response and at most 1 MiB.
_HEADS_KEPT: Final = 256
_HEAD_KEPT_MAX: Final = 2048

_HEAD, _BODY, _CHUNK_LINE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_CLOSE_STATE = range(7)


class ProtocolError(Exception):
    """The server's bytes are not an HTTP/1.x response as this parser reads it."""


class BadStatusLine(ProtocolError):
    """The response's first line is not ``HTTP/1.x NNN reason``."""


class ServerDisconnected(Exception):
    """The connection closed before a whole response arrived."""


class RemoteDisconnected(ServerDisconnected):
    """The connection closed before any byte of the response."""


class IncompleteRead(ServerDisconnected):
    """The connection closed with part of the response read."""


@dataclass(frozen=True, slots=True)
class Head:
    """A final response's head: its status, whether the connection may carry the next
    request, and its bytes (status line and header lines, without the blank line).

    Immutable: the same instance comes back for every response with the same head bytes.
    """

    status: int
    keep_alive: bool
    raw: bytes

    @property
    def headers(self) -> dict[str, str]:
        """Every header by lower-cased name; repeated ones joined with ``", "``.

        Parsed only when asked for: a load client reads the few fields that frame the body
        on every response, and the rest only when it keeps a record.
        """
        fields: dict[str, str] = {}
        for line in self.raw.decode("latin-1").split("\r\n")[1:]:
            name, sep, value = line.partition(":")
            if sep:
                key, value = name.strip().lower(), value.strip()
                fields[key] = f"{fields[key]}, {value}" if key in fields else value
        return fields


class End:
    """The response is whole; ``END`` is the one instance."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END: Final = End()
# Body bytes are events as they are: no wrapper object per read.
Event = Head | bytes | End
# A head read before: its Head, and its body's length (_CHUNKED, _UNTIL_CLOSE or >= 0).
_Framed = tuple[Head, int]
_HEADS: dict[bytes, _Framed] = {}
_HEADS_HEAD_ONLY: dict[bytes, _Framed] = {}


class ResponseParser:
    """The responses of one connection, read from bytes as they come (module docstring).

    ``head_only``: the requests are HEAD requests, whose responses have no body whatever
    their headers say.
    """

    __slots__ = ("_got", "_heads", "_length", "_remaining", "_rest", "_state", "_trailer")
    # Set when their state begins, not here: a parser is made per connection.
    _length: int  # a Content-Length body's length
    _remaining: int  # bytes left of that body, or of the current chunk
    _trailer: int  # trailer lines read so far

    def __init__(self, *, head_only: bool = False) -> None:
        self._heads = _HEADS_HEAD_ONLY if head_only else _HEADS
        self._state = _HEAD
        self._rest = b""  # unread bytes: an unfinished line, or what came after END
        self._got = False  # any byte of the current response has come

    @property
    def head_only(self) -> bool:
        """The requests are HEAD requests: no response has a body."""
        return self._heads is _HEADS_HEAD_ONLY

    @property
    def buffered(self) -> int:
        """Bytes held back: an unfinished line, or what came after the last ``END``."""
        return len(self._rest)

    def feed(self, data: bytes) -> list[Event]:
        """The events ``data`` (after what is buffered) completes, up to the next ``END``.

        A position moves through the bytes rather than bytes being cut off a buffer, so
        what is skipped is never copied.
        """
        if self._rest:
            data = self._rest + data
            self._rest = b""
        elif self._state == _HEAD:
            # The common case first: a whole response, with a head seen before, in one read.
            whole = whole_response(data, self._heads is _HEADS_HEAD_ONLY)
            if whole is not None:
                head, body = whole
                return [head, body, END] if body else [head, END]
        if data:
            self._got = True
        events: list[Event] = []
        pos = 0
        size = len(data)
        while pos < size:
            state = self._state
            if state == _HEAD:
                end = data.find(b"\r\n\r\n", pos)
                if end < 0 or end - pos > MAX_HEAD:
                    self._keep(data, pos, MAX_HEAD, "response head")
                    return events
                raw = data[pos:end]
                pos = end + 4
                framed = self._heads.get(raw)
                if framed is None:
                    framed = self._read_head(raw)
                head, length = framed
                if head.status < 200:
                    continue  # an interim response (100 Continue): the final one follows
                events.append(head)
                if length >= 0:
                    if size - pos >= length:  # the whole body came with the head, as usual
                        if length:
                            events.append(data[pos : pos + length])
                            pos += length
                        events.append(END)  # _end, inlined: this is the common case
                        if pos < size:
                            self._rest = data[pos:]
                        else:
                            self._got = False
                        return events
                    self._length = self._remaining = length
                    self._state = _BODY
                elif length == _CHUNKED:
                    self._state = _CHUNK_LINE
                else:
                    self._state = _UNTIL_CLOSE_STATE
            elif state in (_BODY, _CHUNK_DATA):
                take = min(size - pos, self._remaining)
                events.append(data[pos : pos + take])
                pos += take
                self._remaining -= take
                if self._remaining:
                    return events  # all of data is read
                if state == _BODY:
                    return self._end(events, data, pos)
                self._state = _CHUNK_END
            elif state == _CHUNK_LINE:
                end = data.find(b"\r\n", pos)
                if end < 0 or end - pos > MAX_CHUNK_LINE:
                    self._keep(data, pos, MAX_CHUNK_LINE, "chunk-size line")
                    return events
                match = _CHUNK_SIZE.fullmatch(data, pos, end)
                if match is None:
                    raise ProtocolError(f"bad chunk size line {data[pos:end][:40]!r}")
                self._remaining = int(match[1], 16)
                pos = end + 2
                if self._remaining:
                    self._state = _CHUNK_DATA
                else:
                    self._state = _TRAILER
                    self._trailer = 0
            elif state == _CHUNK_END:
                if size - pos < 2:
                    self._keep(data, pos, 2, "chunk end")
                    return events
                if data[pos : pos + 2] != b"\r\n":
                    raise ProtocolError("a chunk's data is not followed by CRLF")
                pos += 2
                self._state = _CHUNK_LINE
            elif state == _TRAILER:
                end = data.find(b"\r\n", pos)
                if end < 0 or end - pos > MAX_HEAD:
                    self._keep(data, pos, MAX_HEAD, "trailer line")
                    return events
                if end == pos:  # the empty line that ends the trailer
                    return self._end(events, data, pos + 2)
                self._trailer += 1
                if self._trailer > MAX_HEADERS:
                    raise ProtocolError(f"more than {MAX_HEADERS} trailer fields")
                if data.find(b":", pos, end) < 0:
                    raise ProtocolError(f"bad trailer field {data[pos:end][:40]!r}")
                pos = end + 2
            else:  # _UNTIL_CLOSE_STATE: the body ends when the connection does
                events.append(data[pos:] if pos else data)
                return events
        return events

    def feed_eof(self) -> list[Event]:
        """The connection closed: ``[END]`` when that ends the body, else a
        ``ServerDisconnected`` that says how much had come."""
        state = self._state
        if state == _UNTIL_CLOSE_STATE:
            self._state = _HEAD
            self._got = False
            return [END]
        if state == _HEAD and not self._got:
            raise RemoteDisconnected("Remote end closed connection without response")
        if state == _HEAD:
            raise IncompleteRead(f"the response head was cut short after {len(self._rest)} bytes")
        if state == _BODY:
            read = self._length - self._remaining
            raise IncompleteRead(f"{read} bytes read, {self._remaining} more expected")
        raise IncompleteRead("the chunked body was cut short")

    def _end(self, events: list[Event], data: bytes, pos: int) -> list[Event]:
        """The response is whole at ``data[pos]``: what follows waits for the next one."""
        events.append(END)
        self._state = _HEAD
        if pos < len(data):
            self._rest = data[pos:]
            self._got = True
        else:
            self._got = False
        return events

    def _read_head(self, raw: bytes) -> _Framed:
        """A head not seen before: its ``Head`` and body length, remembered for next time."""
        status, keep_alive, length = read_framing(raw)
        if status < 200 or self._heads is _HEADS_HEAD_ONLY or status in _NO_BODY_STATUS:
            length = 0
        elif length == _UNTIL_CLOSE:
            keep_alive = False  # the close ends the body: nothing can follow it
        framed = (Head(status, keep_alive, raw), length)
        if len(raw) <= _HEAD_KEPT_MAX:
            if len(self._heads) >= _HEADS_KEPT:
                self._heads.clear()
            self._heads[raw] = framed
        return framed

    def _keep(self, data: bytes, pos: int, bound: int, what: str) -> None:
        """Keep ``data[pos:]``, an unfinished line, to read on with the next bytes."""
        if len(data) - pos > bound:
            raise ProtocolError(f"{what} longer than {bound} bytes")
        self._rest = data[pos:]


def whole_response(data: bytes, head_only: bool = False) -> tuple[Head, bytes] | None:
    """``data``, the first bytes of a response, as its ``Head`` and body when they are one
    whole response with a head read before and nothing after it; None otherwise (feed a
    ``ResponseParser`` then).

    The fast path, without a parser: a client that makes a connection per request (against
    servers that close them) reads most responses whole in one read, and needs no parser
    object for them.
    """
    end = data.find(b"\r\n\r\n")
    if end < 0 or end > MAX_HEAD:
        return None
    framed = (_HEADS_HEAD_ONLY if head_only else _HEADS).get(data[:end])
    if framed is None:
        return None
    head, length = framed
    start = end + 4
    if head.status < 200 or length < 0 or start + length != len(data):
        return None
    return head, data[start:]


def read_framing(head: bytes) -> Framing:
    """A response head's status, whether it allows keep-alive, and its body's length.

    The length is ``_CHUNKED`` for the chunked transfer coding and ``_UNTIL_CLOSE`` when
    nothing frames the body; a ``ProtocolError`` says what is malformed.
    """
    code = head[9:12]  # "HTTP/1.1 200 OK": the status line comes first
    if (
        head[:7] != b"HTTP/1."
        or head[7:8] not in (b"0", b"1")
        or head[8:9] != b" "
        or not code.isdigit()
        or head[12:13] not in (b"", b" ", b"\r")
        or code[:1] == b"0"
    ):
        first_line = head.split(b"\r\n", 1)[0]
        raise BadStatusLine(f"bad status line {first_line[:60]!r}")
    if head.count(b"\r\n") > MAX_HEADERS:
        raise ProtocolError(f"more than {MAX_HEADERS} header fields")
    status = int(code)
    connection: list[bytes] = []
    codings: list[bytes] = []
    lengths: list[bytes] = []
    for name, value in _FRAMING.findall(head.lower()):
        if name == b"connection":
            connection.append(value)
        elif name == b"transfer-encoding":
            codings += (c.strip() for c in value.split(b","))
        else:
            lengths += (v.strip() for v in value.split(b","))
    # ``find`` rather than ``in``: bytes' ``in`` first tries its operand as an integer,
    # and raising and clearing that TypeError costs more than the search.
    said = b",".join(connection)
    http10 = head[7:8] == b"0"
    keep_alive = said.find(b"keep-alive") >= 0 if http10 else said.find(b"close") < 0
    codings = [c for c in codings if c]
    if codings:
        # Chunked only when it is the last coding; any other ends the body at the close.
        return status, keep_alive, _CHUNKED if codings[-1] == b"chunked" else _UNTIL_CLOSE
    if not lengths:
        return status, keep_alive, _UNTIL_CLOSE
    for length in lengths:
        if not _LENGTH.fullmatch(length):
            raise ProtocolError(f"bad Content-Length {length[:24]!r}")
    if len(set(lengths)) > 1:
        raise ProtocolError(f"Content-Length values disagree: {b', '.join(lengths)[:60]!r}")
    return status, keep_alive, int(lengths[0])
