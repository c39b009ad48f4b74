"""One memory-capped run: a fresh server in its own cap, one burst, a verdict.

Used by the critical-n search (one probe per n) and by the calibration that predicts it.
Files, under ``folder`` with stem ``name``:

    <name>.records.jsonl   one record per request (servelab.load.records)
    <name>.samples.jsonl   memory and CPU of the server's process tree (servelab.servers.monitor)
    <name>.log             what the server printed
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from ..errors import ConfigError, ServerStartError
from ..load import RequestRecord, run_burst, summarize
from ..servers import Monitor, RunningServer, ServerSpec, launch
from ..servers.cap import MechanismChoice, MemoryCap, open_cap
from ..service.config import ServiceConfig
from .verdict import Verdict, judge

# After the first OOM kill a probe has its answer. The lab waits this long for gunicorn to
# log the kill and the reboot (the report quotes those lines), then stops the server rather
# than letting every queued request kill the new worker again.
LOG_GRACE = 1.5
_WATCH_INTERVAL = 0.05


@dataclass(frozen=True)
class ProbeLoad:
    """The load every probe fires: the study's burst by default."""

    requests: int = 10
    concurrency: int = 10
    timeout: float = 300.0
    fail_fast: bool = True


@dataclass
class ProbeResult:
    """What one capped run measured."""

    name: str
    n: int
    verdict: Verdict
    idle_bytes: int | None
    peak_bytes: int | None
    summary: dict[str, Any]
    monitor: dict[str, Any]
    stopped_early: bool
    cap: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)
    memory_budget: int | None = None
    prices: dict[str, int] | None = None

    @property
    def failed(self) -> bool:
        return self.verdict.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n": self.n,
            "outcome": self.verdict.outcome,
            "verdict": self.verdict.to_dict(),
            "idle_bytes": self.idle_bytes,
            "peak_bytes": self.peak_bytes,
            "summary": self.summary,
            "monitor": self.monitor,
            "stopped_early": self.stopped_early,
            "cap": self.cap,
            "files": self.files,
            "memory_budget": self.memory_budget,
            "prices": self.prices,
        }


def expected_price(workload: str, area: float, n: int) -> int | None:
    """The price a correct server answers, or None when the lab cannot know it exactly.

    ``cpu`` and ``numpy`` both compute ``int(area * mean(0..n-1))``, and the mean comes out
    exactly ``(n - 1) / 2``: ``cpu`` sums Python ints exactly and divides with correct
    rounding; numpy sums in float64, exact while the total ``n(n-1)/2`` stays below 2**53
    (n up to about 134 million). Beyond that numpy's sum may round, so no price is claimed.
    ``model`` is a fitted model: None."""
    if workload == "cpu" or (workload == "numpy" and n * (n - 1) // 2 < 2**53):
        return int(area * ((n - 1) / 2))
    if workload == "io":
        # Imported here: the workloads module imports numpy, which every CLI command would
        # then pay for (and ``servelab load`` would run OpenBLAS's idle threads beside it).
        from ..service.workloads import IO_PRICE_PER_M2

        return int(area * IO_PRICE_PER_M2)
    return None


def check_prices(records: Iterable[RequestRecord], workload: str, n: int) -> dict[str, int] | None:
    """Among the 2xx responses, how many carried the correct price and how many did not."""
    correct = wrong = 0
    for record in records:
        if not record.ok:
            continue
        expected = expected_price(workload, record.area, n)
        if expected is None:
            return None
        try:
            price = json.loads(record.body or "")["price"]
        except (ValueError, TypeError, KeyError):
            price = None
        if price == expected:
            correct += 1
        else:
            wrong += 1
    return {"correct": correct, "wrong": wrong}


class _OomWatch:
    """Watches the cap's OOM counter during a burst; on the first kill, cancels the burst
    and, after LOG_GRACE, stops the server so the probe ends in seconds, not minutes."""

    def __init__(self, cap: MemoryCap, server: RunningServer, cancel: threading.Event) -> None:
        self.cap, self.server, self.cancel = cap, server, cancel
        self.baseline = cap.oom_kills()
        self.fate: str | None = None
        self.stopped_early = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="servelab-oom-watch", daemon=True)

    def __enter__(self) -> _OomWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._done.wait(_WATCH_INTERVAL):
            if self.cap.oom_kills() > self.baseline:
                break
        else:
            return
        self.cancel.set()
        if self._done.wait(LOG_GRACE):
            return
        ended = self.server.poll()
        self.fate = None if ended is None else ended.describe()
        if ended is None:
            self.stopped_early = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.server.pgid, signal.SIGKILL)


