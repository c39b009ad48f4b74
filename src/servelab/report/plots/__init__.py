"""The figures of a report, drawn from a results folder's files alone.

    plots = render_plots(results)  # {"overview": "plots/overview.png", ...}
    russian = render_plots(results, "ru")  # {"overview": "plots/ru/overview.png", ...}
    plots.skipped  # {"memory/io_bounded_dev": "the samples file ... is missing"}

Each drawing function takes plain data (rows of a JSONL file, entries of study.json),
writes one PNG and returns the matplotlib Figure, so a test can read what was drawn.
Figures use an Agg canvas of their own: no display, no pyplot, no global backend.
Like the rest of ``report``, this never imports the engine, the servers or the caps.
"""

from __future__ import annotations

from .critical import plot_critical
from .memory import MemoryEvents, memory_events, memory_source, plot_memory
from .overview import plot_runs_overview, server_colours
from .render import Plots, figure_path, probe_to_show, render_plots
from .timeline import Segment, Worker, plot_timeline, timeline_segments
from .words import Words

__all__ = [
    "MemoryEvents",
    "Plots",
    "Segment",
    "Words",
    "Worker",
    "figure_path",
    "memory_events",
    "memory_source",
    "plot_critical",
    "plot_memory",
    "plot_runs_overview",
    "plot_timeline",
    "probe_to_show",
    "render_plots",
    "server_colours",
    "timeline_segments",
]
