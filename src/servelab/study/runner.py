"""Run a study plan: for each cell one trial (a fresh server, one burst), files written as
measured, and the critical-n searches.

The results folder:

    study.json             a ``results.Study``: the plan, the machine, every run and search
    log/<run>.txt          the seed-format log (``Waited 1.02 sec {"price": 2000000}``)
    records/<run>.jsonl    one record per request (columns in ``servelab.load.records``)
    samples/<run>.jsonl    memory and CPU of the server's process tree, 20 times a second
    server/<run>.log       what the server printed
    critical/<search>/     each critical-n search: search.json and every probe's files
                           (and ``guarded_n<N>.*``, the probe with the memory guard on)
    report.md              built from the files above by ``servelab.report``

Everything is written through ``servelab.results`` (``write_study``), as codes and numbers.

The memory guard (``run_study(memory_budget=..., compare_guard=...)``): a budget turns the
guard on in the servers of the runs. The critical-n searches always run without it, since
they find where the unguarded server dies; with ``compare_guard`` each finished search gets
one more probe at its smallest failing n with the guard on (the given budget, or one derived
from the search's own measurements), stored as the search's ``guarded`` entry.

``study.json`` is rewritten atomically after every run, so an interrupted study keeps
every run it finished; the report says which runs are missing.

The folder is locked for the whole study (``_io.folder_lock``): a second study into it is
refused at once. The old reports and figures are removed when a study starts, so none
contradicts the new ``study.json``. A folder that cannot be written (read-only, a file in
the way, a full disk mid-study) stops the study with a ``ResultsError`` of one line that
says where it stopped; what was written before stays.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from .. import __version__
from .._io import folder_error, folder_lock
from ..errors import ResultsError, ServelabError, ServerError
from ..load import RequestRecord
from ..machine import describe_machine
from ..results import (
    Failure,
    GuardSettings,
    Noise,
    RunEntry,
    RunGuard,
    SearchEntry,
    Study,
    clear_report,
    write_search,
    write_study,
)
from ..workloads import APP_WORKLOAD, workload
from .critical_run import (
    GUARD_MARGIN,
    CriticalSpec,
    SearchFailed,
    compare_with_guard,
    find_critical_n,
)
from .plan import RunSpec, StudyPlan
from .trial import TrialFiles, TrialResult, run_trial
from .verdict import is_rejection


class StudyProgress:
    """Hooks the runner calls as it goes; the CLI draws them. Defaults do nothing."""

    def run_started(self, run: RunSpec, requests: int) -> None: ...
    def request_done(self, run: RunSpec, record: RequestRecord) -> None: ...
    def run_finished(self, run: RunSpec, entry: RunEntry) -> None: ...
    def search_started(self, spec: CriticalSpec) -> None: ...
    def probe_done(self, spec: CriticalSpec, label: str, probe: TrialResult) -> None: ...
    def search_finished(self, spec: CriticalSpec, entry: SearchEntry) -> None: ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_entry(
    run: RunSpec,
    plan: StudyPlan,
    out: Path,
    progress: StudyProgress,
    memory_budget: int | None = None,
) -> RunEntry:
    """``run`` as one trial (no cap), as the study keeps it: ``failed`` if the server failed.

    ``memory_budget`` turns on the service's memory guard (bytes per server process)."""
    files = TrialFiles.for_run(out, run.name)
    if run.workload == APP_WORKLOAD:  # the user's app: n is its request's input size
        takes_n, takes_delay = plan.app is not None and plan.app.request.uses_size(), False
    else:
        row = workload(run.workload)
        takes_n, takes_delay = row.takes_n, row.takes_delay
    entry = RunEntry(
        name=run.name,
        server=run.server.to_server(),
        workload=run.workload,
        status="failed",
        files=files.as_json(),
        n=plan.n if takes_n else None,
        io_delay=plan.io_delay if takes_delay else None,
        memory_budget=memory_budget,
        started=_now(),
    )
    progress.run_started(run, plan.requests)
    try:
        result = run_trial(
            plan.setup(run, memory_budget), files, lambda record: progress.request_done(run, record)
        )
    except ServerError as error:
        detail = str(error).splitlines()[0]
        return replace(entry, error=Failure("server-failed", detail=detail), finished=_now())
    guard = None
    if memory_budget is not None:
        refused = Counter(r.status for r in result.records if is_rejection(r))
        guard = RunGuard(memory_budget, rejected_413=refused[413], rejected_503=refused[503])
    return replace(
        entry,
        status="done",
        summary=result.summary,
        usage=result.usage,
        server_end=result.server_end,
        server_survived=result.survived,
        verdict=result.verdict,
        guard=guard,
        finished=_now(),
        noise=result.noise,
    )


