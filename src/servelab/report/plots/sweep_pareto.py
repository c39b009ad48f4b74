"""A sweep's cells on capacity against p99 at that rate, coloured by memory at load
(``sweep-pareto``), and the Pareto front of the three, as a pure function."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize, to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ...load.slo import Slo
from ...results_sweep import Sweep, SweepCell
from ._style import CAP, FAILED, MIB, save_png
from ._sweep import (
    PANELS_PER_ROW,
    Skip,
    canvas,
    latency_slos,
    legend_below,
    legend_marker,
    panel_grid,
    panel_title,
    why_not,
    workloads_of,
)
from .words import ENGLISH, Words

_COLOURMAP: Final = "viridis"
_NO_MEMORY: Final = "#bbbbbb"
# Losses that rule a cell out whatever its capacity: it is drawn, never on the front.
_RULED_OUT: Final = frozenset(
    {"over-budget", "oom-killed", "died", "dies-below-size", "dev-server"}
)


@dataclass(frozen=True)
class FrontPoint:
    """A cell as the front compares it: capacity (requests/s, higher is better), p99 at that
    rate (seconds, lower is better), memory at load (bytes, lower is better; None: not
    measured, which counts as more than any measured memory)."""

    name: str
    capacity: float
    p99: float
    memory_bytes: int | None = None


def pareto_front(points: Sequence[FrontPoint]) -> tuple[str, ...]:
    """The names of the points no other point beats, in the order given.

    A point beats another when it is at least as good on capacity, p99 and memory, and
    better on one of them: the front holds every configuration that buys its strength on one
    measure with a weakness on another. Equal points are both on it.
    """

    def key(p: FrontPoint) -> tuple[float, float, float]:
        memory = math.inf if p.memory_bytes is None else float(p.memory_bytes)
        return (-p.capacity, p.p99, memory)

    def beats(a: FrontPoint, b: FrontPoint) -> bool:
        ka, kb = key(a), key(b)
        return all(x <= y for x, y in zip(ka, kb, strict=True)) and ka != kb

    return tuple(p.name for p in points if not any(beats(q, p) for q in points))


@dataclass(frozen=True)
class _Point:
    cell: SweepCell
    capacity: float
    p99: float
    lower_bound: bool
    over_budget: bool
    oom: bool
    ruled_out: bool
    best: bool


def _points(sweep: Sweep, words: Words) -> tuple[list[_Point], list[tuple[str, str]]]:
    losses = {(c.workload, r.name): r.loss for c in sweep.recommendations for r in c.ranking}
    best = {(c.workload, c.best) for c in sweep.recommendations if c.best is not None}
    budget = sweep.settings.memory_bytes
    points, missing = [], []
    for cell in sweep.cells:
        capacity = cell.capacity
        step = None if capacity is None else capacity.at_capacity
        if capacity is None or capacity.capacity is None or step is None or step.p99 is None:
            why = why_not(cell, words)
            if capacity is not None and capacity.capacity is not None:
                why = words.t("sw_why_no_p99")
            missing.append((cell.name, why))
            continue
        loss = losses.get((cell.workload, cell.name))
        memory = cell.memory_bytes
        over = loss == "over-budget" or (
            budget is not None and memory is not None and memory > budget
        )
        oom = cell.oom_kills > 0 or loss == "oom-killed"
        points.append(
            _Point(
                cell=cell,
                capacity=capacity.capacity,
                p99=step.p99,
                lower_bound=capacity.client_bound,
                over_budget=over,
                oom=oom,
                ruled_out=over or oom or loss in _RULED_OUT,
                best=(cell.workload, cell.name) in best,
            )
        )
    return points, missing


def plot_sweep_pareto(sweep: Sweep, path: Path, words: Words = ENGLISH) -> Figure:
    """Capacity against p99 at capacity, memory as colour, one panel per workload."""
    points, missing = _points(sweep, words)
    if not points:
        raise Skip(words.t("sw_skip_no_capacity"))
    workloads = workloads_of([p.cell for p in points])
    columns = min(len(workloads), PANELS_PER_ROW)
    rows = math.ceil(len(workloads) / columns)
    figure, main = canvas(1.6 + 3.6 * rows, words.t("sw_pareto_title"), missing, words)
    grid = panel_grid(main, rows, columns)
    memories = [p.cell.memory_bytes / MIB for p in points if p.cell.memory_bytes is not None]
    low, high = min(memories, default=0.0), max(memories, default=1.0)
    if low == high:  # one memory, or all equal: a colour scale needs a range
        low, high = low - 1, high + 1
    # One cell far over the budget must not paint all the others the same colour.
    wide = low > 0 and high / low > 4
    norm = LogNorm(low, high) if wide else Normalize(low, high)
    mappable = ScalarMappable(norm=norm, cmap=_COLOURMAP)
    p99_slos = [slo for slo in latency_slos(sweep) if slo.metric == "p99"]
    for index, workload in enumerate(workloads):
        ax = grid[index // columns][index % columns]
        group = [p for p in points if p.cell.workload == workload]
        _pareto_panel(ax, group, mappable, p99_slos, words)
        ax.set_title(panel_title(sweep, workload, words), fontsize="medium")
    for index in range(len(workloads), rows * columns):
        grid[index // columns][index % columns].set_visible(False)
    for row in grid:
        row[0].set_ylabel(words.t("sw_pareto_y"))
    for ax in grid[-1]:
        ax.set_xlabel(words.t("sw_pareto_x"))
    colourbar = main.colorbar(mappable, ax=[ax for row in grid for ax in row], shrink=0.9, pad=0.02)
    colourbar.set_label(words.t("sw_memory_colour"))
    if wide:
        colourbar.ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        colourbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _mib(v, words)))
        colourbar.ax.yaxis.set_minor_formatter(NullFormatter())
    budget = sweep.settings.memory_bytes
    handles = _pareto_handles(points, p99_slos, words)
    if budget is not None and low <= budget / MIB <= high:
        colourbar.ax.axhline(budget / MIB, color=CAP, linewidth=2.5, gid="budget")
        label = words.t("sw_budget", budget=words.lang.size(budget))
        handles.append(Line2D([], [], color=CAP, linewidth=2.5, label=label))
    legend_below(main, handles)
    save_png(figure, path, words)
    return figure


# Two names closer than this on the panel (shares of its width and height) would print over
# each other: the lower one moves down a line.
_NEAR_X: Final = 0.15
_NEAR_Y: Final = 0.05
_LINE_POINTS: Final = 9.0


def _label_drops(group: Sequence[_Point], right: float) -> dict[str, float]:
    """How far (points) to move each cell's name down so that names of cells measured at
    nearly the same place (waitress t4 and 4 sync workers on a sleep: 41.8 and 41.6/s at
    about the same p99) stay readable: a line per name already placed near it."""
    top = max(p.capacity for p in group)
    bottom = min(p.capacity for p in group)
    log = bottom > 0 and top / bottom > 8  # the panel's scale, as it is set below

    def height(capacity: float) -> float:
        if log:
            return math.log(capacity / bottom) / math.log(top / bottom)
        return capacity / top if top > 0 else 0.0

    placed: list[tuple[float, float]] = []
    drops: dict[str, float] = {}
    for p in sorted(group, key=lambda p: (-p.capacity, p.p99)):
        x, y = p.p99 * 1000 / right, height(p.capacity)
        near = sum(1 for px, py in placed if abs(px - x) < _NEAR_X and abs(py - y) < _NEAR_Y)
        drops[p.cell.name] = near * _LINE_POINTS
        placed.append((x, y))
    return drops


def _pareto_panel(
    ax: Axes, group: Sequence[_Point], mappable: ScalarMappable, slos: Sequence[Slo], words: Words
) -> None:
    def colour(p: _Point) -> str:
        memory = p.cell.memory_bytes
        if memory is None:
            return _NO_MEMORY
        return to_hex(mappable.to_rgba(np.array([memory / MIB]))[0])

    eligible = [p for p in group if not p.ruled_out]
    front = set(
        pareto_front(
            [FrontPoint(p.cell.name, p.capacity, p.p99, p.cell.memory_bytes) for p in eligible]
        )
    )
    # The front is of three measures: drawn on two axes it is no line, so its cells are
    # marked (a black edge, a bold name) rather than joined.
    right = max([p.p99 * 1000 for p in group] + [slo.threshold * 1000 for slo in slos]) * 1.2
    drop = _label_drops(group, right)
    for p in group:
        x, y = p.p99 * 1000, p.capacity
        filled = not p.over_budget
        on_front = p.cell.name in front
        ax.scatter(
            x,
            y,
            s=260 if p.best else 90,
            marker="*" if p.best else "o",
            facecolors=colour(p) if filled else "none",
            edgecolors="black" if on_front else colour(p),
            linewidths=1.8 if on_front or not filled else 0.8,
            zorder=3,
            gid=("best" if p.best else "cell") + (" front" if on_front else ""),
            label=p.cell.name,
        )
        if p.oom:
            ax.scatter(x, y, s=110, marker="x", color=FAILED, linewidths=2, zorder=4, gid="oom")
        if p.lower_bound:
            ax.annotate(
                "",
                xy=(x, y),
                xytext=(0, 26),
                textcoords="offset points",
                arrowprops={"arrowstyle": "<-", "color": "#333333", "linewidth": 1.4},
                gid="client-bound",
            )
        # A name right of its point, or left of it near the right edge: never off the panel,
        # and seldom across a neighbour's point.
        left = x > right * 0.75
        ax.annotate(
            ("≥ " if p.lower_bound else "") + _short(p.cell),
            xy=(x, y),
            xytext=(-9 if left else 9, -12 - drop[p.cell.name]),
            textcoords="offset points",
            ha="right" if left else "left",
            fontsize="x-small",
            fontweight="bold" if on_front else "normal",
        )
    for slo in slos:
        ax.axvline(slo.threshold * 1000, color=FAILED, linestyle=":", linewidth=1.2, gid="slo")
    ax.set_xlim(0, right)
    top, bottom = max(p.capacity for p in group), min(p.capacity for p in group)
    if bottom > 0 and top / bottom > 8:
        # A baseline 60x the others (the dev server on a sleep) would flatten them at zero.
        ax.set_yscale("log")
        ax.set_ylim(bottom / 1.6, top * 1.6)
    else:
        ax.set_ylim(0, top * 1.3)
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)


def _pareto_handles(points: Sequence[_Point], slos: Sequence[Slo], words: Words) -> list[Line2D]:
    def marker(key: str, symbol: str, colour: str, face: str | None = None) -> Line2D:
        return legend_marker(words.t(key), symbol, colour, face)

    handles = [marker("sw_front", "o", "black", face="white")]
    if any(p.best for p in points):
        handles.append(marker("sw_recommended", "*", "#777777"))
    if any(p.over_budget for p in points):
        handles.append(marker("sw_over_budget", "o", "#777777", face="none"))
    if any(p.oom for p in points):
        handles.append(marker("sw_oom", "x", FAILED))
    if any(p.lower_bound for p in points):
        handles.append(marker("sw_lower_bound", r"$\uparrow$", "#333333"))
    if any(p.cell.memory_bytes is None for p in points):
        handles.append(marker("sw_no_memory", "o", _NO_MEMORY))
    for slo in slos:
        handles.append(
            Line2D([], [], color=FAILED, linestyle=":", label=words.t("sw_slo", slo=slo.text))
        )
    return handles


def _short(cell: SweepCell) -> str:
    """The cell's server label (``prod_w2``): its panel already names the workload."""
    return cell.server.label or cell.name


def _mib(value: float, words: Words) -> str:
    return words.lang.digits(f"{value:,.0f}" if value >= 10 else f"{value:.2g}")
