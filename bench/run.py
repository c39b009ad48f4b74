"""``make bench``: servelab's load engine against wrk and Locust, and its timing error.

A matrix of cells: each target (``bench/target_app.py`` on gunicorn, 2 workers: ``sync``
workers close every connection, ``gthread`` ones keep it alive) at each concurrency (1, 10,
50, 200). In each round every cell runs every tool once, the tools alternating (A B C A B
C ...) so that a drift of the machine hits every tool alike; each run reports requests/s
from the tool's own output, the client's CPU from ``os.wait4``, and, in a steady window
inside the run, the server's own request count and every process's CPU. Then each tool at
low concurrency against ``bench/fixed_delay_server.py``, which answers exactly D ms after a
request arrives: latency − D is the tool's timing error. ``--quick``: one round of short
runs, no Locust.

servelab runs twice in each round: ``servelab``, its C closed loop (the pure-Python one where
the C loop is not built), and ``servelab (pure Python)``, the same command with
``SERVELAB_PURE_PYTHON=1`` (``--no-pure`` leaves it out). Before any run each one's Python
says which loop it runs; a ``servelab`` that would run the pure loop although the C loop is
built stops the bench.

Writes ``bench/results.json`` (every run, raw), then ``bench/results.md`` from that file
(``bench.report``, the tables, printed too). Loopback only; every run is bounded in time.

    .venv/bin/python -m bench.run --duration 10 --rounds 3 --concurrency 50
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.measure import (
    ROOT,
    Finished,
    FixedDelayServer,
    Gunicorn,
    Sample,
    log_line,
    run_tool,
    self_cpu,
    system_busy,
    tail,
    tree_cpu,
    versions,
    wait_for_quiet,
)
from bench.report import percentile, regenerate
from bench.tools import LOCUST, PURE_ENV, SERVELAB, Engine, Tool, probe_engine, servelab_ready

# The steady window starts once every tool is surely loading (Locust imports gevent and
# spawns its users in about 2 s) and ends before any of them winds down.
_WINDOW_START = 2.5
_WINDOW_END_BEFORE = 1.0
_GRACE = 30.0  # a run longer than duration + this is stopped and marked timed out


@dataclass(frozen=True)
class Settings:
    """What one ``make bench`` measures; see ``--help``."""

    duration: int
    rounds: int
    concurrencies: tuple[int, ...]
    wrk_threads: tuple[int, ...]
    workers: int
    targets: tuple[str, ...]
    threads: int
    locust: bool
    pure: bool
    warmup: int
    quiet_wait: float
    delay_ms: float
    timing_concurrency: int
    timing_duration: int
    servelab_command: tuple[str, ...]
    out: Path


def parse_args(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (>= 6)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--concurrency",
        default="1,10,50,200",
        help="the matrix's concurrencies (default %(default)s)",
    )
    parser.add_argument(
        "--wrk-threads", default="1", help="wrk -t values, each its own tool (default 1)"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn -w")
    parser.add_argument(
        "--targets",
        default="sync,gthread",
        help="gunicorn worker classes, each a row of the matrix: sync closes every connection,"
        " gthread keeps it alive (default %(default)s)",
    )
    parser.add_argument("--threads", type=int, default=4, help="gthread's threads per worker")
    parser.add_argument("--no-locust", action="store_true", help="leave Locust out")
    parser.add_argument(
        "--no-pure",
        action="store_true",
        help=f"leave servelab (pure Python) out: servelab with {PURE_ENV}=1",
    )
    parser.add_argument("--warmup", type=int, default=2, help="seconds per tool, not counted")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=15.0,
        help="before each run, wait up to this many seconds for other processes to go idle",
    )
    parser.add_argument("--delay-ms", type=float, default=20.0, help="the fixed server's D")
    parser.add_argument("--timing-concurrency", type=int, default=5)
    parser.add_argument("--timing-duration", type=int, default=5)
    parser.add_argument(
        "--servelab-command",
        default="",
        help="servelab's command before the URL (default: .venv/bin/servelab load), e.g. to"
        " measure another checkout's engine",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a first look in a few minutes: 1 round of 6 s runs, 1 s warm-ups, no Locust",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup, args.no_locust = 1, 6, 1, True
        args.timing_duration, args.quiet_wait = 3, min(args.quiet_wait, 5.0)
    if args.duration < 6:
        parser.error("--duration must be at least 6 s (the steady window needs it)")
    try:
        concurrencies = tuple(int(c) for c in args.concurrency.split(",") if c.strip())
        threads = tuple(int(t) for t in args.wrk_threads.split(",") if t.strip())
    except ValueError:
        parser.error("--concurrency and --wrk-threads take comma-separated integers")
    if not concurrencies or min(concurrencies) < 1:
        parser.error("--concurrency: integers >= 1")
    if not threads or min(threads) < 1:
        parser.error("--wrk-threads: integers >= 1")
    targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    if not targets or any(t not in ("sync", "gthread") for t in targets):
        parser.error("--targets: sync and/or gthread")
    return Settings(
        duration=args.duration,
        rounds=max(1, args.rounds),
        concurrencies=concurrencies,
        wrk_threads=threads,
        workers=args.workers,
        targets=targets,
        threads=args.threads,
        locust=not args.no_locust,
        pure=not args.no_pure,
        warmup=args.warmup,
        quiet_wait=max(0.0, args.quiet_wait),
        delay_ms=args.delay_ms,
        timing_concurrency=args.timing_concurrency,
        timing_duration=max(1, args.timing_duration),
        servelab_command=tuple(shlex.split(args.servelab_command)),
        out=args.out,
    )


def throughput_run(
    tool: Tool,
    server: Gunicorn,
    cell: tuple[str, int],
    settings: Settings,
    round_no: int,
    scratch: Path,
) -> dict[str, Any]:
    """One tool in one cell (target, concurrency): its own numbers plus the steady window."""
    target, concurrency = cell

    def sample(pid: int, at: float) -> Sample:
        served = server.count()
        return Sample(at, tree_cpu(pid), server.cpu(), system_busy(), self_cpu(), served)

    argv = tool.argv(server.url, concurrency, settings.duration, None)
    quiet = wait_for_quiet(settings.quiet_wait)
    before = server.count()
    done = run_tool(
        argv,
        workdir=scratch,
        timeout=settings.duration + _GRACE,
        sample_at=(_WINDOW_START, settings.duration - _WINDOW_END_BEFORE),
        sampler=sample,
        env=tool.env(None),
    )
    served_total = server.count() - before
    row: dict[str, Any] = {
        "round": round_no,
        "target": target,
        "concurrency": concurrency,
        "tool": tool.name,
        **_environment(tool),
        **_finished(done),
        "served_total": served_total,
        "before_run": quiet,
        "steady": _steady(done.samples),
    }
    parsed = _parsed(tool, done.stdout, None, done.returncode, done.timed_out, done.stderr)
    for bulky in ("latencies_ms", "beyond_server_ms"):
        parsed.pop(bulky, None)
    row.update(parsed)
    if row.get("requests"):
        cpu = done.cpu_user + done.cpu_system
        row["cpu_ms_per_1k"] = cpu * 1e6 / row["requests"]
    return row


def timing_run(
    tool: Tool, server: FixedDelayServer, settings: Settings, round_no: int, scratch: Path
) -> dict[str, Any]:
    """One tool against the fixed-delay server: latency − D per request."""
    server.lateness()  # reset: the next numbers are this run's own
    argv = tool.argv(server.url, settings.timing_concurrency, settings.timing_duration, scratch)
    quiet = wait_for_quiet(settings.quiet_wait)
    busy, server_cpu, harness_cpu = system_busy(), server.cpu(), self_cpu()
    done = run_tool(
        argv, workdir=scratch, timeout=settings.timing_duration + _GRACE, env=tool.env(scratch)
    )
    others = (
        (system_busy() - busy)
        - (done.cpu_user + done.cpu_system)
        - (server.cpu() - server_cpu)
        - (self_cpu() - harness_cpu)
    )
    row: dict[str, Any] = {
        "round": round_no,
        "tool": tool.name,
        **_environment(tool),
        **_finished(done),
        "server_lateness": server.lateness(),
        "other_cores": others / done.wall,
        "before_run": quiet,
    }
    parsed = _parsed(tool, done.stdout, scratch, done.returncode, done.timed_out, done.stderr)
    latencies = parsed.pop("latencies_ms", [])
    percentiles = parsed.pop("percentiles_ms", {})
    beyond = sorted(parsed.pop("beyond_server_ms", []))
    row.update(parsed)
    d = settings.delay_ms
    if beyond:
        row["beyond_server_ms"] = {f"p{q}": percentile(beyond, q / 100) for q in (50, 90, 99)}
    if latencies:
        row["timed_requests"] = len(latencies)
        row["error_ms"] = {
            f"p{q}": percentile(sorted(latencies), q / 100) - d for q in (50, 90, 99)
        }
        row["error_source"] = "every request"
    elif percentiles:
        row["timed_requests"] = row.get("requests", 0)
        row["error_ms"] = {f"p{q}": percentiles[str(q)] - d for q in (50, 90, 99)}
        row["error_source"] = "wrk's printed percentiles"
    return row


def _environment(tool: Tool) -> dict[str, Any]:
    """What the run had on top of the harness's environment, beside its ``argv``: the two
    servelab tools differ only there."""
    return {"environment": dict(tool.environment)} if tool.environment else {}


def _finished(done: Finished) -> dict[str, Any]:
    return {
        "argv": done.argv,
        "returncode": done.returncode,
        "timed_out": done.timed_out,
        "wall": done.wall,
        "cpu_user": done.cpu_user,
        "cpu_system": done.cpu_system,
    }


def _parsed(
    tool: Tool, stdout: str, workdir: Path | None, returncode: int, timed_out: bool, stderr: str
) -> dict[str, Any]:
    if timed_out or returncode != 0:
        return {"failure": f"exit {returncode}, timed out: {timed_out}; {tail(stderr)}"}
    try:
        report = tool.parse(stdout, workdir)
    except (ValueError, KeyError, OSError, StopIteration) as exc:
        return {"failure": f"{type(exc).__name__}: {exc}; {tail(stdout)} {tail(stderr)}"}
    return asdict(report)


def _steady(samples: list[Sample]) -> dict[str, Any] | None:
    if len(samples) != 2 or samples[0].served is None or samples[1].served is None:
        return None
    a, b = samples
    seconds = b.at - a.at
    served = b.served - a.served if b.served is not None and a.served is not None else 0
    client = b.client_cpu - a.client_cpu
    server = b.server_cpu - a.server_cpu
    other = (b.system_busy - a.system_busy) - client - server - (b.harness_cpu - a.harness_cpu)
    return {
        "seconds": seconds,
        "served": served,
        "served_rps": served / seconds,
        "client_cpu": client,
        "server_cpu": server,
        "other_cpu": other,
        "client_cpu_ms_per_1k": client * 1e6 / served if served else None,
        "server_cpu_ms_per_1k": server * 1e6 / served if served else None,
        "client_cores": client / seconds,
        "server_cores": server / seconds,
        "other_cores": other / seconds,
    }


def bench(settings: Settings) -> dict[str, Any]:
    """Run everything; the raw results, ready for ``results.json``."""
    prefix = settings.servelab_command or SERVELAB
    if not servelab_ready(prefix):
        raise SystemExit(f"bench: {' '.join(prefix)} has no closed loop (--mode closed)")
    # "0" rather than nothing: a SERVELAB_PURE_PYTHON=1 left in the shell must not turn the C
    # tool into a second pure one.
    servelab = Tool("servelab", "servelab", prefix=prefix, environment=((PURE_ENV, "0"),))
    pure = Tool("servelab (pure Python)", "servelab", prefix=prefix, environment=((PURE_ENV, "1"),))
    wrks = [Tool(f"wrk -t{t}", "wrk", threads=t) for t in settings.wrk_threads]
    locust = [Tool("locust", "locust")] if settings.locust else []
    # The pure tool right after the reference wrk: servelab and wrk -t1 stay adjacent (their
    # paired ratio is a goal), and the pure tool's own ratio is paired almost as closely.
    ours = [servelab, pure] if settings.pure else [servelab]
    tools = [servelab, wrks[0], *ours[1:], *wrks[1:], *locust]
    timing_tools = [servelab, wrks[0], *ours[1:], *locust]
    engines = _engines(ours)
    meta: dict[str, Any] = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()},
        "servelab_version": versions({"servelab": [prefix[0], "--version"]})["servelab"],
        "servelab_command": list(prefix),
        # Per servelab tool: the loop it ran ("C" or "Python"), whether the C loop was built,
        # and the environment its runs had on top of the harness's.
        "engines": {
            tool.name: {**asdict(engines[tool.name]), "environment": dict(tool.environment)}
            for tool in ours
        },
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg()),
        "steady_window": {"after_start_s": _WINDOW_START, "before_end_s": _WINDOW_END_BEFORE},
        "versions": versions(
            {
                "wrk": ["wrk", "--version"],
                "locust": [str(LOCUST), "--version"],
                "gunicorn": [str(ROOT / ".venv" / "bin" / "gunicorn"), "--version"],
            }
        ),
    }
    log_line(f"servelab: {' '.join(prefix)}")
    for tool in ours:
        log_line(f"{tool.name}: the {engines[tool.name].runs} loop")
    throughput: list[dict[str, Any]] = []
    timing: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="servelab-bench-") as tmp:
        scratch = Path(tmp)
        meta["target_commands"] = {}
        for kind in settings.targets:
            log = scratch / f"gunicorn-{kind}.log"
            with Gunicorn(settings.workers, kind, log, settings.threads) as target:
                meta["target_commands"][kind] = target.argv
                log_line(f"target {kind} {target.url}: warm-up, {settings.warmup} s per tool")
                for tool in tools:
                    if settings.warmup > 0:
                        run_tool(
                            tool.argv(
                                target.url, max(settings.concurrencies), settings.warmup, None
                            ),
                            workdir=scratch,
                            timeout=settings.warmup + _GRACE,
                            env=tool.env(None),
                        )
                for round_no in range(1, settings.rounds + 1):
                    for concurrency in settings.concurrencies:
                        for tool in tools:
                            if tool.kind == "wrk" and tool.threads > concurrency:
                                continue  # wrk needs a connection per thread
                            cell = (kind, concurrency)
                            row = throughput_run(tool, target, cell, settings, round_no, scratch)
                            throughput.append(row)
                            log_line(_progress(row))
        lifetime = _timing_budget(settings, len(timing_tools))
        with FixedDelayServer(settings.delay_ms, lifetime=lifetime) as fixed:
            meta["fixed_delay_command"] = fixed.argv
            for round_no in range(1, settings.rounds + 1):
                for index, tool in enumerate(timing_tools):
                    run_dir = scratch / f"timing-{round_no}-{index}"  # two tools are servelab
                    run_dir.mkdir()
                    row = timing_run(tool, fixed, settings, round_no, run_dir)
                    timing.append(row)
                    log_line(_progress(row))
    return {"meta": meta, "throughput": throughput, "timing": timing}


def _engines(tools: list[Tool]) -> dict[str, Engine]:
    """Each servelab tool's loop, asked before any run; ``SystemExit`` when one would measure
    another loop than its name says: a bench of the wrong loop is worse than none."""
    engines: dict[str, Engine] = {}
    for tool in tools:
        try:
            engine = engines[tool.name] = probe_engine(tool)
        except ValueError as exc:
            raise SystemExit(f"bench: {tool.name}: {exc}") from exc
        wanted = "C" if tool.name == "servelab" and engine.built else "Python"
        if engine.runs != wanted:
            # What its runs see, the harness's own environment included.
            said = {**os.environ, **tool.env(None)}.get(PURE_ENV, "unset")
            raise SystemExit(
                f"bench: {tool.name} would run the {engine.runs} loop, not the {wanted} one"
                f" (C loop built: {engine.built}; {PURE_ENV}: {said})"
            )
    if tools and not engines[tools[0].name].built:
        log_line("servelab: no C loop built here; servelab runs the pure-Python loop too")
    return engines


def _timing_budget(settings: Settings, tools: int) -> float:
    per_run = settings.timing_duration + _GRACE + settings.quiet_wait + 1.0
    return settings.rounds * tools * per_run + 60.0


def _progress(row: dict[str, Any]) -> str:
    cell = f" {row['target']} c={row['concurrency']}" if "target" in row else ""
    head = f"round {row['round']}{cell} {row['tool']}:"
    if "failure" in row:
        return f"{head} FAILED {row['failure']}"
    if "error_ms" in row:
        return f"{head} timing error median {row['error_ms']['p50']:.3f} ms"
    return f"{head} {row['rps']:.0f} req/s, {row.get('cpu_ms_per_1k', 0):.1f} ms CPU/1000 req"


def _relative(value: Any) -> Any:
    """``value`` with this checkout's absolute path cut from every string: a file to commit."""
    if isinstance(value, str):
        return value.replace(f"{ROOT}/", "")
    if isinstance(value, list):
        return [_relative(v) for v in value]
    if isinstance(value, dict):
        return {k: _relative(v) for k, v in value.items()}
    return value


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    settings.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = bench(settings)
    results["meta"]["bench_seconds"] = round(time.monotonic() - started, 1)
    results = _relative(results)
    (settings.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    # From the file, as `python -m bench.report` does: the tables are what results.json says.
    print(regenerate(settings.out / "results.json"))
    failed = [r for r in results["throughput"] + results["timing"] if "failure" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
