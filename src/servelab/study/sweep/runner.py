"""A sweep run into a folder: each cell on a fresh server (inside the memory budget's cap),
its memory idle and under load, its capacity under the SLOs, then the recommendation.

    plan = SweepPlan(servers, workloads=("io", "cpu"), slos=(Slo.parse("p99<500ms"),), ...)
    sweep = run_sweep(plan, Path("results/sweep"), progress)

Written as measured: each cell's rate search appends its steps as they end, the cell's
``cell.json`` is written when the cell ends, and ``sweep.json`` (the index, with the
recommendation so far) after every cell, atomically. Run again into the same folder with the
same settings, a sweep measures only the cells without a ``cell.json``: an interrupted sweep
resumes, a finished one only rebuilds its index. ``time_budget`` bounds the whole sweep: a
cell that cannot finish its estimate and a few steps before the budget ends is left out,
marked ``left-out``, and is measured by the next run into the folder.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from servelab.errors import ConfigError, LoadError, ResultsError, ServerError
from servelab.load.request import RequestSpec
from servelab.load.slo import Slo
from servelab.machine import describe_machine
from servelab.results import Failure, Noise, TreeMemory
from servelab.results_capacity import (
    CAPACITY_FILE,
    STEPS_FILE,
    CapacityStep,
    RatePolicy,
    write_capacity,
)
from servelab.results_sweep import (
    CELL_FILE,
    CELLS_DIR,
    Sweep,
    SweepCell,
    SweepRecommendation,
    SweepSettings,
    read_cell,
    read_sweep,
    write_cell,
    write_sweep,
)
from servelab.servers import Monitor, ServerSpec
from servelab.servers.app import AppTarget
from servelab.servers.memory import measure_tree, workers_that_fit
from servelab.service.config import ServiceConfig
from servelab.study.critical_run import CriticalSpec, find_critical_n
from servelab.study.sweep.capacity import (
    DEFAULT_PRIME,
    LoadEngine,
    find_capacity,
    request_for,
)
from servelab.study.sweep.recommend import CellFacts, recommend
from servelab.study.trial import (
    AppRun,
    Burst,
    CapSetup,
    DoesNotFitIdle,
    open_trial_cap,
    start_server,
)
from servelab.workloads import APP_WORKLOAD, WORKLOADS

# How often the tree's memory (USS/PSS of every process, ~4 ms for five processes) is read
# during a rate search; the largest total PSS seen is the cell's memory at load.
MEMORY_INTERVAL = 0.5
# About what a critical-size search takes: 20-60 s each in `make study` here.
CRITICAL_SECONDS = 60.0


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep measures: every server of ``servers`` serving every workload (or the
    user's ``app`` at ``n`` = its input size), each under ``slos``, inside a cap of
    ``memory_bytes`` when given, within ``time_budget`` seconds when given."""

    servers: tuple[ServerSpec, ...]
    workloads: tuple[str, ...]
    slos: tuple[Slo, ...]
    n: int = 1_000_000
    io_delay: float = 0.1
    memory_bytes: int | None = None
    window: float = 3.0
    warmup: float = 1.0
    prime: float = DEFAULT_PRIME
    time_budget: float | None = None
    preload: str = "off"
    app: AppRun | None = None
    critical: bool = False
    need_size: int | None = None
    critical_concurrency: int = 10
    # "own", or "locust:N": the load phases on a Locust master and N workers on this machine.
    engine: str = "own"

    def __post_init__(self) -> None:
        self.locust_workers()  # refuses anything else
        if not self.servers:
            raise ConfigError("a sweep needs at least one server")
        if not self.slos:
            raise ConfigError("a sweep needs an SLO to hold, e.g. --slo 'p99<500ms'")
        if self.memory_bytes is not None:
            CapSetup(self.memory_bytes)  # refuses a cap too small or larger than the machine
        if (self.critical or self.need_size is not None) and self.memory_bytes is None:
            raise ConfigError("a critical size is searched under a memory budget: add --memory")
        if self.need_size is not None and not self.critical:
            raise ConfigError("--need-size is checked against the critical size: add --critical")
        if self.need_size is not None and self.need_size < 1:
            raise ConfigError(f"--need-size must be a whole number >= 1, not {self.need_size}")
        if self.app is not None:
            for spec in self.servers:
                self.app.target.check_server(spec)

    def cells(self) -> list[tuple[str, str, ServerSpec]]:
        """(name, workload, server) of every cell, workload by workload."""
        return [
            (cell_name(workload, spec), workload, spec)
            for workload in self.workloads
            for spec in self.servers
        ]

    def settings(self) -> SweepSettings:
        app = None if self.app is None else self.app.target.to_app()
        return SweepSettings(
            workloads=self.workloads,
            n=self.n,
            io_delay=self.io_delay,
            slos=tuple(slo.text for slo in self.slos),
            memory_bytes=self.memory_bytes,
            window=self.window,
            warmup=self.warmup,
            prime=self.prime,
            time_budget=self.time_budget,
            preload=self.preload,
            app=app,
            critical=self.critical,
            need_size=self.need_size,
            engine=self.engine,
        )

    def locust_workers(self) -> int | None:
        """N of ``locust:N``; None for the own engine."""
        if self.engine == "own":
            return None
        name, _, count = self.engine.partition(":")
        if name != "locust" or not count.isdigit() or int(count) < 1:
            raise ConfigError(f"the engine is 'own' or 'locust:N' (N workers), not {self.engine!r}")
        return int(count)

    def load_engine(self) -> LoadEngine | None:
        """What runs the load phases: None for the own engine."""
        workers = self.locust_workers()
        if workers is None:
            return None
        from servelab.distributed.engine import LocustEngine
        from servelab.distributed.run import check_locust

        check_locust()
        return LocustEngine(workers)

    def policy(self) -> RatePolicy:
        """The rate search's settings: its lowest rate puts at least two requests in a
        window, so a short window still judges something."""
        default = RatePolicy()
        return replace(default, min_rate=max(default.min_rate, 2.0 / self.window))

    @property
    def room_to_start(self) -> float:
        """The seconds a cell needs left in the budget to start: half of a typical capacity
        search (a start, the prime, the estimate and about eight steps; its steps stop at
        the deadline themselves), and a whole critical-size search when asked for (it takes
        no deadline: once started, it runs to its end)."""
        startup = 0.0 if self.engine == "own" else 10 * 4.0  # Locust starts each load phase
        search = 3.0 + self.prime + self.window + 8 * (self.window + self.warmup) + startup
        return search / 2 + (CRITICAL_SECONDS if self.critical else 0.0)


