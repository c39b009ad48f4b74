"""``servelab study``: the seminar's study, its critical-n searches and the report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .._io import folder_lock
from ..errors import ConfigError
from ..servers import ServerSpec
from ..study import run_study, seed_plan
from ..study.plan import StudyPlan, app_plan
from ..study.repeated import check_repeat_folder, run_repeated
from ..units import parse_size
from ..workloads import SEED_WORKLOADS, WORKLOADS
from .app_options import AppChoice, app_choice, app_options
from .options import LANG_OPTION, build_report, check_idle, console, languages, split_list
from .progress import RichProgress


@click.command()
@LANG_OPTION
@app_options
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
    help="Search the critical n of each server for cpu and numpy (with --app: the critical "
    "input size of each server, when the request has a size).",
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
    "gunicorn:w2:gthread:t4, gunicorn:w1:gevent, uvicorn:w2, waitress:t4, granian:w1 "
    "(with an ASGI --app: uvicorn,gunicorn:w1:uvicorn).",
)
@click.option(
    "--repeat",
    "repeat",
    type=int,
    default=1,
    show_default=True,
    help="Run the whole study this many times, each with fresh servers, into "
    "OUT/repeat-01 ...; the report gives every figure as a median and a spread and marks "
    "the stable ones (not --repeats, the trials per n of a search).",
)
@click.option(
    "--critical-servers",
    default=None,
    help="Comma-separated server specs, each one of --servers, whose critical n (with --app: "
    "critical input size) is searched; default: every server.",
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
    repeat: int,
    critical_servers: str | None,
    workloads: str,
    requests_: int,
    concurrency: int,
    n: int,
    io_delay: float,
    timeout: float,
    memory_budget: str | None,
    **app_params: Any,
) -> None:
    """Run the seminar's study: every server x every workload, one burst each; the critical n
    of every server for the cpu and numpy workloads under a memory cap; and the report.

    With --app, the same for your own app: every server, one burst each at --size, and the
    critical input size of each server under --memory, in its own environment (--python)."""
    choice = app_choice(app_params)
    if choice.run is not None:
        plan = _app_plan(
            choice,
            memory,
            critical,
            repeats,
            servers,
            critical_servers,
            requests_,
            concurrency,
            timeout,
        )
        budget = None
    else:
        budget = None if memory_budget in (None, "auto") else parse_size(memory_budget)
        if budget is not None and budget < 1:
            raise click.BadParameter("--memory-budget must be more than 0 bytes")
        plan = seed_plan(
            critical_memory=parse_size(memory) if critical else None,
            repeats=repeats,
            servers=tuple(ServerSpec.parse(text) for text in split_list(servers)),
            critical_servers=_specs(critical_servers),
            workloads=tuple(split_list(workloads)),
            requests=requests_,
            concurrency=concurrency,
            n=n,
            io_delay=io_delay,
            timeout=timeout,
        )
    check_repeat_folder(out, repeat)  # before anything starts or is removed
    searched = "critical-size" if plan.app is not None else "critical-n"
    times = f", {repeat} times" if repeat > 1 else ""
    console.print(
        f"servelab study: {len(plan.runs)} runs and {len(plan.critical)} {searched} searches"
        f"{times} into [bold]{out}[/bold]"
    )
    noise = check_idle()
    began = time.monotonic()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    # One lock across the study and its report: no other study can write between them.
    with folder_lock(out):
        compare_guard = memory_budget is not None and choice.run is None
        with Progress(*columns, console=console) as progress:
            if repeat > 1:

                def progress_for(index: int) -> RichProgress:
                    progress.console.print(f"[bold]repeat {index} of {repeat}[/bold]")
                    return RichProgress(progress)

                run_repeated(
                    plan,
                    out,
                    repeat,
                    progress_for,
                    memory_budget=budget,
                    compare_guard=compare_guard,
                    noise_at_start=noise,
                )
            else:
                run_study(
                    plan,
                    out,
                    RichProgress(progress),
                    memory_budget=budget,
                    compare_guard=compare_guard,
                    noise_at_start=noise,
                )
        reports = build_report(out, languages(lang))
    console.print(
        f"done in {time.monotonic() - began:.1f} s; report: "
        + ", ".join(f"[bold]{path}[/bold]" for path in reports)
    )


# Options of servelab's own service: with --app they mean nothing, and saying so beats
# ignoring them.
_SERVICE_ONLY = ("workloads", "n", "io_delay", "memory_budget")


def _app_plan(
    choice: AppChoice,
    memory: str,
    critical: bool,
    repeats: int,
    servers: str,
    critical_servers: str | None,
    requests: int,
    concurrency: int,
    timeout: float,
) -> StudyPlan:
    """The study of the user's app: its servers (the interface's defaults unless --servers
    was given) and, when the request has a size, a critical-size search per server."""
    assert choice.run is not None
    context = click.get_current_context()

    def given(name: str) -> bool:
        return context.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)

    wrong = [f"--{name.replace('_', '-')}" for name in _SERVICE_ONLY if given(name)]
    if wrong:
        raise ConfigError(
            f"{', '.join(wrong)} belong to servelab's own service, not to an app of your own"
            " (its request is --body/--body-file/--payload at --size)"
        )
    texts = servers if given("servers") else choice.default_servers() or servers
    # No size to grow: the search is left out, unless --memory asked for it by name.
    search = critical and (choice.run.request.uses_size() or given("memory"))
    return app_plan(
        choice.run,
        tuple(ServerSpec.parse(text) for text in split_list(texts)),
        critical_memory=parse_size(memory) if search else None,
        repeats=repeats,
        requests=requests,
        concurrency=concurrency,
        size=choice.size,
        timeout=timeout,
        critical_servers=_specs(critical_servers),
    )


def _specs(texts: str | None) -> tuple[ServerSpec, ...] | None:
    """``--critical-servers`` parsed; None when it was not given."""
    if texts is None:
        return None
    specs = tuple(ServerSpec.parse(text) for text in split_list(texts))
    if not specs:
        raise ConfigError("--critical-servers names no server")
    return specs
