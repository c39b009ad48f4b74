"""Results folders for the report's tests, built from the typed results objects.

Every ``study.json`` here is written by ``servelab.results.write_study`` from a ``Study``:
the report reads what the study side writes, never a hand-made dict that could drift from it.

    study = small_study()                     # two runs, one search with its probes
    folder = write_folder(tmp_path, study)    # study.json + records, samples, logs
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from servelab.load.summary import Distribution, HandlerStats, LoadSummary
from servelab.results import (
    Cap,
    Failure,
    GuardComparison,
    GuardSettings,
    Machine,
    NTrials,
    Plan,
    PlannedRun,
    PlannedSearch,
    Policy,
    Prices,
    RunEntry,
    SearchEntry,
    Server,
    StopReason,
    Study,
    Trial,
    Usage,
    Verdict,
    write_study,
)

MIB = 2**20
DEV = Server(kind="flask-dev", label="dev")
PROD = Server(kind="gunicorn", label="prod_w1")
MACHINE = Machine(
    cpu="Test CPU",
    cores=2,
    memory_bytes=8 * 2**30,
    os="Linux",
    python="3.11.7",
    packages={"flask": "3.1.3", "gunicorn": "27.0.1", "numpy": None},
)
Row = Mapping[str, object]


def summary(makespan: float, *, requests: int = 5, ok: int = 5, at_once: int = 1) -> LoadSummary:
    """A burst's summary with the handler timing a served burst has."""
    latency = Distribution(
        min=makespan / 5,
        mean=makespan / 2,
        p50=makespan / 2,
        p90=makespan * 0.9,
        p99=makespan * 0.99,
        p999=makespan * 0.99,
        max=makespan * 0.99,
    )
    errors = requests - ok
    return LoadSummary(
        mode="burst",
        url="http://127.0.0.1:1/predict",
        method="POST",
        parameters={},
        requests=requests,
        sent=requests,
        ok=ok,
        errors=errors,
        error_rate=errors / requests,
        errors_by_class={"disconnect": errors} if errors else {},
        by_status={"200": ok} if ok else {},
        elapsed=makespan,
        makespan=makespan,
        throughput=requests / makespan,
        ok_throughput=ok / makespan,
        send_rate=None,
        latency=latency,
        service_time=latency,
        connections_opened=requests,
        handlers=HandlerStats(
            served=ok,
            distinct_pids=1,
            distinct_workers=at_once,
            max_concurrent=at_once,
            mean_queue_wait=0.0,
            handler_mean=makespan / at_once,
            handler_sum=makespan * ok / at_once,
        ),
    )


def run(name: str, server: Server, workload: str, makespan: float) -> RunEntry:
    """A finished run; its files are named as the study names them."""
    at_once = 5 if server.kind == "flask-dev" else 1
    return RunEntry(
        name=name,
        server=server,
        workload=workload,
        status="done",
        files={
            "log": f"log/{name}.txt",
            "records": f"records/{name}.jsonl",
            "server_log": f"server/{name}.log",
            "samples": f"samples/{name}.jsonl",
        },
        n=5_000_000 if workload != "io" else None,
        summary=summary(makespan, at_once=at_once),
        server_survived=True,
    )


def with_cpu(entry: RunEntry, *, server: float, client: float) -> RunEntry:
    """``entry`` with its server's CPU seconds (the monitor's) and its load client's (the
    burst's), as a study records them since issue 17."""
    assert entry.summary is not None
    makespan = entry.summary.makespan or 0.0
    usage = Usage(
        samples=int(makespan * 20) + 2,
        duration=makespan,
        max_rss_bytes=40 * MIB,
        max_cgroup_bytes=None,
        cpu_seconds=server,
        mean_cores=server / makespan if makespan else None,
        max_processes=1,
        pids_seen=(4242,),
        root_exited=False,
    )
    return replace(entry, usage=usage, summary=replace(entry.summary, client_cpu_seconds=client))


def failed_run(name: str, server: Server, workload: str) -> RunEntry:
    return RunEntry(
        name=name,
        server=server,
        workload=workload,
        status="failed",
        files={"log": f"log/{name}.txt"},
        error=Failure("server-failed", detail="the server did not answer within 10 s"),
    )


def trial(probe: int, n: int, outcome: str, peak: int, *, requests: int = 10) -> Trial:
    failed = outcome != "ok"
    return Trial(
        probe=probe,
        name=f"p{probe:02d}_n{n}",
        n=n,
        verdict=Verdict(
            outcome="oom" if failed else "ok",
            oom_kills=1 if failed else 0,
            failed_requests=requests if failed else 0,
            client_errors=("RemoteDisconnected: Remote end closed connection",) if failed else (),
        ),
        requests=requests,
        ok_requests=0 if failed else requests,
        idle_bytes=30 * MIB,
        peak_bytes=peak,
        makespan=0.5,
        stopped_early=failed,
        prices=Prices(correct=0 if failed else requests, wrong=0),
        files={
            "records": f"p{probe:02d}_n{n}.records.jsonl",
            "samples": f"p{probe:02d}_n{n}.samples.jsonl",
            "server_log": f"p{probe:02d}_n{n}.log",
        },
    )


