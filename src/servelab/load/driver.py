"""What the burst and the loops share: running a reactor, and a driver that sends requests.

The driver turns a URL and a ``RequestSpec`` into request bytes once, opens connections
(``http11.connection``) to an address resolved once, sends each request on a reused or new
connection, retries once a kept-alive connection the server had closed as it was reused, and fails
requests past their deadline (one sweep over the open connections now and then costs less
than a timer per request).
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable, Sequence
from typing import Final

from servelab.errors import LoadError
from servelab.load.http11.connection import Callback, Connection, Response
from servelab.load.http11.parse import ServerDisconnected
from servelab.load.limits import check_seconds
from servelab.load.reactor import Reactor, Timer
from servelab.load.recorder import Recorder
from servelab.load.request import RequestSpec, Target, build_request, check_headers
from servelab.load.summary import LoadSummary, Mode, Parameters

_SWEEP_EVERY: Final = 0.05
_RETRYABLE = (ServerDisconnected, ConnectionResetError, BrokenPipeError)


class _Retry:
    """A request on a kept-alive connection: sent again, once, on a new one if the server
    had closed the old one as it was reused (nothing came back on it), as browsers do."""

    __slots__ = ("data", "deadline", "done", "driver", "used")

    def __init__(
        self, driver: Driver, data: bytes, done: Callback, deadline: float, used: Connection
    ) -> None:
        self.driver = driver
        self.data = data
        self.done = done
        self.deadline = deadline
        self.used = used

    def finished(
        self,
        response: Response | None,
        exc: BaseException | None,
        conn: Connection | None,
        end: int,
    ) -> None:
        if exc is not None and isinstance(exc, _RETRYABLE) and not self.used.got_bytes:
            driver = self.driver
            try:
                fresh = driver._connect()
            except OSError as error:
                self.done(None, error, None, time.perf_counter_ns())
                return
            fresh.send(self.data, self.done, self.deadline)
            return
        self.done(response, exc, conn, end)


class Driver:
    """Sends requests over pooled connections and hands each outcome to the recorder."""

    def __init__(
        self,
        *,
        url: str,
        request: RequestSpec,
        timeout: float,
        keep_alive: bool,
        recorder: Recorder,
        precise: bool = False,
        payloads: Sequence[tuple[float, bytes | None]] | None = None,
    ) -> None:
        """``precise`` timers cost a system call per timer: only an open loop's schedule
        needs them (a closed loop's only timers are think times and the deadline sweep).
        ``payloads``: (area, body) pairs to send in turn instead of ``request.payloads()``.
        """
        check_seconds("timeout", timeout)
        self.target = Target.parse(url)
        headers = check_headers(request.headers)
        self.payloads = [
            (area, build_request(request.method, self.target, headers, body, keep_alive=keep_alive))
            for area, body in (request.payloads() if payloads is None else payloads)
        ]
        self.head_only = request.method == "HEAD"
        self.timeout = timeout
        self.keep_alive = keep_alive
        self.recorder = recorder
        self.address: tuple[str, int] = (self.target.host, self.target.port)
        self.family = socket.AF_INET
        self.in_flight = 0
        self.max_in_flight_seen = 0
        self.connections = 0
        self.failure: BaseException | None = None
        # No request's deadline passes this (``Reactor.time`` seconds): a run that must end
        # by a time (an open loop's duration + timeout) sets it, and nothing outlives it.
        self.end_by = math.inf
        # Deadlines are checked this often: a timeout fires up to this late.
        self.sweep_every = min(_SWEEP_EVERY, timeout / 10)
        self._sweeper: Timer | None = None
        self.loop = "Python"  # which loop sent the requests: run_native's is "C"
        self.reactor = Reactor(precise=precise)  # last: nothing above may fail after it

    def run(self, begin: Callable[[], None]) -> None:
        """Resolve the target, call ``begin`` and run the reactor until the run ends.

        Whatever the run left open is closed after it, and a failure (``fail``) is
        re-raised.
        """
        reactor = self.reactor
        try:
            self.resolve()
            self._sweeper = reactor.call_later(self.sweep_every, self._sweep)
            begin()
            reactor.run()
        finally:
            self.close_all()
            reactor.close()
        if self.failure is not None:
            raise self.failure

    def run_native(self, body: Callable[[], None]) -> None:
        """Resolve the target and call ``body``, a whole loop run in C (``speedups``), which
        opens, watches and closes its own connections: this driver's reactor stays idle."""
        self.loop = "C"
        try:
            self.resolve()
            body()
        finally:
            self.reactor.close()

    def resolve(self) -> None:
        """Look the host up once, before the run, so no request waits for a resolver."""
        try:
            infos = socket.getaddrinfo(self.target.host, self.target.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise LoadError(f"cannot resolve {self.target.host!r}: {exc}") from None
        family, _, _, _, sockaddr = infos[0]
        self.family = family
        self.address = (str(sockaddr[0]), int(sockaddr[1]))

    def send(self, conn: Connection | None, data: bytes, done: Callback) -> None:
        """Send ``data`` on ``conn`` if it is still open, else on a new connection.

        ``done(response, error, connection, end)`` is called once, from the reactor;
        ``connection`` is the one to reuse, or None; ``end`` the ``perf_counter_ns`` when the
        request ended. A kept-alive connection the server closed just as we
        reused it (nothing came back on it) is retried once on a new one, as browsers do.
        """
        # perf_counter is the reactor's clock, which ``_sweep`` compares deadlines with.
        deadline = min(time.perf_counter() + self.timeout, self.end_by)
        if conn is not None and not conn.closed:
            # An object, not a closure: a closure that passes itself on for the retry is
            # a reference cycle, garbage for the cycle collector at every request.
            retry = _Retry(self, data, done, deadline, conn)
            conn.send(data, retry.finished, deadline)
            return
        try:
            conn = self._connect()
        except OSError as exc:
            self.reactor.call_soon(done, None, exc, None, time.perf_counter_ns())
            return
        conn.send(data, done, deadline)

    def _connect(self) -> Connection:
        self.connections += 1
        return Connection(self.address, self.reactor, self.family, self.keep_alive, self.head_only)

    def open_connections(self) -> list[Connection]:
        """Every connection still open: all the reactor watches are this driver's."""
        return [h for h in self.reactor.handlers() if isinstance(h, Connection)]

    def _sweep(self) -> None:
        reactor = self.reactor
        now = reactor.time()
        for conn in self.open_connections():
            conn.expire(now)
        self._sweeper = reactor.call_later(self.sweep_every, self._sweep)

    def close_all(self) -> None:
        """Stop the deadline sweep; close every connection still open (after an early stop)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in self.open_connections():
            conn.close()

    def started(self) -> None:
        self.in_flight += 1
        if self.in_flight > self.max_in_flight_seen:
            self.max_in_flight_seen = self.in_flight

    def fail(self, error: BaseException) -> None:
        """Stop the run because of ``error`` (raised by ``on_record``): it is re-raised."""
        if self.failure is None:
            self.failure = error
        self.wake()

    def wake(self) -> None:
        """End the run: the reactor stops after the current callback."""
        self.reactor.stop()

    def summary(self, mode: Mode, url: str, method: str, parameters: Parameters) -> LoadSummary:
        return self.recorder.summary(
            mode=mode,
            url=url,
            method=method,
            parameters=parameters,
            max_in_flight_seen=self.max_in_flight_seen,
            connections_opened=self.connections,
            loop=self.loop,
        )
