"""Closed and open loops: how many requests per second a deployment holds, and its p99 then.

Closed loop (``run_closed``): ``concurrency`` users, each with its own connection, send a
request, wait for the response, think (optionally) and send the next, so exactly that many
requests are in flight. It answers "what do C busy users get". Its latency is the service
time: a slow server slows the users down and is asked less, which is what a closed loop is,
not a flaw to correct; ask the open loop what happens when requests keep arriving.

Open loop (``run_open``): requests arrive on a schedule, a constant rate or a linear ramp
from one rate to another, whatever the server does. Each request's latency is measured from
its *intended* send time, so a server that stalls cannot hide its stall by holding the
client back (coordinated omission). In-flight requests are bounded (``max_in_flight``, each
holds one connection of a pool of at most that many): a request due while the bound is
reached waits, is counted in ``held_back`` (and in ``late_sends`` when it leaves more than
``late_after`` late), and still carries its wait in its latency. None is dropped silently:
requests still waiting when the drain time after the schedule runs out are recorded as
``unsent``. Each scheduled request is recorded exactly once, sent or unsent: the schedule
is one iterator, and the give-up consumes what is left of it. Both loops stop by themselves:
after ``duration`` or ``requests`` no request is sent (the open loop's held-back ones until
the drain time), each request ends within ``timeout``, and an open loop's requests all end
by ``duration`` + max(``drain``, ``timeout``), so a stalled server cannot stretch the run.

Both run one ``reactor`` (an epoll loop, no coroutines) in the calling thread, through the
``driver`` and its ``http11`` connections, and stream each finished request to a
``Recorder`` (records to disk, latencies into a compact array); the burst (``burst``) is a
third schedule on the same parts. Where the C loops are built (``speedups``, setup.py), both
loops run there instead (``_closed_native``, ``_open_native``): the same behaviour request
for request, without a Python frame per request in the common case, so the client takes
about wrk's CPU from a server on the same machine. The Python here is their twin, what runs
without a compiler, and the source of every rule the C loops hand back to it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Final

import servelab.load.speedups as speedups
from servelab.errors import LoadError
from servelab.load.driver import Driver
from servelab.load.http11.connection import Connection, Response
from servelab.load.limits import (
    BYTES_PER_REQUEST,
    check_seconds,
    ensure_descriptors,
    ensure_memory,
)
from servelab.load.outcome import describe_exception
from servelab.load.reactor import Timer
from servelab.load.recorder import LATE_AFTER, Recorder
from servelab.load.records import RequestRecord
from servelab.load.request import RequestSpec, Target
from servelab.load.schedule import Rate
from servelab.load.summary import LoadSummary, Parameters

DEFAULT_TIMEOUT: Final = 10.0
DEFAULT_MAX_IN_FLIGHT: Final = 1000
# When the schedule is behind, let responses in between dispatches: every this many requests.
_YIELD_EVERY: Final = 16
_UNBOUNDED: Final = 2**63 - 1  # no limit on requests or time, as an int (a C int64 too)


def run_closed(
    url: str,
    *,
    concurrency: int = 10,
    requests: int | None = None,
    duration: float | None = None,
    think_time: float = 0.0,
    request: RequestSpec | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    keep_alive: bool = True,
    records_path: Path | None = None,
    on_record: Callable[[RequestRecord], None] | None = None,
) -> LoadSummary:
    """``concurrency`` users send requests back to back for ``duration`` s or ``requests``.

    At least one of ``duration`` and ``requests`` must be given; the run stops at whichever
    comes first. ``think_time`` seconds pass between a user's response and its next request.
    Records are appended to ``records_path`` and passed to ``on_record`` as requests end.
    """
    if concurrency < 1:
        raise LoadError(f"concurrency must be >= 1, not {concurrency}")
    _check_bounds(requests, duration)
    check_seconds("think time", think_time, zero_ok=True)
    if requests is not None:
        ensure_memory(
            requests, BYTES_PER_REQUEST, "a closed loop keeps every latency", "--requests"
        )
    ensure_descriptors(
        concurrency if requests is None else min(concurrency, requests), "--concurrency"
    )
    spec = request or RequestSpec()
    recorder = Recorder(records_path=records_path, on_record=on_record, scheduled=False)
    try:
        driver = Driver(
            url=url, request=spec, timeout=timeout, keep_alive=keep_alive, recorder=recorder
        )
        native = speedups.native
        if native is not None:
            driver.run_native(
                lambda: _closed_native(native, driver, concurrency, requests, duration, think_time)
            )
        else:
            driver.run(lambda: _closed(driver, concurrency, requests, duration, think_time))
    finally:
        recorder.close()
    parameters: Parameters = {
        "concurrency": concurrency,
        "requests": requests,
        "duration": duration,
        "think_time": think_time,
        "timeout": timeout,
        "keep_alive": keep_alive,
    }
    return driver.summary("closed", url, spec.method, parameters)


class _User:
    """One closed-loop user: sends the next request from the callback of the last one."""

    __slots__ = ("area", "conn", "driver", "index", "on_done", "recorder", "run", "start")

    def __init__(self, run: _ClosedRun) -> None:
        self.run = run
        self.driver = run.driver
        self.recorder = run.driver.recorder
        self.conn: Connection | None = None
        self.index = 0
        self.area = 0.0
        self.start = 0
        self.on_done = self.done  # bound once: a bound method per request is an allocation

    def next(self, stop: bool = False) -> None:
        run = self.run
        index = run.next_index
        start = time.perf_counter_ns()
        if stop or index >= run.limit or start >= run.end_ns or self.driver.failure is not None:
            if self.conn is not None:
                self.conn.close()
                self.conn = None
            run.user_done()
            return
        run.next_index = index + 1
        self.index = index
        self.start = start
        self.area, data = run.payloads[index % run.cycle]
        driver = self.driver
        driver.in_flight += 1  # at most one per user: the loop's maximum is set at its start
        driver.send(self.conn, data, self.on_done)

    def done(
        self,
        response: Response | None,
        exc: BaseException | None,
        conn: Connection | None,
        end: int,
    ) -> None:
        self.driver.in_flight -= 1
        self.conn = conn
        try:
            self.recorder.add(self.index, self.area, self.start, self.start, end, response, exc)
        except BaseException as error:
            self.driver.fail(error)
        run = self.run
        if not run.think_time:
            self.next()
        elif time.perf_counter_ns() + run.think_ns >= run.end_ns:
            self.next(stop=True)  # its think would outlive the duration: this user is done
        else:
            self.driver.reactor.call_later(run.think_time, self.next)


class _ClosedRun:
    def __init__(self, driver: Driver, limit: int, end_ns: int, think_time: float) -> None:
        self.driver = driver
        self.limit = limit
        self.end_ns = end_ns
        self.think_time = think_time
        self.think_ns = round(think_time * 1e9)
        self.next_index = 0
        self.running = 0
        self.payloads = driver.payloads
        self.cycle = len(driver.payloads)

    def user_done(self) -> None:
        self.running -= 1
        if self.running == 0:
            self.driver.wake()


def _closed_bounds(
    recorder: Recorder, requests: int | None, duration: float | None
) -> tuple[int, int]:
    """Restart the run's clock: how many requests, and until when (perf_counter_ns)."""
    recorder.restart_clock()
    # Integers, even when unbounded: a user compares both at every request.
    limit = requests if requests is not None else _UNBOUNDED
    end_ns = recorder.start_ns + round(duration * 1e9) if duration is not None else _UNBOUNDED
    return limit, end_ns


