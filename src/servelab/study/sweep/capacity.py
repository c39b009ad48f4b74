"""Capacity under an SLO: the highest arrival rate at which a server holds its SLOs.

    capacity = find_capacity(f"{server.url}/predict", slos=[Slo.parse("p99<250ms")],
                             server_pid=server.pid, steps_path=cell / STEPS_FILE)
    capacity.capacity, capacity.client_bound, capacity.at_capacity.p99

The search (``ratesearch.RateSearch``, pure: a step is whatever the caller does between
``next_rate()`` and ``record()``)
    0. Prime. The same closed loop as the estimate's, for ``prime`` seconds, not measured: a
       server's cost per request depends on what it has served. CPython keeps memory that
       concurrent requests fragmented, and a threaded server of the cpu workload (a list of
       a million ints per request) then takes about 6x fewer page faults and a quarter less
       CPU per request than when fresh (measured here: 7,700 -> 1,200-5,100 faults). A
       production server lives in the primed state; unprimed, the search's first steps see
       a slower server than its last ones, and the capacity depends on the path it took.
    1. Estimate. A closed loop of ``estimate_concurrency`` users measures the throughput the
       server sustains when saturated: an open loop at that rate would queue without bound,
       so the SLO's rate lies at or below it.
    2. Start at ``start_factor`` (0.9) of the estimate. While every step holds, move up by
       growing factors (x1.25, x1.5, x2, x3 ...); while none holds, down by the same.
    3. Bisect at the geometric mean of the highest rate that held and the lowest that did
       not, until they are within ``tolerance`` (5%) of each other. Rates have 3
       significant digits (39.2, not 39.2137) unless that would leave the bracket.
    4. Stop there, when the step budget or the deadline is spent, when the lowest rate
       allowed fails, or when the highest one holds (``StopCode``).

A step that the client could not deliver (``ratesearch.client_bound``: the load engine above
``max_cores``, sends behind schedule, or a send rate short of the one asked) is neither held
nor failed: it says nothing about the server. It bounds the search from above as a failure
would, but a search that closes on it stops as ``client-bound``, and the capacity it found
is a lower bound (``Capacity.client_bound``).

Each step (``find_capacity``) is one open loop (``servelab.load.run_open``) at the rate:
``warmup`` seconds not judged, then ``window`` seconds judged against the SLOs
(``servelab.load.slo``) over the requests due in the window, latency counted from each
one's intended send time. A step also holds only if the server kept up: the responses
that ended within the window reach ``RatePolicy.min_served_share`` of the rate, so a rate a
little above what the server can serve does not pass in a short window merely because its
queue has not yet grown long enough to break the SLO. The CPU of the server's process tree
and of the load engine's own process are read at the window's two ends; the client's over
the window's requests is its CPU per request, which the server did not get (the two share
the machine). A request the client gave up on (a timeout) may still sit in the server's
queue after the step: before the next step, single requests wait until one comes back
about as fast as on the idle server. And before each step, the machine's own speed is timed
(``servelab.speed``: five runs of a 4 ms task, on this thread while the load engine is
idle): a virtual machine's host can slow its guest by up to 40% for seconds or a minute
with nothing in /proc to show for it, and the report tells such a cell apart from a slower
server.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, Protocol

import psutil

from servelab._io import JsonlWriter
from servelab.errors import ConfigError, LoadError
from servelab.load import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_TIMEOUT,
    Rate,
    RequestRecord,
    RequestSpec,
    Slo,
    check_reachable,
    check_slos,
    run_closed,
    run_open,
    summarize,
)
from servelab.load.limits import check_seconds
from servelab.load.slo import LATENCY_METRICS
from servelab.load.summary import LoadSummary
from servelab.results_capacity import (
    Capacity,
    CapacityStep,
    ClientLimits,
    RatePolicy,
    SloCheck,
    StepSettings,
    StopCode,
)
from servelab.servers.monitor import tree_cpu_seconds
from servelab.speed import reference_seconds
from servelab.study.sweep.ratesearch import ClientMeasure, RateSearch, client_bound
from servelab.study.trial import AppRun

__all__ = [
    "DEFAULT_PRIME",
    "ClientMeasure",
    "RateSearch",
    "client_bound",
    "find_capacity",
    "request_for",
    "step_timeout",
]


class LoadEngine(Protocol):
    """What runs the search's load: ``OwnEngine``, or ``distributed.LocustEngine`` (Locust's
    workers). Single probes (idle latency, settling) always run on the own engine.

    ``startup``: seconds each run takes before its load begins. ``open_loop`` calls
    ``on_start(start, client_pids)`` once it knows the instant (epoch seconds) its schedule
    starts at, with the processes that send it (none: this process).
    """

    startup: float

    def closed_loop(
        self,
        url: str,
        *,
        concurrency: int,
        duration: float,
        request: RequestSpec,
        timeout: float,
        keep_alive: bool,
    ) -> LoadSummary: ...

    def open_loop(
        self,
        url: str,
        *,
        rate: Rate,
        duration: float,
        max_in_flight: int,
        request: RequestSpec,
        timeout: float,
        keep_alive: bool,
        on_record: Callable[[RequestRecord], None],
        on_start: Callable[[float, list[int]], None],
    ) -> LoadSummary: ...


class OwnEngine:
    """servelab's own engine, in this process: its schedule starts as it is called."""

    startup = 0.0

    def __init__(self, late_after: float) -> None:
        self.late_after = late_after

    def closed_loop(
        self,
        url: str,
        *,
        concurrency: int,
        duration: float,
        request: RequestSpec,
        timeout: float,
        keep_alive: bool,
    ) -> LoadSummary:
        return run_closed(
            url,
            concurrency=concurrency,
            duration=duration,
            request=request,
            timeout=timeout,
            keep_alive=keep_alive,
        )

    def open_loop(
        self,
        url: str,
        *,
        rate: Rate,
        duration: float,
        max_in_flight: int,
        request: RequestSpec,
        timeout: float,
        keep_alive: bool,
        on_record: Callable[[RequestRecord], None],
        on_start: Callable[[float, list[int]], None],
    ) -> LoadSummary:
        on_start(time.time(), [])
        return run_open(
            url,
            rate=rate,
            duration=duration,
            max_in_flight=max_in_flight,
            request=request,
            timeout=timeout,
            keep_alive=keep_alive,
            late_after=self.late_after,
            on_record=on_record,
        )


