"""Find the critical n of a server and workload under a memory cap: model, then measure.

1. Calibrate: one fresh capped server, one request at a small n. The cap's usage before
   the request is the idle memory; its peak minus idle, over n, the bytes per element.
2. Predict: (cap - idle) / (bytes per element x requests held in memory at once).
3. Search around the prediction with fresh capped servers under the study's load
   (``servelab.study.critical``), repeating probes near the boundary.

Everything lands under ``folder`` as it is measured: ``search.json`` (rewritten after every
probe), and each probe's records, samples and server log.

With ``CriticalSpec.memory_budget`` every search probe runs with the service's memory guard
on (the calibration never does: it measures the server, not the guard), so the search finds
where the guarded server stops serving every request. ``compare_with_guard`` instead takes a
finished unguarded search and runs one more probe at its smallest failing n with the guard
on: the same load, with and without the guard.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import atomic_write_json
from ..errors import ConfigError
from ..servers import ServerSpec
from ..servers.cap import MechanismChoice
from ..service.guard import estimate_bytes
from ..units import format_size
from .critical import CriticalSearch, SearchPolicy, in_memory_at_once, predict_critical_n
from .naming import SEED_FUNCTION_NAMES
from .probe import ProbeLoad, ProbeResult, run_probe

SEARCH_FILE = "search.json"
GUARDED_FILE = "guarded.json"
# First guesses, only to size the calibration request well inside the cap; the model uses
# the measured value. (pure-Python list: 8-byte pointer + 28-32-byte int; numpy: int64.)
GUESSED_BYTES_PER_ELEMENT = {"cpu": 40, "numpy": 8}
CALIBRATION_SHARE = 0.25  # of the cap, for the calibration request
CALIBRATION_N_MAX = {"cpu": 4_000_000, "numpy": 20_000_000}
CALIBRATION_N_MIN = 100_000
# The guarded comparison's own budget: the cap, minus the idle server, minus this share of
# the cap for what the guard does not count (interpreter, thread stacks, fragmentation).
GUARD_MARGIN = 0.10
GUARD_BUDGET_RULE = "(cap - idle - 10% of the cap) / worker processes"


@dataclass(frozen=True)
class CriticalSpec:
    """One search: a server kind and a workload under a memory cap, with the study's load."""

    server: ServerSpec
    workload: str
    limit_bytes: int
    load: ProbeLoad = field(default_factory=ProbeLoad)
    policy: SearchPolicy = field(default_factory=SearchPolicy)
    mechanism: MechanismChoice = "auto"
    memory_budget: int | None = None

    def __post_init__(self) -> None:
        if self.workload not in GUESSED_BYTES_PER_ELEMENT:
            raise ConfigError(
                f"critical n is searched for the cpu and numpy workloads, not {self.workload!r}"
            )
        if self.memory_budget is not None and self.memory_budget < 1:
            raise ConfigError(f"the memory budget must be > 0 bytes, not {self.memory_budget}")

    @property
    def name(self) -> str:
        return f"{SEED_FUNCTION_NAMES[self.workload]}_{self.server.label}"


ProbeHook = Callable[[str, int, ProbeResult], None]


def calibration_n(spec: CriticalSpec) -> int:
    guess = GUESSED_BYTES_PER_ELEMENT[spec.workload]
    n = int(spec.limit_bytes * CALIBRATION_SHARE / guess)
    return max(CALIBRATION_N_MIN, min(CALIBRATION_N_MAX[spec.workload], n))


def _trial(index: int, probe: ProbeResult) -> dict[str, Any]:
    v = probe.verdict
    return {
        "probe": index,
        "n": probe.n,
        "failed": probe.failed,
        "outcome": v.outcome,
        "reason": v.reason,
        "oom_kills": v.oom_kills,
        "peak_bytes": probe.peak_bytes,
        "idle_bytes": probe.idle_bytes,
        "ok_requests": probe.summary["ok"],
        "requests": probe.summary["requests"],
        "rejected_requests": v.rejected_requests,
        "rejected_by_status": {str(k): count for k, count in v.rejected_by_status.items()},
        "server_died": v.server_died,
        "prices": probe.prices,
        "makespan": probe.summary["makespan"],
        "stopped_early": probe.stopped_early,
        "client_errors": list(v.client_errors),
        "server_lines": list(v.server_lines),
        "files": probe.files,
    }


