"""``servelab load --engine locust`` and ``servelab locust-worker``: load from many machines.

Three ways to run it:

    servelab load URL --engine locust --processes 4 ...         master + 4 workers, here
    servelab load URL --engine locust --master --expect-workers 3 ...   on one machine
    servelab locust-worker --master-host HOST                   on each of 3 others
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..distributed.run import DEFAULT_MASTER_PORT, WORKERS_WAIT, check_locust, worker_command
from ..errors import LoadError
from ..load import RequestSpec, check_reachable
from ..load.summary import LoadSummary
from .options import LOOP_DURATION, open_loop_rate

F = TypeVar("F", bound=Callable[..., Any])

ENGINES = ("own", "locust")
# Options only --engine locust reads.
LOCUST_OPTIONS = (
    "processes",
    "master",
    "expect_workers",
    "master_bind_host",
    "master_port",
    "workers_wait",
)


def engine_options(command: F) -> F:
    """The load command's options that choose and set up the engine."""
    options = [
        click.option(
            "--engine",
            type=click.Choice(ENGINES),
            default="own",
            show_default=True,
            help="own: servelab's engine in this process. locust: servelab's closed or open "
            "loop on Locust's master and workers (pip install 'servelab[distributed]'), every "
            "request's record merged: exact percentiles over all workers.",
        ),
        click.option(
            "--processes",
            type=int,
            default=None,
            help="locust: worker processes to start on this machine [default: one per core].",
        ),
        click.option(
            "--master",
            is_flag=True,
            help="locust: start only the master here, and wait for --expect-workers workers "
            "from other machines (servelab locust-worker --master-host THIS-HOST).",
        ),
        click.option(
            "--expect-workers",
            type=int,
            default=None,
            help="locust --master: how many workers the run waits for and splits the load between.",
        ),
        click.option(
            "--master-bind-host",
            default=None,
            help="locust: the address the master listens on for workers [default: 127.0.0.1; "
            "with --master, every address].",
        ),
        click.option(
            "--master-port",
            type=int,
            default=None,
            help=f"locust: the master's port [default: a free one; {DEFAULT_MASTER_PORT} with "
            "--master].",
        ),
        click.option(
            "--workers-wait",
            type=float,
            default=WORKERS_WAIT,
            show_default=True,
            help="locust: seconds the master waits for its workers to connect.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def check_engine_options(ctx: click.Context, engine: str, mode: str) -> None:
    """Locust's options with --engine locust only, and only for the loops."""
    if engine == "own":
        for name in LOCUST_OPTIONS:
            source = ctx.get_parameter_source(name)
            if source is not None and source.name == "COMMANDLINE":
                option = "--" + name.replace("_", "-")
                raise click.UsageError(f"{option} is for --engine locust")
        return
    if mode == "burst":
        raise click.UsageError(
            "--engine locust runs --mode closed or --mode open (a burst is ten requests: "
            "one machine sends them)"
        )


def run_on_locust(
    url: str,
    *,
    mode: str,
    request: RequestSpec,
    requests: int | None,
    concurrency: int,
    duration: float | None,
    rate: str | None,
    think_time: float,
    max_in_flight: int,
    timeout: float,
    keep_alive: bool,
    out: Path | None,
    processes: int | None,
    master: bool,
    expect_workers: int | None,
    master_bind_host: str | None,
    master_port: int | None,
    workers_wait: float,
) -> LoadSummary:
    """A closed or open loop on Locust, from the command line's options."""
    from ..distributed.engine import run_distributed
    from ..distributed.plan import Plan

    try:
        check_locust()
    except LoadError as error:
        raise click.ClickException(str(error)) from None
    if master:
        if expect_workers is None or expect_workers < 1:
            raise click.UsageError("--master needs --expect-workers K (K >= 1)")
        if processes is not None:
            raise click.UsageError("--master starts no workers here: leave out --processes")
        workers, local = expect_workers, 0
    else:
        if expect_workers is not None:
            raise click.UsageError("--expect-workers is for --master (local runs: --processes)")
        workers = local = processes if processes is not None else os.cpu_count() or 1
        if workers < 1:
            raise click.BadParameter("must be at least 1", param_hint="'--processes'")
        if mode == "closed" and processes is None:
            workers = local = min(workers, concurrency)  # a worker without a user idles
    if mode == "closed" and concurrency < workers:
        # Locust gives each worker its share of the users: one with none would never start.
        option = "--expect-workers" if master else "--processes"
        raise click.UsageError(f"--concurrency ({concurrency}) must be at least {option}")
    if master_port is not None and not 0 < master_port < 65536:
        raise click.BadParameter("a port is 1-65535", param_hint="'--master-port'")
    if not (math.isfinite(workers_wait) and workers_wait > 0):
        raise click.BadParameter("seconds > 0", param_hint="'--workers-wait'")
    bind_host = master_bind_host or ("*" if master else "127.0.0.1")
    port = master_port if master_port is not None else (DEFAULT_MASTER_PORT if master else None)
    rate_start = rate_end = 0.0
    if mode == "open":
        schedule = open_loop_rate(rate)
        rate_start, rate_end = schedule.start, schedule.end
        if duration is None and requests is not None:
            if schedule.start != schedule.end:
                raise click.UsageError("a ramp of rates needs --duration")
            duration = requests / schedule.start
    if duration is None and requests is None:
        duration = LOOP_DURATION
    if not master:  # across machines the master's host may not reach the target: the
        check_reachable(url, timeout)  # workers will say so in their records
    plan = Plan.sending(
        url,
        request,
        mode="closed" if mode == "closed" else "open",
        workers=workers,
        timeout=timeout,
        keep_alive=keep_alive,
        duration=duration,
        requests=requests,
        users=concurrency,
        think_time=think_time,
        rate_start=rate_start,
        rate_end=rate_end,
        max_in_flight=max_in_flight,
    )
    if master:
        click.echo(
            f"Locust master on port {port}: waiting up to {workers_wait:g} s for {workers} "
            f"worker{'s' if workers > 1 else ''} "
            f"(servelab locust-worker --master-host <this host> --master-port {port})",
            err=True,
        )
    return run_distributed(
        plan,
        out=out,
        local_workers=local,
        bind_host=bind_host,
        port=port,
        workers_wait=workers_wait,
    )


@click.command("locust-worker")
@click.option("--master-host", required=True, help="The host running servelab's Locust master.")
@click.option(
    "--master-port",
    type=int,
    default=DEFAULT_MASTER_PORT,
    show_default=True,
    help="The master's port (servelab load --master-port).",
)
def locust_worker(master_host: str, master_port: int) -> None:
    """Be one Locust worker of `servelab load --engine locust --master` on another machine.

    Runs `locust --worker -f <servelab's locustfile>` in this process: the master sends the
    plan (what to send, the loop, this worker's share) and gets every request's record back.
    Ends when the master's run ends.
    """
    try:
        check_locust()
    except LoadError as error:
        raise click.ClickException(str(error)) from None
    if not 0 < master_port < 65536:
        raise click.BadParameter("a port is 1-65535", param_hint="'--master-port'")
    command = worker_command(master_host, master_port)
    sys.stdout.flush()
    os.execv(command[0], command)
