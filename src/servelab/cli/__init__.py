"""The ``servelab`` command line: one module per command (study, load, critical-n, serve, report).

User mistakes become a one-line ``Error: ...`` and a non-zero exit, never a traceback.
SIGTERM and SIGHUP (a closed terminal) are turned into KeyboardInterrupt so every server
the lab started is stopped.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import NoReturn

import click

from .. import __version__
from ..errors import ServelabError
from .critical import critical_n
from .distributed import locust_worker
from .load import load
from .options import console
from .report import report
from .serve import serve
from .study import study
from .sweep import sweep


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="servelab")
def cli() -> None:
    """How an ML prediction service behaves under load on different web servers."""


for command in (study, sweep, load, critical_n, serve, report, locust_worker):
    cli.add_command(command)


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
