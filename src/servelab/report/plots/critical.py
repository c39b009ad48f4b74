"""The critical-n search of one server: where requests start to fail, and why (memory)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from ...results import NTrials, SearchEntry, Trial
from ...workloads import APP_WORKLOAD
from ._style import (
    BAND,
    CAP,
    MIB,
    OUTCOMES,
    PREDICTED,
    count_axis,
    legend_outside,
    new_figure,
    outcome_colour,
    save_png,
)
from .words import ENGLISH, Words

_MIXED: Final = "#ff7f0e"
# A trial's outcome, and the legend entry (``words`` key) of its dots.
_OUTCOME_LABELS: Final = {
    "ok": "trial_ok",
    "oom": "trial_oom",
    "memory-error": "trial_memory-error",
    "failed": "trial_failed",
}


def plot_critical(search: SearchEntry, *, path: Path, words: Words = ENGLISH) -> Figure:
    """Draw one search (an entry of study.json's ``critical``) into ``path``; returns it.

    Top: the share of trials that failed at each n, the model's predicted n, and the
    measured band. Bottom: each trial's peak memory against the cap and the model.
    """
    per_n, trials = search.per_n, search.trials
    limit = search.limit_bytes
    predicted = search.predicted_n
    passing, failing = search.max_passing_n, search.min_failing_n
    ns = [p.n for p in per_n] + [t.n for t in trials]
    ns += [v for v in (predicted, passing, failing) if v is not None]
    low, high = (min(ns), max(ns)) if ns else (0, 1)
    pad = (high - low) * 0.06 or high * 0.05 or 1

    figure = new_figure(height=7.6)
    rate_ax, memory_ax = figure.subplots(2, 1, sharex=True)
    cap_text = words.t("critical_cap", cap=words.mib(limit)) if limit else ""
    app = "_app" if search.workload == APP_WORKLOAD else ""
    figure.suptitle(
        words.t(
            "critical_title" + app,
            name=search.name,
            server=words.server(search.server),
            workload=search.workload,
            cap=cap_text,
        ),
        fontweight="bold",
        wrap=True,
    )
    handles: list[Line2D | Patch] = []
    handles += _band_and_prediction(rate_ax, passing, failing, predicted, words, legend=True)
    _band_and_prediction(memory_ax, passing, failing, predicted, words, legend=False)
    handles += _rates(rate_ax, per_n, words)
    handles += _peaks(memory_ax, search, trials, limit, (low - pad, high + pad), words)

    memory_ax.set_xlim(low - pad, high + pad)
    memory_ax.xaxis.set_major_formatter(count_axis(words))
    memory_ax.set_xlabel(words.t("n_axis" + app))
    legend_outside(rate_ax, handles)
    save_png(figure, path, words)
    return figure


def _band_and_prediction(
    ax: Axes,
    passing: int | None,
    failing: int | None,
    predicted: int | None,
    words: Words,
    *,
    legend: bool,
) -> list[Line2D | Patch]:
    handles: list[Line2D | Patch] = []
    if passing is not None and failing is not None:
        ax.axvspan(passing, failing, color=BAND, alpha=0.45, linewidth=0, gid="band")
        handles.append(
            Patch(
                color=BAND,
                alpha=0.45,
                label=words.t(
                    "band", passing=words.integer(passing), failing=words.integer(failing)
                ),
            )
        )
    else:
        for value, key in ((passing, "largest_passed"), (failing, "smallest_failed")):
            if value is not None:
                label = words.t(key, n=words.integer(value))
                handles.append(ax.axvline(value, color=BAND, linewidth=2, label=label, gid="band"))
    if predicted is not None:
        handles.append(
            ax.axvline(
                predicted,
                color=PREDICTED,
                linestyle="--",
                linewidth=1.4,
                label=words.t("predicted", n=words.integer(predicted)),
                gid="predicted",
            )
        )
    return handles if legend else []


def _rates(ax: Axes, per_n: Sequence[NTrials], words: Words) -> list[Line2D | Patch]:
    handles: list[Line2D | Patch] = []
    kinds = {
        "all passed": OUTCOMES["ok"],
        "some failed": _MIXED,
        "all failed": OUTCOMES["oom"],
    }
    drawn: set[str] = set()
    rows = sorted(per_n, key=lambda p: p.n)
    width = (rows[-1].n - rows[0].n) if rows else 1
    last: dict[bool, tuple[float, int]] = {False: (-math.inf, 0), True: (-math.inf, 0)}
    for p in rows:
        rate = p.rate
        kind = "all passed" if rate == 0 else "all failed" if rate == 1 else "some failed"
        drawn.add(kind)
        ax.scatter(
            p.n,
            rate,
            s=40 + 30 * p.trials,
            color=kinds[kind],
            edgecolor="black",
            linewidth=0.6,
            zorder=3,
            gid="rate",
        )
        # A label close to the previous one on its side goes one step further out.
        side = rate >= 0.5
        close = p.n - last[side][0] < 0.06 * width
        lift = 22 if close and last[side][1] == 10 else 10
        last[side] = (p.n, lift)
        ax.annotate(
            f"{p.failures}/{p.trials}",
            (p.n, rate),
            xytext=(0, -lift - 4 if rate >= 0.5 else lift),
            textcoords="offset points",
            ha="center",
            va="top" if rate >= 0.5 else "bottom",
            fontsize="small",
            zorder=5,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5},
        )
    for kind, colour in kinds.items():
        if kind in drawn:
            handles.append(_dot(colour, words.t(kind), size=8))
    handles.append(Patch(color="white", label=words.t("rate_key")))
    ax.set_ylim(-0.22, 1.22)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel(words.t("rate_axis"))
    ax.set_title(words.t("rate_title"), fontsize="small", loc="left")
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    return handles


def _peaks(
    ax: Axes,
    search: SearchEntry,
    trials: Sequence[Trial],
    limit: int | None,
    xrange: tuple[float, float],
    words: Words,
) -> list[Line2D | Patch]:
    handles: list[Line2D | Patch] = []
    for outcome, label in _OUTCOME_LABELS.items():
        part = [t for t in trials if _outcome(t) == outcome and t.peak_bytes]
        if not part:
            continue
        ax.scatter(
            [t.n for t in part],
            [(t.peak_bytes or 0) / MIB for t in part],
            color=outcome_colour(outcome),
            edgecolor="black",
            linewidth=0.5,
            s=36,
            alpha=0.85,
            zorder=3,
            gid=f"trials-{outcome}",
        )
        handles.append(_dot(outcome_colour(outcome), words.t(label)))
    tops = [t.peak_bytes / MIB for t in trials if t.peak_bytes]
    if limit:
        cap = ax.axhline(limit / MIB, color=CAP, linestyle="--", linewidth=1.3, gid="cap")
        cap.set_label(words.t("cap", cap=words.mib(limit)))
        handles.append(cap)
        tops.append(limit / MIB)
    model = _model_line(search, xrange)
    if model is not None and search.idle_bytes is not None:
        (line,) = ax.plot(*model, color=PREDICTED, linewidth=1.2, linestyle=":", gid="model")
        line.set_label(
            words.t(
                "model" + ("_app" if search.workload == APP_WORKLOAD else ""),
                idle=words.mib(search.idle_bytes),
                bpe=words.lang.digits(f"{search.bytes_per_element:g}"),
                at_once=search.in_memory_at_once,
            )
        )
        handles.append(line)
    ax.set_ylim(0, max(tops, default=1.0) * 1.12)
    ax.set_ylabel(words.t("peak_axis"))
    ax.set_title(words.t("peak_title"), fontsize="small", loc="left")
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    return handles


def _model_line(
    search: SearchEntry, xrange: tuple[float, float]
) -> tuple[list[float], list[float]] | None:
    if search.idle_bytes is None or search.bytes_per_element is None:
        return None
    if search.in_memory_at_once is None:
        return None
    idle = float(search.idle_bytes)
    slope = search.bytes_per_element * search.in_memory_at_once
    xs = [max(0.0, xrange[0]), xrange[1]]
    return xs, [(idle + slope * x) / MIB for x in xs]


def _dot(colour: str, label: str, size: float = 6) -> Line2D:
    """A legend entry for scatter points."""
    return Line2D(
        [],
        [],
        linestyle="none",
        marker="o",
        markersize=size,
        markerfacecolor=colour,
        markeredgecolor="black",
        label=label,
    )


def _outcome(trial: Trial) -> str:
    return trial.outcome if trial.outcome in _OUTCOME_LABELS else "failed"
