"""One bar per request: how long it queued, which worker served it, and when it failed.

The dev server's threads make the bars overlap; one gunicorn sync worker makes a
staircase, each request waiting (grey) for the one before it to be served.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..rows import Record
from ._style import FAILED, WAITING, legend_outside, new_figure, save_png, series_colour
from .words import ENGLISH, Words

# Rows beyond this get no per-row tick labels or error texts: they would overprint.
_LABELLED_ROWS: Final = 40
_LEGEND_WORKERS: Final = 12


@dataclass(frozen=True)
class Segment:
    """One drawn bar: seconds since the first send, on the row of its request.

    ``kind`` is ``waiting`` (sent, no handler yet), ``served`` (a handler running it),
    ``request`` (succeeded, but the server sent no handler timing) or ``failed`` (from
    send to failure, labelled with the error class).
    """

    row: int
    index: int
    kind: str
    start: float
    width: float
    worker: int | None = None
    error_class: str | None = None


@dataclass(frozen=True)
class Worker:
    """A (pid, thread) that ran handlers, numbered from 1 in the order it first served."""

    number: int
    pid: int | None
    thread: int | None


def timeline_segments(
    records: Sequence[Record],
) -> tuple[list[Segment], list[Worker]]:
    """The bars of a timeline, rows in send order, and the workers that served."""
    rows = sorted(records, key=lambda r: (r.start, r.index))
    if not rows:
        return [], []
    origin = rows[0].start
    served = sorted(
        (r for r in rows if r.ok and r.timed),
        key=lambda r: (r.handler_start or 0.0, r.served_pid or 0, r.served_thread or 0),
    )
    numbers: dict[tuple[int | None, int | None], int] = {}
    for r in served:
        numbers.setdefault((r.served_pid, r.served_thread), len(numbers))
    workers = [Worker(n + 1, pid, thread) for (pid, thread), n in numbers.items()]

    segments: list[Segment] = []
    for row, r in enumerate(rows):
        start = r.start - origin
        if not r.ok:
            segments.append(
                Segment(row, r.index, "failed", start, r.end - r.start, error_class=r.error_class)
            )
        elif r.handler_start is not None and r.handler_duration is not None:
            # Same machine, same clock; max() only guards against rounding below zero.
            wait = max(0.0, r.handler_start - r.start)
            worker = numbers[(r.served_pid, r.served_thread)]
            segments.append(Segment(row, r.index, "waiting", start, wait))
            segments.append(
                Segment(row, r.index, "served", start + wait, r.handler_duration, worker)
            )
        else:
            segments.append(Segment(row, r.index, "request", start, r.end - r.start))
    return segments, workers


def _worker_label(worker: Worker, workers: Sequence[Worker], words: Words) -> str:
    shared = sum(1 for w in workers if w.pid == worker.pid) > 1
    if shared and worker.thread is not None:
        return words.t("worker_thread", number=worker.number, pid=worker.pid, thread=worker.thread)
    return words.t("worker", number=worker.number, pid=worker.pid)


def plot_timeline(
    records: Sequence[Record], *, title: str, path: Path, words: Words = ENGLISH
) -> Figure:
    """Draw the request timeline of one load run into ``path`` (PNG); returns the figure.

    ``records`` are rows of a ``records.jsonl``. The axes hold one BarContainer per kind
    of segment, labelled with the kind (see ``Segment``), in row order.
    """
    segments, workers = timeline_segments(records)
    n_rows = len({s.row for s in segments})
    figure = new_figure(height=min(10.0, max(3.4, 1.5 + 0.3 * n_rows)))
    ax = figure.add_subplot()
    figure.suptitle(title, fontweight="bold", wrap=True)
    ax.set_title(words.t("timeline_subtitle"), fontsize="small", loc="left")

    for kind, style in (
        ("waiting", {"color": WAITING}),
        ("request", {"color": "#6f6f6f"}),
        ("failed", {"color": "#fbe3e3", "edgecolor": FAILED, "hatch": "///", "linewidth": 0.8}),
    ):
        part = [s for s in segments if s.kind == kind]
        if part:
            ax.barh(
                [s.row for s in part],
                [s.width for s in part],
                left=[s.start for s in part],
                height=0.7,
                label=kind,
                **style,
            )
    served = [s for s in segments if s.kind == "served"]
    if served:
        ax.barh(
            [s.row for s in served],
            [s.width for s in served],
            left=[s.start for s in served],
            height=0.7,
            color=[series_colour(s.worker or 0) for s in served],
            label="served",
        )

    failed = [s for s in segments if s.kind == "failed"]
    labelled = n_rows <= _LABELLED_ROWS
    if labelled:
        for s in failed:
            ax.annotate(
                s.error_class or words.t("failed"),
                (s.start + s.width, s.row),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize="small",
                color=FAILED,
            )
    ends = [s.start + s.width for s in segments] or [1.0]
    # Room on the right for the error texts, which are not clipped to the axes.
    ax.set_xlim(0, max(ends) * (1.16 if failed and labelled else 1.03))
    ax.set_ylim(n_rows - 0.5, -0.5)
    if labelled and segments:
        by_row = {s.row: s.index for s in segments}
        ax.set_yticks(list(by_row), [f"#{by_row[row]}" for row in by_row])
    ax.set_xlabel(words.t("timeline_x"))
    ax.set_ylabel(words.t("timeline_y_labelled" if labelled else "timeline_y"))
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)

    handles: list[Patch] = []
    if any(s.kind == "waiting" and s.width > 0 for s in segments):
        handles.append(Patch(color=WAITING, label=words.t("waiting")))
    handles += [
        Patch(color=series_colour(w.number - 1), label=_worker_label(w, workers, words))
        for w in workers[:_LEGEND_WORKERS]
    ]
    if len(workers) > _LEGEND_WORKERS:
        extra = len(workers) - _LEGEND_WORKERS
        handles.append(Patch(color="white", label=words.t("more_workers", extra=extra)))
    if any(s.kind == "request" for s in segments):
        handles.append(Patch(color="#6f6f6f", label=words.t("no_timing")))
    if failed:
        handles.append(
            Patch(facecolor="#fbe3e3", edgecolor=FAILED, hatch="///", label=words.t("failed_span"))
        )
    legend_outside(ax, handles)
    save_png(figure, path)
    return figure
