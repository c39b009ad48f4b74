"""Every figure of a results folder, drawn from its files: ``render_plots(results)``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, Final

from ..._io import read_jsonl
from ...errors import ResultsError
from .critical import plot_critical
from .memory import plot_memory
from .overview import plot_runs_overview
from .timeline import plot_timeline
from .words import Words

PLOTS_DIR: Final = "plots"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_.-]+")


class Plots(dict[str, str]):
    """``{figure key: PNG path relative to the results folder}`` of what was drawn.

    ``skipped`` holds ``{figure key: why}`` for each figure that could not be drawn (an
    input file missing or unreadable, a run that did not finish, a search that failed),
    so a report can say that section is missing instead of linking nothing.
    """

    def __init__(self) -> None:
        super().__init__()
        self.skipped: dict[str, str] = {}


class _Skip(Exception):
    """A figure cannot be drawn; the message says why."""


def figure_path(key: str, lang: str = "en") -> str:
    """Where a figure key is written, relative to the results folder: ``plots/`` for
    English, ``plots/<lang>/`` for the figures of another language."""
    folder = PLOTS_DIR if lang == "en" else f"{PLOTS_DIR}/{lang}"
    return f"{folder}/{_UNSAFE.sub('-', key.replace('/', '--'))}.png"


def render_plots(results: Path, lang: str = "en") -> Plots:
    """Draw every figure the files of ``results`` allow, in ``lang``, under ``results/plots/``.

    Reads ``study.json`` (a ResultsError when it is missing or damaged) and the files it
    names. Keys: ``overview``; ``timeline/<run>`` and ``memory/<run>`` per run;
    ``critical/<search>`` and ``critical-memory/<search>/pass`` and ``/fail`` per search
    (memory over time of the passing probe at ``max_passing_n`` with the highest peak,
    and the first failing probe at ``min_failing_n``). Rebuilding gives the same bytes.
    """
    words = Words(lang)
    study = _load_study(results)
    plots = Plots()

    def draw(key: str, make: Callable[[Path], object]) -> None:
        relative = figure_path(key, lang)
        try:
            make(results / relative)
        except _Skip as why:
            plots.skipped[key] = str(why)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            plots.skipped[key] = f"cannot draw it: {type(error).__name__}: {error}"
        else:
            plots[key] = relative

    def overview(path: Path) -> None:
        if not any(r.get("status") == "done" for r in study["runs"]):
            raise _Skip("no run finished")
        plot_runs_overview(study, path=path, words=words)

    draw("overview", overview)
    done = {run.get("name") for run in study["runs"]}
    for planned in study.get("plan", {}).get("runs", []):
        if planned.get("name") not in done:
            for kind in ("timeline", "memory"):
                plots.skipped[f"{kind}/{planned.get('name')}"] = "the run is not in study.json"
    for run in study["runs"]:
        _draw_run(draw, results, run, words)
    for search in study.get("critical", []):
        _draw_search(draw, results, search, words)
    return plots


_Draw = Callable[[str, Callable[[Path], object]], None]


def _draw_run(draw: _Draw, results: Path, run: Any, words: Words) -> None:
    name = run.get("name", "?")
    files = run.get("files") or {}
    who = words.t(
        "run_title", name=name, server=words.server(run), workload=run.get("workload", "?")
    )
    if run.get("n"):
        who += f", n = {words.integer(run['n'])}"
    draw(
        f"timeline/{name}",
        lambda path: plot_timeline(
            _rows(results, files.get("records"), "records"), title=who, path=path, words=words
        ),
    )
    draw(
        f"memory/{name}",
        lambda path: plot_memory(
            _rows(results, files.get("samples"), "samples"),
            title=words.t("memory_title", who=who),
            path=path,
            limit_bytes=_limit(run),
            words=words,
        ),
    )


def _draw_search(draw: _Draw, results: Path, search: Any, words: Words) -> None:
    name = search.get("name", "?")

    def critical(path: Path) -> None:
        if "error" in search:
            raise _Skip(f"the search failed: {search['error']}")
        plot_critical(search, path=path, words=words)

    draw(f"critical/{name}", critical)
    for which in ("pass", "fail"):
        draw(
            f"critical-memory/{name}/{which}",
            partial(_probe_memory, results, search, which, words),
        )


def probe_to_show(search: Mapping[str, Any], which: str) -> Mapping[str, Any] | None:
    """The trial whose memory a ``critical-memory/<search>/<which>`` figure shows.

    ``pass``: of the passing trials at ``max_passing_n``, the one that came closest to
    the cap (the highest peak). ``fail``: the first failing trial at ``min_failing_n``.
    None when the search has no such trial.
    """
    trials = search.get("trials") or []
    if which == "pass":
        n = search.get("max_passing_n")
        passed = [t for t in trials if n is not None and t.get("n") == n and not t.get("failed")]
        return max(passed, key=lambda t: t.get("peak_bytes") or 0, default=None)
    n = search.get("min_failing_n")
    failed = [t for t in trials if n is not None and t.get("n") == n and t.get("failed")]
    return min(failed, key=lambda t: t.get("probe", 0), default=None)


def _probe_memory(
    results: Path, search: Mapping[str, Any], which: str, words: Words, path: Path
) -> None:
    if "error" in search:
        raise _Skip(f"the search failed: {search['error']}")
    chosen = probe_to_show(search, which)
    if chosen is None:
        raise _Skip(f"no {'passing' if which == 'pass' else 'failing'} probe in the search")
    if which == "pass":
        verdict = words.t("probe_passed")
    else:
        verdict = words.t("probe_failed", outcome=chosen.get("outcome"))
    folder = search.get("folder") or ""
    samples = _rows(results, _join(folder, (chosen.get("files") or {}).get("samples")), "samples")
    peak = chosen.get("peak_bytes")
    title = words.t(
        "probe_title",
        search=search.get("name", "?"),
        probe=chosen.get("probe"),
        n=words.integer(chosen["n"]),
        verdict=verdict,
    )
    if peak:
        title += words.t("probe_peak", peak=words.mib(peak))
    plot_memory(samples, title=title, path=path, limit_bytes=search.get("limit_bytes"), words=words)


def _join(folder: str, name: str | None) -> str | None:
    return None if name is None else f"{folder}/{name}" if folder else name


def _rows(results: Path, relative: str | None, what: str) -> list[dict[str, Any]]:
    if not relative:
        raise _Skip(f"study.json names no {what} file")
    path = results / relative
    if not path.is_file():
        raise _Skip(f"the {what} file {relative} is missing")
    try:
        rows = read_jsonl(path)
    except (OSError, UnicodeDecodeError) as error:
        raise _Skip(f"cannot read {relative}: {error}") from None
    if not rows:
        raise _Skip(f"the {what} file {relative} is empty")
    return rows


def _limit(entry: Mapping[str, Any]) -> int | None:
    limit = entry.get("limit_bytes")
    if limit is None:
        limit = (entry.get("cap") or {}).get("limit_bytes")
    return int(limit) if limit else None


def _load_study(results: Path) -> dict[str, Any]:
    path = results / "study.json"
    try:
        study = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{results} is not a servelab results folder: no study.json") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultsError(f"cannot read {path}: {error}") from None
    if not isinstance(study, dict) or not isinstance(study.get("runs"), list):
        raise ResultsError(f"{path} is not a servelab study (no runs)")
    return study