def cell_name(workload: str, spec: ServerSpec) -> str:
    return f"{workload}_{spec.label}"


class SweepProgress(Protocol):
    """What the sweep tells a progress display: a cell starting (with an ETA of the sweep's
    rest in seconds, None before a cell has ended), each phase of it, a cell ending."""

    def cell(self, index: int, total: int, name: str, eta: float | None) -> None: ...

    def phase(self, text: str) -> None: ...

    def ended(self, cell: SweepCell) -> None: ...


class QuietProgress:
    def cell(self, index: int, total: int, name: str, eta: float | None) -> None:
        pass

    def phase(self, text: str) -> None:
        pass

    def ended(self, cell: SweepCell) -> None:
        pass


def check_sweep_folder(folder: Path, settings: SweepSettings) -> None:
    """Refuse, before anything starts, a folder that holds a different sweep or a study."""
    if (folder / "study.json").exists() or (folder / "repeats.json").exists():
        raise ConfigError(f"{folder} holds a study; give the sweep its own --out")
    if not (folder / "sweep.json").exists():
        return
    try:
        before = read_sweep(folder)
    except ResultsError as error:
        raise ConfigError(f"{folder} holds a sweep this servelab cannot read: {error}") from None
    differ = before.settings.differs_from(settings)
    if differ:
        raise ConfigError(
            f"{folder} holds a sweep with other settings ({', '.join(differ)}); give this one"
            " its own --out, or the same settings to resume it"
        )


