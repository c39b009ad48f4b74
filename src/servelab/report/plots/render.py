"""Every figure of a results folder, drawn from its files: ``render_plots(results)``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sized
from functools import partial
from pathlib import Path
from typing import Final, TypeVar

from ...results import RunEntry, SearchEntry, Study, Trial, read_study
from ...workloads import APP_WORKLOAD
from ..rows import RecordColumns, Sample, SkippedLines, iter_records, iter_samples
from .critical import plot_critical
from .memory import plot_memory
from .overview import plot_runs_overview
from .timeline import plot_timeline
from .words import Words

PLOTS_DIR: Final = "plots"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_.-]+")
_R = TypeVar("_R")
_C = TypeVar("_C", bound=Sized)


class Plots(dict[str, str]):
    """``{figure key: PNG path relative to the results folder}`` of what was drawn.

    ``skipped`` holds ``{figure key: why}`` for each figure that could not be drawn (an
    input file missing or unreadable, a run that did not finish, a search that failed),
    so a report can say that section is missing instead of linking nothing.

    ``damaged`` holds ``{file relative to the folder: its skipped lines}`` for each records
    or samples file that had damaged lines: the figure is drawn from the other lines, and
    the report says how many were skipped and where.
    """

    def __init__(self) -> None:
        super().__init__()
        self.skipped: dict[str, str] = {}
        self.damaged: dict[str, SkippedLines] = {}


class _Skip(Exception):
    """A figure cannot be drawn; the message says why, in the figure's language."""


def figure_path(key: str, lang: str = "en") -> str:
    """Where a figure key is written, relative to the results folder: ``plots/`` for
    English, ``plots/<lang>/`` for the figures of another language."""
    folder = PLOTS_DIR if lang == "en" else f"{PLOTS_DIR}/{lang}"
    return f"{folder}/{_UNSAFE.sub('-', key.replace('/', '--'))}.png"


def render_plots(results: Path, lang: str = "en", *, study: Study | None = None) -> Plots:
    """Draw every figure the files of ``results`` allow, in ``lang``, under ``results/plots/``.

    ``study`` is the folder's study when the caller has read it (``build_report`` reads it
    once for every language); else it is read here (a ResultsError when it is missing or
    damaged). Keys: ``overview``; ``timeline/<run>`` and ``memory/<run>`` per run;
    ``critical/<search>`` and ``critical-memory/<search>/pass`` and ``/fail`` per search
    (memory over time of the passing probe at ``max_passing_n`` with the highest peak,
    and the first failing probe at ``min_failing_n``). Rebuilding gives the same bytes.
    """
    words = Words(lang)
    if study is None:
        study = read_study(results)
    plots = Plots()

    def draw(key: str, make: Callable[[Path], object]) -> None:
        relative = figure_path(key, lang)
        try:
            make(results / relative)
        except _Skip as why:
            plots.skipped[key] = str(why)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            detail = f"{type(error).__name__}: {error}"
            plots.skipped[key] = words.t("skip_cannot_draw", error=detail)
        else:
            plots[key] = relative

    def overview(path: Path) -> None:
        if not any(run.done for run in study.runs):
            raise _Skip(words.t("skip_no_runs"))
        plot_runs_overview(study, path=path, words=words)

    draw("overview", overview)
    done = {run.name for run in study.runs}
    for planned in study.plan.runs:
        if planned.name not in done:
            for kind in ("timeline", "memory"):
                plots.skipped[f"{kind}/{planned.name}"] = words.t("skip_not_in_study")
    read = _Reader(results, plots.damaged, words)
    for run in study.runs:
        _draw_run(draw, read, run, words)
    for search in study.critical:
        _draw_search(draw, read, search, words)
    return plots


_Draw = Callable[[str, Callable[[Path], object]], None]


def _draw_run(draw: _Draw, read: _Reader, run: RunEntry, words: Words) -> None:
    who = words.t(
        "run_title", name=run.name, server=words.server(run.server), workload=run.workload
    )
    if run.n:
        who += f", n = {words.integer(run.n)}"
    draw(
        f"timeline/{run.name}",
        lambda path: plot_timeline(
            read.records(run.files.get("records")), title=who, path=path, words=words
        ),
    )
    draw(
        f"memory/{run.name}",
        lambda path: plot_memory(
            read.samples(run.files.get("samples")),
            title=words.t("memory_title", who=who),
            path=path,
            limit_bytes=None,  # a run has no memory cap; only a search's probes do
            words=words,
        ),
    )


