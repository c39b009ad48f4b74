"""A sweep's results (``servelab sweep``) as typed values, and the only reader and writer of
``sweep.json`` and each cell's ``cell.json``.

    sweep = read_sweep(Path("results/sweep"))
    sweep.recommendations[0].best       # "io_prod_w2", or None: no cell qualified
    cell = sweep.cell("io_prod_w2")     # its capacity, memory idle and at load, OOM kills

The shape of a folder
    sweep.json              ``Sweep``: settings, machine, the planned cells, every cell
                            measured so far, the recommendation per workload
    cells/<name>/cell.json  ``SweepCell``, written when the cell ends (the index repeats it)
    cells/<name>/capacity.json, capacity-steps.jsonl   the rate search (results_capacity)
    cells/<name>/server.log, samples.jsonl             what the server printed, its tree

A cell is one server configuration serving one workload (or the user's app). Its status:
``done`` (measured), ``failed`` (its server did not start or the search could not run:
``failure`` says why), ``left-out`` (the sweep's time budget ran out before it). A sweep
that was interrupted keeps every cell that ended; run again into the same folder, it measures
only the cells that have no ``cell.json``.

Like ``servelab.results`` this module imports nothing that runs anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, cast, get_args

from servelab._io import atomic_write_json
from servelab.errors import ResultsError
from servelab.results import (
    App,
    Failure,
    JsonObject,
    JsonValue,
    Machine,
    Noise,
    Server,
    ServerEnd,
    TreeMemory,
    _Field,
)
from servelab.results_capacity import Capacity

SWEEP_SCHEMA: Final = 1
SWEEP_FILE: Final = "sweep.json"
CELL_FILE: Final = "cell.json"
CELLS_DIR: Final = "cells"

CellStatus = Literal["done", "failed", "left-out"]
CELL_STATUSES: Final[tuple[str, ...]] = get_args(CellStatus)
LossCode = Literal[
    "failed",
    "not-measured",
    "over-budget",
    "oom-killed",
    "died",
    "dev-server",
    "dies-below-size",
    "slo-never-held",
    "client-bound",
    "same-capacity-more-memory",
    "lower-capacity",
]
LOSS_CODES: Final[tuple[str, ...]] = get_args(LossCode)


@dataclass(frozen=True)
class SweepSettings:
    """What every cell was asked: the workloads (or ``("app",)``), the service's ``n`` and
    ``io_delay`` (an app's input ``size``), the SLOs, the memory budget (each cell runs in a
    cap of it; None: no cap), the rate search's window and warm-up, the time budget."""

    workloads: tuple[str, ...]
    n: int
    io_delay: float
    slos: tuple[str, ...]
    memory_bytes: int | None
    window: float
    warmup: float
    time_budget: float | None
    prime: float = 0.0
    preload: str = "off"
    app: App | None = None
    # The critical size per cell under the budget (a critical-n search each), and the size
    # the recommendation must survive (None: not asked).
    critical: bool = False
    need_size: int | None = None
    # What sent the load: "own" (servelab's engine), or "locust:N" (N Locust workers here).
    engine: str = "own"

    def to_json(self) -> JsonObject:
        return {
            "workloads": list(self.workloads),
            "n": self.n,
            "io_delay": self.io_delay,
            "slos": list(self.slos),
            "memory_bytes": self.memory_bytes,
            "window": self.window,
            "warmup": self.warmup,
            "prime": self.prime,
            "time_budget": self.time_budget,
            "preload": self.preload,
            "app": None if self.app is None else self.app.to_json(),
            "critical": self.critical,
            "need_size": self.need_size,
            "engine": self.engine,
        }

    @classmethod
    def from_json(cls, f: _Field) -> SweepSettings:
        app = f.opt_obj_field("app")
        return cls(
            workloads=f.strings("workloads"),
            n=f.whole("n"),
            io_delay=f.number("io_delay"),
            slos=f.strings("slos"),
            memory_bytes=f.opt_whole("memory_bytes"),
            window=f.number("window"),
            warmup=f.number("warmup"),
            prime=f.opt_number("prime") or 0.0,
            time_budget=f.opt_number("time_budget"),
            preload=f.opt_text("preload") or "off",
            app=None if app is None else App.from_json(app),
            critical=f.opt_flag("critical") or False,
            need_size=f.opt_whole("need_size"),
            engine=f.opt_text("engine") or "own",
        )

    def differs_from(self, other: SweepSettings) -> list[str]:
        """The settings that differ (by name): a folder resumes only the same sweep."""
        return [
            name
            for name in self.__dataclass_fields__
            if name != "time_budget" and getattr(self, name) != getattr(other, name)
        ]


