"""Find the critical n of a server and workload under a memory cap: model, then measure.

1. Calibrate: one trial with one request at a small n. The cap's usage before the request
   is the idle memory; its peak minus idle, over n, the bytes per element. Both are in the
   cap's own units: the cgroup's charge for the whole tree, or, under the RLIMIT_AS
   fallback, the address space (VmSize) of the largest process, since that limit holds
   each process on its own.
2. Predict: (cap - idle) / (bytes per element x requests held in memory at once; per
   process under RLIMIT_AS). Under RLIMIT_AS that is exact for one request per process
   (gunicorn sync: 46.1 M predicted for 44.5-46.1 M at 512 MiB, numpy); threads also
   reserve address space of their own (stacks, malloc arenas) as far as the limit lets
   them, so for threaded servers it over-predicts (the dev server: 3.7 M for 1.4 M).
   Critical n under RLIMIT_AS are not comparable with cgroup ones (there: 62-64 M, 9.5 M).
   Under a cgroup, a server that can hold more than one request at once (threads, or
   several workers) holds fewer than all of them: the worst case is then refined by the
   overlap calibration (``study.overlap``), ``OVERLAP_BURSTS`` bursts of the study's load at
   the worst case, and the search starts from its predicted 50% point (the dev server:
   3.48 M predicted for a fitted 3.82 M, cpu; the worst case said 2.35 M).
3. Search around the prediction with one trial per probe under the study's load
   (``servelab.study.critical``), repeating probes near the boundary.

The search is a ``results.SearchEntry``, built as it goes and saved through
``results.write_search`` after every probe (``search.json``), beside each probe's records,
samples and server log. A search that cannot reach a bracket returns its entry with
``error`` set to a code (``results.Failure``), never a sentence.

With ``CriticalSpec.memory_budget`` every search probe runs with the service's memory guard
on (the calibration never does: it measures the server, not the guard), so the search finds
where the guarded server stops serving every request. ``compare_with_guard`` instead takes a
finished unguarded search and runs one more probe at its smallest failing n with the guard
on: the same load, with and without the guard (``results.GuardComparison``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import ConfigError
from ..results import (
    BudgetSource,
    CalibrationPoint,
    Failure,
    GuardComparison,
    Noise,
    Overlap,
    PredictedPoint,
    SearchEntry,
    Trial,
    write_guarded,
    write_search,
)
from ..servers import ServerSpec
from ..servers.cap import MechanismChoice
from ..service.guard import estimate_bytes
from ..units import format_size
from ..workloads import APP_WORKLOAD, critical_workload, run_stem
from .breaking import breaking_curve
from .critical import CriticalSearch, SearchPolicy, predict_critical_n
from .overlap import fit_overlap
from .sizefit import SizeFit, fit_sizes, next_calibration_size
from .trial import (
    AppRun,
    Burst,
    CapSetup,
    DoesNotFitIdle,
    TrialFiles,
    TrialResult,
    TrialSetup,
    run_trial,
)

CALIBRATION_SHARE = 0.25  # of the cap, for the calibration request
CALIBRATION_N_MIN = 100_000
# The guarded comparison's own budget: the cap, minus the idle server, minus this share of
# the cap for what the guard does not count (interpreter, thread stacks, fragmentation).
GUARD_MARGIN = 0.10
# An app's input size is whatever the app counts (rows, characters, pixels): from 1 up.
APP_POLICY = SearchPolicy(min_n=1, max_n=10**12)
# A threaded server's overlap calibration: bursts at the worst-case n (the median of them
# counts: one burst can hold 70% more than another at the same n).
OVERLAP_BURSTS = 3
# An app's calibration: at most this many single-request trials at growing sizes.
APP_CALIBRATION_TRIALS = 5


class SearchFailed(ConfigError):
    """A search or a guard comparison could not be made; ``failure`` says why, as a code."""

    def __init__(self, message: str, failure: Failure) -> None:
        super().__init__(message)
        self.failure = failure


@dataclass(frozen=True)
class CriticalSpec:
    """One search: a server kind and a workload under a memory cap, with the study's load."""

    server: ServerSpec
    workload: str
    limit_bytes: int
    load: Burst = field(default_factory=Burst)
    policy: SearchPolicy = field(default_factory=SearchPolicy)
    mechanism: MechanismChoice = "auto"
    memory_budget: int | None = None
    app: AppRun | None = None
    start_n: int = 1

    def __post_init__(self) -> None:
        if self.app is None:
            critical_workload(self.workload)
        elif self.workload != APP_WORKLOAD:
            raise ConfigError(f"an app's search has the workload {APP_WORKLOAD!r}")
        elif self.memory_budget is not None:
            raise ConfigError("the memory guard is servelab's own service's, not an app's")
        CapSetup(self.limit_bytes, self.mechanism)  # checks the cap's size and mechanism
        if self.memory_budget is not None and self.memory_budget < 1:
            raise ConfigError(f"the memory budget must be > 0 bytes, not {self.memory_budget}")
        if isinstance(self.start_n, bool) or not isinstance(self.start_n, int) or self.start_n < 1:
            raise ConfigError(f"the starting size must be a whole number >= 1, not {self.start_n}")

    @property
    def name(self) -> str:
        return f"{run_stem(self.workload)}_{self.server.label}"

    def setup(
        self, n: int, load: Burst | None = None, memory_budget: int | None = None
    ) -> TrialSetup:
        """A trial of this search at ``n``, in a fresh cap of the search's size."""
        return TrialSetup(
            self.server,
            self.workload,
            n,
            load=load or self.load,
            cap=CapSetup(self.limit_bytes, self.mechanism),
            memory_budget=memory_budget,
            app=self.app,
        )

    def entry(self, folder: str) -> SearchEntry:
        """The search's entry before anything is measured."""
        return SearchEntry(
            name=self.name,
            server=self.server.to_server(),
            workload=self.workload,
            limit_bytes=self.limit_bytes,
            requests=self.load.requests,
            concurrency=self.load.concurrency,
            policy=self.policy.to_policy(),
            folder=folder,
            memory_budget=self.memory_budget,
        )


