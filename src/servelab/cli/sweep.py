"""``servelab sweep``: which deployment to run. A grid of server configurations, each measured
on a fresh server (capacity under the SLO, memory per worker), and a recommendation."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .._io import folder_lock
from ..errors import ConfigError
from ..load.slo import Slo
from ..report.i18n import Lang
from ..report.sweep import recommendation_lines
from ..results_sweep import SweepCell
from ..study.sweep.capacity import DEFAULT_PRIME
from ..study.sweep.grid import PRELOAD_MODES, server_grid
from ..study.sweep.planfile import read_plan_file
from ..study.sweep.runner import (
    APP_WORKLOAD,
    SweepPlan,
    check_sweep_folder,
    finished_cells,
    run_sweep,
)
from ..units import parse_duration, parse_size
from ..workloads import WORKLOADS
from .app_options import app_choice, app_options
from .options import LANG_OPTION, build_report, check_idle, console, languages, split_list

DEFAULT_SERVERS = "flask-dev, gunicorn:w{1,2,4}, gunicorn:w2:gthread:t4, waitress:t4"
DEFAULT_APP_SERVERS = {
    "wsgi": "gunicorn:w{1,2}, gunicorn:w2:gthread:t4, waitress:t4",
    "asgi": "uvicorn:w{1,2}, gunicorn:w{1,2}:uvicorn",
}
DEFAULT_SLOS = ("p99<500ms", "errors<1%")
# Options of servelab's own service: with --app they mean nothing.
_SERVICE_ONLY = ("workloads", "n", "io_delay")


@click.command()
@LANG_OPTION
@app_options
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A TOML file of these options (see examples/sweep.toml); the command line wins.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/sweep"),
    show_default=True,
    help="The sweep's folder; run again into it to resume an interrupted sweep.",
)
@click.option(
    "--servers",
    default=DEFAULT_SERVERS,
    show_default=True,
    help="The grid, with braces: 'gunicorn:w{1,2,4}, gunicorn:w2:gthread:t{4,8}, uvicorn:w{1,2}'.",
)
@click.option(
    "--preload",
    type=click.Choice(PRELOAD_MODES),
    default="off",
    show_default=True,
    help="gunicorn's --preload as a dimension: off, on, or both side by side.",
)
@click.option(
    "--workloads",
    default="io,cpu",
    show_default=True,
    help=f"servelab's service's workloads, each a cell per server: {', '.join(WORKLOADS)}.",
)
@click.option("--n", "n", type=int, default=1_000_000, show_default=True, help="Elements (cpu).")
@click.option("--io-delay", type=float, default=0.1, show_default=True, help="Seconds io sleeps.")
@click.option(
    "--slo",
    "slos",
    multiple=True,
    help=f"An objective every cell's capacity must hold, repeatable [{', '.join(DEFAULT_SLOS)}].",
)
@click.option(
    "--memory",
    default=None,
    help="The memory budget: each cell runs inside a cap of it, and the recommendation "
    "must fit in it (e.g. 2GiB) [no budget].",
)
@click.option(
    "--window",
    default="3s",
    show_default=True,
    help="Seconds each rate of the search is judged over.",
)
@click.option(
    "--warmup", default="1s", show_default=True, help="Seconds before each window, not judged."
)
@click.option(
    "--prime",
    default=f"{DEFAULT_PRIME:g}s",
    show_default=True,
    help="Seconds of full load before each cell's search, not measured: a server's cost "
    "per request settles as it serves (CPython's allocator keeps memory), and a production "
    "server runs settled. 0s: measure the server fresh.",
)
@click.option(
    "--budget",
    "time_budget",
    default=None,
    help="Bound the whole sweep (e.g. 10m); cells left out are marked, and measured by the "
    "next run into --out [none].",
)
@click.option(
    "--critical/--no-critical",
    default=False,
    show_default=True,
    help="Also search each cell's critical size under --memory (a burst of 10 parallel "
    "requests, fresh servers, real OOM kills): the largest n (or --size) it survives.",
)
@click.option(
    "--need-size",
    type=int,
    default=None,
    help="The size the deployment must survive under --memory: a cell whose critical size "
    "is below it is not recommended (needs --critical).",
)
@click.option(
    "--engine",
    type=click.Choice(("own", "locust")),
    default="own",
    show_default=True,
    help="What sends each cell's load: servelab's own engine, or servelab's loops on a Locust "
    "master and --processes workers on this machine (pip install 'servelab[distributed]'; "
    "each load phase then starts Locust, a few seconds more per step).",
)
@click.option(
    "--processes",
    type=int,
    default=None,
    help="--engine locust: worker processes [default: one per core].",
)
def sweep(
    lang: str,
    plan_file: Path | None,
    out: Path,
    servers: str,
    preload: str,
    workloads: str,
    n: int,
    io_delay: float,
    slos: tuple[str, ...],
    memory: str | None,
    window: str,
    warmup: str,
    prime: str,
    time_budget: str | None,
    critical: bool,
    need_size: int | None,
    engine: str,
    processes: int | None,
    **app_params: Any,
) -> None:
    """Sweep server configurations and recommend one: for each server of the grid (and each
    workload, or your --app), the highest request rate that holds the SLO, the memory of
    every process idle and under load, then the configuration with the highest capacity
    that fits the memory budget, and why every other one loses."""
    context = click.get_current_context()
    if plan_file is not None:
        values = _from_plan_file(context, plan_file)
        servers = values.get("servers", servers)
        preload = values.get("preload", preload)
        workloads = values.get("workloads", workloads)
        n = values.get("n", n)
        io_delay = values.get("io_delay", io_delay)
        slos = values.get("slos", slos)
        memory = values.get("memory", memory)
        window = values.get("window", window)
        warmup = values.get("warmup", warmup)
        prime = values.get("prime", prime)
        time_budget = values.get("time_budget", time_budget)
        critical = values.get("critical", critical)
        need_size = values.get("need_size", need_size)
        engine = values.get("engine", engine)
        processes = values.get("processes", processes)
        out = values.get("out", out)
        lang = values.get("lang", lang)
        app_params.update({k: v for k, v in values.items() if k in app_params})
    choice = app_choice(app_params)
    if choice.run is not None:
        given = [
            f"--{name.replace('_', '-')}"
            for name in _SERVICE_ONLY
            if context.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
        ]
        if given:
            raise ConfigError(f"{', '.join(given)} belong to servelab's own service")
        if context.get_parameter_source("servers") == ParameterSource.DEFAULT:
            servers = DEFAULT_APP_SERVERS[choice.run.target.interface]
    if preload not in PRELOAD_MODES:
        raise ConfigError(f"--preload must be one of {', '.join(PRELOAD_MODES)}")
    plan = SweepPlan(
        servers=tuple(server_grid(servers, preload)),
        workloads=(APP_WORKLOAD,) if choice.run is not None else _workloads(workloads),
        slos=tuple(Slo.parse(text) for text in (slos or DEFAULT_SLOS)),
        n=choice.size if choice.run is not None else _whole("--n", n),
        io_delay=io_delay,
        memory_bytes=None if memory is None else parse_size(memory),
        window=parse_duration(window),
        warmup=parse_duration(warmup),
        prime=parse_duration(prime),
        time_budget=None if time_budget is None else parse_duration(time_budget),
        preload=preload,
        app=choice.run,
        critical=critical,
        need_size=need_size,
        engine=_engine(engine, processes),
    )
    check_sweep_folder(out, plan.settings())  # before anything starts
    cells = plan.cells()
    console.print(
        f"servelab sweep: {len(plan.servers)} servers x {len(plan.workloads)} workloads ="
        f" {len(cells)} cells into [bold]{out}[/bold]"
    )
    done = finished_cells(out, [name for name, _, _ in cells])
    if done:
        console.print(
            f"{len(done)} of {len(cells)} cells already measured in {out}: measuring the rest"
        )
    noise = check_idle()
    began = time.monotonic()
    with folder_lock(out):
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
        )
        with Progress(*columns, console=console) as progress:
            result = run_sweep(plan, out, _RichSweep(progress, len(cells)), noise_at_start=noise)
        reports = build_report(out, languages(lang))
    for line in recommendation_lines(result, Lang("en")):
        # The report's words, without its markdown emphasis.
        console.print(line.replace("**", ""), markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"done in {time.monotonic() - began:.1f} s; report: "
        + ", ".join(f"[bold]{path}[/bold]" for path in reports)
    )


class _RichSweep:
    """The sweep on the terminal: one bar over the cells, with the cell, its phase and an
    ETA of the rest; a line per cell as it ends."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.task = progress.add_task("sweep", total=total, eta="")
        self.name = ""

    def cell(self, index: int, total: int, name: str, eta: float | None) -> None:
        self.name = name
        left = "" if eta is None else f"about {eta / 60:.0f} min left"
        self.progress.update(self.task, completed=index - 1, description=name, eta=left)

    def phase(self, text: str) -> None:
        self.progress.update(self.task, description=f"{self.name}: {text}")

    def ended(self, cell: SweepCell) -> None:
        self.progress.advance(self.task)
        capacity = cell.capacity
        if cell.status != "done" or capacity is None:
            why = cell.failure.detail if cell.failure and cell.failure.detail else cell.status
            self.progress.console.print(f"[red]x {cell.name}: {why}[/red]", highlight=False)
            return
        rate = "none held" if capacity.capacity is None else f"{capacity.capacity:.4g}/s"
        bound = " (client-bound: a lower bound)" if capacity.client_bound else ""
        memory = cell.memory_bytes
        mib = "" if memory is None else f"  memory {memory / 2**20:.0f} MiB"
        kills = f"  OOM kills {cell.oom_kills}" if cell.oom_kills else ""
        self.progress.console.print(
            f"[green]v[/green] {cell.name:<28} capacity {rate}{bound}{mib}{kills}",
            highlight=False,
        )


