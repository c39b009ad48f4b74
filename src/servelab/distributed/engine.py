"""``run_distributed``: a plan run on Locust, as one ``LoadSummary``; ``LocustEngine``: the
sweep's load phases (its closed loops and its rate steps) run that way."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from servelab._io import iter_jsonl
from servelab.distributed.merge import merge, read_workers
from servelab.distributed.plan import RECORDS_FILE, WORKERS_FILE, Plan
from servelab.distributed.run import WORKERS_WAIT, OnStart, run_locust
from servelab.errors import LoadError
from servelab.load.records import RequestRecord
from servelab.load.request import RequestSpec
from servelab.load.schedule import Rate
from servelab.load.summary import LoadSummary, Parameters


def run_distributed(
    plan: Plan,
    *,
    out: Path | None,
    local_workers: int,
    bind_host: str = "127.0.0.1",
    port: int | None = None,
    workers_wait: float = WORKERS_WAIT,
    on_start: OnStart | None = None,
    on_record: Callable[[RequestRecord], None] | None = None,
) -> LoadSummary:
    """Run ``plan`` on Locust and merge what every worker sent.

    ``on_start``: see ``run_locust``. ``on_record`` sees every record once the run is over
    (the own engine's sees them as they come).

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
            on_start=on_start,
        )
        gave_up = _NO_WORKERS in ran.tail(3)
        if gave_up or not (run_dir / WORKERS_FILE).exists():
            if gave_up:
                raise LoadError(_no_workers(plan.workers, workers_wait, local_workers))
            why = "it ran past the run's time limit" if ran.timed_out else "its log ends:"
            tail = "" if ran.timed_out else " " + " | ".join(ran.tail(3).splitlines())
            raise LoadError(f"the Locust master ended without servelab's results: {why}{tail}")
        workers = read_workers(run_dir)["workers"]
        if not workers:
            raise LoadError(_no_workers(plan.workers, workers_wait, local_workers))
        errors = [w for w in workers if w.get("error")]
        if len(errors) == len(workers):
            first = errors[0]
            raise LoadError(
                f"no Locust worker could run: worker #{first['index']}: {first['error']}"
            )
        summary = merge(plan, run_dir, _parameters(plan))
        if on_record is not None and (run_dir / RECORDS_FILE).exists():
            for _, row in iter_jsonl(run_dir / RECORDS_FILE):
                on_record(RequestRecord.from_dict(row))
        return summary
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
    return {
        "rate": str(Rate.ramp(plan.rate_start, plan.rate_end)),  # as the own engine says it
        "rate_start": plan.rate_start,
        "rate_end": plan.rate_end,
        "requests": plan.open_count(),
        "max_in_flight": plan.max_in_flight,
        "drain": plan.timeout,
        **common,
    }


class LocustEngine:
    """A sweep's load phases on a Locust master and ``processes`` workers on this machine.

    Each phase is one Locust run (a few seconds of starting processes before the load: the
    sweep's time budget pays for it), merged as ``servelab load --engine locust`` merges.
    """

    # Seconds from starting Locust's processes to the first request: about 2.5 s of imports
    # and connecting here, and the master's START_AFTER.
    startup: float = 4.0

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise LoadError(f"Locust needs at least 1 worker process, not {processes}")
        self.processes = processes

    def closed_loop(
        self,
        url: str,
        *,
        concurrency: int,
        duration: float,
        request: RequestSpec,
        timeout: float,
        keep_alive: bool,
    ) -> LoadSummary:
        workers = min(self.processes, concurrency)  # Locust would give a worker no user
        plan = Plan.sending(
            url,
            request,
            mode="closed",
            workers=workers,
            timeout=timeout,
            keep_alive=keep_alive,
            duration=duration,
            users=concurrency,
        )
        return run_distributed(plan, out=None, local_workers=workers)

    def open_loop(
        self,
        url: str,
        *,
        rate: Rate,
        duration: float,
        max_in_flight: int,
        request: RequestSpec,
        timeout: float,
        keep_alive: bool,
        on_record: Callable[[RequestRecord], None],
        on_start: OnStart,
    ) -> LoadSummary:
        plan = Plan.sending(
            url,
            request,
            mode="open",
            workers=self.processes,
            timeout=timeout,
            keep_alive=keep_alive,
            duration=duration,
            rate_start=rate.start,
            rate_end=rate.end,
            max_in_flight=max_in_flight,
        )
        return run_distributed(
            plan,
            out=None,
            local_workers=self.processes,
            on_start=on_start,
            on_record=on_record,
        )
