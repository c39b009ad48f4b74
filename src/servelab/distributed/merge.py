"""One summary from every worker's records: exact percentiles over their union.

The master wrote each worker's rows to ``records.jsonl`` as they came and, at the end,
``workers.json`` (who finished, who was lost, the counts only a worker knows). Here the
rows go through the own engine's ``Recorder`` (``add_row``), so a distributed run's summary
is computed by the same code as a local one: every latency counts, none is bucketed.

Across machines the rows' epoch times come from each worker's clock: durations (latency,
service time) are exact whatever the clocks, while the time series and the in-flight count
line the workers up only as well as their clocks agree (NTP: milliseconds).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from servelab._io import SkippedLines, iter_jsonl
from servelab.distributed.plan import RECORDS_FILE, WORKERS_FILE, Plan
from servelab.errors import LoadError
from servelab.load.recorder import Recorder
from servelab.load.summary import LoadSummary, Parameters, WorkerShare, max_concurrent


def read_workers(run_dir: Path) -> dict[str, Any]:
    """``workers.json``, or a ``LoadError`` saying the master never wrote it."""
    path = run_dir / WORKERS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise LoadError(f"the Locust master wrote no {path.name} ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("workers"), list):
        raise LoadError(f"{path} is not what servelab's Locust master writes")
    return data


def merge(plan: Plan, run_dir: Path, parameters: Parameters) -> LoadSummary:
    """The summary of the run the master recorded in ``run_dir``."""
    report = read_workers(run_dir)
    workers = report["workers"]
    stats = [w["stats"] for w in workers if w.get("stats")]
    starts = [float(s["start"]) for s in stats]
    records = run_dir / RECORDS_FILE
    skipped = SkippedLines(run_dir / RECORDS_FILE)
    if not starts and records.exists():  # every worker was lost: the first request's time
        starts = [min((float(row["intended_start"]) for _, row in iter_jsonl(records)), default=0)]
    recorder = Recorder(scheduled=plan.mode == "open")
    recorder.restart_clock(wall=min(starts, default=0.0))
    if records.exists():  # read as a stream: a row is kept only as the recorder's numbers
        for _, row in iter_jsonl(records, skipped):
            recorder.add_row(row)
    recorder.held_back = sum(int(s["held_back"]) for s in stats)
    recorder.close()
    shares = tuple(
        WorkerShare(
            index=int(w["index"]),
            node=str(w["node"]),
            requests=int(w["rows"]),
            lost=bool(w["lost"]),
            client_cpu_seconds=(w.get("stats") or {}).get("client_cpu_seconds"),
            error=w.get("error"),
        )
        for w in sorted(workers, key=lambda w: int(w["index"]))
    )
    cpu = [s.client_cpu_seconds for s in shares if s.client_cpu_seconds is not None]
    summary = recorder.summary(
        mode=plan.mode,
        url=plan.url,
        method=plan.method,
        parameters={**parameters, "skipped_lines": skipped.count} if skipped.count else parameters,
        max_in_flight_seen=_most_in_flight(recorder),
        connections_opened=sum(int(s["connections_opened"]) for s in stats),
        client_cpu_seconds=round(sum(cpu), 4) if cpu else None,
    )
    return replace(summary, workers=shares)


def _most_in_flight(recorder: Recorder) -> int:
    """The most requests in flight at once over every worker, from the rows' own times
    (start = end - service time), on the workers' clocks."""
    if not recorder.ends:
        return 0
    ends = np.frombuffer(recorder.ends)
    service = recorder.service_times if recorder.service_times is not None else recorder.latencies
    starts = ends - np.frombuffer(service)
    return max_concurrent(zip(starts.tolist(), ends.tolist(), strict=True))
