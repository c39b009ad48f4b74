"""The service's promises hold under the lab's gunicorn, not only inside the app.

Each request is written over a raw socket, as a client that does not wait for the answer
before sending its body would: a 6 MiB body over the limit must end in the app's JSON 413
(or 401), not in a reset while sending; the requests gunicorn's own parser refuses (bad
Content-Length, over-large or too many headers, an over-long request line) must get the
README's JSON error, not gunicorn's HTML page.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from servelab.servers import HOST, RunningServer, ServerSpec
from servelab.service import ServiceConfig
from servelab.service.gunicorn_answers import drain_unread_body

from ..helpers import Reply, launch_service

TOKEN = "promises-token"
CONFIG = ServiceConfig(workload="io", io_delay=0.0)
BIG_BODY = 6 * 1024 * 1024
TIMEOUT = 20.0


@pytest.fixture(
    scope="module", params=["gunicorn:w1", "gunicorn:w1:gthread:t2", "gunicorn:w1:gevent"]
)
def gunicorn(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    run_dir = tmp_path_factory.mktemp(ServerSpec.parse(request.param).label)
    with launch_service(request.param, run_dir, CONFIG) as server:
        yield server


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = ServiceConfig(workload="io", io_delay=0.0, token=TOKEN)
    with launch_service("gunicorn:w1", tmp_path_factory.mktemp("locked"), config) as server:
        yield server


def send_all_then_read(server: RunningServer, raw: bytes) -> Reply:
    """Send every byte of ``raw`` first, then read the one response, as a naive client does."""
    with socket.create_connection((HOST, server.port), timeout=TIMEOUT) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock, method=raw.split(b" ", 1)[0].decode())
        response.begin()
        return Reply(response.status, response.msg, response.read())


def post_predict(server: RunningServer, body: bytes, *extra_headers: str) -> bytes:
    head = [
        "POST /predict HTTP/1.1",
        f"Host: {HOST}:{server.port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *extra_headers,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def assert_json_error(reply: Reply, status: int) -> dict[str, object]:
    assert reply.status == status, reply.body[:300]
    assert reply.headers.get_content_type() == "application/json", reply.body[:300]
    payload = json.loads(reply.body)
    assert isinstance(payload, dict) and set(payload) <= {"error", "field"}
    assert isinstance(payload["error"], str) and payload["error"]
    return payload


def test_a_6_mib_body_over_the_limit_gets_the_413_not_a_reset(gunicorn: RunningServer) -> None:
    body = b'{"area": 42}' + b" " * (BIG_BODY - 12)
    reply = send_all_then_read(gunicorn, post_predict(gunicorn, body))

    payload = assert_json_error(reply, 413)
    assert payload.get("field") == "body"
    # The worker is free again: the next request is served.
    small = post_predict(gunicorn, b'{"area": 42}')
    assert send_all_then_read(gunicorn, small).status == 200


def test_a_6_mib_body_without_the_token_gets_the_401_not_a_reset(locked: RunningServer) -> None:
    reply = send_all_then_read(locked, post_predict(locked, b" " * BIG_BODY))
    assert_json_error(reply, 401)


# (id, raw request after the request line's target, status gunicorn's parser answers)
PARSER_REFUSALS: list[tuple[str, bytes, int]] = [
    ("a header over 8190 bytes", b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n", 431),
    (
        "101 headers",
        b"GET /health HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(101)),
        431,
    ),
    (
        "a Content-Length that is not a number",
        b"POST /predict HTTP/1.1\r\nContent-Length: ab\r\n",
        400,
    ),
    (
        "two different Content-Lengths",
        b"POST /predict HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n",
        400,
    ),
    ("a request line over 8190 bytes", b"GET /health?x=" + b"9" * 9000 + b" HTTP/1.1\r\n", 414),
    ("a request line that is not HTTP", b"HELLO\r\n", 400),
]


@pytest.mark.parametrize(
    ("raw", "status"), [c[1:] for c in PARSER_REFUSALS], ids=[c[0] for c in PARSER_REFUSALS]
)
def test_gunicorns_own_refusals_are_json(gunicorn: RunningServer, raw: bytes, status: int) -> None:
    reply = send_all_then_read(gunicorn, raw + b"Host: x\r\n\r\n")
    assert_json_error(reply, status)


def _gunicorn_body(sock: socket.socket, length: int) -> Any:
    """gunicorn's own reader of a ``length``-byte body arriving on ``sock``."""
    from gunicorn.http.body import Body, LengthReader
    from gunicorn.http.unreader import SocketUnreader

    return Body(LengthReader(SocketUnreader(sock), length))


def test_draining_a_stalled_body_stops_at_its_time_bound() -> None:
    # A client that declares a gigabyte, sends 100 bytes and stalls holds the worker only
    # for the drain's time bound, and the socket keeps the timeout it had.
    server_side, client_side = socket.socketpair()
    with server_side, client_side:
        client_side.sendall(b"x" * 100)
        began = time.monotonic()
        drain_unread_body(_gunicorn_body(server_side, 10**9), server_side, seconds=0.3)
        assert time.monotonic() - began < 5.0  # far below the gigabyte's time, not a benchmark
        assert server_side.gettimeout() is None


def test_draining_stops_at_its_byte_bound() -> None:
    server_side, client_side = socket.socketpair()
    with server_side, client_side:
        client_side.sendall(b"x" * 200_000)
        body = _gunicorn_body(server_side, 10**9)
        assert drain_unread_body(body, server_side, max_bytes=65_536, seconds=5.0) == 65_536
