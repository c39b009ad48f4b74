"""Each cell's rate search (``sweep-latency``): p50 and p99 of every step against the rate
asked, one panel per cell, a row per workload."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from ...load.slo import Slo
from ...results_sweep import Sweep, SweepCell
from ._style import FAILED, OUTCOMES, save_png, series_colour
from ._sweep import (
    Skip,
    canvas,
    latency_slos,
    legend_below,
    legend_marker,
    panel_grid,
    why_not,
    workloads_of,
)
from .words import ENGLISH, Words

_CAPACITY: Final = OUTCOMES["ok"]
_P99: Final = series_colour(0)
_P50: Final = series_colour(8)
_CLIENT: Final = "#7f7f7f"
_CELLS_PER_ROW: Final = 4


def plot_sweep_latency(sweep: Sweep, path: Path, words: Words = ENGLISH) -> Figure:
    """One panel per cell: p50 and p99 of each step against the rate asked."""
    searched = [c for c in sweep.cells if c.capacity is not None and c.capacity.steps]
    if not searched:
        raise Skip(words.t("sw_skip_no_steps"))
    missing = [(c.name, why_not(c, words)) for c in sweep.cells if c not in searched]
    groups = [[c for c in searched if c.workload == w] for w in workloads_of(searched)]
    columns = min(_CELLS_PER_ROW, max(len(group) for group in groups))
    placed: list[tuple[int, int, SweepCell]] = []
    row = 0
    for group in groups:
        for start in range(0, len(group), columns):
            placed += [(row, col, c) for col, c in enumerate(group[start : start + columns])]
            row += 1
    figure, main = canvas(1.6 + 2.5 * row, words.t("sw_latency_title"), missing, words)
    grid = panel_grid(main, row, columns)
    slos = latency_slos(sweep)
    shared: dict[str, Axes] = {}
    used = set()
    for r, col, cell in placed:
        ax = grid[r][col]
        used.add((r, col))
        if cell.workload in shared:
            ax.sharey(shared[cell.workload])
        else:
            shared[cell.workload] = ax
        _latency_panel(ax, cell, slos, words)
        if col == 0:
            ax.set_ylabel(words.t("sw_latency_axis"))
    for r in range(row):
        for col in range(columns):
            if (r, col) not in used:
                grid[r][col].set_visible(False)
    for col in range(columns):
        lowest = max(r for r, c in used if c == col)
        grid[lowest][col].set_xlabel(words.t("sw_rate_axis"), fontsize="small")
    steps = [s for c in searched if c.capacity is not None for s in c.capacity.steps]
    handles = [
        Line2D([], [], color=_P99, marker="o", label="p99"),
        Line2D([], [], color=_P50, marker="o", label="p50"),
    ]
    if any(s.held for s in steps):
        handles.append(legend_marker(words.t("sw_step_held"), "o", "#555555"))
    if any(s.failed for s in steps):
        handles.append(legend_marker(words.t("sw_step_failed"), "o", "#555555", face="white"))
    if any(s.client_bound for s in steps):
        handles.append(legend_marker(words.t("sw_step_client"), "^", _CLIENT))
    if any(c.capacity is not None and c.capacity.capacity is not None for c in searched):
        handles.append(Line2D([], [], color=_CAPACITY, linestyle=":", label=words.t("sw_capacity")))
    handles += [
        Line2D([], [], color=FAILED, linestyle="--", label=words.t("sw_slo", slo=slo.text))
        for slo in slos
    ]
    legend_below(main, handles)
    save_png(figure, path, words)
    return figure


def _latency_panel(ax: Axes, cell: SweepCell, slos: Sequence[Slo], words: Words) -> None:
    capacity = cell.capacity
    if capacity is None:  # not searched: the caller draws only the cells that were
        return
    steps = sorted(capacity.steps, key=lambda s: s.rate)
    for name, colour in (("p99", _P99), ("p50", _P50)):
        drawn = [(s, getattr(s, name)) for s in steps if getattr(s, name) is not None]
        if not drawn:
            continue
        rates = np.array([s.rate for s, _ in drawn])
        values = np.array([v * 1000 for _, v in drawn])
        ax.plot(rates, values, color=colour, linewidth=1.2, zorder=2, gid=f"{name}-line")
        held = np.array([s.held for s, _ in drawn])
        bound = np.array([s.client_bound for s, _ in drawn])
        failed = ~held & ~bound
        ax.scatter(rates[held], values[held], s=22, color=colour, zorder=3, gid=f"{name}-held")
        ax.scatter(
            rates[failed], values[failed], s=22, facecolors="white", edgecolors=colour,
            zorder=3, gid=f"{name}-failed",
        )  # fmt: skip
        ax.scatter(
            rates[bound], values[bound], s=30, marker="^", color=_CLIENT, zorder=3,
            gid=f"{name}-client-bound",
        )  # fmt: skip
    for slo in slos:
        ax.axhline(slo.threshold * 1000, color=FAILED, linestyle="--", linewidth=1, gid="slo")
        ax.update_datalim([(0, slo.threshold * 1000 * 1.3)])  # the line inside the panel
    if capacity.capacity is not None:
        ax.axvline(capacity.capacity, color=_CAPACITY, linestyle=":", linewidth=1.4, gid="capacity")
        rate = _rate(capacity.capacity, words)
        if capacity.client_bound:
            title = words.t("sw_cell_lower_bound", name=cell.name, rate=rate)
        else:
            title = words.t("sw_cell_capacity", name=cell.name, rate=rate)
    else:
        title = words.t("sw_cell_no_capacity", name=cell.name)
    ax.set_title(title, fontsize="x-small")
    # Latencies span decades (a failed step's p99 can be the timeout): a log scale, unless
    # there is no latency at all to put on it.
    if slos or any(s.p99 is not None or s.p50 is not None for s in steps):
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _ms(v / 1000, words)))
        ax.yaxis.set_minor_locator(NullLocator())  # unlabelled and ungridded: no cost
    ax.set_xlim(left=0)
    ax.tick_params(labelsize="x-small")
    ax.grid(alpha=0.3, which="major")
    ax.set_axisbelow(True)


def _rate(value: float, words: Words) -> str:
    return words.lang.digits(f"{value:,.3g}" if value < 1000 else f"{value:,.0f}")


def _ms(value: float, words: Words) -> str:
    ms = value * 1000
    return words.lang.digits(f"{ms:,.0f}" if ms >= 10 else f"{ms:.2g}")
