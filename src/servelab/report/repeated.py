"""The report of a repeated study (``servelab study --repeat K``), from its files alone.

Each repeat keeps its own full report in its folder; this page sits above them and says
what the repeats say together: every figure as a median, its range and its spread, which
figures are stable, and whether the threaded servers' 50% failure points agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..repeats import Repeats
from ..results import Study
from .comments import nice
from .i18n import Lang
from .markdown import machine_line
from .spread import STABLE_SPREAD, Figure, figures, middle_cover

__all__ = ["render_repeated"]

# The word key of each figure ``spread.figures`` makes.
_FIGURE_WORDS = {
    "makespan": "rep_fig.makespan",
    "latency_mean": "rep_fig.latency_mean",
    "never_failed": "rep_fig.never_failed",
    "always_failed": "rep_fig.always_failed",
    "middle": "rep_fig.middle",
    "predicted": "rep_fig.predicted",
}


def render_repeated(repeats: Repeats, studies: Sequence[Study], lang: str) -> str:
    """The page in ``lang`` (markdown), for the finished repeats ``studies``."""
    L = Lang(lang)
    lines: list[str] = []
    app = studies[0].plan.app if studies else None
    title = (
        L.t("rep_title_app", app=f"`{app.ref}`", count=repeats.count)
        if app is not None
        else L.t("rep_title", count=repeats.count)
    )
    folders = ", ".join(f"`{name}/`" for name in repeats.folders) or L.na
    unfinished = (
        ""
        if repeats.complete
        else L.t("rep_unfinished", finished=repeats.finished, count=repeats.count)
    )
    lines += [
        f"# {title}",
        "",
        L.t(
            "rep_lead",
            times=L.plural(repeats.count, "time"),
            folders=folders,
            seconds=L.seconds(repeats.wall_seconds),
            unfinished=unfinished,
            stable=L.percent(STABLE_SPREAD),
        ),
        "",
    ]
    if studies:
        lines += [machine_line(studies[0], L), ""]
    rows = figures(studies)
    lines += [f"### {L.t('rep_figures')}", ""]
    lines += _summary(rows, L)
    lines += ["", L.t("rep_table"), "|---|---|---|---|---|---|---|"]
    lines += [_row(figure, L) for figure in rows]
    covers = middle_cover(studies)
    if covers:
        lines += ["", f"### {L.t('rep_middles')}", ""]
        for cover in covers:
            covered = (
                L.t("rep_middle_all")
                if cover.all_covered
                else L.t(
                    "rep_middle_some",
                    counts=", ".join(str(c) for c in cover.covered),
                    others=cover.others,
                )
            )
            widened = (
                L.t("rep_middle_all")
                if cover.all_widened
                else L.t(
                    "rep_middle_some",
                    counts=", ".join(str(c) for c in cover.widened),
                    others=cover.others,
                )
            )
            line = L.t("rep_middle_line", subject=f"`{cover.subject}`", covered=covered)
            low, high = nice(cover.next_low), nice(cover.next_high)
            if cover.drift > 0:
                drift = L.t("rep_middle_drift", drift=L.percent(cover.drift), widened=widened)
            else:
                drift = L.t("rep_middle_no_drift")
            if low == high:
                ahead = L.t("rep_middle_same", point=L.count(low))
            else:
                ahead = L.t(
                    "rep_middle_next",
                    low=L.count(low),
                    high=L.count(high),
                    repeats=len(cover.covered),
                )
            drift = f"{drift} {ahead}"
            lines.append(f"- {line} {drift}")
    lines += ["", f"### {L.t('rep_reports')}", ""]
    for index, folder in enumerate(repeats.folders, start=1):
        lines.append(f"- {L.t('rep_report_line', index=index, folder=folder)}")
    return "\n".join(lines) + "\n"


def _summary(rows: Sequence[Figure], L: Lang) -> list[str]:
    judged = [figure for figure in rows if figure.stable is not None]
    unstable = [figure for figure in judged if not figure.stable]
    threshold = L.percent(STABLE_SPREAD)
    if not judged:
        return []
    if not unstable:
        return [L.t("rep_all_stable", total=len(judged), threshold=threshold)]
    named = ", ".join(
        f"{figure.subject} {L.t(_FIGURE_WORDS[figure.what])} ({_percent(figure.spread, L)})"
        for figure in unstable
    )
    return [
        L.t(
            "rep_summary",
            stable=len(judged) - len(unstable),
            total=len(judged),
            threshold=threshold,
            unstable=named,
        )
    ]


def _row(figure: Figure, L: Lang) -> str:
    known = figure.known
    value: Callable[[float], str] = L.seconds if figure.unit == "seconds" else _count(L)
    span = f"{value(min(known))} .. {value(max(known))}" if known else L.na
    stable = {True: L.t("rep_stable"), False: L.t("rep_unstable"), None: L.na}[figure.stable]
    each = ", ".join(L.na if v is None else value(v) for v in figure.values)
    cells = [
        f"`{figure.subject}`",
        L.t(_FIGURE_WORDS[figure.what]),
        L.na if figure.median is None else value(figure.median),
        span,
        _percent(figure.spread, L),
        stable,
        each,
    ]
    return "| " + " | ".join(cells) + " |"


def _count(L: Lang) -> Callable[[float], str]:
    return lambda v: L.count(round(v))


def _percent(spread: float | None, L: Lang) -> str:
    if spread is None:
        return L.na
    return f"{L.decimal(spread * 100, 1)}%"