# Seconds of closed-loop load that bring a server into its steady state before the estimate.
DEFAULT_PRIME: Final = 3.0
# A step's requests time out at this multiple of the SLOs' largest latency bound, not sooner
# than the floor (seconds): see ``step_timeout``.
_STEP_TIMEOUT_FACTOR: Final = 4.0
_STEP_TIMEOUT_FLOOR: Final = 2.0
# Single requests sent to let a server work off what the client gave up on, at most, and
# the seconds they may take together.
_SETTLE_PROBES: Final = 10
_SETTLE_BUDGET: Final = 30.0
_IDLE_PROBES: Final = 3


def request_for(app: AppRun | None, n: int) -> tuple[str, RequestSpec]:
    """The path a cell loads and what each request sends, as a trial's burst sends them:
    servelab's own service gets the seed's ``{"area": a}`` POSTs at ``/predict`` (its
    workload, n and delay are the server's settings, ``TrialSetup.service()``); a user's
    app gets its own request with the bodies at size ``n`` (made once, here, and cached)."""
    if app is None:
        return "/predict", RequestSpec()
    request = app.request
    return request.path, RequestSpec(
        method=request.method, headers=dict(request.headers), bodies=app.bodies(n)
    )


def find_capacity(
    url: str,
    *,
    slos: Sequence[Slo],
    request: RequestSpec | None = None,
    window: float = 5.0,
    warmup: float = 1.0,
    estimate_concurrency: int = 16,
    estimate_duration: float | None = None,
    prime: float = 0.0,
    server_pid: int | None = None,
    policy: RatePolicy | None = None,
    limits: ClientLimits | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    keep_alive: bool = True,
    deadline: float | None = None,
    on_step: Callable[[CapacityStep], None] | None = None,
    steps_path: Path | None = None,
    engine: LoadEngine | None = None,
) -> Capacity:
    """The highest rate at which ``url`` holds every SLO of ``slos`` over a steady window.

    ``request``: what each request sends (default: the seed's ``{"area": a}`` POSTs).
    ``window``/``warmup``: seconds judged / not judged per step; ``estimate_duration``
    (default ``window``): the closed loop's seconds; ``prime``: seconds of the same closed
    loop before it, not measured (step 0 above). ``server_pid``: the server's root
    process, whose tree's CPU each step records (None: not recorded). ``deadline``: a
    ``time.monotonic()`` value no step may start to outlast (stop ``time-spent``).
    ``timeout``: what a request may take before the first step; a step's own requests get
    ``step_timeout(slos, timeout)``. ``on_step`` sees each step as it is measured;
    ``steps_path`` gets it as a JSON line (the file is started afresh). ``engine``: runs the
    prime, the estimate and the steps (default: the own engine). Raises ``LoadError``
    when nothing listens at ``url`` and ``ConfigError`` for settings out of range.
    """
    began = time.monotonic()
    policy = policy or RatePolicy()
    limits = limits or ClientLimits()
    estimate_duration = window if estimate_duration is None else estimate_duration
    _check(slos, window, warmup, estimate_concurrency, estimate_duration, timeout, policy)
    try:
        check_seconds("prime", prime, zero_ok=True)
    except LoadError as error:
        raise ConfigError(str(error)) from None
    spec = request or RequestSpec()
    settings = StepSettings(
        window=window,
        warmup=warmup,
        timeout=step_timeout(slos, timeout),
        max_in_flight=max_in_flight,
        estimate_concurrency=estimate_concurrency,
        estimate_duration=estimate_duration,
        prime=prime,
    )

    def finish(
        stop: StopCode,
        idle: float | None = None,
        estimate: float | None = None,
        estimate_summary: LoadSummary | None = None,
        search: RateSearch | None = None,
        steps: Sequence[CapacityStep] = (),
    ) -> Capacity:
        return Capacity(
            url=url,
            slos=tuple(slo.text for slo in slos),
            settings=settings,
            policy=policy,
            limits=limits,
            idle_latency=idle,
            estimate=estimate,
            estimate_summary=estimate_summary,
            steps=tuple(steps),
            capacity=search.capacity if search is not None else None,
            client_bound=search.client_bound if search is not None else False,
            stop=stop,
            elapsed=round(time.monotonic() - began, 3),
        )

    if steps_path is not None:
        steps_path.unlink(missing_ok=True)
    check_reachable(url, timeout)
    idle = _idle_latency(url, spec, timeout, keep_alive)
    if _past(deadline, prime + estimate_duration):
        return finish("time-spent", idle)
    load = OwnEngine(limits.late_after) if engine is None else engine
    closed_loop = load.closed_loop
    if prime > 0:
        primed = closed_loop(
            url,
            concurrency=estimate_concurrency,
            duration=prime,
            request=spec,
            timeout=timeout,
            keep_alive=keep_alive,
        )
        if primed.errors_by_class.get("timeout"):
            _settle(url, spec, idle, keep_alive, deadline)
    closed = closed_loop(
        url,
        concurrency=estimate_concurrency,
        duration=estimate_duration,
        request=spec,
        timeout=timeout,
        keep_alive=keep_alive,
    )
    if closed.errors_by_class.get("timeout"):
        _settle(url, spec, idle, keep_alive, deadline)
    estimate = closed.ok_throughput if closed.ok else None
    if not estimate:
        return finish("no-estimate", idle, None, closed)
    search = RateSearch(estimate, policy)
    steps: list[CapacityStep] = []
    writer = JsonlWriter(steps_path) if steps_path is not None else None
    try:
        while (rate := search.next_rate()) is not None:
            if _past(deadline, warmup + window + load.startup):
                search.give_up("time-spent")
                break
            step = _step(
                url,
                index=len(steps),
                rate=rate,
                slos=slos,
                spec=spec,
                settings=settings,
                policy=policy,
                limits=limits,
                server_pid=server_pid,
                keep_alive=keep_alive,
                idle=idle,
                deadline=deadline,
                engine=load,
            )
            steps.append(step)
            search.record(rate, held=step.held, client_bound=step.client_bound)
            if writer is not None:
                writer.write(step.to_json())
            if on_step is not None:
                on_step(step)
    finally:
        if writer is not None:
            writer.close()
    return finish(search.stop or "not-finished", idle, estimate, closed, search, steps)