@dataclass(frozen=True)
class SweepCell:
    """One configuration serving one workload, as measured.

    ``memory_idle``/``memory_load``: the server's process tree before any load, and at the
    moment of the largest total PSS during the rate search; ``workers_fit``: how many workers
    of that size the budget holds (``servelab.servers.memory.workers_that_fit``);
    ``peak_bytes``: the cap's high-water mark over the cell; ``oom_kills``: the cap's kills.
    """

    name: str
    workload: str
    server: Server
    status: CellStatus
    capacity: Capacity | None = None
    memory_idle: TreeMemory | None = None
    memory_load: TreeMemory | None = None
    workers_fit: int | None = None
    peak_bytes: int | None = None
    oom_kills: int = 0
    failure: Failure | None = None
    noise: Noise | None = None
    seconds: float = 0.0
    # How the server ended when it ended on its own during the search (None: it was up
    # until the lab stopped it).
    died: ServerEnd | None = None
    # The critical search's largest size that never failed under the budget, and its folder
    # (relative to the sweep's), when the sweep asked for it and the workload has one.
    critical_n: int | None = None
    critical_folder: str | None = None

    @property
    def memory_bytes(self) -> int | None:
        """The memory the recommendation holds against the budget: the tree's total PSS at
        load (its real footprint, shared pages counted once), else idle, else the cap's peak."""
        for memory in (self.memory_load, self.memory_idle):
            if memory is not None:
                return memory.total_pss
        return self.peak_bytes

    def to_json(self) -> JsonObject:
        return {
            "name": self.name,
            "workload": self.workload,
            "server": self.server.to_json(),
            "status": self.status,
            "capacity": None if self.capacity is None else self.capacity.to_json(),
            "memory_idle": None if self.memory_idle is None else self.memory_idle.to_json(),
            "memory_load": None if self.memory_load is None else self.memory_load.to_json(),
            "workers_fit": self.workers_fit,
            "peak_bytes": self.peak_bytes,
            "oom_kills": self.oom_kills,
            "failure": None if self.failure is None else self.failure.to_json(),
            "noise": None if self.noise is None else self.noise.to_json(),
            "seconds": self.seconds,
            "died": None if self.died is None else self.died.to_json(),
            "critical_n": self.critical_n,
            "critical_folder": self.critical_folder,
        }

    @classmethod
    def from_json(cls, f: _Field) -> SweepCell:
        capacity = f.opt_obj_field("capacity")
        idle = f.opt_obj_field("memory_idle")
        load = f.opt_obj_field("memory_load")
        failure = f.opt_obj_field("failure")
        noise = f.opt_obj_field("noise")
        died = f.opt_obj_field("died")
        return cls(
            name=f.text("name"),
            workload=f.text("workload"),
            server=Server.from_json(f.obj("server")),
            status=cast(CellStatus, f.choice("status", CELL_STATUSES)),
            capacity=None if capacity is None else Capacity.from_json(capacity),
            memory_idle=None if idle is None else TreeMemory.from_json(idle),
            memory_load=None if load is None else TreeMemory.from_json(load),
            workers_fit=f.opt_whole("workers_fit"),
            peak_bytes=f.opt_whole("peak_bytes"),
            oom_kills=f.opt_whole("oom_kills") or 0,
            failure=None if failure is None else Failure.from_json(failure),
            noise=None if noise is None else Noise.from_json(noise),
            seconds=f.opt_number("seconds") or 0.0,
            died=None if died is None else ServerEnd.from_json(died),
            critical_n=f.opt_whole("critical_n"),
            critical_folder=f.opt_text("critical_folder"),
        )


@dataclass(frozen=True)
class RankedCell:
    """A cell's place in its workload's ranking: ``loss`` None for the winner, else the rule
    it lost by; ``versus`` the number it lost against (the budget, the winner's capacity)."""

    name: str
    loss: LossCode | None
    capacity: float | None
    memory_bytes: int | None
    versus: float | None = None

    def to_json(self) -> JsonObject:
        return {
            "name": self.name,
            "loss": self.loss,
            "capacity": self.capacity,
            "memory_bytes": self.memory_bytes,
            "versus": self.versus,
        }

    @classmethod
    def from_json(cls, f: _Field) -> RankedCell:
        loss = f.opt_text("loss")
        if loss is not None and loss not in LOSS_CODES:
            raise f.child("loss")._fail(f"one of {', '.join(LOSS_CODES)}", got=loss)
        return cls(
            name=f.text("name"),
            loss=cast("LossCode | None", loss),
            capacity=f.opt_number("capacity"),
            memory_bytes=f.opt_whole("memory_bytes"),
            versus=f.opt_number("versus"),
        )


