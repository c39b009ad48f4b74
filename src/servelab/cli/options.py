"""What the commands share: the error console, the --lang option, the report builder."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from ..errors import LoadError
from ..load.schedule import Rate
from ..noise import idle_check
from ..report.i18n import LANGUAGES
from ..results import Noise
from .words import noise_warning

console = Console(stderr=True)
# `servelab load`'s closed and open loops, on either engine: seconds of load by default.
LOOP_DURATION = 10.0

LANG_OPTION = click.option(
    "--lang",
    type=click.Choice(["en", "ru", "all"]),
    default="en",
    show_default=True,
    help="Report language: en (report.md), ru (report.ru.md, the seminar's headings), or all.",
)


def languages(lang: str) -> tuple[str, ...]:
    return LANGUAGES if lang == "all" else (lang,)


def warn(message: str) -> None:
    """A one-line warning on stderr."""
    console.print(f"Warning: {message}", markup=False, highlight=False, soft_wrap=True)


def check_idle() -> Noise | None:
    """Read the machine for a moment before the first server starts and, when other work
    is running, say so in one yellow line: the numbers will be noisier, but a busy machine
    is a reason to read them with care, not to refuse to measure."""
    noise = idle_check()
    line = noise_warning(noise)
    if line is not None:
        console.print(line, style="yellow", markup=False, highlight=False, soft_wrap=True)
    return noise


def build_report(results: Path, langs: tuple[str, ...]) -> list[Path]:
    # Imported here: drawing needs matplotlib, which `servelab load` should not pay for.
    from ..report.build import build_report

    return build_report(results, langs, warn)


def split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def open_loop_rate(rate: str | None) -> Rate:
    """``--rate`` of ``--mode open``, on either engine: a usage error when it is missing or
    malformed."""
    if rate is None:
        raise click.UsageError("--mode open needs --rate (e.g. --rate 100 or --rate 10:200)")
    try:
        return Rate.parse(rate)
    except LoadError as error:
        raise click.BadParameter(str(error), param_hint="'--rate'") from None