def step_timeout(slos: Sequence[Slo], timeout: float) -> float:
    """What a step's request may take: 4x the largest latency bound of ``slos``, at least
    ``_STEP_TIMEOUT_FLOOR`` s, at most ``timeout``; ``timeout`` when no SLO bounds latency.

    A request slower than every bound breaks its SLO however long it then takes (a timeout
    counts in the percentiles at its full wait), so waiting for it longer changes no verdict
    and only stretches an overloaded step: a 10 s timeout made one 4 s step take 13 s.
    """
    bounds = [slo.threshold for slo in slos if slo.metric in LATENCY_METRICS]
    if not bounds:
        return timeout
    return min(timeout, max(_STEP_TIMEOUT_FLOOR, _STEP_TIMEOUT_FACTOR * max(bounds)))


def _check(
    slos: Sequence[Slo],
    window: float,
    warmup: float,
    concurrency: int,
    estimate_duration: float,
    timeout: float,
    policy: RatePolicy,
) -> None:
    if not slos:
        raise ConfigError("a capacity needs at least one SLO to hold, e.g. p99<300ms")
    try:
        check_seconds("window", window)
        check_seconds("warmup", warmup, zero_ok=True)
        check_seconds("estimate duration", estimate_duration)
        check_seconds("timeout", timeout)
    except LoadError as error:
        raise ConfigError(str(error)) from None
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigError(f"the estimate's concurrency must be >= 1, not {concurrency!r}")
    if policy.min_rate * window < 1:
        raise ConfigError(
            f"a {window:g} s window at the lowest rate ({policy.min_rate:g}/s) holds no "
            "request: lengthen the window or raise min_rate"
        )