def _closed_native(
    native: ModuleType,
    driver: Driver,
    concurrency: int,
    requests: int | None,
    duration: float | None,
    think_time: float,
) -> None:
    """The closed loop of ``_closed``, run by the C loop (``speedups``)."""
    recorder = driver.recorder
    limit, end_ns = _closed_bounds(recorder, requests, duration)
    connections, in_flight = native.run_closed(
        driver.family,
        driver.address[0],
        driver.address[1],
        driver.payloads,
        min(concurrency, limit),
        limit,
        end_ns,
        round(think_time * 1e9),
        round(driver.timeout * 1e9),
        max(1, round(driver.sweep_every * 1e9)),
        driver.keep_alive,
        driver.head_only,
        recorder,
        recorder.arrays_only,
    )
    driver.connections += connections
    driver.max_in_flight_seen = max(driver.max_in_flight_seen, in_flight)


def _closed(
    driver: Driver,
    concurrency: int,
    requests: int | None,
    duration: float | None,
    think_time: float,
) -> None:
    """Start the users; the last one to finish stops the reactor."""
    limit, end_ns = _closed_bounds(driver.recorder, requests, duration)
    run = _ClosedRun(driver, limit, end_ns, think_time)
    # No more users than requests: each user is an object, and --concurrency may be huge.
    users = [_User(run) for _ in range(min(concurrency, limit))]
    run.running = len(users)
    for user in users:
        user.next()
    # Every user has its first request in flight now, and no user ever has two.
    driver.max_in_flight_seen = max(driver.max_in_flight_seen, driver.in_flight)


