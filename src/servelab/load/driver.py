"""What the closed and open loops share: the event loop, and a driver that sends requests.

The driver turns a URL and a ``RequestSpec`` into request bytes once, opens connections
(``http11``) to an address resolved once, sends each request on a reused or new connection,
and retries once a kept-alive connection the server had closed as it was reused.
"""

from __future__ import annotations

import asyncio
import json
import math
import select
import selectors
import socket
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from servelab.errors import LoadError
from servelab.load.engine import Target, default_area
from servelab.load.http11 import (
    Connection,
    Lane,
    Response,
    ServerDisconnected,
    build_request,
    check_headers,
    connect,
)
from servelab.load.recorder import LoadSummary, Recorder

_FD_SETSIZE: Final = 1024  # select(2) takes no higher descriptor
_SWEEP_EVERY: Final = 0.05
_RETRYABLE = (ServerDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass(frozen=True)
class RequestSpec:
    """What every request sends.

    ``body=None`` with POST sends the seed's ``{"area": a}`` bodies (areas 10, 20 ... 100 in
    turn); with another method, no body. ``headers`` are added to the engine's own.
    """

    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def payloads(self) -> list[tuple[float, bytes | None]]:
        """(area, body) pairs to cycle through; area is 0 when the body is not the seed's."""
        if self.body is None and self.method == "POST":
            return [
                (default_area(i), json.dumps({"area": default_area(i)}).encode()) for i in range(10)
            ]
        return [(0.0, self.body)]


class _PreciseEpollSelector(selectors.EpollSelector):
    """epoll with timeouts kept to microseconds instead of rounded up to milliseconds.

    ``epoll_wait`` takes whole milliseconds, so a timer due in 0.3 ms fires up to 1 ms late
    and an open loop's sends would leave half a millisecond late on average. Waiting on the
    epoll descriptor itself with ``select(2)``, which takes microseconds, then collecting the
    events without waiting keeps that error to tens of microseconds, for one more syscall
    per idle wait only.
    """

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout > 0 and self.fileno() < _FD_SETSIZE:
            select.select([self.fileno()], [], [], timeout)
            timeout = 0
        return super().select(timeout)


def precise_event_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose timers fire within tens of microseconds (for a schedule)."""
    if hasattr(selectors, "EpollSelector"):
        return asyncio.SelectorEventLoop(_PreciseEpollSelector())
    return asyncio.new_event_loop()


def run(driver: Driver, main: Coroutine[Any, Any, None], *, precise: bool = False) -> None:
    """Run ``main`` in a new event loop, closing whatever ``driver`` left open after it.

    ``precise`` timers cost an extra syscall per idle wait: only an open loop's schedule
    needs them (a closed loop's only timers are think times and the deadline sweep).
    """
    factory = precise_event_loop if precise else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        try:
            runner.run(main)
        finally:
            driver.close_all()


Done = Callable[[Response | None, BaseException | None, Connection | None, int], None]


class _Attempt:
    """One request on its way: what ``Driver.send`` needs to finish it or retry it once.

    An object rather than a closure: a closure that passes itself on for the retry is a
    reference cycle, so every request left garbage for the cycle collector, whose passes
    then took a few percent of the client's CPU.
    """

    __slots__ = ("data", "deadline", "done", "driver", "reused", "used")

    def __init__(
        self,
        driver: Driver,
        data: bytes,
        done: Done,
        deadline: float,
        used: Connection,
        reused: bool,
    ) -> None:
        self.driver = driver
        self.data = data
        self.done = done
        self.deadline = deadline
        self.used = used
        self.reused = reused

    def finished(self, response: Response | None, exc: BaseException | None, end: int) -> None:
        driver = self.driver
        if exc is not None:
            if self.reused and isinstance(exc, _RETRYABLE) and not self.used.got_bytes:
                self.reused = False
                try:
                    self.used = driver._connect()
                except OSError as error:
                    self.done(None, error, None, time.perf_counter_ns())
                    return
                self.used.send(self.data, self.finished, self.deadline, head_only=driver.head_only)
                return
            self.done(None, exc, None, end)
            return
        assert response is not None
        if driver.keep_alive and response.keep_alive:
            self.done(response, None, self.used, end)
        else:
            self.used.close()
            self.done(response, None, None, end)


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
    ) -> None:
        if not (math.isfinite(timeout) and timeout > 0):
            raise LoadError(f"timeout must be > 0 seconds, not {timeout}")
        self.target = Target.parse(url)
        headers = check_headers(request.headers)
        self.payloads = [
            (area, build_request(request.method, self.target, headers, body, keep_alive=keep_alive))
            for area, body in request.payloads()
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
        self.open_connections: set[Connection] = set()
        self._finished: asyncio.Future[None] | None = None
        # Deadlines are checked this often: a timeout fires up to this late.
        self.sweep_every = min(_SWEEP_EVERY, timeout / 10)
        self._sweeper: asyncio.TimerHandle | None = None
        self._lane: Lane | None = None

    async def resolve(self) -> None:
        """Look the host up once, so no request waits for a resolver."""
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                self.target.host, self.target.port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise LoadError(f"cannot resolve {self.target.host!r}: {exc}") from None
        family, _, _, _, sockaddr = infos[0]
        self.family = family
        self.address = (str(sockaddr[0]), int(sockaddr[1]))

    def send(self, conn: Connection | None, data: bytes, done: Done) -> None:
        """Send ``data`` on ``conn`` if it is still open, else on a new connection.

        ``done(response, error, connection, end)`` is called once, from the loop;
        ``connection`` is the one to reuse, or None; ``end`` the ``perf_counter_ns`` when the
        request ended. A kept-alive connection the server closed just as we
        reused it (nothing came back on it) is retried once on a new one, as browsers do.
        """
        reused = conn is not None and not conn.closed
        try:
            if conn is None or not reused:
                conn = self._connect()
        except OSError as exc:
            asyncio.get_running_loop().call_soon(done, None, exc, None, time.perf_counter_ns())
            return
        # time.monotonic() is the asyncio loop's clock (``_sweep`` compares with loop.time()).
        attempt = _Attempt(self, data, done, time.monotonic() + self.timeout, conn, reused)
        conn.send(data, attempt.finished, attempt.deadline, head_only=self.head_only)

    def _connect(self) -> Connection:
        self.connections += 1
        assert self._lane is not None, "start() first"
        return connect(self.address, self._lane, self.family, self.open_connections)

    def start(self) -> None:
        """Start enforcing deadlines (call in the running loop, before the first send)."""
        loop = asyncio.get_running_loop()
        self._lane = Lane()
        self._sweeper = loop.call_later(self.sweep_every, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for conn in list(self.open_connections):
            conn.expire(now)
        self._sweeper = loop.call_later(self.sweep_every, self._sweep, loop)

    def close_all(self) -> None:
        """Stop the deadline sweep; close every connection still open (after an early stop)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self.open_connections):
            conn.close()
        if self._lane is not None:
            self._lane.close()
            self._lane = None

    def started(self) -> None:
        self.in_flight += 1
        if self.in_flight > self.max_in_flight_seen:
            self.max_in_flight_seen = self.in_flight

    def fail(self, error: BaseException) -> None:
        """Stop the run because of ``error`` (raised by ``on_record``): it is re-raised."""
        if self.failure is None:
            self.failure = error
        self.wake()

    def arm(self) -> asyncio.Future[None]:
        """A future that ``wake`` (the run's end, or a failure) will complete."""
        self._finished = asyncio.get_running_loop().create_future()
        return self._finished

    def wake(self) -> None:
        if self._finished is not None and not self._finished.done():
            self._finished.set_result(None)

    def summary(self, mode: str, url: str, method: str, parameters: dict[str, Any]) -> LoadSummary:
        return self.recorder.summary(
            mode=mode,
            url=url,
            method=method,
            parameters=parameters,
            max_in_flight_seen=self.max_in_flight_seen,
            connections_opened=self.connections,
        )