def _past(deadline: float | None, seconds: float) -> bool:
    """Whether ``seconds`` from now would pass ``deadline``."""
    return deadline is not None and time.monotonic() + seconds > deadline


def _step(
    url: str,
    *,
    index: int,
    rate: float,
    slos: Sequence[Slo],
    spec: RequestSpec,
    settings: StepSettings,
    policy: RatePolicy,
    limits: ClientLimits,
    server_pid: int | None,
    keep_alive: bool,
    idle: float | None,
    deadline: float | None,
    engine: LoadEngine,
) -> CapacityStep:
    """One open loop at ``rate``: its window judged, its CPU read, the server settled after."""
    machine = reference_seconds()  # the machine's speed, before the step's clock starts
    began = time.monotonic()
    schedule = Rate.constant(rate)
    warmup, window = settings.warmup, settings.window
    first = schedule.count(warmup)  # requests due before the window: the warm-up's
    kept: list[RequestRecord] = []
    ok_ends: list[float] = []
    starts: list[float] = []  # the schedule's start (epoch), from the first record seen

    def keep(record: RequestRecord) -> None:
        if not starts:
            starts.append(record.intended_start - int(record.index / rate * 1e9) * 1e-9)
        if record.ok:
            ok_ends.append(record.end)
        if record.index >= first:
            kept.append(record)

    # The window is timed from the instant the schedule starts: now for the own engine,
    # seconds from now for Locust's workers (their master sets it). The client's cores are
    # the busiest of the processes that send (the one that limits the rate); what the client
    # cost the machine, per request and in all, is every one of them together.
    with _CpuWindow(server_pid) as cpu:

        def on_start(start: float, senders: list[int]) -> None:
            begins = time.monotonic() + (start - time.time()) + warmup
            cpu.arm(begins, begins + window, senders)

        run = engine.open_loop(
            url,
            rate=schedule,
            duration=warmup + window,
            max_in_flight=settings.max_in_flight,
            request=spec,
            timeout=settings.timeout,
            keep_alive=keep_alive,
            on_record=keep,
            on_start=on_start,
        )
    client_cores, server_cores = cpu.cores()
    summary = summarize(
        kept,
        mode="open",
        url=url,
        method=spec.method,
        parameters={"rate": rate, "warmup": warmup, "window": window},
        client_cpu_seconds=cpu.client_total_seconds,
        late_threshold=limits.late_after,
    )
    # Over the requests due in the window: those whose responses come after it are paid for
    # outside the CPU read, as the warm-up's that came within it were paid for inside it; in
    # a steady step the two balance.
    per_request = None
    if cpu.client_total_seconds is not None and summary.sent:
        per_request = round(cpu.client_total_seconds / summary.sent, 7)
    late_share = summary.late_sends / summary.sent if summary.sent else None
    served = 0
    if starts:
        window_start = starts[0] + warmup
        served = sum(1 for end in ok_ends if window_start <= end <= window_start + window)
    served_rate = served / window
    keeps_up = served + 1 >= policy.min_served_share * rate * window
    causes = client_bound(
        ClientMeasure(
            rate=rate,
            client_cores=client_cores,
            late_share=late_share,
            send_rate=summary.send_rate,
            sends=summary.sent,
            held_back=run.held_back,
        ),
        limits,
    )
    settle = 0.0
    if run.errors_by_class.get("timeout"):
        settle = _settle(url, spec, idle, keep_alive, deadline)
    return CapacityStep(
        index=index,
        rate=rate,
        summary=summary,
        held_back=run.held_back,
        server_cores=server_cores,
        client_cores=client_cores,
        client_total_cores=cpu.client_total_cores(),
        client_cpu_per_request=per_request,
        late_share=late_share,
        served_rate=round(served_rate, 4),
        keeps_up=keeps_up,
        slo=tuple(SloCheck(c.slo.text, c.value, c.held) for c in check_slos(list(slos), summary)),
        client_causes=causes,
        seconds=round(time.monotonic() - began, 3),
        settle=round(settle, 3),
        machine_seconds=machine,
    )