def find_critical_n(
    spec: CriticalSpec, folder: Path, on_probe: ProbeHook | None = None
) -> dict[str, Any]:
    """Calibrate, predict and search; returns (and saves) the search's result."""
    began = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    n_cal = calibration_n(spec)
    calibration = run_probe(
        spec.server,
        spec.workload,
        n_cal,
        limit_bytes=spec.limit_bytes,
        folder=folder,
        name="calibration",
        load=ProbeLoad(requests=1, concurrency=1, timeout=spec.load.timeout),
        mechanism=spec.mechanism,
    )
    if on_probe:
        on_probe("calibration", n_cal, calibration)
    result: dict[str, Any] = {
        "name": spec.name,
        "server": spec.server.to_dict(),
        "server_description": spec.server.describe(),
        "workload": spec.workload,
        "limit_bytes": spec.limit_bytes,
        "memory_budget": spec.memory_budget,
        "load": {"requests": spec.load.requests, "concurrency": spec.load.concurrency},
        "policy": {"tolerance": spec.policy.tolerance, "repeats": spec.policy.repeats},
        "cap": calibration.cap,
        "calibration": _trial(0, calibration),
        "complete": False,
    }
    idle, peak = calibration.idle_bytes, calibration.peak_bytes
    if calibration.failed or idle is None or peak is None:
        result["error"] = (
            f"calibration at n={n_cal:,} did not pass ({calibration.verdict.reason})"
            if calibration.failed
            else "this cap cannot measure memory (no cgroup): the model needs idle and peak bytes"
        )
        atomic_write_json(folder / SEARCH_FILE, result)
        raise ConfigError(f"{spec.name}: {result['error']}")
    bytes_per_element = max(peak - idle, 1) / n_cal
    at_once = in_memory_at_once(
        spec.server.kind,
        spec.server.workers,
        spec.server.worker_class,
        spec.server.threads,
        spec.load.concurrency,
    )
    predicted = predict_critical_n(spec.limit_bytes, idle, bytes_per_element, at_once)
    result.update(
        idle_bytes=idle,
        bytes_per_element=round(bytes_per_element, 2),
        in_memory_at_once=at_once,
        predicted_n=predicted,
        trials=[],
    )
    search = CriticalSearch(predicted, spec.policy)
    index = 0
    while (n := search.next_n()) is not None:
        index += 1
        probe = run_probe(
            spec.server,
            spec.workload,
            n,
            limit_bytes=spec.limit_bytes,
            folder=folder,
            name=f"p{index:02d}_n{n}",
            load=spec.load,
            mechanism=spec.mechanism,
            memory_budget=spec.memory_budget,
        )
        search.record(n, probe.failed)
        result["trials"].append(_trial(index, probe))
        _store_outcome(result, search, began)
        atomic_write_json(folder / SEARCH_FILE, result)
        if on_probe:
            on_probe(f"probe {index}", n, probe)
    _store_outcome(result, search, began)
    result["complete"] = True
    atomic_write_json(folder / SEARCH_FILE, result)
    return result


def _store_outcome(result: dict[str, Any], search: CriticalSearch, began: float) -> None:
    outcome = search.result()
    trials = result["trials"]
    passing = outcome.max_passing_n
    failing = outcome.min_failing_n
    peaks = [t["peak_bytes"] for t in trials if t["n"] == passing and t["peak_bytes"] is not None]
    first_failure = next(
        (t for t in trials if t["n"] == failing and t["failed"]),
        next((t for t in trials if t["failed"]), None),
    )
    result.update(
        max_passing_n=passing,
        min_failing_n=failing,
        per_n=[
            {
                "n": entry.n,
                "trials": entry.trials,
                "failures": entry.failures,
                "rate": entry.rate,
                "outcomes": [t["outcome"] for t in trials if t["n"] == entry.n],
            }
            for entry in outcome.per_n
        ],
        peak_bytes=max(peaks) if peaks else None,
        oom_kills=sum(t["oom_kills"] for t in trials),
        probes=outcome.probes,
        converged=outcome.converged,
        stop_reason=outcome.stop_reason,
        failure_evidence=(
            None
            if first_failure is None
            else {
                "n": first_failure["n"],
                "outcome": first_failure["outcome"],
                "reason": first_failure["reason"],
                "oom_kills": first_failure["oom_kills"],
                "client_errors": first_failure["client_errors"],
                "server_lines": first_failure["server_lines"],
            }
        ),
        wall_seconds=round(time.monotonic() - began, 1),
    )


