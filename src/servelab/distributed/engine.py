"""``run_distributed``: a plan run on Locust, as one ``LoadSummary``."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from servelab.distributed.merge import merge, read_workers
from servelab.distributed.plan import Plan
from servelab.distributed.run import WORKERS_WAIT, run_locust
from servelab.errors import LoadError
from servelab.load.summary import LoadSummary, Parameters


def run_distributed(
    plan: Plan,
    *,
    out: Path | None,
    local_workers: int,
    bind_host: str = "127.0.0.1",
    port: int | None = None,
    workers_wait: float = WORKERS_WAIT,
) -> LoadSummary:
    """Run ``plan`` on Locust and merge what every worker sent.

    ``out``: where ``records.jsonl``, ``workers.json`` and Locust's logs stay (a temporary
    folder, removed after, when None). ``local_workers``: workers started on this machine;
    0 waits ``workers_wait`` s for ``plan.workers`` to connect from elsewhere.
    """
    run_dir = out if out is not None else Path(tempfile.mkdtemp(prefix="servelab-locust-"))
    try:
        ran = run_locust(
            plan,
            run_dir,
            local_workers=local_workers,
            bind_host=bind_host,
            port=port,
            workers_wait=workers_wait,
        )
        gave_up = _NO_WORKERS in ran.tail(3)
        if gave_up or not (run_dir / "workers.json").exists():
            if gave_up:
                raise LoadError(_no_workers(plan.workers, workers_wait, local_workers))
            why = "it ran past the run's time limit" if ran.timed_out else "its log ends:"
            tail = "" if ran.timed_out else " " + " | ".join(ran.tail(3).splitlines())
            raise LoadError(f"the Locust master ended without servelab's results: {why}{tail}")
        if not read_workers(run_dir)["workers"]:
            raise LoadError(_no_workers(plan.workers, workers_wait, local_workers))
        return merge(plan, run_dir, _parameters(plan))
    finally:
        if out is None:
            shutil.rmtree(run_dir, ignore_errors=True)


# What Locust's master logs when --expect-workers did not connect in time.
_NO_WORKERS = "Gave up waiting for workers to connect"


def _no_workers(expected: int, wait: float, local: int) -> str:
    how = (
        "see locust-worker-*.log (--out keeps them)"
        if local
        else "start them with `servelab locust-worker --master-host <this host> --master-port "
        "<the master's port>`"
    )
    return f"the {expected} Locust workers expected did not all connect within {wait:g} s: {how}"


def _parameters(plan: Plan) -> Parameters:
    """The run's parameters under the own engine's names, and the engine's."""
    common: Parameters = {
        "engine": "locust",
        "workers": plan.workers,
        "duration": plan.duration,
        "timeout": plan.timeout,
        "keep_alive": plan.keep_alive,
    }
    if plan.mode == "closed":
        return {
            "concurrency": plan.users,
            "requests": plan.requests,
            "think_time": plan.think_time,
            **common,
        }
    rate = (
        f"{plan.rate_start:g}"
        if plan.rate_start == plan.rate_end
        else (f"{plan.rate_start:g}:{plan.rate_end:g}")
    )
    return {
        "rate": rate,
        "rate_start": plan.rate_start,
        "rate_end": plan.rate_end,
        "requests": plan.open_count(),
        "max_in_flight": plan.max_in_flight,
        "drain": plan.timeout,
        **common,
    }
