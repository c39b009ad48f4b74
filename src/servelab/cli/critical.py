"""``servelab critical-n``: the breaking point of servers and workloads under a memory cap.

Servers are given in the spec grammar ``servelab study`` uses (``--server
gunicorn:w2:gthread:t4``, repeatable); the older ``--server gunicorn --workers 2
--worker-class gthread --threads 4`` still works for one server. Every search of the plan is
checked before the first server starts.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..errors import ConfigError
from ..results import SearchEntry
from ..servers import WORKER_CLASSES, ServerSpec
from ..servers.cap import MECHANISM_CHOICES, MechanismChoice
from ..study.critical import SearchPolicy
from ..study.critical_run import APP_POLICY, CriticalSpec, find_critical_n
from ..study.plan import check_cap_fits
from ..study.trial import Burst, TrialResult
from ..units import format_size, parse_size
from ..workloads import APP_WORKLOAD, CRITICAL_WORKLOADS
from . import words
from .app_options import app_choice, app_options
from .options import check_idle

console = Console(stderr=True)
_OLD_FLAGS = "--workers/--worker-class/--threads"


def _servers(
    texts: tuple[str, ...], workers: int | None, worker_class: str | None, threads: int | None
) -> tuple[ServerSpec, ...]:
    """The specs of ``--server``; the older flags complete one bare ``gunicorn``."""
    if workers is None and worker_class is None and threads is None:
        return tuple(ServerSpec.parse(text) for text in texts)
    if len(texts) != 1 or ":" in texts[0]:
        raise ConfigError(
            f"{_OLD_FLAGS} complete one bare --server gunicorn; for several servers write"
            " each as a spec, e.g. --server gunicorn:w2:gthread:t4"
        )
    kind = ServerSpec.parse(texts[0])
    if not kind.kind_info.takes_settings:
        raise ConfigError(f"{kind.kind} takes no {_OLD_FLAGS}")
    # None is "not given"; a 0 goes to the spec's own check (w0 is refused, not made 1).
    text = f"{kind.kind}:w{1 if workers is None else workers}:{worker_class or 'sync'}"
    if threads is not None:
        text += f":t{threads}"
    return (ServerSpec.parse(text),)


def print_result(entry: SearchEntry) -> None:
    """A human summary of one search on stdout."""
    out = Console()
    server = ServerSpec.from_server(entry.server).describe()
    cap = words.cap(entry.cap) if entry.cap else "no cap was made"
    out.print(
        f"[bold]{server}[/bold], {entry.workload} workload, "
        f"cap {format_size(entry.limit_bytes)} ({cap})"
    )
    if entry.memory_budget:
        out.print(
            f"memory guard on: {format_size(entry.memory_budget)} per server process "
            "(a refused request counts as a failed trial)"
        )
    if entry.error is not None:
        out.print(f"[red]no search: {words.failure(entry.error)}[/red]")
        return
    app = entry.workload == APP_WORKLOAD
    n_word, unit = ("size", "unit of size") if app else ("n", "element")
    fixed = f" + {format_size(entry.fixed_bytes)} per request" if entry.fixed_bytes else ""
    overlap = entry.overlap
    at_once = words.ENGLISH.plural(entry.in_memory_at_once, "request")
    worst = overlap.worst_case_n if overlap is not None else entry.predicted_n or 0
    out.print(
        f"model: idle {format_size(entry.idle_bytes or 0)}, "
        f"{entry.bytes_per_element or 0:.1f} bytes per {unit}{fixed}, "
        f"{at_once} in memory at once -> "
        + (
            f"worst case {worst:,}"
            if overlap is not None
            else f"predicted critical {n_word} {worst:,}"
        )
    )
    if overlap is not None and overlap.at_once is not None:
        band = " .. ".join(f"{n:,}" if n else "n/a" for n in (overlap.at(0.05), overlap.at(0.95)))
        out.print(
            f"overlap: {len(overlap.trials)} bursts held about {overlap.at_once:.1f} arrays at "
            f"once (spread {overlap.spread or 0:.0%}) -> predicted 50% failure at "
            f"{overlap.at(0.5) or 0:,} (5% .. 95%: {band})"
        )
    elif overlap is not None:
        out.print(
            f"overlap: {len(overlap.trials)} bursts gave no fit; searched from the worst case"
        )
    table = Table(n_word, "trials", "failed", "outcomes")
    for at in entry.per_n:
        table.add_row(f"{at.n:,}", str(at.trials), str(at.failures), ", ".join(at.outcomes))
    out.print(table)
    passing, failing = entry.max_passing_n, entry.min_failing_n
    out.print(
        f"largest {n_word} that never failed: [bold]{passing:,}[/bold]; "
        if passing
        else f"no {n_word} passed every trial; ",
        end="",
    )
    out.print(
        f"smallest {n_word} that always failed: [bold]{failing:,}[/bold]"
        if failing
        else f"no {n_word} failed every trial"
    )
    stop = words.stop_reason(entry.stop) if entry.stop else "not finished"
    out.print(f"{entry.probes} probes in {entry.wall_seconds} s: {stop}")


def _on_probe(label: str, probe: TrialResult) -> None:
    peak = format_size(probe.peak_bytes) if probe.peak_bytes else "n/a"
    reason = words.verdict_reason(probe.verdict, probe.summary.requests)
    console.print(
        f"{label:>12}  n={probe.setup.n:>13,}  {probe.verdict.outcome:<12} peak {peak:>10}  "
        f"{reason}",
        highlight=False,
        soft_wrap=True,
    )


@click.command("critical-n")
@app_options
@click.option(
    "--server",
    "servers",
    multiple=True,
    required=True,
    help="Server spec, repeatable: flask-dev, gunicorn, gunicorn:w2, gunicorn:w2:gthread:t4, "
    "gunicorn:w1:gevent.",
)
@click.option("--workers", type=int, default=None, help="gunicorn workers [1] (older form).")
@click.option(
    "--worker-class",
    type=click.Choice(WORKER_CLASSES),
    default=None,
    help="gunicorn worker class [sync] (older form).",
)
@click.option("--threads", type=int, default=None, help="Threads per gthread worker (older form).")
@click.option(
    "--workload",
    "workloads",
    type=click.Choice(CRITICAL_WORKLOADS),
    multiple=True,
    help="Workload, repeatable (not with --app: its request is the workload).",
)
@click.option(
    "--memory",
    required=True,
    help="The memory cap for the server and all it forks, e.g. 384MiB or 1GiB.",
)
@click.option(
    "--concurrency",
    type=int,
    default=10,
    show_default=True,
    help="Parallel requests per probe (the study's load).",
)
@click.option(
    "--requests",
    "requests_",
    type=int,
    default=None,
    help="Requests per probe [same as --concurrency].",
)
@click.option(
    "--repeats", type=int, default=3, show_default=True, help="Trials per n near the boundary."
)
@click.option(
    "--tolerance",
    type=float,
    default=0.05,
    show_default=True,
    help="Stop bisecting when the bracket is this narrow (relative).",
)
@click.option(
    "--cap",
    "mechanism",
    type=click.Choice(MECHANISM_CHOICES),
    default="auto",
    show_default=True,
    help="How to cap memory; rlimit (RLIMIT_AS) fails differently: MemoryError, not OOM kills.",
)
@click.option(
    "--memory-budget",
    "memory_budget",
    default=None,
    metavar="SIZE",
    help="Run every probe (not the calibration) with the service's memory guard on, e.g. "
    "150MiB per server process: the search then finds where the guard starts refusing.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/critical-n"),
    show_default=True,
    help="Folder for each search's folder (search.json and every probe's files).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print each search as one JSON object (a line each)."
)
def critical_n(
    servers: tuple[str, ...],
    workers: int | None,
    worker_class: str | None,
    threads: int | None,
    workloads: tuple[str, ...],
    memory: str,
    concurrency: int,
    requests_: int | None,
    repeats: int,
    tolerance: float,
    mechanism: MechanismChoice,
    memory_budget: str | None,
    out: Path,
    as_json: bool,
    **app_params: Any,
) -> None:
    """Find the n at which each SERVER dies for lack of memory under a cap of --memory.

    Calibrates a model (idle memory, bytes per element, requests in memory at once),
    predicts n, then bisects around it with a fresh capped server per probe. With --app,
    the input size (--size, grown) of your own app's request instead of n.
    """
    choice = app_choice(app_params)
    budget = None if memory_budget is None else parse_size(memory_budget)
    limit = parse_size(memory)
    load = Burst(requests=concurrency if requests_ is None else requests_, concurrency=concurrency)
    specs_servers = _servers(servers, workers, worker_class, threads)
    if choice.run is not None:
        if workloads:
            raise ConfigError("--workload is servelab's own service's; with --app leave it out")
        if budget is not None:
            raise ConfigError("--memory-budget is servelab's own service's guard, not an app's")
        if not choice.run.request.uses_size():
            raise ConfigError(
                "a critical-size search grows the request's input size, and this request has "
                "none: put {size} in --body or give a --payload hook"
            )
        policy = replace(APP_POLICY, tolerance=tolerance, repeats=repeats)
        for server in specs_servers:
            choice.run.target.check_server(server)
        specs = [
            CriticalSpec(
                server,
                APP_WORKLOAD,
                limit,
                load,
                policy,
                mechanism,
                app=choice.run,
                start_n=choice.size,
            )
            for server in specs_servers
        ]
    else:
        if not workloads:
            raise ConfigError(
                f"give --workload ({' or '.join(CRITICAL_WORKLOADS)}), or --app for your own app"
            )
        policy = SearchPolicy(tolerance=tolerance, repeats=repeats)
        specs = [
            CriticalSpec(server, workload, limit, load, policy, mechanism, budget)
            for server in specs_servers
            for workload in dict.fromkeys(workloads)
        ]
        for spec in specs:  # a cap that cannot hold a server even idle: say so before any start
            check_cap_fits(spec.server, limit)
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"two searches of the plan share a name: {', '.join(names)}")
    noise = check_idle()
    failed: list[str] = []
    for spec in specs:  # each search's folder stands alone: each keeps the check
        entry = find_critical_n(spec, out / spec.name, on_probe=_on_probe, noise_at_start=noise)
        if as_json:
            click.echo(json.dumps(entry.to_json()))
        else:
            print_result(entry)
        if entry.error is not None:
            failed.append(f"{spec.name}: {words.failure(entry.error)}")
    if failed:
        console.print(f"Error: {'; '.join(failed)}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