@dataclass(frozen=True)
class SweepRecommendation:
    """One workload's recommendation (``servelab.study.sweep.recommend``): the best cell
    (None when none qualified), every cell best first, and the margins."""

    workload: str
    best: str | None
    ranking: tuple[RankedCell, ...]
    # The winner's capacity over the best cell it beat on capacity (a tie within the noise
    # is not beaten on capacity); None when it beat none that way.
    lead: float | None = None
    memory_headroom: float | None = None
    uncertain: tuple[str, ...] = ()

    @property
    def winner(self) -> RankedCell | None:
        return next((r for r in self.ranking if r.loss is None), None)

    def to_json(self) -> JsonObject:
        return {
            "workload": self.workload,
            "best": self.best,
            "ranking": [r.to_json() for r in self.ranking],
            "lead": self.lead,
            "memory_headroom": self.memory_headroom,
            "uncertain": list(self.uncertain),
        }

    @classmethod
    def from_json(cls, f: _Field) -> SweepRecommendation:
        return cls(
            workload=f.text("workload"),
            best=f.opt_text("best"),
            ranking=tuple(RankedCell.from_json(item) for item in f.items("ranking")),
            lead=f.opt_number("lead"),
            memory_headroom=f.opt_number("memory_headroom"),
            uncertain=f.strings("uncertain"),
        )


@dataclass(frozen=True)
class Sweep:
    """A sweep: its settings, the cells planned (names, in order), those measured so far,
    the recommendation per workload, and whether every planned cell has ended."""

    settings: SweepSettings
    machine: Machine | None
    planned: tuple[str, ...]
    cells: tuple[SweepCell, ...]
    recommendations: tuple[SweepRecommendation, ...] = ()
    started: float = 0.0
    elapsed: float = 0.0
    noise_at_start: Noise | None = None

    @property
    def complete(self) -> bool:
        ended = {cell.name for cell in self.cells if cell.status != "left-out"}
        return all(name in ended for name in self.planned)

    def cell(self, name: str) -> SweepCell:
        for cell in self.cells:
            if cell.name == name:
                return cell
        raise KeyError(name)

    def to_json(self) -> JsonObject:
        return {
            "schema": SWEEP_SCHEMA,
            "settings": self.settings.to_json(),
            "machine": None if self.machine is None else self.machine.to_json(),
            "planned": list(self.planned),
            "complete": self.complete,
            "started": self.started,
            "elapsed": self.elapsed,
            "noise_at_start": None
            if self.noise_at_start is None
            else self.noise_at_start.to_json(),
            "cells": [cell.to_json() for cell in self.cells],
            "recommendations": [r.to_json() for r in self.recommendations],
        }

    @classmethod
    def from_json(cls, f: _Field) -> Sweep:
        machine = f.opt_obj_field("machine")
        noise = f.opt_obj_field("noise_at_start")
        return cls(
            settings=SweepSettings.from_json(f.obj("settings")),
            machine=None if machine is None else Machine.from_json(machine),
            planned=f.strings("planned"),
            cells=tuple(SweepCell.from_json(item) for item in f.items("cells")),
            recommendations=tuple(
                SweepRecommendation.from_json(item) for item in f.items("recommendations")
            ),
            started=f.opt_number("started") or 0.0,
            elapsed=f.opt_number("elapsed") or 0.0,
            noise_at_start=None if noise is None else Noise.from_json(noise),
        )


def is_sweep(folder: Path) -> bool:
    return (folder / SWEEP_FILE).is_file()


def write_sweep(folder: Path, sweep: Sweep) -> Path:
    """``sweep.json``, atomically: a crash leaves the previous index whole."""
    path = folder / SWEEP_FILE
    atomic_write_json(path, sweep.to_json())
    return path


def write_cell(folder: Path, cell: SweepCell) -> Path:
    """``cells/<name>/cell.json``, atomically, once the cell has ended."""
    path = folder / CELLS_DIR / cell.name / CELL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, cell.to_json())
    return path


def read_sweep(folder: Path) -> Sweep:
    """The sweep in ``folder``; a ``ResultsError`` of one line when it cannot be read."""
    f = _read(folder / SWEEP_FILE)
    schema = f.opt_whole("schema")
    if schema is None or schema > SWEEP_SCHEMA:
        raise ResultsError(
            f"{folder / SWEEP_FILE} has schema {schema!r}; this servelab reads up to"
            f" {SWEEP_SCHEMA} (a newer servelab wrote it?)"
        )
    return Sweep.from_json(f)


def read_cell(path: Path) -> SweepCell:
    """One cell's ``cell.json``."""
    return SweepCell.from_json(_read(path))


def _read(path: Path) -> _Field:
    if not path.is_file():
        raise ResultsError(f"no {path.name} in {path.parent}")
    try:
        data: JsonValue = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ResultsError(f"cannot read {path}: {error}") from None
    return _Field(data, path.name, "")
