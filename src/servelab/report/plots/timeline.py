"""One bar per request: how long it queued, which worker served it, and when it failed.

The dev server's threads make the bars overlap; one gunicorn sync worker makes a
staircase, each request waiting (grey) for the one before it to be served.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..rows import Record, RecordColumns
from ._style import FAILED, WAITING, legend_outside, new_figure, save_png, series_colour
from .words import ENGLISH, Words

# Rows beyond this get no per-row tick labels or error texts: they would overprint.
_LABELLED_ROWS: Final = 40
_LEGEND_WORKERS: Final = 12
# Above this many bars of a kind, they are drawn as one collection instead of one artist each.
_BAR_ARTISTS: Final = 2000


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


@dataclass(frozen=True)
class _Bars:
    """The bars of one kind, as columns: row, left edge, width (seconds since the first
    send); ``worker`` (0-based) for ``served``, ``error`` (an index into the error classes)
    for ``failed``."""

    row: npt.NDArray[np.int64]
    left: npt.NDArray[np.float64]
    width: npt.NDArray[np.float64]
    worker: npt.NDArray[np.int64]
    error: npt.NDArray[np.int64]


@dataclass(frozen=True)
class _Layout:
    bars: dict[str, _Bars]
    workers: list[Worker]
    index: npt.NDArray[np.int64]  # the request index of each row
    error_classes: tuple[str, ...]


def _layout(records: Iterable[Record] | RecordColumns) -> _Layout:
    """Rows in send order and every bar, computed on columns: a file of a million requests
    costs a few arrays of 8-byte values, not a million Python objects."""
    c = records if isinstance(records, RecordColumns) else RecordColumns.of(records)
    order = np.lexsort((c.index, c.start))
    start, end, ok = c.start[order], c.end[order], c.ok[order]
    h_start, h_duration = c.handler_start[order], c.handler_duration[order]
    pid, thread = c.served_pid[order], c.served_thread[order]
    rows = np.arange(len(order), dtype=np.int64)
    origin = start[0] if len(start) else 0.0
    timed = ok & np.isfinite(h_start) & np.isfinite(h_duration)

    served = np.flatnonzero(timed)
    by_handler = served[np.lexsort((thread[served], pid[served], h_start[served]))]
    workers: list[Worker] = []
    worker_of_row = np.full(len(order), -1, dtype=np.int64)
    if len(by_handler):
        pairs = np.stack([pid[by_handler], thread[by_handler]], axis=1)
        unique, first, inverse = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))  # by first service
        worker_of_row[by_handler] = rank[inverse.reshape(-1)]
        for number, u in enumerate(unique[np.argsort(first, kind="stable")]):
            workers.append(
                Worker(number + 1, None if u[0] < 0 else int(u[0]), None if u[1] < 0 else int(u[1]))
            )

    none = np.empty(0, dtype=np.int64)

    def bars(mask: npt.NDArray[np.bool_], left: Any, width: Any, worker: Any = None) -> _Bars:
        return _Bars(
            rows[mask],
            np.asarray(left)[mask],
            np.asarray(width)[mask],
            none if worker is None else worker[mask],
            c.error_class[order][mask] if worker is None else none,
        )

    sent = start - origin
    # Same machine, same clock; max() only guards against rounding below zero.
    wait = np.maximum(0.0, np.where(timed, h_start - start, 0.0))
    return _Layout(
        bars={
            "waiting": bars(timed, sent, wait),
            "request": bars(ok & ~timed, sent, end - start),
            "failed": bars(~ok, sent, end - start),
            "served": bars(timed, sent + wait, h_duration, worker_of_row),
        },
        workers=workers,
        index=c.index[order],
        error_classes=c.error_classes,
    )


def timeline_segments(
    records: Iterable[Record] | RecordColumns,
) -> tuple[list[Segment], list[Worker]]:
    """The bars of a timeline, rows in send order, and the workers that served."""
    layout = _layout(records)
    segments: list[Segment] = []
    for kind, b in layout.bars.items():
        for i in range(len(b.row)):
            row = int(b.row[i])
            worker = int(b.worker[i]) if kind == "served" else None
            code = int(b.error[i]) if kind == "failed" else -1
            segments.append(
                Segment(
                    row,
                    int(layout.index[row]),
                    kind,
                    float(b.left[i]),
                    float(b.width[i]),
                    worker,
                    layout.error_classes[code] if code >= 0 else None,
                )
            )
    kinds = ("failed", "waiting", "served", "request")
    segments.sort(key=lambda s: (s.row, kinds.index(s.kind)))
    return segments, layout.workers


def _draw(ax: Axes, kind: str, b: _Bars, colours: Any, **style: Any) -> None:
    """One kind of bar: a BarContainer while bars can be told apart, else one collection
    of rectangles (a Rectangle artist per bar costs kilobytes; a file can hold millions)."""
    if len(b.row) <= _BAR_ARTISTS:
        ax.barh(b.row, b.width, left=b.left, height=0.7, label=kind, color=colours, **style)
        return
    low, high = b.row - 0.35, b.row + 0.35
    right = b.left + b.width
    corners = np.stack(
        [
            np.stack([b.left, low], axis=1),
            np.stack([right, low], axis=1),
            np.stack([right, high], axis=1),
            np.stack([b.left, high], axis=1),
        ],
        axis=1,
    )
    style.pop("hatch", None)  # hatching a million rectangles draws nothing one could see
    collection = PolyCollection(cast(Any, corners), facecolors=colours, label=kind, **style)
    ax.add_collection(collection)


def _worker_label(worker: Worker, workers: Sequence[Worker], words: Words) -> str:
    shared = sum(1 for w in workers if w.pid == worker.pid) > 1
    if shared and worker.thread is not None:
        return words.t("worker_thread", number=worker.number, pid=worker.pid, thread=worker.thread)
    return words.t("worker", number=worker.number, pid=worker.pid)


def plot_timeline(
    records: Iterable[Record] | RecordColumns, *, title: str, path: Path, words: Words = ENGLISH
) -> Figure:
    """Draw the request timeline of one load run into ``path`` (PNG); returns the figure.

    ``records`` are rows of a ``records.jsonl``. The axes hold one BarContainer per kind
    of segment, labelled with the kind (see ``Segment``), in row order.
    """
    layout = _layout(records)
    bars, workers = layout.bars, layout.workers
    n_rows = len(layout.index)
    figure = new_figure(height=min(10.0, max(3.4, 1.5 + 0.3 * n_rows)))
    ax = figure.add_subplot()
    figure.suptitle(title, fontweight="bold", wrap=True)
    ax.set_title(words.t("timeline_subtitle"), fontsize="small", loc="left")

    for kind, colour, style in (
        ("waiting", WAITING, {}),
        ("request", "#6f6f6f", {}),
        ("failed", "#fbe3e3", {"edgecolor": FAILED, "hatch": "///", "linewidth": 0.8}),
    ):
        if len(bars[kind].row):
            _draw(ax, kind, bars[kind], colour, **style)
    served = bars["served"]
    if len(served.row):
        _draw(ax, "served", served, [series_colour(int(w)) for w in served.worker])

    failed = bars["failed"]
    labelled = n_rows <= _LABELLED_ROWS
    if labelled:
        for left, width, row, code in zip(
            failed.left, failed.width, failed.row, failed.error, strict=True
        ):
            ax.annotate(
                layout.error_classes[code] if code >= 0 else words.t("failed"),
                (float(left + width), int(row)),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize="small",
                color=FAILED,
            )
    ends = [float((b.left + b.width).max()) for b in bars.values() if len(b.row)] or [1.0]
    # Room on the right for the error texts, which are not clipped to the axes.
    ax.set_xlim(0, max(ends) * (1.16 if len(failed.row) and labelled else 1.03))
    ax.set_ylim(n_rows - 0.5, -0.5)
    if labelled and n_rows:
        ax.set_yticks(list(range(n_rows)), [f"#{i}" for i in layout.index])
    ax.set_xlabel(words.t("timeline_x"))
    ax.set_ylabel(words.t("timeline_y_labelled" if labelled else "timeline_y"))
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)

    handles: list[Patch] = []
    if np.any(bars["waiting"].width > 0):
        handles.append(Patch(color=WAITING, label=words.t("waiting")))
    handles += [
        Patch(color=series_colour(w.number - 1), label=_worker_label(w, workers, words))
        for w in workers[:_LEGEND_WORKERS]
    ]
    if len(workers) > _LEGEND_WORKERS:
        extra = len(workers) - _LEGEND_WORKERS
        handles.append(Patch(color="white", label=words.t("more_workers", extra=extra)))
    if len(bars["request"].row):
        handles.append(Patch(color="#6f6f6f", label=words.t("no_timing")))
    if len(failed.row):
        handles.append(
            Patch(facecolor="#fbe3e3", edgecolor=FAILED, hatch="///", label=words.t("failed_span"))
        )
    legend_outside(ax, handles)
    save_png(figure, path, words)
    return figure
