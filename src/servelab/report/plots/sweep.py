"""A sweep's figures (``servelab sweep``), drawn from ``sweep.json`` alone.

    plots = render_sweep_plots(results, "ru", sweep=sweep)
    plots["sweep-pareto"]   # "plots/ru/sweep-pareto.png"
    plots.skipped           # {"sweep-memory": "no cell has its memory measured at load"}

``sweep-pareto``   capacity against p99 at that rate, one point per measured cell, coloured
                   by its memory at load; the Pareto front (of capacity, p99 and memory) with
                   black edges, the recommendation a star, cells over the budget hollow,
                   OOM-killed ones crossed, a capacity the load client bounded with an arrow
                   up (a lower bound). One panel per workload (``sweep_pareto.py``).
``sweep-memory``   memory at load against the number of workers, one line per family of
                   cells that differ in their workers alone (dashed: ``--preload``): the
                   tree's total PSS against the budget, and a worker's USS
                   (``sweep_memory.py``).
``sweep-latency``  p50 and p99 of every step of each cell's rate search against the rate
                   asked, held steps filled, failed ones hollow, client-bound ones triangles,
                   the SLOs' latency thresholds and the capacity as lines. One panel per
                   cell, a row per workload (``sweep_latency.py``).

A cell that cannot be drawn is named under its figure with the reason; a figure with nothing
to draw is skipped (``Plots.skipped``). Like the rest of ``report``, nothing here runs
anything: the SLOs are parsed by ``servelab.load.slo``, which imports only the summary type.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

from matplotlib.figure import Figure

from ...results_sweep import Sweep, read_sweep
from ._sweep import Skip
from .render import Plots, figure_path
from .sweep_latency import plot_sweep_latency
from .sweep_memory import family_name, plot_sweep_memory
from .sweep_pareto import FrontPoint, pareto_front, plot_sweep_pareto
from .words import Words

__all__ = [
    "SWEEP_FIGURES",
    "FrontPoint",
    "family_name",
    "pareto_front",
    "plot_sweep_latency",
    "plot_sweep_memory",
    "plot_sweep_pareto",
    "render_sweep_plots",
]

SWEEP_FIGURES: Final = ("sweep-pareto", "sweep-memory", "sweep-latency")


def render_sweep_plots(results: Path, lang: str = "en", *, sweep: Sweep | None = None) -> Plots:
    """Draw a sweep's figures in ``lang`` under ``results/plots/`` (``plots/<lang>/`` for a
    language other than English); ``sweep`` is read from the folder when not given."""
    words = Words(lang)
    if sweep is None:
        sweep = read_sweep(results)
    plots = Plots()
    drawers: dict[str, Callable[[Sweep, Path, Words], Figure]] = {
        "sweep-pareto": plot_sweep_pareto,
        "sweep-memory": plot_sweep_memory,
        "sweep-latency": plot_sweep_latency,
    }
    for key, draw in drawers.items():
        relative = figure_path(key, lang)
        try:
            draw(sweep, results / relative, words)
        except Skip as why:
            plots.skipped[key] = str(why)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            detail = f"{type(error).__name__}: {error}"
            plots.skipped[key] = words.t("skip_cannot_draw", error=detail)
        else:
            plots[key] = relative
    return plots
