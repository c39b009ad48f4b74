"""The sans-IO response parser alone: bytes in, events out, no sockets and no sleeps.

Every well-formed response is fed whole, split in two at every byte position, and one
byte at a time, and must give the same events (body bytes may come in more pieces, so
consecutive ones are joined before comparing). Every malformed one must raise
the parser's error, fed whole or byte by byte: never a hang, never a buffer that grows
without bound.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servelab.load.http11.parse import (
    END,
    MAX_HEAD,
    MAX_HEADERS,
    BadStatusLine,
    Event,
    Head,
    IncompleteRead,
    ProtocolError,
    RemoteDisconnected,
    ResponseParser,
    whole_response,
)

CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"


def _joined(events: list[Event]) -> list[Event]:
    """``events`` with consecutive body bytes joined: how the body was cut is the sender's."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, bytes) and out and isinstance(out[-1], bytes):
            out[-1] += event
        else:
            out.append(event)
    return out


def _feed(pieces: list[bytes], *, head_only: bool = False, eof: bool = False) -> list[Event]:
    parser = ResponseParser(head_only=head_only)
    events: list[Event] = []
    for piece in pieces:
        events += parser.feed(piece)
    if eof:
        events += parser.feed_eof()
    return _joined(events)


def _splits(data: bytes) -> Iterator[list[bytes]]:
    """``data`` whole, in two pieces at every position, and one byte at a time."""
    yield [data]
    for cut in range(len(data) + 1):
        yield [data[:cut], data[cut:]]
    yield [data[i : i + 1] for i in range(len(data))]


