"""``make bench-distributed``: servelab on Locust against the own engine and FastHttpUser.

Three figures, the goals of `servelab load --engine locust` (issue 16), against the bench's
fixed-delay server (every response exactly ``--delay-ms`` after its request arrived, and
its own count of what it answered):

1. **Agreement with the own engine.** The same open loop (``--rate`` for ``--duration`` s)
   from the own engine and from servelab on Locust (master + ``--processes`` workers),
   alternating, ``--rounds`` times: p50 (goal: within 10% or 1 ms) and throughput (goal:
   within 5%), and each run's request count against the server's own.
2. **Client CPU per request** of servelab's Locust user against a plain ``FastHttpUser``
   (``bench/locustfile.py``), both on a Locust master and one worker, both closed loops
   of ``--users`` users with no wait: the worker process's CPU over a steady window divided
   by what the server answered in it (goal: servelab's at most 1.15x). The masters' CPU
   is shown too: servelab's master writes every record, Locust's only merges counts.

    .venv/bin/python -m bench.distributed            # ~2 min
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import Any

import psutil

from bench.measure import ROOT, FixedDelayServer, free_port, http_get

FAST_LOCUSTFILE = ROOT / "bench" / "locustfile.py"
SERVELAB = [sys.executable, "-m", "servelab"]


def _port(server: FixedDelayServer) -> int:
    return int(server.url.rstrip("/").rsplit(":", 1)[1])


def _take_count(port: int) -> int:
    return int(json.loads(http_get(f"http://127.0.0.1:{port}/__stats"))["responses"])


def _load(port: int, args: Sequence[str]) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/x"
    done = subprocess.run(
        [*SERVELAB, "load", url, "--method", "GET", "--json", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"servelab load {' '.join(args)} failed: {done.stderr.strip()}")
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def agreement(port: int, rate: float, duration: float, processes: int, rounds: int) -> None:
    print(f"\n## Open loop at {rate:g}/s for {duration:g} s: own engine vs Locust x{processes}")
    print("| round | engine | requests | server counted | p50 ms | p99 ms | req/s |")
    print("|--:|---|--:|--:|--:|--:|--:|")
    p50s: dict[str, list[float]] = {"own": [], "locust": []}
    rps: dict[str, list[float]] = {"own": [], "locust": []}
    common = ["--mode", "open", "--rate", f"{rate:g}", "--duration", f"{duration:g}"]
    for number in range(1, rounds + 1):
        for engine in ("own", "locust"):
            extra = ["--engine", "locust", "--processes", str(processes)]
            if engine == "own":
                extra = []
            _take_count(port)
            summary = _load(port, [*common, *extra])
            counted = _take_count(port)
            p50 = summary["latency"]["p50"] * 1e3
            p99 = summary["latency"]["p99"] * 1e3
            throughput = summary["throughput"]
            p50s[engine].append(p50)
            rps[engine].append(throughput)
            print(
                f"| {number} | {engine} | {summary['requests']} | {counted} | {p50:.3f} | "
                f"{p99:.3f} | {throughput:.1f} |"
            )
    own, locust = statistics.median(p50s["own"]), statistics.median(p50s["locust"])
    own_rps, locust_rps = statistics.median(rps["own"]), statistics.median(rps["locust"])
    print(
        f"\nmedian p50: own {own:.3f} ms, locust {locust:.3f} ms: {locust - own:+.3f} ms "
        f"({(locust / own - 1) * 100:+.1f}%); throughput: own {own_rps:.1f}, locust "
        f"{locust_rps:.1f} ({(locust_rps / own_rps - 1) * 100:+.2f}%)"
    )


def _locust_processes(
    roots: Sequence[psutil.Process],
) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """The Locust masters and workers among ``roots`` and their descendants."""
    masters, workers = [], []
    for root in roots:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in tree:
            try:
                line = proc.cmdline()
            except psutil.Error:
                continue
            if "--worker" in line:
                workers.append(proc)
            elif "--master" in line and "locust" in " ".join(line):
                masters.append(proc)
    return masters, workers


def _cpu(procs: Sequence[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _window(
    port: int, roots: Sequence[psutil.Process], settle: float, window: float
) -> tuple[float, float, int]:
    """(master CPU s, worker CPU s, requests the server answered) over a steady window."""
    deadline = time.monotonic() + 60
    _take_count(port)
    while _take_count(port) == 0:  # Locust is still starting
        if time.monotonic() > deadline:
            raise SystemExit("the load never started")
        time.sleep(0.2)
    time.sleep(settle)
    masters, workers = _locust_processes(roots)
    if not workers:
        raise SystemExit("no Locust worker found")
    m0, w0 = _cpu(masters), _cpu(workers)
    _take_count(port)
    time.sleep(window)
    counted = _take_count(port)
    return _cpu(masters) - m0, _cpu(workers) - w0, counted


@contextlib.contextmanager
def _stopped_after() -> Iterator[list[subprocess.Popen[bytes]]]:
    """A list to put started processes in; each one's group is killed on the way out, so a
    failed or interrupted run leaves no Locust behind."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _fast_http_user(
    port: int, users: int, seconds: float, started: list[subprocess.Popen[bytes]]
) -> None:
    """Locust's own FastHttpUser on a master and one worker, appended to ``started`` as
    each starts."""
    bind = str(free_port())
    locust = [sys.executable, "-m", "locust", "-f", str(FAST_LOCUSTFILE)]
    started.append(subprocess.Popen(
        [*locust, "--master", "--headless", "--only-summary", "--expect-workers", "1",
         "-u", str(users), "-r", str(users), "-t", f"{seconds:g}s",
         "--master-bind-host", "127.0.0.1", "--master-bind-port", bind,
         "--host", f"http://127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    ))  # fmt: skip
    started.append(
        subprocess.Popen(
            [*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", bind],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    )


def client_cpu(port: int, users: int, rounds: int, settle: float, window: float) -> None:
    print(f"\n## Client CPU per request, closed loop, {users} users, master + 1 worker")
    print("| round | user | server req/s | worker CPU ms/req | master CPU ms/req |")
    print("|--:|---|--:|--:|--:|")
    per: dict[str, list[float]] = {"FastHttpUser": [], "servelab": []}
    seconds = settle + window + 8
    for number in range(1, rounds + 1):
        for name in ("FastHttpUser", "servelab"):
            with tempfile.TemporaryDirectory() as out, _stopped_after() as started:
                if name == "servelab":
                    started.append(
                        subprocess.Popen(
                            [*SERVELAB, "load", f"http://127.0.0.1:{port}/x", "--method", "GET",
                             "--engine", "locust", "--processes", "1", "--mode", "closed",
                             "--concurrency", str(users), "--duration", f"{seconds:g}",
                             "--out", out],
                            stdout=subprocess.DEVNULL,
                            start_new_session=True,
                        )
                    )  # fmt: skip
                else:
                    _fast_http_user(port, users, seconds, started)
                roots = [psutil.Process(p.pid) for p in started]
                master, worker, counted = _window(port, roots, settle, window)
                for each in started:
                    each.wait(timeout=120)
            per[name].append(worker / counted * 1e3)
            print(
                f"| {number} | {name} | {counted / window:.0f} | {worker / counted * 1e3:.3f} | "
                f"{master / counted * 1e3:.3f} |"
            )
    fast, ours = statistics.median(per["FastHttpUser"]), statistics.median(per["servelab"])
    print(f"\nmedian worker CPU per request: FastHttpUser {fast:.3f} ms, servelab {ours:.3f} ms: "
          f"{ours / fast:.2f}x")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--cpu-delay-ms", type=float, default=5.0)
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--only", choices=("agreement", "cpu"), default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("NO_COLOR", "1")
    if args.only in (None, "agreement"):
        with FixedDelayServer(args.delay_ms, lifetime=900) as server:
            agreement(_port(server), args.rate, args.duration, args.processes, args.rounds)
    if args.only in (None, "cpu"):
        with FixedDelayServer(args.cpu_delay_ms, lifetime=900) as server:
            client_cpu(_port(server), args.users, args.rounds, args.settle, args.window)
    return 0


if __name__ == "__main__":
    sys.exit(main())
