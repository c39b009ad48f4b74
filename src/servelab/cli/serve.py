"""``servelab serve``: one server under test, up until Ctrl-C."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..servers import ServerSpec, launch
from ..service.config import ServiceConfig, ServiceConfigError
from ..workloads import WORKLOADS
from .options import console


@click.command()
@click.option(
    "--server",
    "server_text",
    default="flask-dev",
    show_default=True,
    help="Server spec: flask-dev, gunicorn, gunicorn:w2, gunicorn:w2:gthread:t4 ...",
)
@click.option(
    "--workload", default="model", show_default=True, help=f"One of {', '.join(WORKLOADS)}."
)
@click.option("--n", "n", type=int, default=5_000_000, show_default=True)
@click.option("--io-delay", type=float, default=1.0, show_default=True)
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/serve"),
    show_default=True,
    help="Where its log goes.",
)
def serve(server_text: str, workload: str, n: int, io_delay: float, run_dir: Path) -> None:
    """Start one server on a free loopback port and keep it up until Ctrl-C."""
    spec = ServerSpec.parse(server_text)  # checked before anything starts
    try:
        service = ServiceConfig(workload=workload, n=n, io_delay=io_delay)
    except ServiceConfigError as error:
        raise click.BadParameter(str(error)) from None
    with launch(spec, run_dir=run_dir, env=service.to_env()) as server:
        console.print(
            f"{server.spec.describe()} serving {workload} at [bold]{server.url}[/bold]"
            f" (log: {server.log_path}); Ctrl-C stops it"
        )
        while server.poll() is None:
            time.sleep(0.5)
        console.print(f"[red]the server ended on its own: {server.poll()}[/red]")
