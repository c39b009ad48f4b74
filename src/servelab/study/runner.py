"""Run a study plan: for each cell a fresh server, one burst, files written as measured.

The results folder:

    study.json             the plan, the machine, and per run: status, summary, server fate
    log/<run>.txt          the seed-format log (``Waited 1.02 sec {"price": 2000000}``)
    records/<run>.jsonl    one record per request (columns in ``servelab.load.records``)
    samples/<run>.jsonl    memory and CPU of the server's process tree, 20 times a second
    server/<run>.log       what the server printed
    critical/<search>/     each critical-n search: search.json and every probe's files
                           (and ``guarded_n<N>.*``, the probe with the memory guard on)
    report.md              built from the files above by ``servelab.report``

The memory guard (``run_study(memory_budget=..., compare_guard=...)``): a budget turns the
guard on in the servers of the runs. The critical-n searches always run without it, since
they find where the unguarded server dies; with ``compare_guard`` each finished search gets
one more probe at its smallest failing n with the guard on (the given budget, or one derived
from the search's own measurements), stored as the search's ``guarded`` entry.

``study.json`` is rewritten atomically after every run, so an interrupted study keeps
every run it finished; the report says which runs are missing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__
from .._io import atomic_write_json
from ..errors import ServelabError, ServerError
from ..load import RequestRecord, run_burst, summarize, write_seed_log
from ..machine import describe_machine
from ..servers import Monitor, launch
from ..service.config import ServiceConfig
from .critical_run import GUARD_BUDGET_RULE, CriticalSpec, compare_with_guard, find_critical_n
from .naming import SEED_FUNCTIONS
from .plan import RunSpec, StudyPlan
from .probe import ProbeResult
from .verdict import is_rejection

STUDY_FILE = "study.json"


class StudyProgress:
    """Hooks the runner calls as it goes; the CLI draws them with rich. Defaults do nothing."""

    def run_started(self, run: RunSpec, requests: int) -> None: ...
    def request_done(self, run: RunSpec, record: RequestRecord) -> None: ...
    def run_finished(self, run: RunSpec, result: dict[str, Any]) -> None: ...
    def search_started(self, spec: CriticalSpec) -> None: ...
    def probe_done(self, spec: CriticalSpec, label: str, n: int, probe: ProbeResult) -> None: ...
    def search_finished(self, spec: CriticalSpec, result: dict[str, Any]) -> None: ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_one(
    run: RunSpec,
    plan: StudyPlan,
    out: Path,
    progress: StudyProgress,
    memory_budget: int | None = None,
) -> dict[str, Any]:
    """Start a fresh server for ``run``, fire the burst, stop the server; return its entry.

    ``memory_budget`` turns on the service's memory guard (bytes per server process)."""
    service = ServiceConfig(
        workload=run.workload, n=plan.n, io_delay=plan.io_delay, memory_budget=memory_budget
    )
    records_path = out / "records" / f"{run.name}.jsonl"
    records_path.unlink(missing_ok=True)
    (out / "samples" / f"{run.name}.jsonl").unlink(missing_ok=True)
    entry: dict[str, Any] = {
        "name": run.name,
        "server": run.server.to_dict(),
        "server_description": run.server.describe(),
        "workload": run.workload,
        "function": SEED_FUNCTIONS[run.workload],
        "n": plan.n if run.workload in ("cpu", "numpy") else None,
        "io_delay": plan.io_delay if run.workload == "io" else None,
        "memory_budget": memory_budget,
        "files": {
            "log": f"log/{run.name}.txt",
            "records": f"records/{run.name}.jsonl",
            "server_log": f"server/{run.name}.log",
            "samples": f"samples/{run.name}.jsonl",
        },
        "started": _now(),
    }
    progress.run_started(run, plan.requests)
    try:
        with launch(run.server, run_dir=out / "server", env=service.to_env(), name=run.name) as srv:
            with Monitor(srv.pid, out / entry["files"]["samples"]) as monitor:
                records = run_burst(
                    f"{srv.url}/predict",
                    requests=plan.requests,
                    concurrency=plan.concurrency,
                    timeout=plan.timeout,
                    records_path=records_path,
                    on_record=lambda record: progress.request_done(run, record),
                )
            fate = srv.poll()  # None: it was still up when the burst ended
            server_exit = srv.stop()
    except ServerError as error:
        entry.update(status="failed", error=str(error).splitlines()[0], finished=_now())
        return entry
    write_seed_log(records, out / entry["files"]["log"])
    if memory_budget is not None:
        refused = Counter(r.status for r in records if is_rejection(r))
        entry["guard"] = {
            "memory_budget": memory_budget,
            "rejected_413": refused[413],
            "rejected_503": refused[503],
        }
    summary = summarize(records).to_dict()
    usage = monitor.summary
    summary["server_cpu_seconds"] = round(usage.cpu_seconds, 3)
    summary["server_max_rss_bytes"] = usage.max_rss_bytes
    entry.update(
        monitor=usage.to_dict(),
        status="done",
        summary=summary,
        server_exit={**server_exit.to_dict(), "description": server_exit.describe()},
        server_survived=fate is None,
        finished=_now(),
    )
    return entry