def _tree_rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.Error:
            continue
    return total


def _start(
    server: ServerSpec, cap: MemoryCap, *, folder: Path, env: dict[str, str], name: str
) -> RunningServer:
    """Launch inside the cap; a server the cap kills while it boots is a cap too small."""
    try:
        return launch(
            server, run_dir=folder, env=env, name=name, command_prefix=cap.command_prefix()
        )
    except ServerStartError as error:
        if cap.oom_kills():
            raise ConfigError(
                f"{server.describe()} does not even fit idle in {cap.describe()}: it was "
                f"OOM-killed while starting (log: {folder / (name + '.log')})"
            ) from None
        raise error


def run_probe(
    server: ServerSpec,
    workload: str,
    n: int,
    *,
    limit_bytes: int,
    folder: Path,
    name: str,
    load: ProbeLoad = ProbeLoad(),
    mechanism: MechanismChoice = "auto",
    io_delay: float = 1.0,
    on_record: Callable[[Any], None] | None = None,
    memory_budget: int | None = None,
) -> ProbeResult:
    """Start ``server`` serving ``workload`` at ``n`` inside a fresh cap; fire ``load``.

    ``memory_budget`` turns on the service's memory guard (bytes per server process)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "records": f"{name}.records.jsonl",
        "samples": f"{name}.samples.jsonl",
        "server_log": f"{name}.log",
    }
    for relative in files.values():
        (folder / relative).unlink(missing_ok=True)
    service = ServiceConfig(
        workload=workload,
        n=n,
        max_n=max(n, ServiceConfig().max_n),
        io_delay=io_delay,
        memory_budget=memory_budget,
    )
    with (
        open_cap(limit_bytes, mechanism=mechanism, label=name) as cap,
        _start(server, cap, folder=folder, env=service.to_env(), name=name) as srv,
    ):
        cap_info = cap.to_dict()
        # Without a cgroup (RLIMIT_AS fallback) the tree's RSS stands in, over-counting
        # pages that gunicorn's master shares with its workers; the source is recorded.
        idle = cap.usage_bytes()
        cap_info["memory_source"] = "cgroup" if idle is not None else "rss"
        if idle is None:
            idle = _tree_rss(srv.process_pids())
        cap.reset_peak()
        oom_before = cap.oom_kills()
        mark = srv.log_mark()
        cancel = threading.Event()
        watch = _OomWatch(cap, srv, cancel) if load.fail_fast else None
        with Monitor(srv.pid, folder / files["samples"], usage=cap) as monitor:
            if watch is not None:
                watch.__enter__()
            try:
                records = run_burst(
                    f"{srv.url}/predict",
                    requests=load.requests,
                    concurrency=load.concurrency,
                    timeout=load.timeout,
                    records_path=folder / files["records"],
                    on_record=on_record,
                    cancel=cancel,
                )
            finally:
                if watch is not None:
                    watch.__exit__()
        time.sleep(0.2)  # let gunicorn's arbiter print what it saw
        stopped_early = watch is not None and watch.stopped_early
        ended = srv.poll()
        if stopped_early:
            assert watch is not None
            fate = watch.fate
        else:
            fate = None if ended is None else ended.describe()
        log_text = srv.log_since(mark)
        peak = cap.peak_bytes()
        if peak is None:
            peak = monitor.summary.max_rss_bytes
        verdict = judge(
            records, oom_kills=cap.oom_kills() - oom_before, server_fate=fate, log_text=log_text
        )
        srv.stop()
    return ProbeResult(
        name=name,
        n=n,
        verdict=verdict,
        idle_bytes=idle,
        peak_bytes=peak,
        summary=summarize(records).to_dict(),
        monitor=monitor.summary.to_dict(),
        stopped_early=stopped_early,
        cap=cap_info,
        files=files,
        memory_budget=memory_budget,
        prices=check_prices(records, workload, n),
    )
