"""The results contract: what a study measured, as typed values, and the only reader and
writer of ``study.json``.

    study = read_study(Path("results"))        # a Study, whatever version wrote the folder
    write_study(Path("results"), study)        # atomically, schema SCHEMA_VERSION
    search = read_search(Path("results/critical/cpu_bounded_dev"))   # its search.json
    comparison = read_guarded(Path("results/critical/cpu_bounded_dev"))  # its guarded.json

Measurement stores codes and numbers, never sentences: an outcome is ``"oom"``, a search
stopped for ``StopReason("band-resolved", low=..., high=..., band=4)``, a server ended as
``ServerEnd(signal="SIGKILL", stopped_by_lab=False)``. The report turns them into words, in
its own language. Texts that are kept are quotations of what something else said (a
client's error, a server's log line, an unexpected error's message), shown as quoted.

The shape of a folder
    study.json                 ``Study``: plan, machine, every run, every critical-n search
    log/<run>.txt              the seed's log lines          (servelab.load.seedlog)
    records/<run>.jsonl        one row per request           (servelab.load.records)
    samples/<run>.jsonl        the server's processes, 20/s  (servelab.servers.monitor)
    memory.json                a ``TreeMemory``: each process's RSS, USS, PSS at one instant
                               (servelab.servers.memory), where a measurement keeps one
    server/<run>.log           what the server printed
    critical/<search>/         search.json (a ``SearchEntry``), guarded.json (a
                               ``GuardComparison``), each probe's records/samples/log

Versions
    1  written before this module (no ``schema`` key), e.g. ``docs/reference-study``: read
       by converting (flat burst summaries, English reasons, which are dropped).
    2  this module's shape; ``search.json`` and ``guarded.json`` carry the version too.
A folder written by a newer servelab is refused with a message saying so. A damaged file
gives a ``ResultsError`` of one line naming the file and the field.

This module imports nothing that runs anything (no servers, caps or engine): the report
reads results through it and must stay importable without them.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Final, Literal, TypeVar, cast, get_args

from servelab._io import atomic_write_json
from servelab.errors import ResultsError
from servelab.load.summary import Distribution, HandlerStats, LoadSummary

SCHEMA_VERSION: Final = 2
STUDY_FILE: Final = "study.json"
REPEATS_FILE: Final = "repeats.json"  # a repeated study's index (``servelab.repeats``)
SEARCH_FILE: Final = "search.json"
GUARDED_FILE: Final = "guarded.json"

# A value as JSON holds it. Writers build these; readers go through ``_Field``.
JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject = dict[str, JsonValue]

Outcome = Literal["ok", "oom", "memory-error", "rejected", "failed"]
OUTCOMES: Final[tuple[str, ...]] = get_args(Outcome)
RunStatus = Literal["done", "failed"]
StopCode = Literal[
    "within-tolerance",  # the bracket is within the tolerance
    "whole-numbers",  # as narrow as whole numbers allow
    "band-resolved",  # both ends confirmed, mixed results between them
    "fails-at-min",  # even min_n failed
    "passes-at-max",  # even max_n passed
    "budget-spent",  # max_probes probes were spent
    "not-finished",  # the search was interrupted
    "unknown",  # a version-1 reason this reader could not map
]
STOP_CODES: Final[tuple[str, ...]] = get_args(StopCode)
ErrorCode = Literal[
    "calibration-failed",  # the calibration probe did not pass (its trial says why)
    "no-memory-measure",  # the cap cannot measure memory (no cgroup): no model
    "does-not-fit-idle",  # the server was OOM-killed while it started, idle
    "nothing-to-compare",  # the guard comparison: no n failed without the guard
    "no-budget-room",  # the guard comparison: cap - idle - margin leaves nothing
    "no-size-growth",  # an app's calibration: its memory did not grow with the input size
    "server-failed",  # a run's server did not start or crashed (``detail`` quotes it)
    "error",  # anything else; ``detail`` quotes the message
]
ERROR_CODES: Final[tuple[str, ...]] = get_args(ErrorCode)
BudgetSource = Literal["derived", "option"]
MemoryRole = Literal[
    "master",  # the root, when it does not serve: gunicorn's arbiter, a supervisor, a reloader
    "worker",  # a process that answers requests (the root itself for a one-process server)
    "helper",  # any other process of the tree, e.g. multiprocessing's resource tracker
]
MEMORY_ROLES: Final[tuple[str, ...]] = get_args(MemoryRole)
MEMORY_FILE: Final = "memory.json"


# --- small values ---------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    """What the measurements ran on."""

    cpu: str | None
    cores: int | None
    memory_bytes: int | None
    os: str | None
    python: str | None
    packages: dict[str, str | None]

    def to_json(self) -> JsonObject:
        return {
            "cpu": self.cpu,
            "cores": self.cores,
            "memory_bytes": self.memory_bytes,
            "os": self.os,
            "python": self.python,
            "packages": dict(self.packages),
        }

    @classmethod
    def from_json(cls, f: _Field) -> Machine:
        return cls(
            cpu=f.opt_text("cpu"),
            cores=f.opt_whole("cores"),
            memory_bytes=f.opt_whole("memory_bytes"),
            os=f.opt_text("os"),
            python=f.opt_text("python"),
            packages={k: v.opt_text_value() for k, v in f.opt_obj("packages").items()},
        )


@dataclass(frozen=True)
class Server:
    """A server spec as data: what ``servelab.servers.spec.ServerSpec`` was (kind and settings).

    ``mode`` is the Flask dev server's (``""`` threaded, ``single``, ``debug``); ``max_rss`` is
    granian's ``--workers-max-rss`` in MiB (0 = none); ``preload`` is gunicorn's ``--preload``.
    They are left out of the JSON at their defaults, so files of the kinds that have none of
    them read and write as before.
    The report describes it in words; it never imports the servers to do so.
    """

    kind: str
    workers: int = 1
    worker_class: str = "sync"
    threads: int = 1
    timeout: float = 30.0
    label: str = ""
    mode: str = ""
    max_rss: int = 0
    preload: bool = False

    def to_json(self) -> JsonObject:
        out: JsonObject = {
            "kind": self.kind,
            "workers": self.workers,
            "worker_class": self.worker_class,
            "threads": self.threads,
            "timeout": self.timeout,
            "label": self.label,
        }
        if self.mode:
            out["mode"] = self.mode
        if self.max_rss:
            out["max_rss"] = self.max_rss
        if self.preload:
            out["preload"] = True
        return out

    @classmethod
    def from_json(cls, f: _Field) -> Server:
        return cls(
            kind=f.text("kind"),
            workers=f.opt_whole("workers") or 1,
            worker_class=f.opt_text("worker_class") or "sync",
            threads=f.opt_whole("threads") or 1,
            timeout=_default(f.opt_number("timeout"), 30.0),
            label=f.opt_text("label") or "",
            mode=f.opt_text("mode") or "",
            max_rss=f.opt_whole("max_rss") or 0,
            preload=f.opt_flag("preload") or False,
        )

    @property
    def key(self) -> tuple[str, int, str, int, float]:
        """The settings, to tell servers apart (label aside). The dev server's mode,
        granian's rss limit and gunicorn's preload ride on the worker class, so the key keeps
        its shape."""
        worker = self.worker_class
        if self.mode:
            worker += f":{self.mode}"
        if self.max_rss:
            worker += f":rss{self.max_rss}"
        if self.preload:
            worker += ":preload"
        return (self.kind, self.workers, worker, self.threads, self.timeout)


@dataclass(frozen=True)
class App:
    """The user's app a study served (None in a study of servelab's own service): its
    reference as given (``pkg.module:attr`` or ``path/file.py:attr``), its directory, the
    interpreter of its environment, ``wsgi`` or ``asgi``, and the readiness path asked for
    (None = ``/health`` if it answers 2xx, else any answer to ``/``)."""

    ref: str
    app_dir: str
    python: str
    interface: str
    ready: str | None = None

    def to_json(self) -> JsonObject:
        return {
            "ref": self.ref,
            "app_dir": self.app_dir,
            "python": self.python,
            "interface": self.interface,
            "ready": self.ready,
        }

    @classmethod
    def from_json(cls, f: _Field) -> App:
        return cls(
            ref=f.text("ref"),
            app_dir=f.text("app_dir"),
            python=f.text("python"),
            interface=f.text("interface"),
            ready=f.opt_text("ready"),
        )


@dataclass(frozen=True)
class RequestShape:
    """What every request of an app's study sends, without secrets: the method, the path,
    the names of the extra headers (never their values), and where the body comes from: a
    template whose ``{size}`` is the input size, a file of bodies sent in turn, or a hook
    ``module:function`` called with the size. ``size``: the runs' input size (None: the
    request has no size)."""

    method: str
    path: str
    header_names: tuple[str, ...] = ()
    body: str | None = None
    body_file: str | None = None
    payload: str | None = None
    size: int | None = None

    def to_json(self) -> JsonObject:
        return {
            "method": self.method,
            "path": self.path,
            "header_names": list(self.header_names),
            "body": self.body,
            "body_file": self.body_file,
            "payload": self.payload,
            "size": self.size,
        }

    @classmethod
    def from_json(cls, f: _Field) -> RequestShape:
        return cls(
            method=f.text("method"),
            path=f.text("path"),
            header_names=tuple(h.text_value() for h in f.opt_items("header_names")),
            body=f.opt_text("body"),
            body_file=f.opt_text("body_file"),
            payload=f.opt_text("payload"),
            size=f.opt_whole("size"),
        )


@dataclass(frozen=True)
class ServerEnd:
    """How a server's leader process ended: Popen's return code (negative = that signal),
    the signal's name, whether the lab stopped it, and whether it took a SIGKILL of the
    group after the grace period."""

    returncode: int | None
    signal: str | None
    stopped_by_lab: bool
    forced: bool = False

    def to_json(self) -> JsonObject:
        return {
            "returncode": self.returncode,
            "signal": self.signal,
            "stopped_by_lab": self.stopped_by_lab,
            "forced": self.forced,
        }

    @classmethod
    def from_json(cls, f: _Field) -> ServerEnd:
        return cls(
            returncode=f.opt_whole("returncode"),
            signal=f.opt_text("signal"),
            stopped_by_lab=f.flag("stopped_by_lab"),
            forced=f.opt_flag("forced") or False,
        )


@dataclass(frozen=True)
class Cap:
    """The memory cap a probe ran in: its mechanism (cgroup-v2, cgroup-v1, rlimit-as), limit,
    cgroup path, why a fallback was taken (quoted), and where memory readings came from
    (``cgroup`` or the process tree's ``rss``)."""

    mechanism: str
    limit_bytes: int
    path: str | None = None
    fallback_reason: str | None = None
    memory_source: str | None = None

    def to_json(self) -> JsonObject:
        return {
            "mechanism": self.mechanism,
            "limit_bytes": self.limit_bytes,
            "path": self.path,
            "fallback_reason": self.fallback_reason,
            "memory_source": self.memory_source,
        }

    @classmethod
    def from_json(cls, f: _Field) -> Cap:
        return cls(
            mechanism=f.text("mechanism"),
            limit_bytes=f.whole("limit_bytes"),
            path=f.opt_text("path"),
            fallback_reason=f.opt_text("fallback_reason"),
            memory_source=f.opt_text("memory_source"),
        )


@dataclass(frozen=True)
class Usage:
    """What the monitor saw of a server's process tree (``servers.monitor.MonitorSummary``)."""

    samples: int
    duration: float
    max_rss_bytes: int | None
    max_cgroup_bytes: int | None
    cpu_seconds: float
    mean_cores: float | None
    max_processes: int
    pids_seen: tuple[int, ...]
    root_exited: bool

    def to_json(self) -> JsonObject:
        return {
            "samples": self.samples,
            "duration": self.duration,
            "max_rss_bytes": self.max_rss_bytes,
            "max_cgroup_bytes": self.max_cgroup_bytes,
            "cpu_seconds": self.cpu_seconds,
            "mean_cores": self.mean_cores,
            "max_processes": self.max_processes,
            "pids_seen": list(self.pids_seen),
            "root_exited": self.root_exited,
        }

    @classmethod
    def from_json(cls, f: _Field) -> Usage:
        return cls(
            samples=f.whole("samples"),
            duration=f.number("duration"),
            max_rss_bytes=f.opt_whole("max_rss_bytes"),
            max_cgroup_bytes=f.opt_whole("max_cgroup_bytes"),
            cpu_seconds=f.number("cpu_seconds"),
            mean_cores=f.opt_number("mean_cores"),
            max_processes=f.whole("max_processes"),
            pids_seen=tuple(item.whole_value() for item in f.items("pids_seen")),
            root_exited=f.flag("root_exited"),
        )


@dataclass(frozen=True)
class ProcessMemory:
    """One process of a server's tree at one instant, in bytes (``servelab.servers.memory``).

    ``rss``: the resident pages it maps, its own and shared; ``uss``: its private pages
    (Private_Clean + Private_Dirty), what ending it would free; ``pss``: its private pages
    plus each shared page divided by the number of processes that map it, so that PSS summed
    over processes counts every page once. ``role``: see ``MemoryRole``.
    """

    pid: int
    role: MemoryRole
    rss: int
    uss: int
    pss: int

    @property
    def shared(self) -> int:
        """The resident pages it shares with other processes (RSS - USS)."""
        return self.rss - self.uss

    def to_json(self) -> JsonObject:
        return {
            "pid": self.pid,
            "role": self.role,
            "rss": self.rss,
            "uss": self.uss,
            "pss": self.pss,
        }

    @classmethod
    def from_json(cls, f: _Field) -> ProcessMemory:
        return cls(
            pid=f.whole("pid"),
            role=cast(MemoryRole, f.choice("role", MEMORY_ROLES)),
            rss=f.whole("rss"),
            uss=f.whole("uss"),
            pss=f.whole("pss"),
        )


@dataclass(frozen=True)
class TreeMemory:
    """The memory of every process of a server's tree at one instant, the root first
    (``servelab.servers.memory.measure_tree``).

    Summing RSS over the tree counts every shared page once per process that maps it (the app
    gunicorn's master imported before it forked the workers, the interpreter's libraries); PSS
    sums to the memory the tree holds, counting each page once (and a share of the pages it
    shares with processes outside the tree). The means are None without workers.
    """

    processes: tuple[ProcessMemory, ...]

    @property
    def master(self) -> ProcessMemory | None:
        """The root when it does not serve requests itself; None when it does."""
        return next((p for p in self.processes if p.role == "master"), None)

    @property
    def workers(self) -> tuple[ProcessMemory, ...]:
        """The processes that answer requests."""
        return tuple(p for p in self.processes if p.role == "worker")

    @property
    def helpers(self) -> tuple[ProcessMemory, ...]:
        """The tree's other processes (neither the master nor a worker)."""
        return tuple(p for p in self.processes if p.role == "helper")

    @property
    def total_rss(self) -> int:
        """RSS summed: what tools that add up RSS show; overstates (see above)."""
        return sum(p.rss for p in self.processes)

    @property
    def total_uss(self) -> int:
        """The private pages of every process."""
        return sum(p.uss for p in self.processes)

    @property
    def total_pss(self) -> int:
        """The memory the tree holds, each page counted once."""
        return sum(p.pss for p in self.processes)

    @property
    def fixed_uss(self) -> int:
        """The private pages of the processes that are not workers (master, helpers): paid
        once, however many workers there are."""
        return sum(p.uss for p in self.processes if p.role != "worker")

    @property
    def shared_once(self) -> int:
        """The pages the processes share, each counted once: PSS beyond USS, summed."""
        return self.total_pss - self.total_uss

    @property
    def worker_uss_mean(self) -> float | None:
        """A worker's private pages, on average: what one more worker would add."""
        return _mean([p.uss for p in self.workers])

    @property
    def worker_pss_mean(self) -> float | None:
        """A worker's PSS, on average: its private pages and its share of the shared ones."""
        return _mean([p.pss for p in self.workers])

    @property
    def shared_per_worker(self) -> float | None:
        """The pages a worker shares (RSS - USS), on average: what each worker's RSS counts
        that is also counted in the others'."""
        return _mean([p.shared for p in self.workers])

    def to_json(self) -> JsonObject:
        return {"processes": [p.to_json() for p in self.processes]}

    @classmethod
    def from_json(cls, f: _Field) -> TreeMemory:
        return cls(tuple(ProcessMemory.from_json(item) for item in f.items("processes")))


def _mean(values: Sequence[int]) -> float | None:
    return sum(values) / len(values) if values else None


# When a reading says the machine was busy (``Noise.busy_reasons``). The lab's client and
# the server under test already share 2 cores here, so anything else that runs takes CPU
# from one of them: a quarter of a core used by other processes on average is far above an
# idle machine's background (a few hundredths of a core of daemons) and large enough to
# move the numbers (the dev server's failing band moved by about 20% while other work ran).
BUSY_OTHER_CORES: Final = 0.25
# Time the hypervisor ran other guests while this one wanted the CPU: above 1 in 20 the
# timings stretch by about as much, which is the size of the effects the report compares.
BUSY_STEAL: Final = 0.05
# Memory available (MemAvailable) below this share of the machine's: the kernel is
# reclaiming page cache and may swap, so memory peaks and timings are no longer the
# server's alone.
BUSY_AVAILABLE_SHARE: Final = 0.10
NoiseCause = Literal["cpu", "steal", "memory"]


@dataclass(frozen=True)
class Noise:
    """What else the machine was doing while something was measured (``servelab.noise``).

    duration: seconds the readings spanned. cores: the machine's CPUs. other_cores: CPU
    used by every process other than the server's tree and the lab's own process, in cores
    (mean over ``duration``); server_cores: the server tree's (None for a reading with no
    server, e.g. the check at a study's start); lab_cores: the lab process's (the load
    client runs in it). steal: the share of CPU time the hypervisor gave to other guests.
    min_available_bytes: the least MemAvailable seen; memory_bytes: MemTotal.
    """

    duration: float
    cores: int
    other_cores: float
    lab_cores: float
    steal: float
    min_available_bytes: int | None
    memory_bytes: int | None
    server_cores: float | None = None

    def busy_reasons(self) -> tuple[NoiseCause, ...]:
        """Why the machine was busy, by the thresholds above; () when it was not."""
        reasons: list[NoiseCause] = []
        if self.other_cores > BUSY_OTHER_CORES:
            reasons.append("cpu")
        if self.steal > BUSY_STEAL:
            reasons.append("steal")
        if (
            self.min_available_bytes is not None
            and self.memory_bytes
            and self.min_available_bytes < BUSY_AVAILABLE_SHARE * self.memory_bytes
        ):
            reasons.append("memory")
        return tuple(reasons)

    @property
    def busy(self) -> bool:
        return bool(self.busy_reasons())

    def to_json(self) -> JsonObject:
        return {
            "duration": self.duration,
            "cores": self.cores,
            "other_cores": self.other_cores,
            "server_cores": self.server_cores,
            "lab_cores": self.lab_cores,
            "steal": self.steal,
            "min_available_bytes": self.min_available_bytes,
            "memory_bytes": self.memory_bytes,
        }

    @classmethod
    def from_json(cls, f: _Field) -> Noise:
        return cls(
            duration=f.number("duration"),
            cores=f.whole("cores"),
            other_cores=f.number("other_cores"),
            server_cores=f.opt_number("server_cores"),
            lab_cores=f.number("lab_cores"),
            steal=f.number("steal"),
            min_available_bytes=f.opt_whole("min_available_bytes"),
            memory_bytes=f.opt_whole("memory_bytes"),
        )


@dataclass(frozen=True)
class Failure:
    """Why something could not be measured: a code, the numbers it needs, and, for an
    error the lab did not foresee, the error's own message (``detail``, quoted)."""

    code: ErrorCode
    detail: str | None = None
    n: int | None = None

    def to_json(self) -> JsonObject:
        return {"code": self.code, "detail": self.detail, "n": self.n}

    @classmethod
    def from_json(cls, f: _Field) -> Failure:
        code = cast(ErrorCode, f.choice("code", ERROR_CODES))
        return cls(code=code, detail=f.opt_text("detail"), n=f.opt_whole("n"))


# --- a verdict ------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """How one run ended, as codes and counts (``servelab.study.verdict.judge`` decides it).

    outcome: ok | oom | memory-error | rejected | failed (see study/verdict.py).
    oom_kills: kills the cap's counter saw. memory_errors: requests that failed with an
      "out of memory" 500 (the RLIMIT_AS fallback). failed_requests, errors_by_class: the
      requests that failed for any other reason. rejected_by_status: deliberate refusals
      (413, 503) by status. server_died / server_end: the server had ended before the lab
      stopped it, and how. worker_*: gunicorn's log lines counted (quoted in server_lines).
    client_errors, server_lines: quotations, for the report to show.
    """

    outcome: Outcome
    oom_kills: int = 0
    memory_errors: int = 0
    failed_requests: int = 0
    errors_by_class: dict[str, int] = field(default_factory=dict)
    rejected_by_status: dict[int, int] = field(default_factory=dict)
    server_died: bool = False
    server_end: ServerEnd | None = None
    worker_sigkills: int = 0
    worker_timeouts: int = 0
    worker_boots: int = 0
    client_errors: tuple[str, ...] = ()
    server_lines: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        """Not every request was served: a rejection counts too (the guard refused some)."""
        return self.outcome != "ok"

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_status.values())

    def to_json(self) -> JsonObject:
        return {
            "outcome": self.outcome,
            "oom_kills": self.oom_kills,
            "memory_errors": self.memory_errors,
            "failed_requests": self.failed_requests,
            "errors_by_class": dict(self.errors_by_class),
            "rejected_by_status": {str(k): v for k, v in self.rejected_by_status.items()},
            "server_died": self.server_died,
            "server_end": self.server_end.to_json() if self.server_end else None,
            "worker_sigkills": self.worker_sigkills,
            "worker_timeouts": self.worker_timeouts,
            "worker_boots": self.worker_boots,
            "client_errors": list(self.client_errors),
            "server_lines": list(self.server_lines),
        }

    @classmethod
    def from_json(cls, f: _Field) -> Verdict:
        end = f.opt_obj_field("server_end")
        return cls(
            outcome=cast(Outcome, f.choice("outcome", OUTCOMES)),
            oom_kills=f.opt_whole("oom_kills") or 0,
            memory_errors=f.opt_whole("memory_errors") or 0,
            failed_requests=f.opt_whole("failed_requests") or 0,
            errors_by_class=f.counts("errors_by_class"),
            rejected_by_status={int(k): v for k, v in f.counts("rejected_by_status").items()},
            server_died=f.opt_flag("server_died") or False,
            server_end=ServerEnd.from_json(end) if end is not None else None,
            worker_sigkills=f.opt_whole("worker_sigkills") or 0,
            worker_timeouts=f.opt_whole("worker_timeouts") or 0,
            worker_boots=f.opt_whole("worker_boots") or 0,
            client_errors=f.strings("client_errors"),
            server_lines=f.strings("server_lines"),
        )


# --- a trial: one capped probe -----------------------------------------------------------


@dataclass(frozen=True)
class Prices:
    """Among the 2xx responses, how many carried the price a correct server computes."""

    correct: int
    wrong: int

    def to_json(self) -> JsonObject:
        return {"correct": self.correct, "wrong": self.wrong}


@dataclass(frozen=True)
class Trial:
    """One probe of a critical-n search (or its calibration, or the guarded probe): a fresh
    server at one n inside a fresh cap, under the search's load.

    probe: its number in the search (0 for the calibration and the guarded probe); name:
    the file stem of its
    records, samples and log under the search's folder. idle_bytes / peak_bytes: the cap's
    usage before the load and its peak during it. stopped_early: the lab stopped the server
    after the first OOM kill rather than let every queued request kill it again. noise: what
    else the machine did during it (None in folders written before it).
    """

    probe: int
    name: str
    n: int
    verdict: Verdict
    requests: int
    ok_requests: int
    idle_bytes: int | None
    peak_bytes: int | None
    makespan: float | None
    stopped_early: bool
    prices: Prices | None
    memory_budget: int | None = None
    files: dict[str, str] = field(default_factory=dict)
    summary: LoadSummary | None = None
    noise: Noise | None = None

    @property
    def failed(self) -> bool:
        return self.verdict.failed

    @property
    def outcome(self) -> Outcome:
        return self.verdict.outcome

    @property
    def rejected(self) -> int:
        return self.verdict.rejected

    @property
    def failed_requests(self) -> int:
        """Requests neither served nor refused on purpose."""
        return self.requests - self.ok_requests - self.rejected

    def to_json(self) -> JsonObject:
        out: JsonObject = {
            "probe": self.probe,
            "name": self.name,
            "n": self.n,
            "verdict": self.verdict.to_json(),
            "requests": self.requests,
            "ok_requests": self.ok_requests,
            "idle_bytes": self.idle_bytes,
            "peak_bytes": self.peak_bytes,
            "makespan": self.makespan,
            "stopped_early": self.stopped_early,
            "prices": self.prices.to_json() if self.prices else None,
            "memory_budget": self.memory_budget,
            "files": dict(self.files),
            "summary": self.summary.to_json() if self.summary else None,
        }
        # Written only when measured (issue 14), so older folders read and write back as
        # they were.
        if self.noise is not None:
            out["noise"] = self.noise.to_json()
        return out

    @classmethod
    def from_json(cls, f: _Field) -> Trial:
        prices = f.opt_obj_field("prices")
        noise = f.opt_obj_field("noise")
        return cls(
            probe=f.whole("probe"),
            name=f.text("name"),
            n=f.whole("n"),
            verdict=Verdict.from_json(f.obj("verdict")),
            requests=f.whole("requests"),
            ok_requests=f.whole("ok_requests"),
            idle_bytes=f.opt_whole("idle_bytes"),
            peak_bytes=f.opt_whole("peak_bytes"),
            makespan=f.opt_number("makespan"),
            stopped_early=f.opt_flag("stopped_early") or False,
            prices=Prices(prices.whole("correct"), prices.whole("wrong")) if prices else None,
            memory_budget=f.opt_whole("memory_budget"),
            files={k: v.text_value() for k, v in f.opt_obj("files").items()},
            summary=f.summary("summary"),
            noise=Noise.from_json(noise) if noise else None,
        )


# --- a critical-n search ------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """How hard the search tried (``study.critical.SearchPolicy``'s numbers)."""

    tolerance: float = 0.05
    repeats: int = 3
    max_probes: int | None = None
    min_n: int | None = None
    max_n: int | None = None
    curve_trials: int = 0

    def to_json(self) -> JsonObject:
        out: JsonObject = {
            "tolerance": self.tolerance,
            "repeats": self.repeats,
            "max_probes": self.max_probes,
            "min_n": self.min_n,
            "max_n": self.max_n,
        }
        if self.curve_trials:  # issue 14; absent (0) in searches made before it
            out["curve_trials"] = self.curve_trials
        return out

    @classmethod
    def from_json(cls, f: _Field) -> Policy:
        return cls(
            tolerance=f.opt_number("tolerance") or 0.05,
            repeats=f.opt_whole("repeats") or 3,
            max_probes=f.opt_whole("max_probes"),
            min_n=f.opt_whole("min_n"),
            max_n=f.opt_whole("max_n"),
            curve_trials=f.opt_whole("curve_trials") or 0,
        )


@dataclass(frozen=True)
class StopReason:
    """Why a search stopped, as a code and the numbers a sentence about it needs.

    low/high: the confirmed ends (``band-resolved``, ``whole-numbers``) or the limit that
    was hit (``fails-at-min``: low = min_n; ``passes-at-max``: high = max_n); band: how many
    n between the ends had mixed results; budget: ``max_probes`` (``budget-spent``).
    """

    code: StopCode
    low: int | None = None
    high: int | None = None
    band: int | None = None
    budget: int | None = None
    tolerance: float | None = None

    def to_json(self) -> JsonObject:
        return {
            "code": self.code,
            "low": self.low,
            "high": self.high,
            "band": self.band,
            "budget": self.budget,
            "tolerance": self.tolerance,
        }

    @classmethod
    def from_json(cls, f: _Field) -> StopReason:
        return cls(
            code=cast(StopCode, f.choice("code", STOP_CODES)),
            low=f.opt_whole("low"),
            high=f.opt_whole("high"),
            band=f.opt_whole("band"),
            budget=f.opt_whole("budget"),
            tolerance=f.opt_number("tolerance"),
        )


@dataclass(frozen=True)
class NTrials:
    """What the probes at one n said: ``failures`` of ``trials`` failed, with each outcome."""

    n: int
    trials: int
    failures: int
    outcomes: tuple[Outcome, ...] = ()

    @property
    def rate(self) -> float:
        return self.failures / self.trials if self.trials else 0.0

    def to_json(self) -> JsonObject:
        return {
            "n": self.n,
            "trials": self.trials,
            "failures": self.failures,
            "rate": self.rate,
            "outcomes": list(self.outcomes),
        }

    @classmethod
    def from_json(cls, f: _Field) -> NTrials:
        return cls(
            n=f.whole("n"),
            trials=f.whole("trials"),
            failures=f.whole("failures"),
            outcomes=tuple(
                cast(Outcome, item.choice_value(OUTCOMES)) for item in f.opt_items("outcomes")
            ),
        )


@dataclass(frozen=True)
class GuardComparison:
    """The same load at a search's smallest failing n, without and with the memory guard.

    budget_bytes: the guard's budget per worker process; budget_source: ``derived`` from the
    search (``(cap - idle - margin x cap) / worker processes``, margin given) or the user's
    ``option``. estimate_*: what the guard expects one request at that n to need.
    without_guard: the search's first failing trial at n; with_guard: the guarded probe.
    """

    n: int
    budget_bytes: int
    budget_source: BudgetSource
    worker_processes: int
    limit_bytes: int
    idle_bytes: int
    estimate_bytes_per_request: int
    estimate_bytes_per_element: int
    without_guard: Trial
    with_guard: Trial
    margin: float | None = None

    def to_json(self) -> JsonObject:
        return {
            "n": self.n,
            "budget_bytes": self.budget_bytes,
            "budget_source": self.budget_source,
            "margin": self.margin,
            "worker_processes": self.worker_processes,
            "limit_bytes": self.limit_bytes,
            "idle_bytes": self.idle_bytes,
            "estimate_bytes_per_request": self.estimate_bytes_per_request,
            "estimate_bytes_per_element": self.estimate_bytes_per_element,
            "without_guard": self.without_guard.to_json(),
            "with_guard": self.with_guard.to_json(),
        }

    @classmethod
    def from_json(cls, f: _Field) -> GuardComparison:
        return cls(
            n=f.whole("n"),
            budget_bytes=f.whole("budget_bytes"),
            budget_source=cast(BudgetSource, f.choice("budget_source", get_args(BudgetSource))),
            margin=f.opt_number("margin"),
            worker_processes=f.whole("worker_processes"),
            limit_bytes=f.whole("limit_bytes"),
            idle_bytes=f.whole("idle_bytes"),
            estimate_bytes_per_request=f.whole("estimate_bytes_per_request"),
            estimate_bytes_per_element=f.whole("estimate_bytes_per_element"),
            without_guard=Trial.from_json(f.obj("without_guard")),
            with_guard=Trial.from_json(f.obj("with_guard")),
        )


@dataclass(frozen=True)
class CalibrationPoint:
    """One calibration request of an app's critical-size search: at ``n`` (the input size)
    the cap held ``idle_bytes`` before it and peaked at ``peak_bytes`` during it."""

    n: int
    idle_bytes: int
    peak_bytes: int

    def to_json(self) -> JsonObject:
        return {"n": self.n, "idle_bytes": self.idle_bytes, "peak_bytes": self.peak_bytes}

    @classmethod
    def from_json(cls, f: _Field) -> CalibrationPoint:
        return cls(f.whole("n"), f.whole("idle_bytes"), f.whole("peak_bytes"))


@dataclass(frozen=True)
class BreakingPoint:
    """The n at which the fitted failure probability is ``p``, with its 95% interval
    (``high`` None: the trials do not bound it above)."""

    p: float
    n: int
    low: int
    high: int | None

    def to_json(self) -> JsonObject:
        return {"p": self.p, "n": self.n, "low": self.low, "high": self.high}

    @classmethod
    def from_json(cls, f: _Field) -> BreakingPoint:
        return cls(f.number("p"), f.whole("n"), f.whole("low"), f.opt_whole("high"))


@dataclass(frozen=True)
class BreakingCurve:
    """The breaking point as a probability (``study.breaking``): the n at 5%, 50% and 95%
    failure from a logistic fitted to every trial of a search, and the trials behind it.
    ``separated``: no n both passed and failed and every pass lay below every failure, so
    the curve's width is bounded by the fit's penalty, not measured."""

    points: tuple[BreakingPoint, ...]
    trials: int
    failures: int
    separated: bool

    def at(self, p: float) -> BreakingPoint | None:
        return next((point for point in self.points if point.p == p), None)

    def to_json(self) -> JsonObject:
        return {
            "points": [point.to_json() for point in self.points],
            "trials": self.trials,
            "failures": self.failures,
            "separated": self.separated,
        }

    @classmethod
    def from_json(cls, f: _Field) -> BreakingCurve:
        return cls(
            points=tuple(BreakingPoint.from_json(p) for p in f.opt_items("points")),
            trials=f.whole("trials"),
            failures=f.whole("failures"),
            separated=f.flag("separated"),
        )


@dataclass(frozen=True)
class PredictedPoint:
    """The n at which the overlap calibration predicts failure probability ``p`` (None:
    out of the model's reach, a spread too wide for that probability)."""

    p: float
    n: int | None

    def to_json(self) -> JsonObject:
        return {"p": self.p, "n": self.n}

    @classmethod
    def from_json(cls, f: _Field) -> PredictedPoint:
        return cls(f.number("p"), f.opt_whole("n"))


@dataclass(frozen=True)
class Overlap:
    """A threaded server's overlap calibration (``study.overlap``): bursts of the search's
    own load at the worst case, ``worst_case_n`` (every request's array at once still
    fits); the ``deficit``, bytes that the requests' start spread keeps out of
    ``held(n) = bytes per element x concurrency x n - deficit``; the bursts' relative
    ``spread``; ``at_once``, the arrays held at once at the predicted 50% point; and the
    breaking band it predicts. The fit's fields are None when the bursts could not give
    one (one failed, or held nothing measurable): the search then starts from the worst
    case."""

    worst_case_n: int
    trials: tuple[Trial, ...]
    deficit: int | None = None
    spread: float | None = None
    at_once: float | None = None
    predicted: tuple[PredictedPoint, ...] = ()

    def at(self, p: float) -> int | None:
        return next((point.n for point in self.predicted if point.p == p), None)

    def to_json(self) -> JsonObject:
        return {
            "worst_case_n": self.worst_case_n,
            "trials": [t.to_json() for t in self.trials],
            "deficit": self.deficit,
            "spread": self.spread,
            "at_once": self.at_once,
            "predicted": [point.to_json() for point in self.predicted],
        }

    @classmethod
    def from_json(cls, f: _Field) -> Overlap:
        return cls(
            worst_case_n=f.whole("worst_case_n"),
            trials=tuple(Trial.from_json(t) for t in f.opt_items("trials")),
            deficit=f.opt_whole("deficit"),
            spread=f.opt_number("spread"),
            at_once=f.opt_number("at_once"),
            predicted=tuple(PredictedPoint.from_json(p) for p in f.opt_items("predicted")),
        )


@dataclass(frozen=True)
class SearchEntry:
    """One critical-n search: calibration, the model's prediction, every trial, the bracket.

    error: set when the search could not run to a bracket (then the model's fields may be
    None). guard_error: the guarded comparison could not be made. folder: where its files
    are, relative to the study's folder.
    """

    name: str
    server: Server
    workload: str
    limit_bytes: int
    requests: int
    concurrency: int
    policy: Policy
    folder: str
    memory_budget: int | None = None
    cap: Cap | None = None
    calibration: Trial | None = None
    idle_bytes: int | None = None
    bytes_per_element: float | None = None
    in_memory_at_once: int | None = None
    predicted_n: int | None = None
    trials: tuple[Trial, ...] = ()
    max_passing_n: int | None = None
    min_failing_n: int | None = None
    per_n: tuple[NTrials, ...] = ()
    peak_bytes: int | None = None
    oom_kills: int = 0
    probes: int = 0
    converged: bool = False
    stop: StopReason | None = None
    wall_seconds: float | None = None
    complete: bool = False
    error: Failure | None = None
    guarded: GuardComparison | None = None
    guard_error: Failure | None = None
    calibration_points: tuple[CalibrationPoint, ...] = ()
    fixed_bytes: int | None = None
    measured_at_once: int | None = None
    breaking: BreakingCurve | None = None
    overlap: Overlap | None = None
    noise_at_start: Noise | None = None  # ``critical-n``'s idle check (a study keeps its own)

    @property
    def first_failure(self) -> Trial | None:
        """The first trial that failed at the smallest always-failing n (else any failure):
        the evidence a report quotes for how the server died."""
        at_failing = (t for t in self.trials if t.n == self.min_failing_n and t.failed)
        return next(at_failing, next((t for t in self.trials if t.failed), None))

    def band(self) -> tuple[NTrials, ...]:
        """The n strictly between the two confirmed ends (mixed or single-trial results)."""
        low, high = self.max_passing_n, self.min_failing_n
        if low is None or high is None:
            return ()
        return tuple(t for t in self.per_n if low < t.n < high)

    def to_json(self) -> JsonObject:
        out: JsonObject = {
            "name": self.name,
            "server": self.server.to_json(),
            "workload": self.workload,
            "limit_bytes": self.limit_bytes,
            "requests": self.requests,
            "concurrency": self.concurrency,
            "policy": self.policy.to_json(),
            "folder": self.folder,
            "memory_budget": self.memory_budget,
            "cap": self.cap.to_json() if self.cap else None,
            "calibration": self.calibration.to_json() if self.calibration else None,
            "idle_bytes": self.idle_bytes,
            "bytes_per_element": self.bytes_per_element,
            "in_memory_at_once": self.in_memory_at_once,
            "predicted_n": self.predicted_n,
            "trials": [t.to_json() for t in self.trials],
            "max_passing_n": self.max_passing_n,
            "min_failing_n": self.min_failing_n,
            "per_n": [t.to_json() for t in self.per_n],
            "peak_bytes": self.peak_bytes,
            "oom_kills": self.oom_kills,
            "probes": self.probes,
            "converged": self.converged,
            "stop": self.stop.to_json() if self.stop else None,
            "wall_seconds": self.wall_seconds,
            "complete": self.complete,
            "error": self.error.to_json() if self.error else None,
            "guarded": self.guarded.to_json() if self.guarded else None,
            "guard_error": self.guard_error.to_json() if self.guard_error else None,
        }
        # An app's search only (a growing input size, issue 13): absent for the seed's
        # workloads, so studies written before them read and write back byte for byte.
        if self.calibration_points:
            out["calibration_points"] = [p.to_json() for p in self.calibration_points]
        if self.fixed_bytes is not None:
            out["fixed_bytes"] = self.fixed_bytes
        if self.measured_at_once is not None:
            out["measured_at_once"] = self.measured_at_once
        if self.breaking is not None:  # issue 14: absent in studies written before it
            out["breaking"] = self.breaking.to_json()
        if self.overlap is not None:  # a threaded server's search since issue 14
            out["overlap"] = self.overlap.to_json()
        if self.noise_at_start is not None:
            out["noise_at_start"] = self.noise_at_start.to_json()
        return out

    @classmethod
    def from_json(cls, f: _Field) -> SearchEntry:
        def opt(key: str, make: Callable[[_Field], _T]) -> _T | None:
            value = f.opt_obj_field(key)
            return make(value) if value is not None else None

        return cls(
            name=f.text("name"),
            server=Server.from_json(f.obj("server")),
            workload=f.text("workload"),
            limit_bytes=f.whole("limit_bytes"),
            requests=f.whole("requests"),
            concurrency=f.whole("concurrency"),
            policy=Policy.from_json(f.obj("policy")),
            folder=f.text("folder"),
            memory_budget=f.opt_whole("memory_budget"),
            cap=opt("cap", Cap.from_json),
            calibration=opt("calibration", Trial.from_json),
            idle_bytes=f.opt_whole("idle_bytes"),
            bytes_per_element=f.opt_number("bytes_per_element"),
            in_memory_at_once=f.opt_whole("in_memory_at_once"),
            predicted_n=f.opt_whole("predicted_n"),
            trials=tuple(Trial.from_json(t) for t in f.opt_items("trials")),
            max_passing_n=f.opt_whole("max_passing_n"),
            min_failing_n=f.opt_whole("min_failing_n"),
            per_n=tuple(NTrials.from_json(t) for t in f.opt_items("per_n")),
            peak_bytes=f.opt_whole("peak_bytes"),
            oom_kills=f.opt_whole("oom_kills") or 0,
            probes=f.opt_whole("probes") or 0,
            converged=f.opt_flag("converged") or False,
            stop=opt("stop", StopReason.from_json),
            wall_seconds=f.opt_number("wall_seconds"),
            complete=f.opt_flag("complete") or False,
            error=opt("error", Failure.from_json),
            guarded=opt("guarded", GuardComparison.from_json),
            guard_error=opt("guard_error", Failure.from_json),
            calibration_points=tuple(
                CalibrationPoint.from_json(p) for p in f.opt_items("calibration_points")
            ),
            fixed_bytes=f.opt_whole("fixed_bytes"),
            measured_at_once=f.opt_whole("measured_at_once"),
            breaking=opt("breaking", BreakingCurve.from_json),
            overlap=opt("overlap", Overlap.from_json),
            noise_at_start=opt("noise_at_start", Noise.from_json),
        )


# --- a run: one burst against a fresh server -------------------------------------------------


@dataclass(frozen=True)
class RunGuard:
    """A run with the memory guard on: its budget per process and what it refused."""

    memory_budget: int
    rejected_413: int
    rejected_503: int

    def to_json(self) -> JsonObject:
        return {
            "memory_budget": self.memory_budget,
            "rejected_413": self.rejected_413,
            "rejected_503": self.rejected_503,
        }


@dataclass(frozen=True)
class RunEntry:
    """One cell of the study: a fresh server of ``server`` serving ``workload``, one burst.

    status ``failed``: the run could not be made (``error`` says why); the measured fields
    are then None. server_survived: the server was still up when the burst ended.
    verdict: how the run ended, judged as a search's probes are (None in version 1).
    files: the run's log, records, samples and server log, relative to the study's folder.
    noise: what else the machine did during the burst (None in folders written before it).
    """

    name: str
    server: Server
    workload: str
    status: RunStatus
    files: dict[str, str]
    n: int | None = None
    io_delay: float | None = None
    memory_budget: int | None = None
    started: str | None = None
    finished: str | None = None
    summary: LoadSummary | None = None
    usage: Usage | None = None
    server_end: ServerEnd | None = None
    server_survived: bool | None = None
    guard: RunGuard | None = None
    error: Failure | None = None
    verdict: Verdict | None = None
    noise: Noise | None = None

    @property
    def done(self) -> bool:
        return self.status == "done" and self.summary is not None

    def to_json(self) -> JsonObject:
        out: JsonObject = {
            "name": self.name,
            "server": self.server.to_json(),
            "workload": self.workload,
            "status": self.status,
            "files": dict(self.files),
            "n": self.n,
            "io_delay": self.io_delay,
            "memory_budget": self.memory_budget,
            "started": self.started,
            "finished": self.finished,
            "summary": self.summary.to_json() if self.summary else None,
            "usage": self.usage.to_json() if self.usage else None,
            "server_end": self.server_end.to_json() if self.server_end else None,
            "server_survived": self.server_survived,
            "guard": self.guard.to_json() if self.guard else None,
            "error": self.error.to_json() if self.error else None,
            "verdict": self.verdict.to_json() if self.verdict else None,
        }
        if self.noise is not None:  # only when measured (issue 14), as for a Trial
            out["noise"] = self.noise.to_json()
        return out

    @classmethod
    def from_json(cls, f: _Field) -> RunEntry:
        usage, end = f.opt_obj_field("usage"), f.opt_obj_field("server_end")
        guard, error = f.opt_obj_field("guard"), f.opt_obj_field("error")
        verdict, noise = f.opt_obj_field("verdict"), f.opt_obj_field("noise")
        return cls(
            name=f.text("name"),
            server=Server.from_json(f.obj("server")),
            workload=f.text("workload"),
            status=cast(RunStatus, f.choice("status", get_args(RunStatus))),
            files={k: v.text_value() for k, v in f.opt_obj("files").items()},
            n=f.opt_whole("n"),
            io_delay=f.opt_number("io_delay"),
            memory_budget=f.opt_whole("memory_budget"),
            started=f.opt_text("started"),
            finished=f.opt_text("finished"),
            summary=f.summary("summary"),
            usage=Usage.from_json(usage) if usage else None,
            server_end=ServerEnd.from_json(end) if end else None,
            server_survived=f.opt_flag("server_survived"),
            guard=(
                RunGuard(
                    guard.whole("memory_budget"),
                    guard.whole("rejected_413"),
                    guard.whole("rejected_503"),
                )
                if guard
                else None
            ),
            error=Failure.from_json(error) if error else None,
            verdict=Verdict.from_json(verdict) if verdict else None,
            noise=Noise.from_json(noise) if noise else None,
        )


# --- the study ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedRun:
    name: str
    server: Server
    workload: str

    def to_json(self) -> JsonObject:
        return {"name": self.name, "server": self.server.to_json(), "workload": self.workload}


@dataclass(frozen=True)
class PlannedSearch:
    name: str
    server: Server
    workload: str
    limit_bytes: int

    def to_json(self) -> JsonObject:
        return {
            "name": self.name,
            "server": self.server.to_json(),
            "workload": self.workload,
            "limit_bytes": self.limit_bytes,
        }


@dataclass(frozen=True)
class Plan:
    """What the study set out to do: its runs and searches, and the load each one gets."""

    runs: tuple[PlannedRun, ...]
    critical: tuple[PlannedSearch, ...]
    requests: int
    concurrency: int
    n: int
    io_delay: float
    timeout: float
    app: App | None = None
    request: RequestShape | None = None

    @property
    def is_app(self) -> bool:
        """The study served the user's own app (``app``), not servelab's service."""
        return self.app is not None

    def to_json(self) -> JsonObject:
        out: JsonObject = {
            "runs": [r.to_json() for r in self.runs],
            "critical": [c.to_json() for c in self.critical],
            "requests": self.requests,
            "concurrency": self.concurrency,
            "n": self.n,
            "io_delay": self.io_delay,
            "timeout": self.timeout,
        }
        if self.app is not None:  # a study of the user's app; absent for servelab's service
            out["app"] = self.app.to_json()
        if self.request is not None:
            out["request"] = self.request.to_json()
        return out

    @classmethod
    def from_json(cls, f: _Field) -> Plan:
        return cls(
            runs=tuple(
                PlannedRun(r.text("name"), Server.from_json(r.obj("server")), r.text("workload"))
                for r in f.items("runs")
            ),
            critical=tuple(
                PlannedSearch(
                    c.text("name"),
                    Server.from_json(c.obj("server")),
                    c.text("workload"),
                    c.whole("limit_bytes"),
                )
                for c in f.opt_items("critical")
            ),
            requests=f.whole("requests"),
            concurrency=f.whole("concurrency"),
            n=f.whole("n"),
            io_delay=f.number("io_delay"),
            timeout=f.number("timeout"),
            app=App.from_json(app) if (app := f.opt_obj_field("app")) else None,
            request=RequestShape.from_json(req) if (req := f.opt_obj_field("request")) else None,
        )


@dataclass(frozen=True)
class GuardSettings:
    """The study's memory guard: a budget for every run's server (or None), whether each
    search's smallest failing n was probed again with the guard on, and the margin of the
    derived budget (a share of the cap)."""

    memory_budget: int | None = None
    compare: bool = False
    margin: float | None = None

    def to_json(self) -> JsonObject:
        return {"memory_budget": self.memory_budget, "compare": self.compare, "margin": self.margin}

    @classmethod
    def from_json(cls, f: _Field) -> GuardSettings:
        return cls(
            f.opt_whole("memory_budget"), f.opt_flag("compare") or False, f.opt_number("margin")
        )


@dataclass(frozen=True)
class Study:
    """A results folder's index: ``study.json``, saved after every run and search."""

    servelab: str
    created: str
    machine: Machine
    plan: Plan
    guard: GuardSettings = GuardSettings()
    runs: tuple[RunEntry, ...] = ()
    critical: tuple[SearchEntry, ...] = ()
    complete: bool = False
    wall_seconds: float | None = None
    schema: int = SCHEMA_VERSION
    noise_at_start: Noise | None = None  # the idle check before the first run

    def with_run(self, run: RunEntry, wall_seconds: float) -> Study:
        return replace(self, runs=(*self.runs, run), wall_seconds=wall_seconds)

    def with_search(self, search: SearchEntry, wall_seconds: float) -> Study:
        return replace(self, critical=(*self.critical, search), wall_seconds=wall_seconds)

    def missing(self) -> list[str]:
        """Names of the planned runs and searches the folder does not hold (interrupted)."""
        runs = {run.name for run in self.runs}
        searches = {search.name for search in self.critical}
        return [r.name for r in self.plan.runs if r.name not in runs] + [
            s.name for s in self.plan.critical if s.name not in searches
        ]

    def to_json(self) -> JsonObject:
        out: JsonObject = {
            "schema": SCHEMA_VERSION,
            "servelab": self.servelab,
            "kind": "study",
            "created": self.created,
            "machine": self.machine.to_json(),
            "plan": self.plan.to_json(),
            "guard": self.guard.to_json(),
            "runs": [r.to_json() for r in self.runs],
            "critical": [c.to_json() for c in self.critical],
            "complete": self.complete,
            "wall_seconds": self.wall_seconds,
        }
        if self.noise_at_start is not None:  # only when measured (issue 14)
            out["noise_at_start"] = self.noise_at_start.to_json()
        return out

    @classmethod
    def from_json(cls, f: _Field) -> Study:
        noise = f.opt_obj_field("noise_at_start")
        return cls(
            servelab=f.opt_text("servelab") or "?",
            created=f.opt_text("created") or "",
            machine=Machine.from_json(f.opt_obj_field("machine") or f.empty("machine")),
            plan=Plan.from_json(f.obj("plan")),
            guard=GuardSettings.from_json(f.opt_obj_field("guard") or f.empty("guard")),
            runs=tuple(RunEntry.from_json(r) for r in f.items("runs")),
            critical=tuple(SearchEntry.from_json(c) for c in f.opt_items("critical")),
            complete=f.opt_flag("complete") or False,
            wall_seconds=f.opt_number("wall_seconds"),
            schema=f.whole("schema"),
            noise_at_start=Noise.from_json(noise) if noise else None,
        )


# --- reading and writing -------------------------------------------------------------------


def write_study(folder: Path, study: Study) -> Path:
    """Save ``study`` as ``folder/study.json`` atomically; returns the path."""
    path = folder / STUDY_FILE
    atomic_write_json(path, study.to_json())
    return path


def write_search(folder: Path, search: SearchEntry) -> None:
    """Save a search as it stands (``folder/search.json``), after every probe."""
    atomic_write_json(folder / SEARCH_FILE, {"schema": SCHEMA_VERSION, **search.to_json()})


def write_guarded(folder: Path, comparison: GuardComparison) -> None:
    """Save a guard comparison (``folder/guarded.json``)."""
    atomic_write_json(folder / GUARDED_FILE, {"schema": SCHEMA_VERSION, **comparison.to_json()})


# What ``servelab.report`` writes into a folder: built from the files above, never measured.
REPORT_FILES: Final = ("report.md", "report.*.md", "report.html", "report.*.html")
PLOTS_DIR: Final = "plots"


def clear_report(folder: Path) -> None:
    """Remove the reports and figures of ``folder``: a new study into an old folder must not
    leave a report that contradicts its new ``study.json`` (it is rebuilt at the end). Only
    a folder with a ``study.json`` (or a repeated study's index) is a results folder:
    nothing is removed from any other."""
    if not (folder / STUDY_FILE).is_file() and not (folder / REPEATS_FILE).is_file():
        return
    for pattern in REPORT_FILES:
        for path in folder.glob(pattern):
            path.unlink(missing_ok=True)
    plots = folder / PLOTS_DIR
    if plots.is_dir() and not plots.is_symlink():
        shutil.rmtree(plots)


def write_memory(folder: Path, memory: TreeMemory) -> None:
    """Save a server tree's memory (``folder/memory.json``)."""
    atomic_write_json(folder / MEMORY_FILE, {"schema": SCHEMA_VERSION, **memory.to_json()})


def read_memory(folder: Path) -> TreeMemory:
    """``folder/memory.json`` as a ``TreeMemory``; a one-line ``ResultsError`` naming the field
    when it is damaged. Its first version is 2: there is nothing older to convert."""
    return TreeMemory.from_json(_read_object(folder / MEMORY_FILE, lambda data: data))


def read_search(folder: Path) -> SearchEntry:
    """``folder/search.json`` (a critical-n search's folder) as a ``SearchEntry``, from any
    schema version this servelab knows."""
    return SearchEntry.from_json(_read_object(folder / SEARCH_FILE, _v1_search))


def read_guarded(folder: Path) -> GuardComparison:
    """``folder/guarded.json`` as a ``GuardComparison``, from any schema version."""
    return GuardComparison.from_json(_read_object(folder / GUARDED_FILE, _v1_guarded))


def _read_object(path: Path, upgrade_v1: Callable[[dict[str, JsonValue]], JsonObject]) -> _Field:
    """A JSON object from ``path`` in this version's shape, to read field by field."""
    if not path.is_file():
        raise ResultsError(f"no {path.name} in {path.parent}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ResultsError(f"cannot read {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise ResultsError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    version = data.get("schema", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ResultsError(f"{path}: field schema: expected a whole number, got {version!r}")
    if version > SCHEMA_VERSION:
        raise ResultsError(
            f"{path} was written with results schema {version}; this servelab reads up to "
            f"{SCHEMA_VERSION}: upgrade servelab to read it"
        )
    return _Field(upgrade_v1(data) if version == 1 else data, str(path), "")


def read_study(folder: Path) -> Study:
    """``folder/study.json`` as a ``Study``, from any schema version this servelab knows.

    A ``ResultsError`` of one line when the folder is not a study, the file is damaged (it
    names the field) or was written by a newer servelab.
    """
    path = folder / STUDY_FILE
    if not path.is_file():
        raise ResultsError(f"{folder} is not a servelab results folder: no {STUDY_FILE}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ResultsError(f"cannot read {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise ResultsError(f"{path} is not valid JSON: {error}") from None
    root = _Field(data, str(path), "")
    if not isinstance(data, dict) or "runs" not in data or "plan" not in data:
        raise ResultsError(f"{path} is not a servelab study (no runs or plan)")
    version = data.get("schema", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ResultsError(f"{path}: field schema: expected a whole number, got {version!r}")
    if version > SCHEMA_VERSION:
        raise ResultsError(
            f"{path} was written with results schema {version}; this servelab reads up to "
            f"{SCHEMA_VERSION}: upgrade servelab to read it"
        )
    if version == 1:
        root = _Field(_upgrade_v1(data), str(path), "")
    return Study.from_json(root)


# --- version 1 ------------------------------------------------------------------------------
# Version 1 stored English sentences (reasons, descriptions) beside the numbers, a burst's
# summary as flat fields, and trials with their verdict's fields spread out. Converting keeps
# every number and drops the sentences; the report words the codes it gets instead.

_V1_STOPS: Final = (
    (re.compile(r"bracket within ([\d.]+)%"), "within-tolerance"),
    (re.compile(r"bracket as narrow as whole numbers allow \((\d+), (\d+)\)"), "whole-numbers"),
    (
        re.compile(r"band resolved: (\d+) passed all its trials, (\d+) failed all, and the (\d+)"),
        "band-resolved",
    ),
    (re.compile(r"fails even at min_n=(\d+)"), "fails-at-min"),
    (re.compile(r"passes at max_n=(\d+)"), "passes-at-max"),
    (re.compile(r"probe budget \((\d+)\) spent"), "budget-spent"),
    (re.compile(r"search not finished"), "not-finished"),
)


def _v1_stop(text: object) -> JsonObject | None:
    if not isinstance(text, str):
        return None
    for pattern, code in _V1_STOPS:
        match = pattern.search(text)
        if match is None:
            continue
        numbers = [int(g) if g.isdigit() else g for g in match.groups()]
        stop: JsonObject = {"code": code}
        if code == "within-tolerance":
            stop["tolerance"] = float(match.group(1)) / 100
        elif code in ("whole-numbers", "band-resolved"):
            stop["low"], stop["high"] = numbers[0], numbers[1]
            if code == "band-resolved":
                stop["band"] = numbers[2]
        elif code == "fails-at-min":
            stop["low"] = numbers[0]
        elif code == "passes-at-max":
            stop["high"] = numbers[0]
        elif code == "budget-spent":
            stop["budget"] = numbers[0]
        return stop
    return {"code": "unknown"}


def _v1_summary(flat: object) -> JsonValue:
    """A version-1 burst summary (flat latency_* fields) as a ``LoadSummary``'s JSON."""
    if not isinstance(flat, dict):
        return None
    requests, ok = flat.get("requests"), flat.get("ok")
    if not (isinstance(requests, int) and isinstance(ok, int)):
        return {**flat, "mode": "burst"}  # let the reader name the bad field
    makespan = flat.get("makespan")
    latency = {
        "min": flat.get("latency_min"),
        "mean": flat.get("latency_mean"),
        "p50": flat.get("latency_p50"),
        "p90": flat.get("latency_p90"),
        "p99": flat.get("latency_p99"),
        "p99.9": flat.get("latency_p999"),
        "max": flat.get("latency_max"),
    }
    return {
        "mode": "burst",
        "url": "",
        "method": "POST",
        "parameters": {},
        "requests": requests,
        "sent": requests,
        "ok": ok,
        "errors": requests - ok,
        "error_rate": (requests - ok) / requests if requests else None,
        "errors_by_class": flat.get("errors_by_class") or {},
        "by_status": flat.get("by_status") or {},
        "elapsed": makespan or 0.0,
        "makespan": makespan,
        "throughput": requests / makespan if requests and makespan else None,
        "ok_throughput": ok / makespan if ok and makespan else None,
        "send_rate": None,
        "latency": latency,
        "service_time": latency,
        "connections_opened": requests,
        "handlers": {
            key: flat.get(key)
            for key in (
                "served",
                "distinct_pids",
                "distinct_workers",
                "max_concurrent",
                "mean_queue_wait",
                "handler_mean",
                "handler_sum",
            )
        }
        if "served" in flat
        else None,
    }


def _v1_trial(trial: object, n: object = None) -> JsonValue:
    if not isinstance(trial, dict):
        return None
    by_status = trial.get("rejected_by_status") or {}
    if not by_status and (trial.get("rejected_413") or trial.get("rejected_503")):
        by_status = {"413": trial.get("rejected_413") or 0, "503": trial.get("rejected_503") or 0}
        by_status = {k: v for k, v in by_status.items() if v}
    requests = trial.get("requests") or 0
    served = trial.get("ok_requests", trial.get("served", 0)) or 0
    rejected = sum(int(v) for v in by_status.values())
    prices = trial.get("prices")
    if prices is None and "correct_prices" in trial and trial["correct_prices"] is not None:
        prices = {"correct": trial["correct_prices"], "wrong": trial.get("wrong_prices") or 0}
    probe = trial.get("probe")
    files = trial.get("files") or {}
    records = files.get("records", "") if isinstance(files, dict) else ""
    return {
        "probe": probe if isinstance(probe, int) else 0,
        "name": records.removesuffix(".records.jsonl") or str(probe),
        **({"n": trial["n"]} if "n" in trial else {} if n is None else {"n": n}),
        "verdict": {
            "outcome": trial.get("outcome", "failed"),
            "oom_kills": trial.get("oom_kills") or 0,
            "failed_requests": max(0, requests - served - rejected),
            "rejected_by_status": by_status,
            "server_died": trial.get("server_died") or False,
            "client_errors": trial.get("client_errors") or [],
            "server_lines": trial.get("server_lines") or [],
        },
        "requests": requests,
        "ok_requests": served,
        "idle_bytes": trial.get("idle_bytes"),
        "peak_bytes": trial.get("peak_bytes"),
        "makespan": trial.get("makespan"),
        "stopped_early": trial.get("stopped_early") or False,
        "prices": prices,
        "files": files,
    }


def _v1_error(text: object) -> JsonValue:
    if not isinstance(text, str):
        return None
    if "calibration at n=" in text:
        return {"code": "calibration-failed", "detail": text}
    if "cannot measure memory" in text:
        return {"code": "no-memory-measure", "detail": text}
    if "does not even fit idle" in text:
        return {"code": "does-not-fit-idle", "detail": text}
    return {"code": "error", "detail": text}


def _v1_guarded(guarded: dict[str, JsonValue]) -> JsonObject:
    n = guarded.get("n")
    return {
        **{k: v for k, v in guarded.items() if k not in ("budget_rule",)},
        "margin": 0.10 if guarded.get("budget_source") == "derived" else None,
        "without_guard": _v1_trial(guarded.get("without_guard"), n),
        "with_guard": _v1_trial(guarded.get("with_guard"), n),
    }


def _v1_search(search: dict[str, JsonValue]) -> JsonObject:
    load = search.get("load") if isinstance(search.get("load"), dict) else {}
    assert isinstance(load, dict)
    guarded = search.get("guarded")
    comparison: JsonValue = None
    guard_error: JsonValue = None
    if isinstance(guarded, dict):
        if "error" in guarded:
            guard_error = _v1_error(guarded["error"])
        else:
            comparison = _v1_guarded(guarded)
    error = _v1_error(search.get("error"))
    trials = search.get("trials")
    return {
        **{
            k: v
            for k, v in search.items()
            if k not in ("load", "stop_reason", "server_description")
        },
        "requests": load.get("requests", 10),
        "concurrency": load.get("concurrency", 10),
        "policy": search.get("policy") or {},
        "folder": search.get("folder") or f"critical/{search.get('name')}",
        "limit_bytes": search.get("limit_bytes") or 0,
        "server": search.get("server") or {"kind": "?"},
        "calibration": _v1_trial(search.get("calibration")),
        "trials": [_v1_trial(t) for t in trials] if isinstance(trials, list) else [],
        "stop": None if error is not None else _v1_stop(search.get("stop_reason")),
        "error": error,
        "guarded": comparison,
        "guard_error": guard_error,
    }


def _v1_run(run: dict[str, JsonValue]) -> JsonObject:
    summary = run.get("summary")
    end = run.get("server_exit")
    status = run.get("status", "done")
    error = run.get("error")
    return {
        **{
            k: v
            for k, v in run.items()
            if k not in ("server_description", "function", "monitor", "server_exit")
        },
        "status": status,
        "summary": _v1_summary(summary) if status == "done" else None,
        "usage": run.get("monitor"),
        "server_end": {k: v for k, v in end.items() if k != "description"}
        if isinstance(end, dict)
        else None,
        "error": {"code": "server-failed", "detail": error} if isinstance(error, str) else None,
    }


def _upgrade_v1(data: dict[str, JsonValue]) -> JsonObject:
    """A version-1 ``study.json`` in version 2's shape (numbers kept, sentences dropped)."""
    guard = data.get("guard") if isinstance(data.get("guard"), dict) else {}
    assert isinstance(guard, dict)
    runs = data.get("runs")
    critical = data.get("critical")
    return {
        **data,
        "schema": SCHEMA_VERSION,
        "guard": {
            "memory_budget": guard.get("memory_budget"),
            "compare": guard.get("compare") or False,
            "margin": 0.10 if guard.get("compare") and guard.get("memory_budget") is None else None,
        },
        "runs": [_v1_run(r) if isinstance(r, dict) else r for r in runs]
        if isinstance(runs, list)
        else runs,
        "critical": [_v1_search(c) if isinstance(c, dict) else c for c in critical]
        if isinstance(critical, list)
        else [],
    }


# --- reading JSON with the field's name in every error ---------------------------------------

_T = TypeVar("_T")


def _default(value: _T | None, default: _T) -> _T:
    return default if value is None else value


class _Field:
    """A JSON value and where it is (``runs[2].summary.latency``), for one-line errors."""

    __slots__ = ("file", "path", "value")

    def __init__(self, value: object, file: str, path: str) -> None:
        self.value, self.file, self.path = value, file, path

    def _fail(self, expected: str, key: str | None = None, got: object = None) -> ResultsError:
        where = self._join(key) if key is not None else self.path
        return ResultsError(
            f"{self.file}: field {where or '(top)'}: expected {expected}, got {got!r:.60}"
        )

    def _join(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def _object(self) -> dict[str, object]:
        if not isinstance(self.value, dict):
            raise self._fail("an object", got=self.value)
        return self.value

    def has(self, key: str) -> bool:
        return key in self._object()

    def child(self, key: str) -> _Field:
        obj = self._object()
        if key not in obj:
            raise ResultsError(f"{self.file}: field {self._join(key)} is missing")
        return _Field(obj[key], self.file, self._join(key))

    def empty(self, key: str) -> _Field:
        return _Field({}, self.file, self._join(key))

    def _get(self, key: str) -> object:
        return self._object().get(key)

    def _typed(self, key: str, kinds: tuple[type, ...], expected: str, optional: bool) -> object:
        value = self.child(key).value if not optional else self._get(key)
        if value is None and optional:
            return None
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise self._fail(expected, key, value)
        return value

    def whole(self, key: str) -> int:
        return cast(int, self._typed(key, (int,), "a whole number", False))

    def opt_whole(self, key: str) -> int | None:
        return cast("int | None", self._typed(key, (int,), "a whole number or null", True))

    def number(self, key: str) -> float:
        return float(cast(float, self._typed(key, (int, float), "a number", False)))

    def opt_number(self, key: str) -> float | None:
        value = self._typed(key, (int, float), "a number or null", True)
        return None if value is None else float(cast(float, value))

    def text(self, key: str) -> str:
        return cast(str, self._typed(key, (str,), "text", False))

    def opt_text(self, key: str) -> str | None:
        return cast("str | None", self._typed(key, (str,), "text or null", True))

    def flag(self, key: str) -> bool:
        return cast(bool, self._typed(key, (bool,), "true or false", False))

    def opt_flag(self, key: str) -> bool | None:
        return cast("bool | None", self._typed(key, (bool,), "true, false or null", True))

    def choice(self, key: str, allowed: Sequence[str]) -> str:
        value = self.text(key)
        if value not in allowed:
            raise self._fail(f"one of {', '.join(allowed)}", key, value)
        return value

    def obj(self, key: str) -> _Field:
        child = self.child(key)
        child._object()
        return child

    def opt_obj_field(self, key: str) -> _Field | None:
        if self._get(key) is None:
            return None
        return self.obj(key)

    def opt_obj(self, key: str) -> dict[str, _Field]:
        """An object's members by name ({} when absent or null)."""
        field_ = self.opt_obj_field(key)
        if field_ is None:
            return {}
        return {k: _Field(v, self.file, field_._join(k)) for k, v in field_._object().items()}

    def items(self, key: str) -> list[_Field]:
        child = self.child(key)
        if not isinstance(child.value, list):
            raise self._fail("a list", key, child.value)
        return [_Field(v, self.file, child._join(i)) for i, v in enumerate(child.value)]

    def opt_items(self, key: str) -> list[_Field]:
        return self.items(key) if self._get(key) is not None else []

    def strings(self, key: str) -> tuple[str, ...]:
        return tuple(item.text_value() for item in self.opt_items(key))

    def counts(self, key: str) -> dict[str, int]:
        return {k: v.whole_value() for k, v in self.opt_obj(key).items()}

    def summary(self, key: str) -> LoadSummary | None:
        """A ``LoadSummary`` (load/summary.py reads it; its errors are named here)."""
        value = self._get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._fail("an object", key, value)
        _check_members(self.child(key), LoadSummary)  # names the damaged inner field
        try:
            return LoadSummary.from_json(value)
        except KeyError as error:
            raise ResultsError(
                f"{self.file}: field {self._join(key)}.{error.args[0]} is missing"
            ) from None
        except (TypeError, ValueError, AttributeError) as error:
            raise ResultsError(f"{self.file}: field {self._join(key)}: {error}") from None

    # -- the value itself (a list's items, an object's members) --

    def whole_value(self) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self._fail("a whole number", got=self.value)
        return self.value

    def text_value(self) -> str:
        if not isinstance(self.value, str):
            raise self._fail("text", got=self.value)
        return self.value

    def opt_text_value(self) -> str | None:
        return None if self.value is None else self.text_value()

    def choice_value(self, allowed: Sequence[str]) -> str:
        value = self.text_value()
        if value not in allowed:
            raise self._fail(f"one of {', '.join(allowed)}", got=value)
        return value


def _check_members(value: _Field, cls: type) -> None:
    """Check the members of a JSON object that ``cls.from_json`` (a dataclass) will read,
    by the types its fields declare, so a damaged file's error names the inner field
    (``runs[1].summary.ok``) instead of quoting a conversion's message."""
    for member in fields(cls):
        name, kind = member.name, str(member.type)
        required = member.default is MISSING and member.default_factory is MISSING
        if kind == "int":
            value.whole(name) if required else value.opt_whole(name)
        elif kind == "int | None":  # a count that may be unknown (HandlerStats)
            value.opt_whole(name)
        elif kind == "float":
            value.number(name) if required else value.opt_number(name)
        elif kind == "float | None":
            value.opt_number(name)
        elif kind in ("str", "Mode"):
            value.text(name)
        elif kind == "dict[str, int]":
            value.child(name)
            value.counts(name)
        elif kind == "Distribution":
            value.obj(name)
            for key in Distribution._KEYS:
                value.child(name).opt_number(key)
        elif kind == "HandlerStats | None":
            inner = value.opt_obj_field(name)
            if inner is not None:
                _check_members(inner, HandlerStats)


__all__ = [
    "BUSY_AVAILABLE_SHARE",
    "BUSY_OTHER_CORES",
    "BUSY_STEAL",
    "GUARDED_FILE",
    "MEMORY_FILE",
    "MEMORY_ROLES",
    "PLOTS_DIR",
    "REPEATS_FILE",
    "REPORT_FILES",
    "SCHEMA_VERSION",
    "SEARCH_FILE",
    "STUDY_FILE",
    "App",
    "BreakingCurve",
    "BreakingPoint",
    "CalibrationPoint",
    "Cap",
    "Failure",
    "GuardComparison",
    "GuardSettings",
    "Machine",
    "MemoryRole",
    "NTrials",
    "Noise",
    "NoiseCause",
    "Outcome",
    "Overlap",
    "Plan",
    "PlannedRun",
    "PlannedSearch",
    "Policy",
    "PredictedPoint",
    "Prices",
    "ProcessMemory",
    "RequestShape",
    "RunEntry",
    "RunGuard",
    "SearchEntry",
    "Server",
    "ServerEnd",
    "StopReason",
    "Study",
    "TreeMemory",
    "Trial",
    "Usage",
    "Verdict",
    "clear_report",
    "read_guarded",
    "read_memory",
    "read_search",
    "read_study",
    "write_guarded",
    "write_memory",
    "write_search",
    "write_study",
]