WELL_FORMED = {
    "content-length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Servelab-Pid: 7\r\n\r\nhello world",
        False,
        False,
        [Head(200, True, b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Servelab-Pid: 7"),
         b"hello world", END],
    ),
    "content-length repeated, the same value": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\ncontent-length:2\r\n\r\nok",
        False,
        False,
        [Head(200, True, b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\ncontent-length:2"),
         b"ok", END],
    ),
    "empty body": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        False,
        False,
        [Head(200, True, b"HTTP/1.1 200 OK\r\nContent-Length: 0"), END],
    ),
    "chunked, with extensions and a trailer": (
        CHUNKED_HEAD + b"\r\n\r\n5;name=value\r\nhello\r\nA ; q=\"x;y\"\r\n 0123456\r\n\r\n"
        b"0\r\nX-Trailer: yes\r\nServer-Timing: handler;dur=1\r\n\r\n",
        False,
        False,
        [Head(200, True, CHUNKED_HEAD), b"hello 0123456\r\n", END],
    ),
    "chunked, upper-case hex and no trailer": (
        CHUNKED_HEAD + b"\r\n\r\n1A\r\n" + b"z" * 26 + b"\r\n0\r\n\r\n",
        False,
        False,
        [Head(200, True, CHUNKED_HEAD), b"z" * 26, END],
    ),
    "close-delimited": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
        False,
        True,
        [Head(200, False, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain"),
         b"until the end", END],
    ),
    "an unknown coding ends at the close": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nzz",
        False,
        True,
        [Head(200, False, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip"),
         b"zz", END],
    ),
    "HTTP/1.0 without keep-alive": (
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        False,
        False,
        [Head(200, False, b"HTTP/1.0 200 OK\r\nContent-Length: 2"), b"ok", END],
    ),
    "HTTP/1.0 with keep-alive": (
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        False,
        False,
        [Head(200, True, b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2"),
         b"ok", END],
    ),
    "Connection: close": (
        b"HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbusy",
        False,
        False,
        [Head(503, False, b"HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 4"),
         b"busy", END],
    ),
    "204 has no body": (
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        False,
        False,
        [Head(204, True, b"HTTP/1.1 204 No Content\r\nContent-Length: 5"), END],
    ),
    "304 has no body": (
        b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        False,
        False,
        [Head(304, True, b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked"), END],
    ),
    "a HEAD request's response has no body": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
        True,
        False,
        [Head(200, True, b"HTTP/1.1 200 OK\r\nContent-Length: 1000"), END],
    ),
    "100 Continue is skipped": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\n!",
        False,
        False,
        [Head(201, True, b"HTTP/1.1 201 Created\r\nContent-Length: 1"), b"!", END],
    ),
    "a status line without a reason": (
        b"HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n.",
        False,
        False,
        [Head(200, True, b"HTTP/1.1 200\r\nContent-Length: 1"), b".", END],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(WELL_FORMED))
def test_every_split_gives_the_same_events(name: str) -> None:
    data, head_only, eof, expected = WELL_FORMED[name]
    for pieces in _splits(data):
        assert _feed(pieces, head_only=head_only, eof=eof) == expected, [len(p) for p in pieces]


@pytest.mark.parametrize("name", list(WELL_FORMED))
def test_the_fast_path_agrees_with_the_parser(name: str) -> None:
    """``whole_response`` (no parser object) answers only for a whole response whose head was
    read before, and then exactly what the parser says; else None, never a wrong answer."""
    data, head_only, eof, expected = WELL_FORMED[name]
    _feed([data], head_only=head_only, eof=eof)  # the parser has read this head once
    whole = whole_response(data, head_only)
    if name == "content-length" or eof:  # the usual response; a body that ends at the close
        assert (whole is not None) == (not eof)
    if whole is not None:
        head, body = whole
        assert ([head, body, END] if body else [head, END]) == expected
    for cut in range(len(data)):  # a response not whole yet: never answered
        assert whole_response(data[:cut], head_only) is None
    assert whole_response(data + b"HTTP/1.1 200 OK\r\n", head_only) is None


def test_head_headers_are_read_on_demand() -> None:
    data, _, _, _ = WELL_FORMED["content-length"]
    (head, _, _) = ResponseParser().feed(data)
    assert isinstance(head, Head)
    assert head.headers == {"content-length": "11", "x-servelab-pid": "7"}


def test_bytes_after_a_response_wait_for_the_next_feed() -> None:
    first = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    second = b"HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\n?"
    for _seen_before in (False, True):  # a head read once takes the fast path after
        parser = ResponseParser()
        assert parser.feed(first + second[:10]) == [Head(200, True, first[:-6]), b"ok", END]
        assert parser.buffered == 10
        assert _joined(parser.feed(second[10:])) == [Head(404, True, second[:-5]), b"?", END]
        assert parser.buffered == 0


def test_a_close_before_any_byte_is_remote_disconnected() -> None:
    with pytest.raises(RemoteDisconnected) as caught:
        ResponseParser().feed_eof()
    assert str(caught.value) == "Remote end closed connection without response"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-", "head was cut short after 25 bytes"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhel", "3 bytes read, 8 more expected"),
        (CHUNKED_HEAD + b"\r\n\r\n5\r\nhel", "chunked body was cut short"),
        (CHUNKED_HEAD + b"\r\n\r\n0\r\nX: y\r\n", "chunked body was cut short"),
    ],
)
def test_a_close_mid_response_is_an_incomplete_read(data: bytes, message: str) -> None:
    for pieces in ([data], [data[i : i + 1] for i in range(len(data))]):
        parser = ResponseParser()
        for piece in pieces:
            parser.feed(piece)
        with pytest.raises(IncompleteRead, match=message):
            parser.feed_eof()


def _chunked(size_line: bytes) -> bytes:
    return CHUNKED_HEAD + b"\r\n\r\n" + size_line + b"\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n"


def _with_length(*values: bytes) -> bytes:
    fields = b"".join(b"Content-Length: " + value + b"\r\n" for value in values)
    return b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n" + b"x" * 16