def run_open(
    url: str,
    *,
    rate: float | str | Rate,
    duration: float | None = None,
    requests: int | None = None,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    drain: float | None = None,
    request: RequestSpec | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    keep_alive: bool = True,
    late_after: float = LATE_AFTER,
    records_path: Path | None = None,
    on_record: Callable[[RequestRecord], None] | None = None,
) -> LoadSummary:
    """Send requests at ``rate`` (``Rate``, a number, or ``"R1:R2"``) for ``duration`` s.

    ``requests`` caps how many are sent; with a constant rate and no ``duration`` it sets the
    duration (``requests / rate``). At most ``max_in_flight`` requests are in flight; a
    request held back by that bound may still leave until ``drain`` seconds (default:
    ``timeout``) after the schedule's end, and is recorded ``unsent`` after that.
    """
    schedule = Rate.parse(rate)
    _check_bounds(requests, duration)
    if duration is None:
        if schedule.start != schedule.end:
            raise LoadError("a ramp of rates needs a duration")
        assert requests is not None
        duration = check_seconds("the duration (--requests / --rate)", requests / schedule.start)
    if max_in_flight < 1:
        raise LoadError(f"max in flight must be >= 1, not {max_in_flight}")
    check_seconds("timeout", timeout)
    check_seconds("late_after", late_after, zero_ok=True)
    drain = check_seconds("drain", timeout if drain is None else drain, zero_ok=True)
    # The schedule is generated as it goes, but every request's numbers are kept: check
    # them against memory before the first is sent (a float: rate x duration may be huge).
    planned = schedule.expected(duration)
    if requests is not None:
        planned = min(planned, requests)
    ensure_memory(
        planned,
        BYTES_PER_REQUEST,
        f"an open loop at {schedule} requests/s for {duration:g} s keeps every latency",
        "--rate, --duration or --requests",
    )
    count = schedule.count(duration)
    if requests is not None:
        count = min(count, requests)
    ensure_descriptors(min(max_in_flight, count), "--max-in-flight")
    spec = request or RequestSpec()
    recorder = Recorder(records_path=records_path, on_record=on_record, late_after=late_after)
    try:
        driver = Driver(
            url=url,
            request=spec,
            timeout=timeout,
            keep_alive=keep_alive,
            recorder=recorder,
            precise=True,
        )
        native = speedups.native
        if native is not None:
            args = (schedule, duration, count, max_in_flight, drain)
            driver.run_native(lambda: _open_native(native, driver, *args))
        else:
            driver.run(
                lambda: _OpenRun(driver, schedule, duration, count, max_in_flight, drain).tick()
            )
    finally:
        recorder.close()
    parameters: Parameters = {
        "rate": str(schedule),
        "rate_start": schedule.start,
        "rate_end": schedule.end,
        "duration": duration,
        "requests": count,
        "max_in_flight": max_in_flight,
        "drain": drain,
        "timeout": timeout,
        "keep_alive": keep_alive,
    }
    return driver.summary("open", url, spec.method, parameters)


