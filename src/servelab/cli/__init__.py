"""The ``servelab`` command line: one module per command (study, load, critical-n, serve, report).

User mistakes become a one-line ``Error: ...`` and a non-zero exit, never a traceback.
SIGTERM and SIGHUP (a closed terminal) are turned into KeyboardInterrupt so every server
the lab started is stopped.
"""

from __future__ import annotations

import importlib
import signal
import sys
from types import FrameType
from typing import NoReturn

import click

from .. import __version__
from ..errors import ServelabError
from .options import console

# Each command: its module and its name there, in the order --help lists them. A command's
# module is imported when the command runs: `servelab load` need not import the study,
# the sweep and their reports (numpy, matplotlib), a third of a second of CPU taken from a
# server on the same machine at every start.
COMMANDS: dict[str, tuple[str, str]] = {
    "study": ("study", "study"),
    "sweep": ("sweep", "sweep"),
    "load": ("load", "load"),
    "critical-n": ("critical", "critical_n"),
    "serve": ("serve", "serve"),
    "report": ("report", "report"),
    "locust-worker": ("distributed", "locust_worker"),
}


class _LazyGroup(click.Group):
    """A group whose commands are imported on first use (``COMMANDS``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="servelab")
def cli() -> None:
    """How an ML prediction service behaves under load on different web servers."""


def _terminate(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        console.print("interrupted; every server started was stopped")
        sys.exit(130)
    except KeyboardInterrupt:
        console.print("interrupted; every server started was stopped")
        sys.exit(130)
    except click.UsageError as error:
        # One line, as for every other mistake: click's usage banner would bury it.
        where = f" (see {error.ctx.command_path} --help)" if error.ctx is not None else ""
        click.echo(f"Error: {error.format_message()}{where}", err=True)
        sys.exit(error.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except ServelabError as error:
        console.print(f"Error: {error}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
