"""``servelab serve``: one server under test, up until Ctrl-C."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ..errors import ConfigError
from ..servers import ServerSpec, launch
from ..service.config import ServiceConfig, ServiceConfigError
from ..workloads import WORKLOADS
from .app_options import app_choice, app_options
from .options import console, split_list


@click.command()
@app_options
@click.option(
    "--server",
    "server_text",
    default="flask-dev",
    show_default=True,
    help="Server spec: flask-dev, gunicorn, gunicorn:w2, gunicorn:w2:gthread:t4, uvicorn:w2, "
    "waitress:t4, granian ... (with an ASGI --app: uvicorn).",
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
def serve(
    server_text: str, workload: str, n: int, io_delay: float, run_dir: Path, **app_params: Any
) -> None:
    """Start one server on a free loopback port and keep it up until Ctrl-C: servelab's
    service, or your own app with --app (in its own environment with --python)."""
    choice = app_choice(app_params)
    context = click.get_current_context()
    if choice.run is not None:
        service_only = [
            f"--{name.replace('_', '-')}"
            for name in ("workload", "n", "io_delay")
            if context.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
        ]
        if service_only:
            raise ConfigError(f"{', '.join(service_only)} belong to servelab's own service")
        if context.get_parameter_source("server_text") == ParameterSource.DEFAULT:
            server_text = split_list(choice.default_servers() or server_text)[0]
        spec = ServerSpec.parse(server_text)
        target = choice.run.target
        target.check_server(spec)
        with launch(spec, run_dir=run_dir, env=dict(target.env), app=target) as server:
            console.print(
                f"{server.spec.describe()} serving {target.ref} ({target.interface}) at "
                f"[bold]{server.url}[/bold] (log: {server.log_path}); Ctrl-C stops it"
            )
            _wait(server.poll)
        return
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
        _wait(server.poll)


def _wait(poll: Callable[[], object]) -> None:
    while poll() is None:
        time.sleep(0.5)
    console.print(f"[red]the server ended on its own: {poll()}[/red]")
