"""A capacity search's results (``servelab.study.sweep.capacity``) as typed values, to and
from JSON: the highest arrival rate at which a server held its SLOs, and every step taken.

    capacity = read_capacity(cell / CAPACITY_FILE)
    capacity.capacity             # 38.5 (requests/s), or None: the SLOs held at no rate tried
    capacity.client_bound         # the load client, not the server, ended the search
    capacity.at_capacity.p99      # the step at that rate: percentiles, errors, CPU of both sides
    steps = read_steps(cell / STEPS_FILE)   # one line per step, written as it was measured

A step is one open-loop run at one rate: a warm-up, then a steady window that alone is
judged. It *held* (every SLO held over the window), *failed* (some SLO did not), or was
*client-bound*: the load engine could not deliver the rate (its own CPU, sends behind
schedule, a send rate short of the one asked), so it says nothing about the server and is
neither. The codes are in ``StopCode`` and ``ClientCause``; the report words them.

Like ``servelab.results`` (whose field reader it shares) this module imports nothing that
runs anything: no server, cap or load engine, so a report can read a sweep without them. A
damaged file is a ``ResultsError`` of one line naming the file and the field.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Final, Literal, cast, get_args

from servelab._io import atomic_write_json, iter_jsonl
from servelab.errors import ConfigError, ResultsError
from servelab.load.summary import LoadSummary
from servelab.results import JsonObject, JsonValue, _Field

CAPACITY_SCHEMA: Final = 1
CAPACITY_FILE: Final = "capacity.json"
STEPS_FILE: Final = "capacity-steps.jsonl"

StopCode = Literal[
    "within-tolerance",  # the highest held rate and the lowest failed one are within tolerance
    "client-bound",  # the bracket closed on a rate the client could not deliver
    "fails-at-min",  # the SLOs failed even at the lowest rate allowed
    "holds-at-max",  # the SLOs held even at the highest rate allowed
    "budget-spent",  # max_steps steps were taken
    "time-spent",  # the deadline came before the next step could end
    "no-estimate",  # the closed loop that starts the search got no response at all
    "not-finished",  # the search was interrupted
]
STOP_CODES: Final[tuple[str, ...]] = get_args(StopCode)
ClientCause = Literal[
    "client-cpu",  # the load engine used more than ClientLimits.max_cores
    "late-sends",  # too many sends left later than ClientLimits.late_after
    "send-rate",  # the sends achieved less than ClientLimits.min_send_share of the rate
]
CLIENT_CAUSES: Final[tuple[str, ...]] = get_args(ClientCause)


def _fraction(name: str, value: float, *, zero_ok: bool = True, above_one: bool = False) -> None:
    low_ok = value >= 0 if zero_ok else value > 0
    if isinstance(value, bool) or not math.isfinite(value) or not low_ok:
        raise ConfigError(f"{name} must be {'>=' if zero_ok else '>'} 0, not {value!r}")
    if not above_one and value > 1:
        raise ConfigError(f"{name} is a fraction (at most 1), not {value!r}")


def _default_true(value: bool | None) -> bool:
    """A flag added later: files written before it read as its default, True."""
    return True if value is None else value


@dataclass(frozen=True)
class RatePolicy:
    """How the rate search moves (``capacity.RateSearch``).

    tolerance: the search ends when the lowest rate that failed is at most this much above
      the highest rate that held (relative).
    max_steps: the budget; each step is one open-loop run.
    start_factor: the first rate, as a share of the closed-loop estimate.
    first_step: the first move away from the start (relative); each further move in the same
      direction doubles it (x1.25, x1.5, x2, x3 with the default).
    min_rate, max_rate: the search never leaves this range (requests/s).
    min_served_share: a step holds only if the 2xx responses that ended within its window
      reach this share of the rate (one response of slack for the count): the server keeps
      up, its queue does not grow. Without it a rate a little above what the server can
      serve would hold in a short window, its queue not yet long enough to break the SLO,
      and the capacity found would grow with the window. 0 turns it off.
    confirm: before the search ends, the lowest rate that failed is measured once more if
      it failed only once; if it holds the second time, the first failure was a transient
      (a worker's first requests, a burst of other work on the machine) and the search goes
      on above it. One step more per search for a capacity that does not rest on one draw.
    """

    tolerance: float = 0.05
    max_steps: int = 14
    start_factor: float = 0.9
    first_step: float = 0.25
    min_rate: float = 0.5
    max_rate: float = 10_000.0
    min_served_share: float = 0.95
    confirm: bool = True

    def __post_init__(self) -> None:
        _fraction("tolerance", self.tolerance, zero_ok=False)
        _fraction("min_served_share", self.min_served_share)
        _fraction("start_factor", self.start_factor, zero_ok=False, above_one=True)
        _fraction("first_step", self.first_step, zero_ok=False, above_one=True)
        _fraction("min_rate", self.min_rate, zero_ok=False, above_one=True)
        _fraction("max_rate", self.max_rate, zero_ok=False, above_one=True)
        steps = self.max_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"max_steps must be a whole number >= 1, not {steps!r}")
        if self.max_rate <= self.min_rate:
            raise ConfigError(
                f"max_rate ({self.max_rate:g}) must be above min_rate ({self.min_rate:g})"
            )

    def to_json(self) -> JsonObject:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, f: _Field) -> RatePolicy:
        try:
            return cls(
                tolerance=f.number("tolerance"),
                max_steps=f.whole("max_steps"),
                start_factor=f.number("start_factor"),
                first_step=f.number("first_step"),
                min_rate=f.number("min_rate"),
                max_rate=f.number("max_rate"),
                min_served_share=f.number("min_served_share"),
                confirm=_default_true(f.opt_flag("confirm")),
            )
        except ConfigError as error:
            raise ResultsError(f"{f.file}: field {f.path}: {error}") from None


@dataclass(frozen=True)
class ClientLimits:
    """When a step is the client's limit rather than the server's (``capacity.client_bound``).

    max_cores: the load engine's process used more CPU than this (cores over the window).
    late_after, max_late_share: more than ``max_late_share`` of the window's sends left more
      than ``late_after`` seconds after their intended time, with no request held back by the
      in-flight bound (a request held back waits for the server, not for the client).
    min_send_share, min_sends: the sends achieved less than ``min_send_share`` of the rate
      asked, judged only over at least ``min_sends`` sends (two sends a few ms apart are no
      rate) and, again, only when nothing was held back.
    """

    max_cores: float = 0.9
    late_after: float = 0.01
    max_late_share: float = 0.1
    min_send_share: float = 0.95
    min_sends: int = 20

    def __post_init__(self) -> None:
        _fraction("max_cores", self.max_cores, above_one=True)
        _fraction("late_after", self.late_after, zero_ok=False, above_one=True)
        _fraction("max_late_share", self.max_late_share)
        _fraction("min_send_share", self.min_send_share)
        sends = self.min_sends
        if isinstance(sends, bool) or not isinstance(sends, int) or sends < 2:
            raise ConfigError(f"min_sends must be a whole number >= 2, not {sends!r}")

    def to_json(self) -> JsonObject:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, f: _Field) -> ClientLimits:
        try:
            return cls(
                max_cores=f.number("max_cores"),
                late_after=f.number("late_after"),
                max_late_share=f.number("max_late_share"),
                min_send_share=f.number("min_send_share"),
                min_sends=f.whole("min_sends"),
            )
        except ConfigError as error:
            raise ResultsError(f"{f.file}: field {f.path}: {error}") from None


@dataclass(frozen=True)
class StepSettings:
    """What every step ran: ``warmup`` s at the rate (not judged), then ``window`` s judged;
    a request may take ``timeout`` s; at most ``max_in_flight`` at once. The closed-loop
    estimate ran ``estimate_concurrency`` users for ``estimate_duration`` s, after ``prime``
    s of the same load not measured (0: none; files written before it read as 0)."""

    window: float
    warmup: float
    timeout: float
    max_in_flight: int
    estimate_concurrency: int
    estimate_duration: float
    prime: float = 0.0

    def to_json(self) -> JsonObject:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, f: _Field) -> StepSettings:
        return cls(
            window=f.number("window"),
            warmup=f.number("warmup"),
            timeout=f.number("timeout"),
            max_in_flight=f.whole("max_in_flight"),
            estimate_concurrency=f.whole("estimate_concurrency"),
            estimate_duration=f.number("estimate_duration"),
            prime=f.opt_number("prime") or 0.0,
        )


@dataclass(frozen=True)
class SloCheck:
    """One SLO over a step's window: its text (``p99<250ms``), the value measured (base
    units: seconds, a fraction, requests/s; None when nothing was measured), and whether it
    held."""

    slo: str
    value: float | None
    held: bool

    def to_json(self) -> JsonObject:
        return {"slo": self.slo, "value": self.value, "held": self.held}

    @classmethod
    def from_json(cls, f: _Field) -> SloCheck:
        return cls(slo=f.text("slo"), value=f.opt_number("value"), held=f.flag("held"))


@dataclass(frozen=True)
class CapacityStep:
    """One step of the search: ``rate`` requests/s asked, and what its steady window measured.

    summary: the window's requests in numbers (those due from ``warmup`` s after the step's
      start to ``warmup + window`` s): percentiles from each request's intended send time,
      errors, throughput, send rate, late sends (beyond ``ClientLimits.late_after``), and
      the client's CPU over the window in ``client_cpu_seconds`` (every process that sent).
    held_back: requests of the whole step that waited for the in-flight bound.
    server_cores, client_cores: CPU over the window, in cores: the server's process tree
      (None when no server pid was given) and the load engine's process (every thread: the
      load loop and the lab's monitors beside it; on Locust, the busiest worker, the one
      that would limit the rate).
    client_total_cores: every process that sent, together, over the window (the own
      engine: its one process, ``client_cores``): the machine's CPU the client took from a
      server on the same machine. client_cpu_per_request: that CPU in seconds over the
      window's requests sent. Both None in files written before they were recorded.
    late_share: the window's sends that left more than ``late_after`` late, over all sent.
    served_rate: 2xx responses that ended within the window, per second of it (any request's,
      the warm-up's too: what the server completed while the window lasted); keeps_up: it
      reached ``RatePolicy.min_served_share`` of the rate.
    slo: each SLO against the window. client_causes: why the client could not deliver the
      rate (empty: it could).
    seconds: what the step took, its drain and any settling after it included; settle: of
      that, the seconds spent until the server had worked off requests the client gave up on.
    machine_seconds: the machine's speed just before the step (``servelab.speed``: CPU
      seconds of a fixed task; None in files written before it was timed).
    """

    index: int
    rate: float
    summary: LoadSummary
    held_back: int
    server_cores: float | None
    client_cores: float | None
    late_share: float | None
    served_rate: float
    keeps_up: bool
    slo: tuple[SloCheck, ...]
    client_causes: tuple[ClientCause, ...]
    seconds: float
    settle: float = 0.0
    machine_seconds: float | None = None
    client_total_cores: float | None = None
    client_cpu_per_request: float | None = None

    @property
    def slo_held(self) -> bool:
        """Every SLO held over the window (whether or not the client delivered the rate)."""
        return all(check.held for check in self.slo)

    @property
    def client_bound(self) -> bool:
        return bool(self.client_causes)

    @property
    def held(self) -> bool:
        """The server held at this rate: the SLOs held, it kept up, the rate was delivered."""
        return self.slo_held and self.keeps_up and not self.client_bound

    @property
    def failed(self) -> bool:
        """The server did not hold at this rate (a client-bound step never fails)."""
        return not (self.slo_held and self.keeps_up) and not self.client_bound

    @property
    def server_cpu_per_request(self) -> float | None:
        """Seconds of the server tree's CPU per 2xx response served in the window; None when
        its CPU was not read or nothing was served. For a CPU-bound server the capacity is
        about its usable cores over this, so two searches of one cell that disagree on the
        capacity show here whether the server (or the machine under it) got slower."""
        if self.server_cores is None or self.served_rate <= 0:
            return None
        return self.server_cores / self.served_rate

    @property
    def throughput(self) -> float | None:
        return self.summary.throughput

    @property
    def error_rate(self) -> float | None:
        return self.summary.error_rate

    @property
    def p50(self) -> float | None:
        return self.summary.latency.p50

    @property
    def p90(self) -> float | None:
        return self.summary.latency.p90

    @property
    def p99(self) -> float | None:
        return self.summary.latency.p99

    def to_json(self) -> JsonObject:
        return {
            "index": self.index,
            "rate": self.rate,
            # Derived from the fields below, for a person reading the file; not read back.
            "held": self.held,
            "client_bound": self.client_bound,
            "server_cores": self.server_cores,
            "client_cores": self.client_cores,
            "client_total_cores": self.client_total_cores,
            "client_cpu_per_request": self.client_cpu_per_request,
            "late_share": self.late_share,
            "served_rate": self.served_rate,
            "keeps_up": self.keeps_up,
            "held_back": self.held_back,
            "slo": [check.to_json() for check in self.slo],
            "client_causes": list(self.client_causes),
            "seconds": self.seconds,
            "settle": self.settle,
            "machine_seconds": self.machine_seconds,
            "summary": cast(JsonObject, self.summary.to_json()),
        }

    @classmethod
    def from_json(cls, f: _Field) -> CapacityStep:
        summary = f.summary("summary")
        if summary is None:
            raise ResultsError(f"{f.file}: field {f._join('summary')} is missing")
        return cls(
            index=f.whole("index"),
            rate=f.number("rate"),
            summary=summary,
            held_back=f.whole("held_back"),
            server_cores=f.opt_number("server_cores"),
            client_cores=f.opt_number("client_cores"),
            late_share=f.opt_number("late_share"),
            served_rate=f.number("served_rate"),
            keeps_up=f.flag("keeps_up"),
            slo=tuple(SloCheck.from_json(item) for item in f.items("slo")),
            client_causes=tuple(
                cast(ClientCause, item.choice_value(CLIENT_CAUSES))
                for item in f.opt_items("client_causes")
            ),
            seconds=f.number("seconds"),
            settle=f.opt_number("settle") or 0.0,
            machine_seconds=f.opt_number("machine_seconds"),
            client_total_cores=f.opt_number("client_total_cores"),
            client_cpu_per_request=f.opt_number("client_cpu_per_request"),
        )


@dataclass(frozen=True)
class Capacity:
    """A capacity search: the highest rate that held, every step, and why it stopped.

    estimate: the closed loop's throughput (2xx responses/s) the search started from, None
      when it got none (``estimate_summary`` is that run). idle_latency: the fastest of a few
      single requests before any load, seconds.
    capacity: the highest rate that held below the lowest rate that failed or that the
      client could not deliver; None when none held.
    client_bound: the client, not the server, bounded the search: the lowest rate that did
      not hold was one the client could not deliver, so ``capacity`` is a lower bound.
    elapsed: seconds the whole search took, the estimate included.
    """

    url: str
    slos: tuple[str, ...]
    settings: StepSettings
    policy: RatePolicy
    limits: ClientLimits
    idle_latency: float | None
    estimate: float | None
    estimate_summary: LoadSummary | None
    steps: tuple[CapacityStep, ...]
    capacity: float | None
    client_bound: bool
    stop: StopCode
    elapsed: float

    @property
    def at_capacity(self) -> CapacityStep | None:
        """The step at ``capacity`` (its p50/p90/p99, errors, CPU), None without a capacity."""
        if self.capacity is None:
            return None
        return next((s for s in self.steps if s.held and s.rate == self.capacity), None)

    @property
    def machine_seconds(self) -> float | None:
        """The median of the machine's speed before each step (``servelab.speed``: seconds
        of its reference task; higher is slower), None when no step timed it. The median:
        this host slows for a single sample now and then, which moves no capacity, and stays
        slow for a minute at other times, which does."""
        times = [s.machine_seconds for s in self.steps if s.machine_seconds is not None]
        return statistics.median(times) if times else None

    def to_json(self) -> JsonObject:
        estimate = self.estimate_summary
        return {
            "schema": CAPACITY_SCHEMA,
            "url": self.url,
            "slos": list(self.slos),
            "capacity": self.capacity,
            "client_bound": self.client_bound,
            "stop": self.stop,
            "estimate": self.estimate,
            "idle_latency": self.idle_latency,
            "elapsed": self.elapsed,
            "settings": self.settings.to_json(),
            "policy": self.policy.to_json(),
            "limits": self.limits.to_json(),
            "estimate_summary": None if estimate is None else cast(JsonObject, estimate.to_json()),
            "steps": [step.to_json() for step in self.steps],
        }

    @classmethod
    def from_json(cls, f: _Field) -> Capacity:
        return cls(
            url=f.text("url"),
            slos=f.strings("slos"),
            settings=StepSettings.from_json(f.obj("settings")),
            policy=RatePolicy.from_json(f.obj("policy")),
            limits=ClientLimits.from_json(f.obj("limits")),
            idle_latency=f.opt_number("idle_latency"),
            estimate=f.opt_number("estimate"),
            estimate_summary=f.summary("estimate_summary"),
            steps=tuple(CapacityStep.from_json(item) for item in f.items("steps")),
            capacity=f.opt_number("capacity"),
            client_bound=f.flag("client_bound"),
            stop=cast(StopCode, f.choice("stop", STOP_CODES)),
            elapsed=f.number("elapsed"),
        )


def write_capacity(path: Path, capacity: Capacity) -> None:
    """Save a search atomically (``capacity.json`` by convention)."""
    atomic_write_json(path, capacity.to_json())


def read_capacity(path: Path) -> Capacity:
    """A search saved by ``write_capacity``; a ``ResultsError`` of one line if it cannot be."""
    if not path.is_file():
        raise ResultsError(f"no {path.name} in {path.parent}")
    try:
        data: JsonValue = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ResultsError(f"cannot read {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise ResultsError(f"{path} is not valid JSON: {error}") from None
    root = _Field(data, str(path), "")
    version = root.whole("schema")
    if version > CAPACITY_SCHEMA:
        raise ResultsError(
            f"{path} was written with capacity schema {version}; this servelab reads up to "
            f"{CAPACITY_SCHEMA}: upgrade servelab to read it"
        )
    return Capacity.from_json(root)


def read_steps(path: Path) -> list[CapacityStep]:
    """The steps a search wrote as it measured them (one JSON object a line). A torn line
    (a crash mid-write) is skipped; a whole line that is not a step is a ``ResultsError``."""
    try:
        rows = list(iter_jsonl(path))
    except OSError as error:
        raise ResultsError(f"cannot read {path}: {error.strerror or error}") from None
    return [CapacityStep.from_json(_Field(row, f"{path}:{number}", "")) for number, row in rows]


__all__ = [
    "CAPACITY_FILE",
    "CAPACITY_SCHEMA",
    "CLIENT_CAUSES",
    "STEPS_FILE",
    "STOP_CODES",
    "Capacity",
    "CapacityStep",
    "ClientCause",
    "ClientLimits",
    "RatePolicy",
    "SloCheck",
    "StepSettings",
    "StopCode",
    "read_capacity",
    "read_steps",
    "write_capacity",
]