def _from_plan_file(context: click.Context, path: Path) -> dict[str, Any]:
    """The plan file's values for the options the command line left at their defaults."""
    options: dict[str, tuple[type, bool]] = {}
    for param in context.command.params:
        if not isinstance(param, click.Option) or param.name in (None, "plan_file"):
            continue
        kind: type = str
        if isinstance(param.type, click.types.IntParamType):
            kind = int
        elif isinstance(param.type, click.types.FloatParamType):
            kind = float
        elif isinstance(param.type, click.Path):
            kind = Path
        elif isinstance(param.type, click.types.BoolParamType) or param.is_flag:
            kind = bool
        options[param.name] = (kind, param.multiple)
    # The file names --slo as slo; its parameter is slos. --budget's is time_budget.
    aliases = {"slo": "slos", "budget": "time_budget", "app": "app_ref", "header": "headers"}
    for key, name in aliases.items():
        if name in options:
            options[key] = options.pop(name)
    values = read_plan_file(path, options)
    renamed = {aliases.get(key, key): value for key, value in values.items()}
    return {
        name: value
        for name, value in renamed.items()
        if context.get_parameter_source(name) in (ParameterSource.DEFAULT, None)
    }


def _engine(engine: str, processes: int | None) -> str:
    """``own``, or ``locust:N`` for N workers (one per core by default)."""
    if engine == "own":
        if processes is not None:
            raise click.UsageError("--processes is for --engine locust")
        return "own"
    if engine != "locust":
        raise ConfigError(f"--engine must be own or locust, not {engine!r}")
    workers = processes if processes is not None else os.cpu_count() or 1
    if workers < 1:
        raise click.BadParameter("must be at least 1", param_hint="'--processes'")
    return f"locust:{workers}"


def _workloads(text: str) -> tuple[str, ...]:
    names = tuple(split_list(text))
    wrong = [name for name in names if name not in WORKLOADS]
    if wrong or not names:
        raise ConfigError(f"--workloads must name some of {', '.join(WORKLOADS)}, not {text!r}")
    return names


def _whole(flag: str, value: int) -> int:
    if value < 1:
        raise ConfigError(f"{flag} must be a whole number >= 1, not {value}")
    return value