# Called after each trial with its label ("calibration", "probe 3", "guarded") and result.
ProbeHook = Callable[[str, TrialResult], None]


def calibration_n(spec: CriticalSpec) -> int:
    workload = critical_workload(spec.workload)
    assert workload.guessed_bytes_per_element and workload.calibration_n_max
    n = int(spec.limit_bytes * CALIBRATION_SHARE / workload.guessed_bytes_per_element)
    return max(CALIBRATION_N_MIN, min(workload.calibration_n_max, n))


def find_critical_n(
    spec: CriticalSpec,
    folder: Path,
    on_probe: ProbeHook | None = None,
    *,
    name: str | None = None,
    noise_at_start: Noise | None = None,
) -> SearchEntry:
    """Calibrate, predict and search; returns (and saves) the search's entry.

    ``name``: the folder as the entry records it (a study's ``critical/<search>``);
    ``folder`` itself by default. A calibration that does not pass, a cap that cannot
    measure memory or a server that does not fit idle ends the search early: the entry
    then has ``error`` set. Other failures (a cap that cannot be made...) raise.
    ``noise_at_start``: the machine's idle check before the search, kept in its entry.
    """
    began = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    entry = replace(spec.entry(name or str(folder)), noise_at_start=noise_at_start)
    if spec.app is not None:
        return _find_critical_size(spec, folder, entry, began, on_probe)
    n_cal = calibration_n(spec)
    calibration_load = Burst(requests=1, concurrency=1, timeout=spec.load.timeout)
    try:
        calibration = run_trial(
            spec.setup(n_cal, load=calibration_load), TrialFiles.for_probe(folder, "calibration")
        )
    except DoesNotFitIdle as error:
        entry = replace(entry, error=error.failure)
        write_search(folder, entry)
        return entry
    if on_probe:
        on_probe("calibration", calibration)
    entry = replace(entry, cap=calibration.cap, calibration=calibration.as_trial(0))
    idle, peak = calibration.idle_bytes, calibration.peak_bytes
    if calibration.failed or idle is None or peak is None:
        failure = (
            Failure("calibration-failed", n=n_cal)
            if calibration.failed
            else Failure("no-memory-measure")
        )
        entry = replace(entry, error=failure, wall_seconds=round(time.monotonic() - began, 1))
        write_search(folder, entry)
        return entry
    at_once = spec.server.in_memory_at_once(spec.load.concurrency)
    if calibration.cap is not None and calibration.cap.mechanism == "rlimit-as":
        # RLIMIT_AS limits each process on its own: what counts is how many arrays one
        # process holds at once (idle and peak are then one process's address space).
        at_once = spec.server.in_memory_at_once_per_process(spec.load.concurrency)
    bytes_per_element = max(peak - idle, 1) / n_cal
    predicted = predict_critical_n(spec.limit_bytes, idle, bytes_per_element, at_once)
    entry = replace(
        entry,
        idle_bytes=idle,
        bytes_per_element=round(bytes_per_element, 2),
        in_memory_at_once=at_once,
        predicted_n=predicted,
    )
    if at_once > 1 and calibration.cap is not None and calibration.cap.mechanism != "rlimit-as":
        # A threaded server (or several workers) holds fewer than "all of them" at once:
        # calibrate how many with the search's own load, where even all of them fit.
        overlap = _calibrate_overlap(spec, folder, idle, bytes_per_element, predicted, on_probe)
        entry = replace(entry, overlap=overlap)
        write_search(folder, entry)
        predicted = overlap.at(0.5) or predicted
        entry = replace(entry, predicted_n=predicted)
    return _search(spec, folder, entry, predicted, began, on_probe)