def _idle_latency(url: str, spec: RequestSpec, timeout: float, keep_alive: bool) -> float | None:
    """The fastest of a few single requests, one after another, before any load."""
    summary = run_closed(
        url,
        concurrency=1,
        requests=_IDLE_PROBES,
        request=spec,
        timeout=timeout,
        keep_alive=keep_alive,
    )
    return summary.latency.min if summary.ok else None


def _settle(
    url: str,
    spec: RequestSpec,
    idle: float | None,
    keep_alive: bool,
    deadline: float | None,
) -> float:
    """Send single requests until one is about as fast as on the idle server (3x its
    latency, or 50 ms more): the requests the client gave up on have left the server's
    queue. A probe waits as long as the queue takes, within ``_SETTLE_BUDGET`` seconds
    (and ``deadline``); one that gets no response ends the settling. Returns the seconds
    spent."""
    began = time.monotonic()
    fast = 0.1 if idle is None else max(3 * idle, idle + 0.05)
    end = began + _SETTLE_BUDGET if deadline is None else min(began + _SETTLE_BUDGET, deadline)
    for _ in range(_SETTLE_PROBES):
        left = end - time.monotonic()
        if left <= 0:
            break
        probe = run_closed(
            url, concurrency=1, requests=1, request=spec, timeout=left, keep_alive=keep_alive
        )
        if not probe.ok or (probe.latency.max is not None and probe.latency.max <= fast):
            break
    return time.monotonic() - began


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process; 0 once it is gone."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


class _CpuWindow:
    """Reads the client's and the server's CPU at two ``time.monotonic()`` instants, from a
    thread that sleeps in between, so the numbers cover the judged window only.

    The instants come with ``arm``, once the load's schedule has a start, with the client's
    processes (none: this process); the busiest one is the client's CPU (each is one Python
    thread, saturated at one core), and all of them together what the client took from the
    machine (``client_total_seconds``; this process alone: the same).
    """

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.start: float | None = None
        self.end: float | None = None
        self.client_pids: list[int] = []
        self.client_seconds: float | None = None
        self.client_total_seconds: float | None = None
        self.server_seconds: float | None = None
        self.span: float | None = None
        self._cancel = threading.Event()
        self._armed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="servelab-cpu-window", daemon=True)

    def arm(self, start: float, end: float, client_pids: Sequence[int]) -> None:
        self.start, self.end = start, end
        self.client_pids = list(client_pids)
        self._armed.set()

    def __enter__(self) -> _CpuWindow:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is not None or not self._armed.is_set():
            self._cancel.set()
            self._armed.set()
        self._thread.join()

    def _client(self) -> dict[int, float]:
        if not self.client_pids:
            return {0: _client_cpu()}
        return {pid: _process_cpu(pid) for pid in self.client_pids}

    def _read(self) -> tuple[float, dict[int, float], float | None]:
        server = tree_cpu_seconds(self.server_pid) if self.server_pid is not None else None
        return time.monotonic(), self._client(), server

    def _run(self) -> None:
        self._armed.wait()
        if self._cancel.is_set() or self.start is None or self.end is None:
            return
        if self._cancel.wait(max(0.0, self.start - time.monotonic())):
            return
        t0, client0, server0 = self._read()
        if self._cancel.wait(max(0.0, self.end - time.monotonic())):
            return
        t1, client1, server1 = self._read()
        self.span = t1 - t0
        # A worker gone before the second read reads 0: it counts as nothing, not below it.
        used = [max(0.0, client1[key] - client0.get(key, 0.0)) for key in client1]
        self.client_seconds = round(max(used), 4)
        self.client_total_seconds = round(sum(used), 4)
        if server0 is not None and server1 is not None:
            self.server_seconds = round(server1 - server0, 4)

    def cores(self) -> tuple[float | None, float | None]:
        """(client, server) CPU over the window in cores; None for what was not read."""
        if not self.span:
            return None, None
        span = self.span
        client = None if self.client_seconds is None else round(self.client_seconds / span, 4)
        server = None if self.server_seconds is None else round(self.server_seconds / span, 4)
        return client, server

    def client_total_cores(self) -> float | None:
        """Every client process together over the window, in cores; None if not read."""
        if not self.span or self.client_total_seconds is None:
            return None
        return round(self.client_total_seconds / self.span, 4)
