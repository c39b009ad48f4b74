"""``servelab report DIR``: rebuild a results folder's reports from its files alone."""

from __future__ import annotations

from pathlib import Path

import click

from .options import LANG_OPTION, build_report, languages


@click.command()
@click.argument("results", type=click.Path(file_okay=False, path_type=Path))
@LANG_OPTION
def report(results: Path, lang: str) -> None:
    """Rebuild the reports and plots of RESULTS from its files alone (runs nothing)."""
    for path in build_report(results, languages(lang)):
        click.echo(path)