HOSTILE = {
    "chunk size -1": (_chunked(b"-1"), "bad chunk size"),
    "chunk size 0x10": (_chunked(b"0x10"), "bad chunk size"),
    "chunk size after a blank": (_chunked(b" 10"), "bad chunk size"),
    "chunk size with a sign": (_chunked(b"+10"), "bad chunk size"),
    "chunk size with an underscore": (_chunked(b"1_0"), "bad chunk size"),
    "chunk size with a blank inside": (_chunked(b"1 0"), "bad chunk size"),
    "chunk size before a blank": (_chunked(b"10 "), "bad chunk size"),
    "chunk size after a tab": (_chunked(b"\t10"), "bad chunk size"),
    "empty chunk size": (_chunked(b""), "bad chunk size"),
    "chunk size of 16 hex digits": (_chunked(b"1" * 16), "bad chunk size"),
    "huge chunk size": (_chunked(b"f" * 40), "bad chunk size"),
    "chunk line too long": (_chunked(b"10;" + b"e" * 5000), "chunk-size line longer"),
    "chunk data not followed by CRLF": (
        CHUNKED_HEAD + b"\r\n\r\n2\r\nokXX0\r\n\r\n",
        "not followed by CRLF",
    ),
    "trailer line without a colon": (
        CHUNKED_HEAD + b"\r\n\r\n0\r\nnot a field\r\n\r\n",
        "bad trailer field",
    ),
    "too many trailer fields": (
        CHUNKED_HEAD + b"\r\n\r\n0\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1) + b"\r\n",
        "trailer fields",
    ),
    "negative Content-Length": (_with_length(b"-1"), "bad Content-Length"),
    "Content-Length with a sign": (_with_length(b"+16"), "bad Content-Length"),
    "Content-Length in hex": (_with_length(b"0x10"), "bad Content-Length"),
    "Content-Length as a float": (_with_length(b"1e3"), "bad Content-Length"),
    "empty Content-Length": (_with_length(b""), "bad Content-Length"),
    "huge Content-Length": (_with_length(b"9" * 19), "bad Content-Length"),
    "Content-Length values that disagree": (_with_length(b"16", b"17"), "disagree"),
    "Content-Length list that disagrees": (_with_length(b"16, 160"), "disagree"),
    "too many header fields": (
        b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1) + b"Content-Length: 0\r\n\r\n",
        "header fields",
    ),
    "not HTTP": (b"NOT HTTP AT ALL\r\n\r\n", "bad status line"),
    "HTTP/2 status line": (b"HTTP/2 200 OK\r\n\r\n", "bad status line"),
    "two-digit status": (b"HTTP/1.1 20 OK\r\n\r\n", "bad status line"),
    "status 099": (b"HTTP/1.1 099 Hm\r\n\r\n", "bad status line"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_malformed_responses_are_protocol_errors(name: str) -> None:
    data, message = HOSTILE[name]
    for pieces in ([data], [data[i : i + 1] for i in range(len(data))]):
        parser = ResponseParser()
        with pytest.raises(ProtocolError, match=message):
            for piece in pieces:
                parser.feed(piece)
            parser.feed_eof()


def test_a_bad_status_line_has_its_own_class() -> None:
    with pytest.raises(BadStatusLine, match=r"^bad status line b'NOT HTTP AT ALL'$"):
        ResponseParser().feed(b"NOT HTTP AT ALL\r\n\r\n")


@pytest.mark.parametrize(
    "opening",
    [
        b"HTTP/1.1 200 OK\r\nX-Endless: ",  # a head that never ends
        CHUNKED_HEAD + b"\r\n\r\n0\r\nX-Endless: ",  # a trailer that never ends
    ],
)
def test_an_endless_head_fails_once_it_passes_the_bound(opening: bytes) -> None:
    parser = ResponseParser()
    parser.feed(opening)
    fed = len(opening)
    piece = b"a" * 4096
    with pytest.raises(ProtocolError, match="longer than 65536 bytes"):
        while fed < 4 * MAX_HEAD:
            parser.feed(piece)
            fed += len(piece)
            assert parser.buffered <= MAX_HEAD
    assert fed <= MAX_HEAD + 2 * len(piece)  # failed at the bound, not long after


def test_a_large_body_streams_through_without_being_kept() -> None:
    size = 8 * 1024 * 1024
    parser = ResponseParser()
    events = parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
    piece = b"z" * 65536
    seen = 0
    for _ in range(size // len(piece)):
        for event in parser.feed(piece):
            if isinstance(event, bytes):
                seen += len(event)
            events.append(event)
        assert parser.buffered == 0
    assert seen == size and events[-1] is END
