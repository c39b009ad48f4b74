"""``servelab critical-n``: the breaking point of one server and workload under a memory cap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..servers import ServerSpec
from ..study.critical import SearchPolicy
from ..study.critical_run import CriticalSpec, find_critical_n
from ..study.probe import ProbeLoad, ProbeResult
from ..units import format_size, parse_size

console = Console(stderr=True)


def _spec(
    server: str, workers: int | None, worker_class: str | None, threads: int | None
) -> ServerSpec:
    if server == "flask-dev":
        if workers is not None or worker_class is not None or threads is not None:
            raise click.BadParameter("flask-dev takes no --workers/--worker-class/--threads")
        return ServerSpec(kind="flask-dev")
    text = f"gunicorn:w{workers or 1}:{worker_class or 'sync'}"
    if threads is not None:
        text += f":t{threads}"
    return ServerSpec.parse(text)


def print_result(result: dict[str, Any]) -> None:
    """A human summary of one search on stdout."""
    out = Console()
    out.print(
        f"[bold]{result['server_description']}[/bold], {result['workload']} workload, "
        f"cap {format_size(result['limit_bytes'])} ({result['cap']['description']})"
    )
    if result.get("memory_budget"):
        out.print(
            f"memory guard on: {format_size(result['memory_budget'])} per server process "
            "(a refused request counts as a failed trial)"
        )
    out.print(
        f"model: idle {format_size(result['idle_bytes'])}, "
        f"{result['bytes_per_element']:.1f} bytes per element, "
        f"{result['in_memory_at_once']} request(s) in memory at once "
        f"-> predicted critical n {result['predicted_n']:,}"
    )
    table = Table("n", "trials", "failed", "outcomes")
    for entry in result["per_n"]:
        table.add_row(
            f"{entry['n']:,}",
            str(entry["trials"]),
            str(entry["failures"]),
            ", ".join(entry["outcomes"]),
        )
    out.print(table)
    passing, failing = result["max_passing_n"], result["min_failing_n"]
    out.print(
        f"largest n that never failed: [bold]{passing:,}[/bold]; "
        if passing
        else "no n passed every trial; ",
        end="",
    )
    out.print(
        f"smallest n that always failed: [bold]{failing:,}[/bold]"
        if failing
        else "no n failed every trial"
    )
    out.print(f"{result['probes']} probes in {result['wall_seconds']} s: {result['stop_reason']}")


@click.command("critical-n")
@click.option("--server", type=click.Choice(["flask-dev", "gunicorn"]), required=True)
@click.option("--workers", type=int, default=None, help="gunicorn workers [1].")
@click.option(
    "--worker-class",
    type=click.Choice(["sync", "gthread", "gevent"]),
    default=None,
    help="gunicorn worker class [sync].",
)
@click.option("--threads", type=int, default=None, help="Threads per gthread worker.")
@click.option("--workload", type=click.Choice(["cpu", "numpy"]), required=True)
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
    type=click.Choice(["auto", "cgroup", "rlimit"]),
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
    help="Folder for search.json and every probe's files.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def critical_n(
    server: str,
    workers: int | None,
    worker_class: str | None,
    threads: int | None,
    workload: str,
    memory: str,
    concurrency: int,
    requests_: int | None,
    repeats: int,
    tolerance: float,
    mechanism: str,
    memory_budget: str | None,
    out: Path,
    as_json: bool,
) -> None:
    """Find the n at which SERVER dies for lack of memory under a cap of --memory.

    Calibrates a model (idle memory, bytes per element, requests in memory at once),
    predicts n, then bisects around it with a fresh capped server per probe.
    """
    if concurrency < 1 or (requests_ is not None and requests_ < 1):
        raise click.BadParameter("--concurrency and --requests must be at least 1")
    budget = None if memory_budget is None else parse_size(memory_budget)
    if budget is not None and budget < 1:
        raise click.BadParameter("--memory-budget must be more than 0 bytes")
    spec = CriticalSpec(
        server=_spec(server, workers, worker_class, threads),
        workload=workload,
        limit_bytes=parse_size(memory),
        load=ProbeLoad(requests=requests_ or concurrency, concurrency=concurrency),
        policy=SearchPolicy(tolerance=tolerance, repeats=repeats),
        mechanism=mechanism,  # type: ignore[arg-type]  # click.Choice guarantees the value
        memory_budget=budget,
    )
    folder = out / spec.name

    def on_probe(label: str, n: int, probe: ProbeResult) -> None:
        console.print(
            f"{label:>12}  n={n:>13,}  {probe.verdict.outcome:<12} "
            f"peak {format_size(probe.peak_bytes) if probe.peak_bytes else 'n/a':>10}  "
            f"{probe.verdict.reason}",
            highlight=False,
            soft_wrap=True,
        )

    result = find_critical_n(spec, folder, on_probe=on_probe)
    if as_json:
        keys = (
            "name",
            "server",
            "workload",
            "limit_bytes",
            "memory_budget",
            "predicted_n",
            "max_passing_n",
            "min_failing_n",
            "per_n",
            "trials",
            "bytes_per_element",
            "idle_bytes",
            "peak_bytes",
            "oom_kills",
            "in_memory_at_once",
            "probes",
            "converged",
            "stop_reason",
            "wall_seconds",
            "failure_evidence",
        )
        summary = {key: result.get(key) for key in keys}
        summary["cap_mechanism"] = result["cap"]["mechanism"]
        summary["cap"] = result["cap"]
        summary["folder"] = str(folder)
        click.echo(json.dumps(summary))
    else:
        print_result(result)