def _draw_search(draw: _Draw, read: _Reader, search: SearchEntry, words: Words) -> None:
    def critical(path: Path) -> None:
        if search.error is not None:
            raise _Skip(words.t("skip_search_failed", code=search.error.code))
        plot_critical(search, path=path, words=words)

    draw(f"critical/{search.name}", critical)
    for which in ("pass", "fail"):
        draw(
            f"critical-memory/{search.name}/{which}",
            partial(_probe_memory, read, search, which, words),
        )


def probe_to_show(search: SearchEntry, which: str) -> Trial | None:
    """The trial whose memory a ``critical-memory/<search>/<which>`` figure shows.

    ``pass``: of the passing trials at ``max_passing_n``, the one that came closest to
    the cap (the highest peak). ``fail``: the first failing trial at ``min_failing_n``.
    None when the search has no such trial.
    """
    if which == "pass":
        n = search.max_passing_n
        passed = [t for t in search.trials if n is not None and t.n == n and not t.failed]
        return max(passed, key=lambda t: t.peak_bytes or 0, default=None)
    n = search.min_failing_n
    failed = [t for t in search.trials if n is not None and t.n == n and t.failed]
    return min(failed, key=lambda t: t.probe, default=None)


def _probe_memory(read: _Reader, search: SearchEntry, which: str, words: Words, path: Path) -> None:
    if search.error is not None:
        raise _Skip(words.t("skip_search_failed", code=search.error.code))
    chosen = probe_to_show(search, which)
    if chosen is None:
        raise _Skip(words.t(f"skip_no_{which}_probe"))
    if which == "pass":
        verdict = words.t("probe_passed")
    else:
        verdict = words.t("probe_failed", outcome=words.outcome(chosen.outcome))
    samples = read.samples(_join(search.folder, chosen.files.get("samples")))
    title = words.t(
        "probe_title" + ("_app" if search.workload == APP_WORKLOAD else ""),
        search=search.name,
        probe=chosen.probe,
        n=words.integer(chosen.n),
        verdict=verdict,
    )
    if chosen.peak_bytes:
        title += words.t("probe_peak", peak=words.mib(chosen.peak_bytes))
    plot_memory(samples, title=title, path=path, limit_bytes=search.limit_bytes, words=words)


def _join(folder: str, name: str | None) -> str | None:
    return None if name is None else f"{folder}/{name}" if folder else name


class _Reader:
    """Reads a folder's records and samples files, noting each file's damaged lines."""

    def __init__(self, results: Path, damaged: dict[str, SkippedLines], words: Words) -> None:
        self.results, self.damaged, self.words = results, damaged, words

    def records(self, relative: str | None) -> RecordColumns:
        # Columns, read line by line: a records file can be hundreds of megabytes.
        return self._rows(relative, "records", iter_records, RecordColumns.of)

    def samples(self, relative: str | None) -> list[Sample]:
        return self._rows(relative, "samples", iter_samples, list)

    def _rows(
        self,
        relative: str | None,
        what: str,
        read: Callable[[Path, SkippedLines], Iterator[_R]],
        collect: Callable[[Iterator[_R]], _C],
    ) -> _C:
        if not relative:
            raise _Skip(self.words.t("skip_no_file", what=self.words.t(what)))
        path = self.results / relative
        if not path.is_file():
            raise _Skip(self.words.t("skip_file_missing", what=self.words.t(what), file=relative))
        skipped = SkippedLines(path)
        try:
            rows = collect(read(path, skipped))
        except OSError as error:
            detail = error.strerror or str(error)
            raise _Skip(self.words.t("skip_cannot_read", file=relative, error=detail)) from None
        if skipped.count:
            self.damaged[relative] = skipped
        if not rows:
            empty = "skip_no_readable_line" if skipped.count else "skip_empty"
            raise _Skip(self.words.t(empty, what=self.words.t(what), file=relative))
        return rows
