"""What every figure shares: the canvas, the sizes, the colours, the units, and saving.

Figures are built on ``matplotlib.figure.Figure`` with an explicit Agg canvas, never
through ``pyplot``: no display is ever needed, no global backend is switched, and no
figure lingers in a registry after it is saved.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, ScalarFormatter
from PIL import Image

from .words import Words

# About 1000 px wide: sharp on a laptop, still legible when a phone shrinks it.
WIDTH: Final = 9.5
DPI: Final = 110
MIB: Final = 2**20

# Reserved meanings, the same in every figure.
WAITING: Final = "#c8c8c8"
FAILED: Final = "#d62728"
CAP: Final = "#8b0000"
PREDICTED: Final = "#6a3d9a"
BAND: Final = "#fdbf6f"
NEW_PROCESS: Final = "#555555"
OUTCOMES: Final = {
    "ok": "#2ca02c",
    "oom": FAILED,
    "memory-error": "#ff7f0e",
    "failed": "#9467bd",
}
# Workers and servers: tab10 without its red and grey, which mean "failed" and "waiting".
SERIES: Final = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#c5b0d5",
)


def series_colour(index: int) -> str:
    """The colour of the index-th worker or server; repeats after twelve."""
    return SERIES[index % len(SERIES)]


def outcome_colour(outcome: str) -> str:
    return OUTCOMES.get(outcome, OUTCOMES["failed"])


def new_figure(height: float, width: float = WIDTH) -> Figure:
    """A figure on an Agg canvas with constrained layout (legends outside fit)."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def legend_outside(ax: Axes, handles: Sequence[Artist]) -> None:
    """A legend right of the axes, under the title, never over the data."""
    if handles:
        ax.legend(
            handles=list(handles),
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0.0,
            fontsize="small",
        )


class _LocalTicks(ScalarFormatter):
    """matplotlib's default tick labels with the numbers as the report's language prints them."""

    def __init__(self, words: Words) -> None:
        super().__init__()
        self.words = words

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self.words.lang.digits(super().__call__(x, pos))

    def get_offset(self) -> str:
        return self.words.lang.digits(super().get_offset())


def _local_ticks(figure: Figure, words: Words) -> None:
    """Default tick labels (seconds, MiB) in the language's digits: 0,5 on a Russian axis."""
    if words.lang.decimal(0.5, 1) == "0.5":
        return
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if type(axis.get_major_formatter()) is ScalarFormatter:
                axis.set_major_formatter(_LocalTicks(words))


def save_png(figure: Figure, path: Path, words: Words) -> None:
    """Write the figure as a 256-colour PNG, atomically and byte-for-byte reproducibly.

    Pillow writes no text chunks (no software version, no date), so rebuilding a report
    from the same files gives the same bytes. Default tick labels get the language's digits.
    """
    _local_ticks(figure, words)
    raw = io.BytesIO()
    figure.savefig(raw, format="rgba", dpi=DPI)
    width, height = figure.canvas.get_width_height(physical=True)
    image = Image.frombuffer("RGBA", (width, height), raw.getvalue(), "raw")
    # Flat colours and anti-aliased text fit a 256-colour palette with no visible loss,
    # at about a third of the bytes of a full-colour PNG.
    palette = image.convert("RGB").quantize(
        colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
    )
    buffer = io.BytesIO()
    palette.save(buffer, format="png", optimize=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its 0600 mode would make the PNGs unreadable to a web server.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def count_axis(words: Words) -> FuncFormatter:
    """Tick labels for an axis of element counts (a formatter belongs to one axis)."""
    return FuncFormatter(lambda value, _pos: words.count(value))
