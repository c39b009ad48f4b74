"""What a sweep's figures share: the canvas with its note of the cells not drawn, the grid of
panels, the legend, the SLOs on a latency, and why a cell has nothing to draw."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Final

from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase
from matplotlib.lines import Line2D

from ...errors import ConfigError
from ...load.slo import LATENCY_METRICS, Slo
from ...results_sweep import Sweep, SweepCell
from ._style import new_figure
from .words import Words

PANELS_PER_ROW: Final = 3
_NOTE_WIDTH: Final = 140  # characters of the note under a figure, a line


class Skip(Exception):
    """A figure cannot be drawn; the message says why, in the figure's language."""


def workloads_of(cells: Sequence[SweepCell]) -> list[str]:
    found: list[str] = []
    for cell in cells:
        if cell.workload not in found:
            found.append(cell.workload)
    return found


def panel_title(sweep: Sweep, workload: str, words: Words) -> str:
    app = sweep.settings.app
    if workload == "app":
        return app.ref if app is not None else words.t("sw_app")
    return words.t("sw_panel", workload=workload)


def canvas(
    height: float, title: str, missing: Sequence[tuple[str, str]], words: Words
) -> tuple[Figure, FigureBase]:
    """A figure with its title, and under it the cells not drawn and why; returns the figure
    and the part to draw in. The note is a subfigure of its own: constrained layout stacks a
    figure's legend and its ``supxlabel`` on top of each other."""
    if not missing:
        figure = new_figure(height)
        figure.suptitle(title, fontweight="bold")
        return figure, figure
    names = ", ".join(f"{name} ({why})" for name, why in missing)
    lines = textwrap.wrap(words.t("sw_not_drawn", names=names), width=_NOTE_WIDTH)
    foot = 0.15 + 0.2 * len(lines)
    figure = new_figure(height + foot)
    rows = figure.add_gridspec(2, 1, height_ratios=(height, foot))
    main, note = figure.add_subfigure(rows[0]), figure.add_subfigure(rows[1])
    main.suptitle(title, fontweight="bold")
    note.text(0.5, 0.5, "\n".join(lines), ha="center", va="center", fontsize="small",
              gid="not-drawn")  # fmt: skip
    return figure, main


def why_not(cell: SweepCell, words: Words) -> str:
    """Why a cell has no capacity to draw."""
    if cell.status == "failed":
        return words.t("sw_why_failed")
    if cell.status == "left-out":
        return words.t("sw_why_left_out")
    if cell.capacity is None or not cell.capacity.steps:
        return words.t("sw_why_no_steps")
    return words.t("sw_why_no_rate")


def latency_slos(sweep: Sweep) -> list[Slo]:
    """The SLOs on a latency (``p99<250ms``); one the parser refuses is not drawn."""
    slos = []
    for text in sweep.settings.slos:
        try:
            slo = Slo.parse(text)
        except ConfigError:
            continue
        if slo.metric in LATENCY_METRICS:
            slos.append(slo)
    return slos


def panel_grid(figure: FigureBase, rows: int, columns: int) -> list[list[Axes]]:
    axes = figure.subplots(rows, columns, squeeze=False)
    return [list(row) for row in axes]


def legend_below(figure: FigureBase, handles: Sequence[Line2D]) -> None:
    if handles:
        figure.legend(
            handles=list(handles),
            loc="outside lower center",
            ncols=min(3, len(handles)),
            fontsize="small",
        )


def legend_marker(label: str, symbol: str, colour: str, face: str | None = None) -> Line2D:
    """A legend entry of a marker alone."""
    return Line2D(
        [],
        [],
        linestyle="none",
        marker=symbol,
        color=colour,
        markersize=9,
        markerfacecolor=face or colour,
        markeredgewidth=1.6,
        label=label,
    )
