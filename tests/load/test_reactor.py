"""The loops' event loop: timers, stopping, errors, batches, and the platform fallback."""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from servelab.load import driver as driver_module
from servelab.load import run_closed, run_open
from servelab.load.http11.connection import Connection, Response
from servelab.load.reactor import Reactor
from servelab.load.request import RequestSpec
from tests.load.test_loops import AsyncServer


def test_timers_run_in_time_order_and_cancelled_ones_never() -> None:
    reactor = Reactor()
    ran: list[str] = []
    now = reactor.time()
    reactor.call_at(now + 0.006, ran.append, "third")
    reactor.call_at(now + 0.002, ran.append, "first")
    reactor.call_at(now + 0.004, ran.append, "second")
    reactor.call_at(now + 0.003, ran.append, "cancelled").cancel()
    reactor.call_soon(ran.append, "soon")
    reactor.call_at(now + 0.008, reactor.stop)
    reactor.run()
    reactor.close()
    assert ran == ["soon", "first", "second", "third"]


@pytest.mark.parametrize("precise", [True, False])
def test_a_timer_never_fires_before_its_time(precise: bool) -> None:
    reactor = Reactor(precise=precise)
    late: list[float] = []
    start = reactor.time()

    def fired(when: float) -> None:
        late.append(reactor.time() - when)

    for k in range(1, 30):
        when = start + k * 0.0007  # between epoll's millisecond ticks
        reactor.call_at(when, fired, when)
    reactor.call_at(start + 0.03, reactor.stop)
    reactor.run()
    reactor.close()
    assert len(late) == 29
    assert min(late) >= 0


def test_stop_before_run_makes_run_return_at_once() -> None:
    reactor = Reactor()
    reactor.stop()
    reactor.call_later(60, pytest.fail, "the timer must not run")
    reactor.run()
    reactor.close()


def test_an_error_in_a_callback_ends_the_run_with_it() -> None:
    reactor = Reactor()

    def broken() -> None:
        raise ValueError("from the callback")

    reactor.call_later(0.001, broken)
    reactor.call_later(5, pytest.fail, "run went on after the error")
    with pytest.raises(ValueError, match="from the callback"):
        reactor.run()
    reactor.close()


@pytest.fixture
def two_answered_connections() -> Iterator[tuple[int, threading.Event]]:
    """A server that answers two connections at the same moment, each with a closing reply."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5.0)
    both_answered = threading.Event()

    def serve() -> None:
        clients = []
        for _ in range(2):
            conn, _ = listener.accept()
            conn.settimeout(5.0)
            while b"\r\n\r\n" not in conn.recv(4096):
                pass
            clients.append(conn)
        for conn in clients:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        both_answered.set()
        for conn in clients:
            conn.recv(1)  # until the client closes
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], both_answered
    finally:
        thread.join(timeout=6.0)
        listener.close()


def test_a_batch_closes_every_finished_connection_before_any_callback(
    two_answered_connections: tuple[int, threading.Event],
) -> None:
    port, both_answered = two_answered_connections
    reactor = Reactor()
    conns: list[Connection] = []
    seen: list[tuple[int, bool]] = []

    def done(
        response: Response | None, exc: BaseException | None, conn: Connection | None, end: int
    ) -> None:
        assert exc is None and response is not None
        seen.append((response.status, all(c.closed for c in conns)))
        if len(seen) == 2:
            reactor.stop()

    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    for _ in range(2):
        conn = Connection(("127.0.0.1", port), reactor)
        conns.append(conn)
        conn.send(request, done, reactor.time() + 5)
    assert both_answered.wait(5.0)
    time.sleep(0.05)  # both responses wait in their sockets: one epoll_wait returns both
    reactor.call_later(5, reactor.stop)
    reactor.run()
    reactor.close()
    assert seen == [(200, True), (200, True)]


def test_the_loops_run_on_selectors_where_there_is_no_epoll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(driver_module, "Reactor", functools.partial(Reactor, use_epoll=False))
    with AsyncServer() as server:
        closed = run_closed(server.url, concurrency=3, requests=30, request=RequestSpec("GET"))
        opened = run_open(server.url, rate=200, requests=20, request=RequestSpec("GET"))
    assert (closed.ok, closed.errors, closed.connections_opened) == (30, 0, 3)
    assert (opened.ok, opened.errors) == (20, 0)
    assert server.requests == 50


SLACK = Path("/proc/self/timerslack_ns")


@pytest.mark.skipif(not SLACK.exists(), reason="timer slack is a Linux (4.6+) setting")
def test_a_precise_reactor_runs_without_timer_slack_and_restores_it() -> None:
    before = SLACK.read_text()
    reactor = Reactor(precise=True)
    assert SLACK.read_text().strip() == "1"
    reactor.close()
    assert SLACK.read_text() == before
    Reactor().close()  # a closed loop's reactor leaves the slack alone
    assert SLACK.read_text() == before
