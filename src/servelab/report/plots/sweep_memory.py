"""A sweep's memory at load against the number of workers (``sweep-memory``): a line per
family of cells that differ in their workers alone, the budget as a line."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ...results import Server
from ...results_sweep import Sweep, SweepCell
from ._style import CAP, FAILED, MIB, save_png, series_colour
from ._sweep import (
    PANELS_PER_ROW,
    Skip,
    canvas,
    legend_below,
    panel_grid,
    panel_title,
    why_not,
    workloads_of,
)
from .words import ENGLISH, Words

_Family = tuple[str, str, int, str, int, float, bool]


def _family(server: Server) -> _Family:
    """What a cell's server is apart from its number of workers (preload included)."""
    return (
        server.kind,
        server.worker_class,
        server.threads,
        server.mode,
        server.max_rss,
        server.timeout,
        server.preload,
    )


def family_name(server: Server, words: Words) -> str:
    """A family of servers in words, without the number of workers: ``gunicorn gthread,
    4 threads, --preload``."""
    parts = [server.kind]
    if server.mode:
        parts[0] += f" {server.mode}"
    elif server.kind == "gunicorn":
        parts[0] += f" {server.worker_class}"
    if server.threads > 1:
        parts.append(words.lang.plural(server.threads, "thread"))
    if server.max_rss:
        parts.append(f"--workers-max-rss {server.max_rss}")
    if server.preload:
        parts.append("--preload")
    return ", ".join(parts)


def plot_sweep_memory(sweep: Sweep, path: Path, words: Words = ENGLISH) -> Figure:
    """Total PSS at load (top) and a worker's USS (bottom) against the number of workers,
    a line per family, a column per workload; the budget as a line."""
    measured = [c for c in sweep.cells if c.memory_load is not None]
    if not measured:
        raise Skip(words.t("sw_skip_no_memory"))
    missing = [
        (c.name, words.t("sw_why_no_memory") if c.status == "done" else why_not(c, words))
        for c in sweep.cells
        if c.memory_load is None
    ]
    families: dict[_Family, Server] = {}
    for cell in measured:
        families.setdefault(_family(cell.server), cell.server)
    # One colour per family, the same with and without --preload: the line style tells those.
    bases = list(dict.fromkeys(family[:-1] for family in families))
    workloads = workloads_of(measured)
    columns = min(len(workloads), PANELS_PER_ROW)
    blocks = math.ceil(len(workloads) / columns)
    figure, main = canvas(1.8 + 5.0 * blocks, words.t("sw_memory_title"), missing, words)
    grid = panel_grid(main, 2 * blocks, columns)
    budget = sweep.settings.memory_bytes
    for index, workload in enumerate(workloads):
        total_ax = grid[2 * (index // columns)][index % columns]
        uss_ax = grid[2 * (index // columns) + 1][index % columns]
        total_ax.set_title(panel_title(sweep, workload, words), fontsize="medium")
        uss_ax.sharex(total_ax)
        for family in families:
            cells = sorted(
                (c for c in measured if c.workload == workload and _family(c.server) == family),
                key=lambda c: c.server.workers,
            )
            if cells:
                _memory_lines(total_ax, uss_ax, cells, _Style.of(family, bases))
        if budget is not None:
            total_ax.axhline(budget / MIB, color=CAP, linestyle="--", linewidth=1.4, gid="budget")
        for ax in (total_ax, uss_ax):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            ax.set_axisbelow(True)
        uss_ax.set_xlabel(words.t("sw_workers_axis"))
    for index in range(len(workloads), blocks * columns):
        grid[2 * (index // columns)][index % columns].set_visible(False)
        grid[2 * (index // columns) + 1][index % columns].set_visible(False)
    for block in range(blocks):
        grid[2 * block][0].set_ylabel(words.t("sw_total_axis"))
        grid[2 * block + 1][0].set_ylabel(words.t("sw_uss_axis"))
    handles = []
    for family, server in families.items():
        style = _Style.of(family, bases)
        handles.append(
            Line2D(
                [],
                [],
                color=style.colour,
                linestyle=style.line,
                marker=style.marker,
                label=family_name(server, words),
            )
        )
    if budget is not None:
        handles.append(
            Line2D(
                [],
                [],
                color=CAP,
                linestyle="--",
                label=words.t("sw_budget", budget=words.lang.size(budget)),
            )
        )
    if any(c.oom_kills for c in measured):
        handles.append(
            Line2D([], [], linestyle="none", marker="x", color=FAILED, label=words.t("sw_oom"))
        )
    legend_below(main, handles)
    save_png(figure, path, words)
    return figure


@dataclass(frozen=True)
class _Style:
    """A family's line: one colour per server apart from --preload, which dashes it."""

    colour: str
    line: Literal["-", "--"]
    marker: str

    @classmethod
    def of(cls, family: _Family, bases: Sequence[tuple[object, ...]]) -> _Style:
        preload = family[-1]
        colour = series_colour(bases.index(family[:-1]))
        return cls(colour, "--" if preload else "-", "s" if preload else "o")


def _memory_lines(total_ax: Axes, uss_ax: Axes, cells: Sequence[SweepCell], style: _Style) -> None:
    workers = [c.server.workers for c in cells]
    totals = [c.memory_load.total_pss / MIB for c in cells if c.memory_load is not None]
    total_ax.plot(
        workers, totals, color=style.colour, linestyle=style.line, marker=style.marker, gid="total"
    )
    uss = [
        (c.server.workers, c.memory_load.worker_uss_mean / MIB)
        for c in cells
        if c.memory_load is not None and c.memory_load.worker_uss_mean is not None
    ]
    if uss:
        uss_ax.plot(
            [w for w, _ in uss],
            [u for _, u in uss],
            color=style.colour,
            linestyle=style.line,
            marker=style.marker,
            gid="uss",
        )
    for cell, total in zip(cells, totals, strict=True):
        if cell.oom_kills:
            total_ax.scatter(
                cell.server.workers, total, s=110, marker="x", color=FAILED, zorder=4, gid="oom"
            )