def search(name: str = "cpu_bounded_dev", server: Server = DEV) -> SearchEntry:
    """A finished search: a band between 1.5 M (passed twice) and 1.7 M (failed twice)."""
    trials = tuple(
        trial(probe, n, outcome, peak)
        for probe, n, outcome, peak in [
            (1, 1_000_000, "ok", 300 * MIB),
            (2, 2_000_000, "oom", 512 * MIB),
            (3, 1_500_000, "ok", 450 * MIB),
            (4, 1_700_000, "oom", 512 * MIB),
            (5, 1_500_000, "ok", 470 * MIB),
            (6, 1_700_000, "oom", 512 * MIB),
        ]
    )
    return SearchEntry(
        name=name,
        server=server,
        workload="cpu",
        limit_bytes=512 * MIB,
        requests=10,
        concurrency=10,
        policy=Policy(),
        folder=f"critical/{name}",
        cap=Cap(mechanism="cgroup-v1", limit_bytes=512 * MIB),
        idle_bytes=30 * MIB,
        bytes_per_element=40.0,
        in_memory_at_once=10,
        predicted_n=1_250_000,
        trials=trials,
        max_passing_n=1_500_000,
        min_failing_n=1_700_000,
        per_n=(
            NTrials(1_000_000, 1, 0, ("ok",)),
            NTrials(1_500_000, 2, 0, ("ok", "ok")),
            NTrials(1_700_000, 2, 2, ("oom", "oom")),
            NTrials(2_000_000, 1, 1, ("oom",)),
        ),
        peak_bytes=470 * MIB,
        oom_kills=4,
        probes=6,
        converged=True,
        stop=StopReason("band-resolved", low=1_500_000, high=1_700_000, band=0),
        complete=True,
    )


def guarded(entry: SearchEntry) -> SearchEntry:
    """``entry`` with a guard comparison: the guard refused 5 of 10 with 503 and lived."""
    without = next(t for t in entry.trials if t.failed)
    with_guard = Trial(
        probe=0,
        name=f"guarded_n{without.n}",
        n=without.n,
        verdict=Verdict(outcome="rejected", rejected_by_status={503: 5}),
        requests=10,
        ok_requests=5,
        idle_bytes=30 * MIB,
        peak_bytes=400 * MIB,
        makespan=1.0,
        stopped_early=False,
        prices=Prices(correct=5, wrong=0),
    )
    comparison = GuardComparison(
        n=without.n,
        budget_bytes=400 * MIB,
        budget_source="derived",
        worker_processes=1,
        limit_bytes=entry.limit_bytes,
        idle_bytes=30 * MIB,
        estimate_bytes_per_request=80 * MIB,
        estimate_bytes_per_element=44,
        without_guard=without,
        with_guard=with_guard,
        margin=0.1,
    )
    return replace(entry, guarded=comparison)


def failed_search(name: str = "cpu_bounded_prod_w1", server: Server = PROD) -> SearchEntry:
    """A search that could not run: the cap cannot measure memory."""
    return SearchEntry(
        name=name,
        server=server,
        workload="cpu",
        limit_bytes=512 * MIB,
        requests=10,
        concurrency=10,
        policy=Policy(),
        folder=f"critical/{name}",
        error=Failure("no-memory-measure"),
    )


def study(
    runs: Sequence[RunEntry],
    searches: Sequence[SearchEntry] = (),
    *,
    planned_runs: Sequence[RunEntry] | None = None,
    planned_searches: Sequence[SearchEntry] | None = None,
) -> Study:
    """A study of ``runs`` and ``searches``; the plan may name more (an interrupted study)."""
    plan_runs = runs if planned_runs is None else planned_runs
    plan_searches = searches if planned_searches is None else planned_searches
    return Study(
        servelab="0.1.0",
        created="2026-11-25T18:16:10+00:00",
        machine=MACHINE,
        plan=Plan(
            runs=tuple(PlannedRun(r.name, r.server, r.workload) for r in plan_runs),
            critical=tuple(
                PlannedSearch(s.name, s.server, s.workload, s.limit_bytes) for s in plan_searches
            ),
            requests=5,
            concurrency=5,
            n=5_000_000,
            io_delay=1.0,
            timeout=30.0,
        ),
        guard=GuardSettings(compare=any(s.guarded for s in searches)),
        runs=tuple(runs),
        critical=tuple(searches),
        complete=planned_runs is None and planned_searches is None,
        wall_seconds=12.5,
    )


def small_study() -> Study:
    """Two io runs (dev and prod) and one search (a second one that failed)."""
    return study(
        [
            run("io_bounded_dev", DEV, "io", 0.21),
            run("io_bounded_prod_w1", PROD, "io", 1.0),
        ],
        [search(), failed_search()],
    )


def write_jsonl(path: Path, rows: Sequence[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def write_folder(
    folder: Path,
    study: Study,
    *,
    records: Mapping[str, Sequence[Row]] | None = None,
    samples: Mapping[str, Sequence[Row]] | None = None,
) -> Path:
    """``study.json`` of ``study`` (through ``write_study``), the given records and samples
    (by run name, or by trial name for a search's probes), and an empty log for each run."""
    folder.mkdir(parents=True, exist_ok=True)
    write_study(folder, study)
    records, samples = records or {}, samples or {}
    for entry in study.runs:
        for key, rows in (("records", records), ("samples", samples)):
            if entry.name in rows and key in entry.files:
                write_jsonl(folder / entry.files[key], rows[entry.name])
        if "log" in entry.files:
            (folder / entry.files["log"]).parent.mkdir(parents=True, exist_ok=True)
            (folder / entry.files["log"]).write_text("", encoding="utf-8")
    for entry_search in study.critical:
        for probe in entry_search.trials:
            if probe.name in samples and "samples" in probe.files:
                path = folder / entry_search.folder / probe.files["samples"]
                write_jsonl(path, samples[probe.name])
    return folder