def run_study(
    plan: StudyPlan,
    out: Path,
    progress: StudyProgress | None = None,
    on_saved: Callable[[Path], None] | None = None,
    *,
    memory_budget: int | None = None,
    compare_guard: bool = False,
) -> dict[str, Any]:
    """Run every cell of ``plan`` into ``out``; ``study.json`` is saved after each run.

    ``memory_budget`` (bytes per server process) turns the memory guard on in the runs'
    servers; ``compare_guard`` adds the guarded probe after each critical-n search, with
    ``memory_budget`` or, when it is None, a budget derived from the search."""
    progress = progress or StudyProgress()
    out.mkdir(parents=True, exist_ok=True)
    study: dict[str, Any] = {
        "servelab": __version__,
        "kind": "study",
        "created": _now(),
        "machine": describe_machine(),
        "plan": plan.to_dict(),
        "guard": {
            "memory_budget": memory_budget,
            "compare": compare_guard,
            "budget_rule": GUARD_BUDGET_RULE if memory_budget is None else "--memory-budget",
        },
        "runs": [],
        "complete": False,
    }
    began = time.monotonic()
    study_path = out / STUDY_FILE
    atomic_write_json(study_path, study)
    for run in plan.runs:
        entry = run_one(run, plan, out, progress, memory_budget)
        study["runs"].append(entry)
        study["wall_seconds"] = round(time.monotonic() - began, 2)
        atomic_write_json(study_path, study)
        progress.run_finished(run, entry)
    study["critical"] = []
    for spec in plan.critical:
        progress.search_started(spec)

        def on_probe(label: str, n: int, probe: ProbeResult, spec: CriticalSpec = spec) -> None:
            progress.probe_done(spec, label, n, probe)

        try:
            result = find_critical_n(spec, out / "critical" / spec.name, on_probe=on_probe)
        except ServelabError as error:
            result = {"name": spec.name, "workload": spec.workload, "error": str(error)}
        if compare_guard and "error" not in result:
            try:
                result["guarded"] = compare_with_guard(
                    spec, result, out / "critical" / spec.name, memory_budget, on_probe
                )
            except ServelabError as error:
                result["guarded"] = {"error": str(error)}
        result["folder"] = f"critical/{spec.name}"
        study["critical"].append(result)
        study["wall_seconds"] = round(time.monotonic() - began, 2)
        atomic_write_json(study_path, study)
        progress.search_finished(spec, result)
    study["complete"] = True
    atomic_write_json(study_path, study)
    if on_saved is not None:
        on_saved(study_path)
    return study
