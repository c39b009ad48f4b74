"""Sweeps shaped like the lab's ``sweep.json``, for the report's tests: no server runs.

    sweep = sweeps.sweep(sweeps.small_grid())      # five io cells, one of them the winner
    folder = sweeps.write_folder(tmp_path / "sweep", sweep)

A cell's rate search is made from its capacity: steps below it hold, steps above it fail
(or, for a client-bound cell, the step above is one the client could not deliver); p50 and
p99 grow with the rate, so the curves look like a server's.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Final

from servelab.load.records import RequestRecord
from servelab.load.summary import Distribution, LoadSummary, summarize
from servelab.results import Failure, Machine, ProcessMemory, Server, TreeMemory
from servelab.results_capacity import (
    Capacity,
    CapacityStep,
    ClientCause,
    ClientLimits,
    RatePolicy,
    SloCheck,
    StepSettings,
)
from servelab.results_sweep import (
    RankedCell,
    Sweep,
    SweepCell,
    SweepRecommendation,
    SweepSettings,
    write_sweep,
)

MIB: Final = 2**20
SLO: Final = "p99<250ms"
BUDGET: Final = 2048 * MIB
MACHINE: Final = Machine("Test CPU", 2, 4 * 2**30, "Linux", "3.11.2", {})


def _summary(rate: float, p50: float, p99: float) -> LoadSummary:
    records = [
        RequestRecord(
            index=i,
            area=10.0,
            intended_start=1000.0 + i / rate,
            start=1000.0 + i / rate,
            end=1000.0 + i / rate + p50,
            latency=p50,
            status=200,
            ok=True,
            error_class=None,
            error=None,
            body='{"price": 1}',
            service_time=p50,
        )
        for i in range(5)
    ]
    summary = summarize(records, mode="open", url="http://127.0.0.1:1/predict", method="POST")
    latency = Distribution(p50 * 0.8, p50 * 1.1, p50, (p50 + p99) / 2, p99, p99 * 1.1, p99 * 1.2)
    return replace(summary, latency=latency)


def step(
    index: int,
    rate: float,
    p50: float,
    p99: float,
    held: bool,
    causes: tuple[ClientCause, ...] = (),
) -> CapacityStep:
    return CapacityStep(
        index=index,
        rate=rate,
        summary=_summary(rate, p50, p99),
        held_back=0,
        server_cores=0.5,
        client_cores=0.2,
        late_share=0.0,
        served_rate=rate,
        keeps_up=True,
        slo=(SloCheck(SLO, p99, held),),
        client_causes=causes,
        seconds=2.5,
        client_total_cores=0.2,
        client_cpu_per_request=round(0.2 / rate, 7),
    )


def capacity(rate: float | None, p99: float, *, client_bound: bool = False) -> Capacity:
    """A search that found ``rate`` (None: the SLO held at no rate) with ``p99`` there."""
    base = rate or 10.0
    steps: tuple[CapacityStep, ...]
    if rate is None:  # every step failed
        steps = (step(0, 10.0, 0.2, 0.4, False), step(1, 5.0, 0.15, 0.3, False))
    else:
        steps = (
            step(0, base * 0.9, p99 / 3, p99 * 0.9, True),
            step(1, base * 1.25, p99, p99 * 3, False) if not client_bound else
            step(1, base * 1.25, p99 / 2, p99 * 1.1, True, ("client-cpu",)),
            step(2, base, p99 / 2.5, p99, True),
            step(3, base * 0.5, p99 / 4, p99 * 0.6, True),
        )  # fmt: skip
    return Capacity(
        url="http://127.0.0.1:1/predict",
        slos=(SLO,),
        settings=StepSettings(2.0, 0.5, 10.0, 1000, 16, 2.0),
        policy=RatePolicy(),
        limits=ClientLimits(),
        idle_latency=0.05,
        estimate=base,
        estimate_summary=steps[0].summary,
        steps=steps,
        capacity=rate,
        client_bound=client_bound,
        stop="client-bound" if client_bound else "within-tolerance",
        elapsed=12.0,
    )


def tree(workers: int, worker_uss_mib: float, *, master_mib: float = 30.0) -> TreeMemory:
    """A master and ``workers`` workers sharing 20 MiB between them."""
    shared = 20 * MIB
    master = ProcessMemory(
        1, "master", int(master_mib * MIB), int(master_mib * MIB), int(master_mib * MIB)
    )
    uss = int(worker_uss_mib * MIB)
    processes = [master] + [
        ProcessMemory(2 + i, "worker", uss + shared, uss, uss + shared // workers)
        for i in range(workers)
    ]  # fmt: skip
    return TreeMemory(tuple(processes))


def cell(
    workload: str,
    workers: int,
    rate: float | None,
    p99: float = 0.1,
    *,
    worker_uss_mib: float = 40.0,
    preload: bool = False,
    threads: int = 1,
    client_bound: bool = False,
    oom_kills: int = 0,
    memory: bool = True,
) -> SweepCell:
    label = f"prod_w{workers}" + (f"_gthread_t{threads}" if threads > 1 else "")
    label += "_preload" if preload else ""
    server = Server(
        "gunicorn",
        workers=workers,
        worker_class="gthread" if threads > 1 else "sync",
        threads=threads,
        label=label,
        preload=preload,
    )
    return SweepCell(
        name=f"{workload}_{label}",
        workload=workload,
        server=server,
        status="done",
        capacity=capacity(rate, p99, client_bound=client_bound),
        memory_idle=tree(workers, worker_uss_mib / 2) if memory else None,
        memory_load=tree(workers, worker_uss_mib) if memory else None,
        workers_fit=4,
        oom_kills=oom_kills,
        seconds=20.0,
    )


def failed(workload: str, workers: int) -> SweepCell:
    server = Server(
        "gunicorn", workers=workers, label=f"prod_w{workers}_gevent", worker_class="gevent"
    )
    return SweepCell(
        name=f"{workload}_prod_w{workers}_gevent",
        workload=workload,
        server=server,
        status="failed",
        failure=Failure("server-failed", detail="no module named gevent"),
    )  # fmt: skip


def small_grid() -> list[SweepCell]:
    """Five io cells: w2 the winner, w4 over the budget, the preloaded w2 client-bound, w1
    slower, and one whose server did not start."""
    return [
        cell("io", 1, 20.5, 0.12, worker_uss_mib=40),
        cell("io", 2, 39.0, 0.15, worker_uss_mib=45),
        cell("io", 4, 75.0, 0.2, worker_uss_mib=600),
        cell("io", 2, 90.0, 0.1, worker_uss_mib=30, preload=True, client_bound=True),
        failed("io", 3),
    ]


def twelve() -> list[SweepCell]:
    """Three workloads by four servers, with an OOM kill and a cell that held at no rate."""
    cells = []
    for workload, scale, latency in (("io", 1.0, 0.12), ("cpu", 0.2, 0.15), ("numpy", 3.0, 0.05)):
        cells += [
            cell(workload, 1, 20 * scale, latency, worker_uss_mib=40),
            cell(workload, 2, 39 * scale, latency * 1.2, worker_uss_mib=45),
            cell(workload, 4, 75 * scale, latency * 1.5, worker_uss_mib=60,
                 oom_kills=1 if workload == "numpy" else 0),
            cell(workload, 2, 45 * scale if workload != "cpu" else None, latency, threads=4,
                 worker_uss_mib=55, preload=True),
        ]  # fmt: skip
    return cells


def _recommend(cells: list[SweepCell], budget: int | None) -> tuple[SweepRecommendation, ...]:
    """A recommendation in the shape the lab's ``recommend`` writes (not its rules: a test of
    the figures needs a winner and losses, not the ranking's fine points)."""
    found = []
    for workload in dict.fromkeys(c.workload for c in cells):
        ranking = []
        for c in (c for c in cells if c.workload == workload):
            rate = None if c.capacity is None else c.capacity.capacity
            memory = c.memory_bytes
            loss: str | None
            if c.status != "done":
                loss = "failed"
            elif budget is not None and memory is not None and memory > budget:
                loss = "over-budget"
            elif c.oom_kills:
                loss = "oom-killed"
            elif rate is None:
                loss = "slo-never-held"
            elif c.capacity is not None and c.capacity.client_bound:
                loss = "client-bound"
            else:
                loss = "lower-capacity"
            ranking.append(RankedCell(c.name, loss, rate, memory))  # type: ignore[arg-type]
        candidates = [r for r in ranking if r.loss == "lower-capacity" and r.capacity is not None]
        best = max(candidates, key=lambda r: r.capacity or 0.0, default=None)
        ranking = [replace(r, loss=None) if r is best else r for r in ranking]
        found.append(
            SweepRecommendation(workload, None if best is None else best.name, tuple(ranking))
        )
    return tuple(found)


def sweep(cells: list[SweepCell], *, budget: int | None = BUDGET) -> Sweep:
    settings = SweepSettings(
        workloads=tuple(dict.fromkeys(c.workload for c in cells)),
        n=1000,
        io_delay=0.1,
        slos=(SLO,),
        memory_bytes=budget,
        window=2.0,
        warmup=0.5,
        time_budget=None,
    )
    return Sweep(
        settings=settings,
        machine=MACHINE,
        planned=tuple(c.name for c in cells),
        cells=tuple(cells),
        recommendations=_recommend(cells, budget),
        elapsed=120.0,
    )


def write_folder(folder: Path, value: Sweep) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_sweep(folder, value)
    return folder
