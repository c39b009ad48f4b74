"""``servelab study``: the seminar's study, its critical-n searches and the report."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .._io import folder_lock
from ..servers import ServerSpec
from ..study import run_study, seed_plan
from ..units import parse_size
from ..workloads import SEED_WORKLOADS, WORKLOADS
from .options import LANG_OPTION, build_report, console, languages, split_list
from .progress import RichProgress


@click.command()
@LANG_OPTION
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Results folder (created; runs in it are replaced, its old report removed; one "
    "study at a time).",
)
@click.option(
    "--memory",
    default="1GiB",
    show_default=True,
    help="Memory cap for the critical-n searches (server and everything it forks).",
)
@click.option(
    "--critical/--no-critical",
    default=True,
    show_default=True,
    help="Search the critical n of each server for cpu and numpy.",
)
@click.option(
    "--repeats",
    type=int,
    default=3,
    show_default=True,
    help="Critical-n trials per n near the boundary.",
)
@click.option(
    "--servers",
    default="flask-dev,gunicorn:w1",
    show_default=True,
    help="Comma-separated server specs: flask-dev, gunicorn, gunicorn:w2, "
    "gunicorn:w2:gthread:t4, gunicorn:w1:gevent.",
)
@click.option(
    "--workloads",
    default=",".join(SEED_WORKLOADS),
    show_default=True,
    help=f"Comma-separated workloads: {', '.join(WORKLOADS)}.",
)
@click.option(
    "--requests", "requests_", type=int, default=10, show_default=True, help="Requests per run."
)
@click.option(
    "--concurrency", type=int, default=10, show_default=True, help="Parallel clients per run."
)
@click.option(
    "--n",
    "n",
    type=int,
    default=5_000_000,
    show_default=True,
    help="Elements for the cpu and numpy workloads.",
)
@click.option(
    "--io-delay", type=float, default=1.0, show_default=True, help="Seconds the io workload sleeps."
)
@click.option(
    "--timeout",
    type=float,
    default=120.0,
    show_default=True,
    help="Seconds a client waits for one response.",
)
@click.option(
    "--memory-budget",
    "memory_budget",
    default=None,
    metavar="SIZE|auto",
    help="Turn on the service's memory guard in every run's server (bytes per process, e.g. "
    "150MiB) and, after each critical-n search (run without it), probe its smallest failing n "
    "with the guard on. 'auto': only that probe, with a budget of (cap - idle - 10% of the "
    "cap) / worker processes from the search's own measurements.",
)
def study(
    out: Path,
    lang: str,
    memory: str,
    critical: bool,
    repeats: int,
    servers: str,
    workloads: str,
    requests_: int,
    concurrency: int,
    n: int,
    io_delay: float,
    timeout: float,
    memory_budget: str | None,
) -> None:
    """Run the seminar's study: every server x every workload, one burst each; the critical n
    of every server for the cpu and numpy workloads under a memory cap; and the report."""
    budget = None if memory_budget in (None, "auto") else parse_size(memory_budget)
    if budget is not None and budget < 1:
        raise click.BadParameter("--memory-budget must be more than 0 bytes")
    plan = seed_plan(
        critical_memory=parse_size(memory) if critical else None,
        repeats=repeats,
        servers=tuple(ServerSpec.parse(text) for text in split_list(servers)),
        workloads=tuple(split_list(workloads)),
        requests=requests_,
        concurrency=concurrency,
        n=n,
        io_delay=io_delay,
        timeout=timeout,
    )
    console.print(
        f"servelab study: {len(plan.runs)} runs and {len(plan.critical)} critical-n searches "
        f"into [bold]{out}[/bold]"
    )
    began = time.monotonic()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    # One lock across the study and its report: no other study can write between them.
    with folder_lock(out):
        with Progress(*columns, console=console) as progress:
            run_study(
                plan,
                out,
                RichProgress(progress),
                memory_budget=budget,
                compare_guard=memory_budget is not None,
            )
        reports = build_report(out, languages(lang))
    console.print(
        f"done in {time.monotonic() - began:.1f} s; report: "
        + ", ".join(f"[bold]{path}[/bold]" for path in reports)
    )
