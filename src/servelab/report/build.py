"""Build the reports from a results folder, reading its files and nothing else.

``build_report`` reads ``study.json`` once, through ``servelab.results.read_study`` (which
also reads the folders written before the results schema), and builds every language, every
figure and every page from that one typed ``Study``. It writes ``report.md`` (English) or
``report.<lang>.md``, the self-contained ``report[.<lang>].html``, and the plots they show
under ``plots/``. This package never imports the engine, the servers or the caps.

A damaged records or samples line is skipped (the report lists each file's skipped lines,
and ``warn`` hears of them); a folder the report cannot write into (read-only, full, a file
named ``plots``) is a ``ResultsError`` of one line naming the path.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

from .._io import atomic_write_text
from ..errors import ConfigError, ResultsError
from ..repeats import is_repeated, read_repeated
from ..results import Machine, read_study
from ..results_sweep import is_sweep, read_sweep
from .html import build_html
from .lang import LANGUAGES
from .markdown import render_markdown
from .plots import render_plots
from .plots.render import PLOTS_DIR, Plots
from .plots.sweep import render_sweep_plots
from .repeated import render_repeated
from .sweep import render_sweep

__all__ = ["build_report", "render_markdown", "report_name"]


def report_name(lang: str, suffix: str = "md") -> str:
    """``report.md`` for English, ``report.ru.md`` for Russian (likewise for html)."""
    return f"report.{suffix}" if lang == "en" else f"report.{lang}.{suffix}"


def build_report(
    results: Path, langs: Sequence[str] = ("en",), warn: Callable[[str], None] | None = None
) -> list[Path]:
    """Draw the plots and write report.md and the self-contained report.html in every
    language of ``langs``, each with its figures in its language. Returns the files
    written; ``warn`` is told of each file whose damaged lines were skipped."""
    unknown = [lang for lang in langs if lang not in LANGUAGES]
    if unknown:  # before any drawing: a bad language must not leave half a report
        raise ConfigError(f"language must be one of {', '.join(LANGUAGES)}, not {unknown[0]!r}")
    if is_repeated(results):
        return _build_repeated(results, langs, warn)
    if is_sweep(results):
        return _build_sweep(results, langs)
    study = read_study(results)  # the one read: a clear ResultsError on a folder that is no study
    _check_plots_dir(results)
    written: list[Path] = []
    try:
        drawn = _draw_every_language(langs, partial(render_plots, results, study=study))
        for number, lang in enumerate(langs):
            plots = drawn[lang]
            if warn is not None and number == 0:
                for skipped in plots.damaged.values():
                    warn(skipped.describe())
            text = render_markdown(study, results, lang, plots, plots.skipped, plots.damaged)
            path = results / report_name(lang)
            atomic_write_text(path, text)
            html_name = report_name(lang, "html")
            html = build_html(results, text, lang=lang, out_name=html_name, study=study)
            written += [path, html]
    except OSError as error:
        # The folder, not the temporary file an atomic write was making in it.
        where = Path(error.filename).parent if error.filename else results
        raise ResultsError(
            f"cannot write the report into {where}: {error.strerror or error}"
        ) from None
    return written


def _check_plots_dir(results: Path) -> None:
    plots_dir = results / PLOTS_DIR
    if plots_dir.exists() and not plots_dir.is_dir():
        raise ResultsError(f"{plots_dir} is not a folder: the report draws its figures there")


def _draw_every_language(langs: Sequence[str], draw: Callable[[str], Plots]) -> dict[str, Plots]:
    """Each language's figures (``draw(lang)``); beyond the first, in forked processes at
    the same time.

    Drawing is matplotlib's CPU work, about 0.2 s a figure and 25 figures a language for
    the seed's study: side by side on two cores, ``make study``'s report takes 7 s instead
    of 11. Forked, not spawned: a spawned pool leaves its resource tracker running until
    the caller exits; and only while this is the process's one thread (a fork copies no
    other thread, and a lock another thread holds would stay held in the child).
    """
    cores = os.cpu_count() or 1
    if len(langs) < 2 or cores < 2 or threading.active_count() > 1:
        return {lang: draw(lang) for lang in langs}
    workers = min(len(langs) - 1, cores - 1)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        others = {lang: pool.submit(draw, lang) for lang in langs[1:]}
        drawn = {langs[0]: draw(langs[0])}
        drawn.update({lang: future.result() for lang, future in others.items()})
    return drawn


def _build_repeated(
    results: Path, langs: Sequence[str], warn: Callable[[str], None] | None
) -> list[Path]:
    """A repeated study: each finished repeat's own report, then the page above them."""
    repeats, studies = read_repeated(results)
    written: list[Path] = []
    for folder in repeats.folders:
        written += build_report(results / folder, langs, warn)
    try:
        for lang in langs:
            text = render_repeated(repeats, studies, lang)
            path = results / report_name(lang)
            atomic_write_text(path, text)
            written.append(path)
            if studies:  # the page's machine and package rows: the first repeat's
                html_name = report_name(lang, "html")
                written.append(
                    build_html(results, text, lang=lang, out_name=html_name, study=studies[0])
                )
    except OSError as error:
        where = Path(error.filename).parent if error.filename else results
        raise ResultsError(
            f"cannot write the report into {where}: {error.strerror or error}"
        ) from None
    return written


def _build_sweep(results: Path, langs: Sequence[str]) -> list[Path]:
    """A sweep's page: the recommendation, every cell and the figures, from sweep.json alone."""
    sweep = read_sweep(results)
    _check_plots_dir(results)
    written: list[Path] = []
    try:
        drawn = _draw_every_language(langs, partial(render_sweep_plots, results, sweep=sweep))
        for lang in langs:
            text = render_sweep(sweep, lang, drawn[lang])
            path = results / report_name(lang)
            atomic_write_text(path, text)
            html_name = report_name(lang, "html")
            machine = sweep.machine or Machine(None, None, None, None, None, {})
            written += [
                path,
                build_html(results, text, lang=lang, out_name=html_name, machine=machine),
            ]
    except OSError as error:
        where = Path(error.filename).parent if error.filename else results
        raise ResultsError(
            f"cannot write the report into {where}: {error.strerror or error}"
        ) from None
    return written