def _open_ends(t0: int, duration: float, drain: float, timeout: float) -> tuple[int, int]:
    """An open loop's give-up time (the drain's end) and the time every request, sent on
    time or held back and sent during the drain, has ended by (perf_counter_ns)."""
    return t0 + int((duration + drain) * 1e9), t0 + int((duration + max(drain, timeout)) * 1e9)


def _unsent_why(max_in_flight: int, drain: float) -> str:
    return (
        f"not sent: {max_in_flight} requests (the in-flight bound) were still in "
        f"flight {drain:g} s after the schedule ended"
    )


def _open_native(
    native: ModuleType,
    driver: Driver,
    schedule: Rate,
    duration: float,
    count: int,
    max_in_flight: int,
    drain: float,
) -> None:
    """The open loop of ``_OpenRun``, run by the C loop (``speedups``)."""
    recorder = driver.recorder
    recorder.restart_clock()
    t0 = recorder.start_ns
    give_up_ns, end_by_ns = _open_ends(t0, duration, drain, driver.timeout)
    connections, seen, held_back, delay_sum, delay_max, late = native.run_open(
        driver.family,
        driver.address[0],
        driver.address[1],
        driver.payloads,
        iter(schedule.offsets_ns(duration, count)),
        t0,
        give_up_ns,
        end_by_ns,
        # No more slots than requests: each is a connection's state, and the bound may be huge.
        max(1, min(max_in_flight, count)),
        round(driver.timeout * 1e9),
        max(1, round(driver.sweep_every * 1e9)),
        driver.keep_alive,
        driver.head_only,
        recorder,
        recorder.arrays_only,
        int(recorder.late_after * 1e9),
        _unsent_why(max_in_flight, drain),
    )
    driver.connections += connections
    driver.max_in_flight_seen = max(driver.max_in_flight_seen, seen)
    recorder.held_back += held_back
    recorder.add_send_delays(delay_sum, delay_max, late)