def worker_processes(server: ServerSpec) -> int:
    """How many processes of ``server`` run predictions, each with its own guard."""
    return 1 if server.kind == "flask-dev" else server.workers


def derived_budget(limit_bytes: int, idle_bytes: int, processes: int = 1) -> int:
    """A guard budget per process from a search's own measurements (``GUARD_BUDGET_RULE``)."""
    room = limit_bytes - idle_bytes - int(limit_bytes * GUARD_MARGIN)
    if room < processes:
        raise ConfigError(
            f"no room for a memory budget: a {format_size(limit_bytes)} cap, "
            f"{format_size(idle_bytes)} idle and a {GUARD_MARGIN:.0%} margin leave nothing"
        )
    return room // processes


def _side(trial: dict[str, Any]) -> dict[str, Any]:
    """One column of the with/without-guard table, from a trial as ``_trial`` stores it."""
    by_status = trial.get("rejected_by_status") or {}
    prices = trial.get("prices") or {}
    rejected = int(trial.get("rejected_requests") or 0)
    return {
        "probe": trial["probe"],
        "outcome": trial["outcome"],
        "reason": trial["reason"],
        "requests": trial["requests"],
        "served": trial["ok_requests"],
        "rejected": rejected,
        "rejected_413": int(by_status.get("413", 0)),
        "rejected_503": int(by_status.get("503", 0)),
        "failed": trial["requests"] - trial["ok_requests"] - rejected,
        "oom_kills": trial["oom_kills"],
        "correct_prices": prices.get("correct"),
        "wrong_prices": prices.get("wrong"),
        "server_died": trial.get("server_died"),
        "stopped_early": trial["stopped_early"],
        "peak_bytes": trial["peak_bytes"],
        "files": trial["files"],
    }


def compare_with_guard(
    spec: CriticalSpec,
    result: dict[str, Any],
    folder: Path,
    budget: int | None = None,
    on_probe: ProbeHook | None = None,
) -> dict[str, Any]:
    """One probe at the unguarded search's smallest failing n, with the memory guard on.

    ``result`` is ``find_critical_n``'s finished result for ``spec`` (run without a guard).
    ``budget``: bytes per process; None derives it from the search (``GUARD_BUDGET_RULE``).
    Returns ``{"n", "budget_bytes", "budget_source", "budget_rule", "without_guard",
    "with_guard"}``; the sides hold requests served, rejected (413/503), failed otherwise,
    OOM kills and correct prices. The unguarded side is the search's first trial at that n.
    """
    n = result.get("min_failing_n")
    unguarded = next((t for t in result.get("trials", []) if t["n"] == n and t["failed"]), None)
    if n is None or unguarded is None:
        raise ConfigError(f"{spec.name}: no n failed without the guard; nothing to compare")
    processes = worker_processes(spec.server)
    if budget is None:
        budget = derived_budget(spec.limit_bytes, result["idle_bytes"], processes)
        source = "derived"
    else:
        source = "option"
    probe = run_probe(
        spec.server,
        spec.workload,
        n,
        limit_bytes=spec.limit_bytes,
        folder=folder,
        name=f"guarded_n{n}",
        load=spec.load,
        mechanism=spec.mechanism,
        memory_budget=budget,
    )
    if on_probe:
        on_probe("guarded", n, probe)
    comparison = {
        "n": n,
        "budget_bytes": budget,
        "budget_source": source,
        "budget_rule": GUARD_BUDGET_RULE if source == "derived" else "--memory-budget",
        "worker_processes": processes,
        "limit_bytes": spec.limit_bytes,
        "idle_bytes": result["idle_bytes"],
        "estimate_bytes_per_request": estimate_bytes(spec.workload, n),
        "estimate_bytes_per_element": estimate_bytes(spec.workload, 1),
        "without_guard": _side(unguarded),
        "with_guard": {**_side(_trial(0, probe)), "probe": "guarded"},
    }
    atomic_write_json(folder / GUARDED_FILE, comparison)
    return comparison
