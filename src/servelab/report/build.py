"""Build the reports from a results folder, reading its files and nothing else.

``build_report`` reads ``study.json`` once, through ``servelab.results.read_study`` (which
also reads the folders written before the results schema), and builds every language, every
figure and every page from that one typed ``Study``. It writes ``report.md`` (English) or
``report.<lang>.md``, the self-contained ``report[.<lang>].html``, and the plots they show
under ``plots/``. This package never imports the engine, the servers or the caps.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .._io import atomic_write_text
from ..errors import ConfigError
from ..results import read_study
from .html import build_html
from .lang import LANGUAGES
from .markdown import render_markdown
from .plots import render_plots

__all__ = ["build_report", "render_markdown", "report_name"]


def report_name(lang: str, suffix: str = "md") -> str:
    """``report.md`` for English, ``report.ru.md`` for Russian (likewise for html)."""
    return f"report.{suffix}" if lang == "en" else f"report.{lang}.{suffix}"


def build_report(results: Path, langs: Sequence[str] = ("en",)) -> list[Path]:
    """Draw the plots and write report.md and the self-contained report.html in every
    language of ``langs``, each with its figures in its language. Returns the files
    written."""
    unknown = [lang for lang in langs if lang not in LANGUAGES]
    if unknown:  # before any drawing: a bad language must not leave half a report
        raise ConfigError(f"language must be one of {', '.join(LANGUAGES)}, not {unknown[0]!r}")
    study = read_study(results)  # the one read: a clear ResultsError on a folder that is no study
    written = []
    for lang in langs:
        plots = render_plots(results, lang, study=study)
        text = render_markdown(study, results, lang, plots, plots.skipped)
        path = results / report_name(lang)
        atomic_write_text(path, text)
        html = build_html(results, text, lang=lang, out_name=report_name(lang, "html"), study=study)
        written += [path, html]
    return written
