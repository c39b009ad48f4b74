"""Server memory over time, against its cap, with every OOM kill marked where it happened."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..rows import Sample
from ._style import CAP, FAILED, MIB, NEW_PROCESS, legend_outside, new_figure, save_png
from .words import ENGLISH, Words


@dataclass(frozen=True)
class MemoryEvents:
    """What the samples say happened, in seconds since the first sample.

    ``oom_kills``: (time, kills) where the cap's cumulative counter stepped up.
    ``new_pids``: (time, pids) where a process joined the tree after the first sample,
    e.g. gunicorn booting a worker to replace one that died.
    ``no_process``: times of samples with no server process alive.
    """

    oom_kills: list[tuple[float, int]]
    new_pids: list[tuple[float, list[int]]]
    no_process: list[float]


def memory_source(samples: Sequence[Sample]) -> str:
    """``cgroup_bytes`` when the samples have it (the number a cap holds), else ``rss_bytes``."""
    if any(s.cgroup_bytes is not None for s in samples):
        return "cgroup_bytes"
    return "rss_bytes"


def memory_events(samples: Sequence[Sample]) -> MemoryEvents:
    rows = sorted(samples, key=lambda s: s.t)
    if not rows:
        return MemoryEvents([], [], [])
    origin = rows[0].t
    kills: list[tuple[float, int]] = []
    born: list[tuple[float, list[int]]] = []
    empty: list[float] = []
    last_kills: int | None = None
    seen: set[int] = set(rows[0].pids)
    for s in rows:
        t = s.t - origin
        count = s.oom_kills
        if count is not None:
            if last_kills is not None and count > last_kills:
                kills.append((t, count - last_kills))
            last_kills = count
        new = sorted(set(s.pids) - seen)
        if new:
            born.append((t, new))
            seen.update(new)
        if s.processes == 0:
            empty.append(t)
    return MemoryEvents(kills, born, empty)


def plot_memory(
    samples: Sequence[Sample],
    *,
    title: str,
    path: Path,
    limit_bytes: int | None = None,
    words: Words = ENGLISH,
) -> Figure:
    """Draw the memory of a server over time into ``path`` (PNG); returns the figure.

    ``samples`` are rows of a ``samples.jsonl``. Older folders without ``oom_kills`` get
    no kill marks; a new pid in the tree is marked instead, labelled as what it is.
    """
    rows = sorted(samples, key=lambda s: s.t)
    source = memory_source(rows)
    points = [(s.t, s.memory(source)) for s in rows]
    origin = rows[0].t if rows else 0.0
    times = [t - origin for t, v in points if v is not None]
    values = [float(v) / MIB for _t, v in points if v is not None]
    events = memory_events(rows)

    figure = new_figure(height=4.2)
    ax = figure.add_subplot()
    figure.suptitle(title, fontweight="bold", wrap=True)
    what = words.t("cgroup_usage_title" if source == "cgroup_bytes" else "rss_title")
    interval = words.t("ms", value=f"{_step(times) * 1000:.0f}")
    ax.set_title(words.t("sampled", what=what, interval=interval), fontsize="small", loc="left")
    handles: list[Line2D | Patch] = []
    marker = "o" if len(values) < 40 else None
    (line,) = ax.plot(
        times, values, color="#1f77b4", marker=marker, markersize=3, linewidth=1.4, gid="memory"
    )
    line.set_label(words.t("cgroup_usage" if source == "cgroup_bytes" else "rss"))
    handles.append(line)
    top = max([*values, (limit_bytes or 0) / MIB, 1.0])
    if limit_bytes is not None:
        cap = ax.axhline(limit_bytes / MIB, color=CAP, linestyle="--", linewidth=1.3, gid="cap")
        cap.set_label(words.t("memory_cap", cap=words.mib(limit_bytes)))
        handles.append(cap)
    for i, (t, kills) in enumerate(events.oom_kills):
        kill = ax.axvline(t, color=FAILED, linewidth=1.2, alpha=0.8, gid="oom-kill")
        if i == 0:
            kill.set_label(words.t("oom_kill"))
            handles.append(kill)
        if kills > 1:
            ax.annotate(f"x{kills}", (t, top * 1.02), fontsize="small", color=FAILED, ha="center")
    if events.new_pids:
        (born,) = ax.plot(
            [t for t, _ in events.new_pids],
            [top * 1.06] * len(events.new_pids),
            linestyle="none",
            marker="v",
            color=NEW_PROCESS,
            label=words.t("new_process"),
            gid="new-process",
        )
        handles.append(born)
    if source == "cgroup_bytes" and all(s.oom_kills is None for s in rows):
        handles.append(Patch(color="white", label=words.t("no_kill_counter")))
    if events.no_process:
        step = _step(times)
        for t in events.no_process:
            ax.axvspan(t - step / 2, t + step / 2, color="#dddddd", linewidth=0)
        handles.append(Patch(color="#dddddd", label=words.t("no_process")))

    ax.set_ylim(0, top * 1.12)
    ax.set_xlim(left=0, right=max(times, default=1.0) * 1.02 or 1.0)
    ax.set_ylabel(words.t("memory_axis"))
    ax.set_xlabel(words.t("memory_x"))
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    legend_outside(ax, handles)
    save_png(figure, path, words)
    return figure


def _step(times: Sequence[float]) -> float:
    gaps = sorted(b - a for a, b in itertools.pairwise(times) if b > a)
    return gaps[len(gaps) // 2] if gaps else 0.05