def _calibrate_overlap(
    spec: CriticalSpec,
    folder: Path,
    idle: int,
    bytes_per_element: float,
    worst_case_n: int,
    on_probe: ProbeHook | None,
) -> Overlap:
    """``OVERLAP_BURSTS`` bursts of the search's load at the worst case (rounded down to 3
    significant digits), then the deficit they show and the band it predicts
    (``study.overlap``).

    A burst that fails (the worst case was not safe after all: the calibration's bytes per
    element were low) ends the calibration without a fit; the search then starts from the
    worst case and finds the boundary below it."""
    unit = 10 ** max(len(str(worst_case_n)) - 3, 0)
    n = max(worst_case_n // unit * unit, 1)
    trials: list[Trial] = []
    held: list[int] = []
    for index in range(1, OVERLAP_BURSTS + 1):
        result = run_trial(spec.setup(n), TrialFiles.for_probe(folder, f"overlap{index}_n{n}"))
        if on_probe:
            on_probe(f"overlap {index}", result)
        trials.append(result.as_trial(0))
        if result.failed or result.peak_bytes is None or result.idle_bytes is None:
            return Overlap(worst_case_n=worst_case_n, trials=tuple(trials))
        held.append(result.peak_bytes - result.idle_bytes)
    fit = fit_overlap(n, held, spec.limit_bytes - idle, bytes_per_element, spec.load.concurrency)
    if fit is None:
        return Overlap(worst_case_n=worst_case_n, trials=tuple(trials))
    return Overlap(
        worst_case_n=worst_case_n,
        trials=tuple(trials),
        deficit=round(fit.deficit),
        spread=round(fit.spread, 4),
        at_once=round(fit.at_once, 2),
        predicted=tuple(PredictedPoint(p, n) for p, n in fit.predicted),
    )


def _search(
    spec: CriticalSpec,
    folder: Path,
    entry: SearchEntry,
    predicted: int,
    began: float,
    on_probe: ProbeHook | None,
) -> SearchEntry:
    """Probe around ``predicted`` until the search stops; the entry is saved after each."""
    policy = spec.policy
    if entry.overlap is None and entry.in_memory_at_once == 1:
        # One request in memory at a time: the model is exact to about 1% (gunicorn, one
        # sync worker: 25.57 M predicted for 25.6-26.5 M, cpu), so the first bracketing
        # step need not be wider than the tolerance.
        policy = replace(policy, first_step=min(policy.first_step, policy.tolerance))
    search = CriticalSearch(predicted, policy)
    index = 0
    while (n := search.next_n()) is not None:
        index += 1
        probe = run_trial(
            spec.setup(n, memory_budget=spec.memory_budget),
            TrialFiles.for_probe(folder, f"p{index:02d}_n{n}"),
        )
        search.record(n, probe.failed)
        entry = _with_outcome(
            replace(entry, trials=(*entry.trials, probe.as_trial(index))), search, began
        )
        write_search(folder, entry)
        if on_probe:
            on_probe(f"probe {index}", probe)
    entry = replace(
        _with_outcome(entry, search, began),
        measured_at_once=_held_at_once(entry.trials),
        complete=True,
    )
    write_search(folder, entry)
    return entry


def _held_at_once(trials: tuple[Trial, ...]) -> int | None:
    """The most handlers the server ran at one instant in a probe that passed, from the
    served-by headers: what the model's "in memory at once" assumed, measured (None when
    no passing probe says who served)."""
    seen = [
        trial.summary.handlers.max_concurrent
        for trial in trials
        if not trial.verdict.failed
        and trial.summary is not None
        and trial.summary.handlers is not None
        and trial.summary.handlers.max_concurrent is not None
    ]
    return max(seen) if seen else None


def _find_critical_size(
    spec: CriticalSpec,
    folder: Path,
    entry: SearchEntry,
    began: float,
    on_probe: ProbeHook | None,
) -> SearchEntry:
    """An app's search: calibrate at a few growing sizes (one request each, a fresh server
    in a fresh cap each time), fit idle memory and bytes per unit of size, predict, probe.

    The sizes start at the study's ``--size`` and grow until one request takes a visible
    share of the cap (``sizefit``), so an app whose memory barely moves at the user's size
    is still measured well above the noise, and none comes near the cap.
    """
    calibration_load = Burst(requests=1, concurrency=1, timeout=spec.load.timeout)
    points: list[CalibrationPoint] = []
    last: TrialResult | None = None
    size: int | None = spec.start_n
    index = 0
    while size is not None and index < APP_CALIBRATION_TRIALS:
        index += 1
        try:
            result = run_trial(
                spec.setup(size, load=calibration_load),
                TrialFiles.for_probe(folder, f"calibration{index}_n{size}"),
            )
        except DoesNotFitIdle as error:
            entry = replace(entry, error=error.failure)
            write_search(folder, entry)
            return entry
        if on_probe:
            on_probe(f"calibration {index}", result)
        if result.failed and len(points) >= 2:
            break  # too big already: the sizes measured so far are enough to fit
        if result.failed or result.idle_bytes is None or result.peak_bytes is None:
            failure = (
                Failure("calibration-failed", n=size)
                if result.failed
                else Failure("no-memory-measure")
            )
            entry = replace(
                entry,
                cap=result.cap,
                calibration=result.as_trial(0),
                calibration_points=tuple(points),
                error=failure,
                wall_seconds=round(time.monotonic() - began, 1),
            )
            write_search(folder, entry)
            return entry
        last = result
        points.append(CalibrationPoint(size, result.idle_bytes, result.peak_bytes))
        entry = replace(
            entry, cap=result.cap, calibration=result.as_trial(0), calibration_points=tuple(points)
        )
        write_search(folder, entry)
        size = next_calibration_size(points, spec.limit_bytes, spec.policy.max_n)
    fit: SizeFit | None = fit_sizes(points)
    if last is None or fit is None:
        entry = replace(
            entry,
            error=Failure("no-size-growth", n=points[-1].n if points else None),
            wall_seconds=round(time.monotonic() - began, 1),
        )
        write_search(folder, entry)
        return entry
    interface = spec.app.target.interface if spec.app is not None else "wsgi"
    at_once = spec.server.in_memory_at_once(spec.load.concurrency, interface)
    if last.cap is not None and last.cap.mechanism == "rlimit-as":
        at_once = spec.server.in_memory_at_once_per_process(spec.load.concurrency, interface)
    predicted = fit.predict(spec.limit_bytes, at_once)
    entry = replace(
        entry,
        idle_bytes=fit.idle_bytes,
        bytes_per_element=round(fit.bytes_per_unit, 2),
        fixed_bytes=fit.fixed_bytes,
        in_memory_at_once=at_once,
        predicted_n=max(predicted, spec.policy.min_n),
    )
    write_search(folder, entry)
    return _search(spec, folder, entry, max(predicted, spec.policy.min_n), began, on_probe)


def _with_outcome(entry: SearchEntry, search: CriticalSearch, began: float) -> SearchEntry:
    """The entry with the search's bracket, per-n results and stop as they stand."""
    outcome = search.result()
    trials = entry.trials
    passing = outcome.max_passing_n
    peaks = [t.peak_bytes for t in trials if t.n == passing and t.peak_bytes is not None]
    return replace(
        entry,
        max_passing_n=passing,
        min_failing_n=outcome.min_failing_n,
        per_n=tuple(
            replace(at, outcomes=tuple(t.outcome for t in trials if t.n == at.n))
            for at in outcome.per_n
        ),
        breaking=breaking_curve(outcome.per_n),
        peak_bytes=max(peaks) if peaks else None,
        oom_kills=sum(t.verdict.oom_kills for t in trials),
        probes=outcome.probes,
        converged=outcome.converged,
        stop=outcome.stop,
        wall_seconds=round(time.monotonic() - began, 1),
    )


def derived_budget(limit_bytes: int, idle_bytes: int, processes: int = 1) -> int:
    """A guard budget per process from a search's own measurements:
    ``(cap - idle - GUARD_MARGIN x cap) / processes``."""
    room = limit_bytes - idle_bytes - int(limit_bytes * GUARD_MARGIN)
    if room < processes:
        raise SearchFailed(
            f"no room for a memory budget: a {format_size(limit_bytes)} cap, "
            f"{format_size(idle_bytes)} idle and a {GUARD_MARGIN:.0%} margin leave nothing",
            Failure("no-budget-room"),
        )
    return room // processes


def compare_with_guard(
    spec: CriticalSpec,
    entry: SearchEntry,
    folder: Path,
    budget: int | None = None,
    on_probe: ProbeHook | None = None,
) -> GuardComparison:
    """One probe at the unguarded search's smallest failing n, with the memory guard on.

    ``entry`` is ``find_critical_n``'s finished entry for ``spec`` (run without a guard).
    ``budget``: bytes per process; None derives it from the search (``derived_budget``).
    The unguarded side is the search's first trial at that n. Saved as ``guarded.json``.
    Raises ``SearchFailed`` when no n failed or the cap leaves no room for a budget.
    """
    n = entry.min_failing_n
    unguarded: Trial | None = next((t for t in entry.trials if t.n == n and t.failed), None)
    if n is None or unguarded is None or entry.idle_bytes is None:
        raise SearchFailed(
            f"{spec.name}: no n failed without the guard; nothing to compare",
            Failure("nothing-to-compare"),
        )
    processes = spec.server.worker_processes
    source: BudgetSource = "option"
    if budget is None:
        budget = derived_budget(spec.limit_bytes, entry.idle_bytes, processes)
        source = "derived"
    probe = run_trial(
        spec.setup(n, memory_budget=budget), TrialFiles.for_probe(folder, f"guarded_n{n}")
    )
    if on_probe:
        on_probe("guarded", probe)
    comparison = GuardComparison(
        n=n,
        budget_bytes=budget,
        budget_source=source,
        margin=GUARD_MARGIN if source == "derived" else None,
        worker_processes=processes,
        limit_bytes=spec.limit_bytes,
        idle_bytes=entry.idle_bytes,
        estimate_bytes_per_request=estimate_bytes(spec.workload, n),
        estimate_bytes_per_element=estimate_bytes(spec.workload, 1),
        without_guard=unguarded,
        with_guard=probe.as_trial(0),
    )
    write_guarded(folder, comparison)
    return comparison