def run_sweep(
    plan: SweepPlan,
    folder: Path,
    progress: SweepProgress | None = None,
    *,
    noise_at_start: Noise | None = None,
) -> Sweep:
    """Measure every cell of ``plan`` that ``folder`` does not hold yet; the sweep as written."""
    progress = progress or QuietProgress()
    settings = plan.settings()
    check_sweep_folder(folder, settings)
    folder.mkdir(parents=True, exist_ok=True)
    cells_planned = plan.cells()
    kept = finished_cells(folder, [name for name, _, _ in cells_planned])
    began = time.monotonic()
    started = time.time()
    deadline = None if plan.time_budget is None else began + plan.time_budget
    machine = describe_machine(plan.app.target.python if plan.app is not None else None)
    cells: dict[str, SweepCell] = dict(kept)
    durations: list[float] = []

    def index(final: bool = False) -> Sweep:
        ordered = [cells[name] for name, _, _ in cells_planned if name in cells]
        left_out = []
        if final:
            left_out = [
                SweepCell(name, workload, spec.to_server(), "left-out")
                for name, workload, spec in cells_planned
                if name not in cells
            ]
        sweep = Sweep(
            settings=settings,
            machine=machine,
            planned=tuple(name for name, _, _ in cells_planned),
            cells=tuple(ordered + left_out),
            recommendations=recommendations(plan, ordered + left_out),
            started=started,
            elapsed=time.monotonic() - began,
            noise_at_start=noise_at_start,
        )
        write_sweep(folder, sweep)
        return sweep

    index()
    todo = [cell for cell in cells_planned if cell[0] not in cells]
    try:
        for number, (name, workload, spec) in enumerate(todo, start=1):
            remaining = len(todo) - number + 1
            eta = sum(durations) / len(durations) * remaining if durations else None
            if deadline is not None and time.monotonic() + plan.room_to_start > deadline:
                break  # the rest are left out; the next run into the folder measures them
            progress.cell(len(kept) + number, len(cells_planned), name, eta)
            t0 = time.monotonic()
            cell = measure_cell(plan, folder, name, workload, spec, progress, deadline)
            if plan.critical and cell.status == "done" and _has_critical(plan, workload):
                progress.phase("searching the critical size")
                cell = _with_critical(plan, folder, cell, spec)
            durations.append(time.monotonic() - t0)
            write_cell(folder, cell)
            cells[name] = cell
            index()
            progress.ended(cell)
    except BaseException:
        # Interrupted (Ctrl-C, a closed terminal) or failed: the index names every cell that
        # ended, even one whose cell.json was written just before the interruption.
        with contextlib.suppress(Exception):
            index()
        raise
    return index(final=True)


def recommendations(plan: SweepPlan, cells: Sequence[SweepCell]) -> tuple[SweepRecommendation, ...]:
    """The recommendation per workload, from the cells as measured."""
    out = []
    for workload in plan.workloads:
        facts = [
            CellFacts(
                cell.name,
                capacity=None if cell.capacity is None else cell.capacity.capacity,
                client_bound=cell.capacity is not None and cell.capacity.client_bound,
                memory_bytes=cell.memory_bytes,
                measured=cell.status != "left-out",
                failed=cell.status == "failed",
                oom_kills=cell.oom_kills,
                died=cell.died is not None,
                production=cell.server.kind != "flask-dev",
                critical_n=cell.critical_n,
            )
            for cell in cells
            if cell.workload == workload
        ]
        if facts:
            out.append(
                recommend(
                    facts, workload=workload, budget_bytes=plan.memory_bytes, size=plan.need_size
                )
            )
    return tuple(out)


def measure_cell(
    plan: SweepPlan,
    folder: Path,
    name: str,
    workload: str,
    spec: ServerSpec,
    progress: SweepProgress,
    deadline: float | None,
) -> SweepCell:
    """One cell: a fresh server in a fresh cap, its idle memory, its capacity search with
    its memory sampled throughout, then the server stopped. A server that does not start is
    a ``failed`` cell, not a failed sweep."""
    cell_dir = folder / CELLS_DIR / name
    cell_dir.mkdir(parents=True, exist_ok=True)
    (cell_dir / CELL_FILE).unlink(missing_ok=True)
    t0 = time.monotonic()
    base = SweepCell(name, workload, spec.to_server(), "failed")
    env, path, request, target = _what_to_send(plan, workload)
    cap_setup = None if plan.memory_bytes is None else CapSetup(plan.memory_bytes)
    try:
        with contextlib.ExitStack() as stack:
            progress.phase("starting the server")
            cap = stack.enter_context(open_trial_cap(cap_setup, name))
            srv = stack.enter_context(start_server(spec, cap, cell_dir, env, "server", target))
            oom_before = cap.oom_kills() if cap is not None else 0
            if cap is not None:
                cap.reset_peak()
            idle = measure_tree(srv.pid)
            sampler = stack.enter_context(_MemorySampler(srv.pid))
            monitor = stack.enter_context(Monitor(srv.pid, cell_dir / "samples.jsonl", usage=cap))

            def on_step(step: CapacityStep) -> None:
                verdict = "held" if step.held else "client-bound" if step.client_bound else "failed"
                progress.phase(f"step {step.index}: {step.rate:.4g}/s {verdict}")

            progress.phase("estimating (closed loop)")
            capacity = find_capacity(
                f"{srv.url}{path}",
                slos=plan.slos,
                request=request,
                window=plan.window,
                warmup=plan.warmup,
                prime=plan.prime,
                server_pid=srv.pid,
                policy=plan.policy(),
                deadline=deadline,
                on_step=on_step,
                steps_path=cell_dir / STEPS_FILE,
                engine=plan.load_engine(),
            )
            write_capacity(cell_dir / CAPACITY_FILE, capacity)
            ended = srv.poll()
            monitor.stop()
            sampler.stop()
            oom_kills = (cap.oom_kills() - oom_before) if cap is not None else 0
            peak = cap.peak_bytes() if cap is not None else None
            load = sampler.largest
            fit = None
            if plan.memory_bytes is not None and load is not None and load.workers:
                fit = workers_that_fit(plan.memory_bytes, load)
            return replace(
                base,
                status="done",
                capacity=capacity,
                memory_idle=idle,
                memory_load=load,
                workers_fit=fit,
                peak_bytes=peak,
                oom_kills=oom_kills,
                noise=monitor.noise,
                seconds=time.monotonic() - t0,
                died=None if ended is None else ended.to_end(),
            )
    except DoesNotFitIdle as error:
        failure = Failure("does-not-fit-idle", detail=str(error))
    except (ServerError, LoadError) as error:
        failure = Failure("server-failed", detail=str(error))
    return replace(base, failure=failure, seconds=time.monotonic() - t0)