def run_search(
    spec: CriticalSpec,
    out: Path,
    progress: StudyProgress,
    *,
    compare_guard: bool = False,
    memory_budget: int | None = None,
) -> SearchEntry:
    """One critical-n search under ``out/critical/<name>``, and its guarded probe if asked
    for; a failure becomes the entry's ``error`` (or ``guard_error``), as a code."""
    folder_name = f"critical/{spec.name}"
    folder = out / folder_name

    def on_probe(label: str, probe: TrialResult) -> None:
        progress.probe_done(spec, label, probe)

    try:
        entry = find_critical_n(spec, folder, on_probe, name=folder_name)
    except ServelabError as error:
        return replace(spec.entry(folder_name), error=_failure(error))
    if compare_guard and entry.error is None:
        try:
            guarded = compare_with_guard(spec, entry, folder, memory_budget, on_probe)
            entry = replace(entry, guarded=guarded)
        except ServelabError as error:
            entry = replace(entry, guard_error=_failure(error))
        write_search(folder, entry)  # search.json: the same search as study.json keeps
    return entry


def _failure(error: ServelabError) -> Failure:
    if isinstance(error, SearchFailed):
        return error.failure
    return Failure("error", detail=str(error).splitlines()[0])


def run_study(
    plan: StudyPlan,
    out: Path,
    progress: StudyProgress | None = None,
    on_saved: Callable[[Path], None] | None = None,
    *,
    memory_budget: int | None = None,
    compare_guard: bool = False,
    noise_at_start: Noise | None = None,
) -> Study:
    """Run every cell of ``plan`` into ``out``; ``study.json`` is saved after each run.

    ``memory_budget`` (bytes per server process) turns the memory guard on in the runs'
    servers; ``compare_guard`` adds the guarded probe after each critical-n search, with
    ``memory_budget`` or, when it is None, a budget derived from the search.
    ``noise_at_start``: the idle check made before the study (``servelab.noise``), kept."""
    progress = progress or StudyProgress()
    with folder_lock(out):
        return _run_locked(
            plan, out, progress, on_saved, memory_budget, compare_guard, noise_at_start
        )


def _stopped(out: Path, error: OSError, where: str, study: Study) -> ResultsError:
    """A full disk or an unwritable folder mid-study, in one line: what failed, and what
    ``study.json`` keeps."""
    runs, searches = len(study.runs), len(study.critical)
    kept = f"{runs} run{'s' * (runs != 1)} and {searches} critical-n search{'es' * (searches != 1)}"
    return ResultsError(
        f"{folder_error(out, error)}; the study stopped at {where}; {out / 'study.json'} "
        f"keeps the {kept} finished before it"
    )


def _run_locked(
    plan: StudyPlan,
    out: Path,
    progress: StudyProgress,
    on_saved: Callable[[Path], None] | None,
    memory_budget: int | None,
    compare_guard: bool,
    noise_at_start: Noise | None = None,
) -> Study:
    study = Study(
        servelab=__version__,
        created=_now(),
        machine=describe_machine(plan.app.target.python if plan.app is not None else None),
        plan=plan.to_plan(),
        guard=GuardSettings(
            memory_budget=memory_budget,
            compare=compare_guard,
            margin=GUARD_MARGIN if compare_guard and memory_budget is None else None,
        ),
        noise_at_start=noise_at_start,
    )
    began = time.monotonic()
    try:
        clear_report(out)
        path = write_study(out, study)
    except OSError as error:
        raise folder_error(out, error) from None
    for run in plan.runs:
        try:
            entry = run_entry(run, plan, out, progress, memory_budget)
            updated = study.with_run(entry, round(time.monotonic() - began, 2))
            write_study(out, updated)
        except OSError as error:
            raise _stopped(out, error, f"run {run.name}", study) from None
        study = updated
        progress.run_finished(run, entry)
    for spec in plan.critical:
        progress.search_started(spec)
        try:
            search = run_search(
                spec, out, progress, compare_guard=compare_guard, memory_budget=memory_budget
            )
            updated = study.with_search(search, round(time.monotonic() - began, 2))
            write_study(out, updated)
        except OSError as error:
            raise _stopped(out, error, f"critical-n search {spec.name}", study) from None
        study = updated
        progress.search_finished(spec, search)
    study = replace(study, complete=True)
    try:
        write_study(out, study)
    except OSError as error:
        raise _stopped(out, error, "the end", study) from None
    if on_saved is not None:
        on_saved(path)
    return study