class _OpenRun:
    """Sends each request of the schedule at its time, from the reactor's timers.

    At most one tick is pending (``_tick_at``): at a request's due time, or at once when
    the schedule is behind (after ``_YIELD_EVERY`` sends in a row, so that responses get in
    between), or when a request ends while the in-flight bound holds one back. One timer,
    armed the first time a request is held back, ticks at the give-up time.
    """

    def __init__(
        self,
        driver: Driver,
        schedule: Rate,
        duration: float,
        count: int,
        max_in_flight: int,
        drain: float,
    ) -> None:
        self.driver = driver
        self.schedule = schedule
        self.duration = duration
        self.count = count
        self.max_in_flight = max_in_flight
        self.drain = drain
        recorder = driver.recorder
        recorder.restart_clock()
        self.t0 = recorder.start_ns
        self.give_up_ns, end_by = _open_ends(self.t0, duration, drain, driver.timeout)
        driver.end_by = end_by * 1e-9
        self.offsets = iter(schedule.offsets_ns(duration, count))
        self.index = 0
        self.due: int | None = None
        # Until when (perf_counter_ns) the in-flight bound is known to have been reached: a
        # request due by then waited for a slot, however many went out in one tick.
        self.full_until = -1
        self.waiting_for_slot = False
        self.sending = True
        self.idle: list[Connection] = []
        self.pending: Timer | None = None
        self.give_up_timer: Timer | None = None
        self._advance()

    def _advance(self) -> None:
        offset = next(self.offsets, None)
        self.due = None if offset is None else self.t0 + offset

    def _tick_at(self, due_ns: int | None) -> None:
        """Make the one pending tick happen at ``due_ns`` (perf_counter_ns), or at once."""
        reactor = self.driver.reactor
        if self.pending is not None:
            self.pending.cancel()
        when = reactor.time() if due_ns is None else due_ns * 1e-9
        self.pending = reactor.call_at(when, self.tick)

    def tick(self) -> None:
        self.pending = None
        if not self.sending:
            return  # a request ended after the give-up: the schedule is over
        driver = self.driver
        clock = time.perf_counter_ns
        for _ in range(_YIELD_EVERY):
            due = self.due
            if due is None or driver.failure is not None:
                self._stop_sending()
                return
            now = clock()
            if due > now:
                self._tick_at(due)
                return
            if driver.in_flight >= self.max_in_flight:
                self.full_until = now
                if now >= self.give_up_ns:
                    self._give_up(now)
                    return
                self.waiting_for_slot = True  # a request's end ticks again
                if self.give_up_timer is None:
                    self.give_up_timer = driver.reactor.call_at(
                        self.give_up_ns * 1e-9, self._tick_at, None
                    )
                return
            if due <= self.full_until:
                driver.recorder.held_back += 1
            self._dispatch(self.index, due)
            self.index += 1
            self._advance()
        self._tick_at(None)  # behind schedule: let responses in, then go on

    def _dispatch(self, index: int, due: int) -> None:
        driver = self.driver
        area, data = driver.payloads[index % len(driver.payloads)]
        start = time.perf_counter_ns()
        conn = None
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                break
            conn = None

        def done(
            response: Response | None,
            exc: BaseException | None,
            conn: Connection | None,
            end: int,
        ) -> None:
            driver.in_flight -= 1
            if conn is not None:
                self.idle.append(conn)
            if self.waiting_for_slot:
                self.full_until = end  # every slot was taken until this one freed
                self.waiting_for_slot = False
                self._tick_at(None)
            try:
                driver.recorder.add(index, area, due, start, end, response, exc)
            except BaseException as error:
                driver.fail(error)
            if driver.in_flight == 0 and not self.sending:
                driver.wake()

        driver.started()
        driver.send(conn, data, done)

    def _give_up(self, now: int) -> None:
        """Record the request at ``index`` and every later one as unsent: the drain ran out.

        They come from the schedule's one iterator, which ends here: each scheduled request
        is recorded once, sent or unsent, and nothing is sent after this.
        """
        driver = self.driver
        recorder = driver.recorder
        payloads = driver.payloads
        why = _unsent_why(self.max_in_flight, self.drain)
        index, due = self.index, self.due
        while due is not None:
            recorder.held_back += 1  # due before now, when every slot was taken
            recorder.add_unsent(index, payloads[index % len(payloads)][0], due, now, why)
            index += 1
            self._advance()
            due = self.due
        self.index = index
        self._stop_sending()

    def _stop_sending(self) -> None:
        self.sending = False
        self.waiting_for_slot = False
        for timer in (self.pending, self.give_up_timer):
            if timer is not None:
                timer.cancel()
        self.pending = self.give_up_timer = None
        if self.driver.in_flight == 0 or self.driver.failure is not None:
            self.driver.wake()


def check_reachable(url: str, timeout: float) -> None:
    """Raise a one-line ``LoadError`` at once when ``url``'s host and port take no connection.

    A loop against a dead target would otherwise run its whole duration of refused requests.
    """
    target = Target.parse(url)
    wait = min(timeout, 5.0)
    try:
        with socket.create_connection((target.host, target.port), timeout=wait):
            pass
    except ConnectionRefusedError:
        raise LoadError(f"nothing is listening at {url}: connection refused") from None
    except TimeoutError:
        raise LoadError(f"{url} did not take a connection within {wait:g} s") from None
    except OSError as exc:
        raise LoadError(f"cannot connect to {url}: {describe_exception(exc)}") from None


def _check_bounds(requests: int | None, duration: float | None) -> None:
    if requests is None and duration is None:
        raise LoadError("give a duration, a number of requests, or both: a run must end")
    if requests is not None and requests < 1:
        raise LoadError(f"requests must be >= 1, not {requests}")
    if duration is not None:
        check_seconds("duration", duration)