def _has_critical(plan: SweepPlan, workload: str) -> bool:
    """Whether the cell's memory grows with a size to search: an app's request with {size}
    (or a payload hook), the service's cpu and numpy workloads."""
    if plan.app is not None:
        return plan.app.request.uses_size()
    return WORKLOADS[workload].has_critical_n


def _with_critical(plan: SweepPlan, folder: Path, cell: SweepCell, spec: ServerSpec) -> SweepCell:
    """The cell with its critical size under the budget: the critical-n search of
    ``servelab critical-n`` (calibration, prediction, probes with fresh servers), under a
    burst of ``critical_concurrency`` parallel requests."""
    assert plan.memory_bytes is not None
    relative = f"{CELLS_DIR}/{cell.name}/critical"
    load = Burst(plan.critical_concurrency, plan.critical_concurrency)
    search = CriticalSpec(
        spec,
        APP_WORKLOAD if plan.app is not None else cell.workload,
        plan.memory_bytes,
        load=load,
        app=plan.app,
        start_n=plan.n,
    )
    entry = find_critical_n(search, folder / relative, name=relative)
    return replace(cell, critical_n=entry.max_passing_n, critical_folder=relative)


def _what_to_send(
    plan: SweepPlan, workload: str
) -> tuple[dict[str, str], str, RequestSpec, AppTarget | None]:
    """The server's environment, the request path, what each request sends, the app."""
    path, request = request_for(plan.app, plan.n)
    if plan.app is None:
        service = ServiceConfig(
            workload=workload,
            n=plan.n,
            max_n=max(plan.n, ServiceConfig().max_n),
            io_delay=plan.io_delay,
        )
        return service.to_env(), path, request, None
    return dict(plan.app.target.env), path, request, plan.app.target


def finished_cells(folder: Path, names: Sequence[str]) -> dict[str, SweepCell]:
    """The cells an earlier run into ``folder`` finished (a damaged cell.json is measured
    again rather than trusted)."""
    kept = {}
    for name in names:
        path = folder / CELLS_DIR / name / CELL_FILE
        if not path.is_file():
            continue
        try:
            cell = read_cell(path)
        except ResultsError:
            continue
        if cell.status != "left-out":
            kept[name] = cell
    return kept


class _MemorySampler:
    """Reads the tree's memory every ``MEMORY_INTERVAL`` s on a daemon thread and keeps the
    reading with the largest total PSS (the moment the server held the most)."""

    def __init__(self, pid: int, interval: float = MEMORY_INTERVAL) -> None:
        self.pid, self.interval = pid, interval
        self.largest: TreeMemory | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def __enter__(self) -> _MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                memory = measure_tree(self.pid)
            except (ServerError, OSError):
                return  # the server is gone: what was read stays
            if self.largest is None or memory.total_pss > self.largest.total_pss:
                self.largest = memory


__all__ = [
    "APP_WORKLOAD",
    "QuietProgress",
    "SweepPlan",
    "SweepProgress",
    "cell_name",
    "check_sweep_folder",
    "finished_cells",
    "measure_cell",
    "recommendations",
    "run_sweep",
]
