"""Every finished run side by side: makespan and latency, one panel per workload."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ._style import new_figure, save_png, series_colour
from .words import ENGLISH, Words


def _servers(study: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Each server description, in the order the plan first names it, with that run."""
    found: dict[str, Mapping[str, Any]] = {}
    for run in [*study.get("plan", {}).get("runs", []), *study.get("runs", [])]:
        server = run.get("server") or {}
        name = run.get("server_description") or server.get("description") or server.get("kind")
        if name and str(name) not in found:
            found[str(name)] = run
    return found


def server_colours(study: Mapping[str, Any]) -> dict[str, str]:
    """One colour per server description, in the order the plan first names each server."""
    return {name: series_colour(i) for i, name in enumerate(_servers(study))}


def server_names(study: Mapping[str, Any], words: Words) -> dict[str, str]:
    """Each server description of ``server_colours``, as the figure's language says it."""
    return {name: words.server(run) for name, run in _servers(study).items()}


def plot_runs_overview(study: Mapping[str, Any], *, path: Path, words: Words = ENGLISH) -> Figure:
    """Draw makespan and latency (min/mean/max) of every finished run into ``path``.

    Columns are workloads, with each its own linear scale: the point is dev against
    prod within a workload, and a shared scale would flatten the fast workloads.
    Runs whose status is not ``done`` are named under the figure, not drawn.
    """
    runs = [r for r in study.get("runs", []) if r.get("status") == "done" and r.get("summary")]
    skipped = [r.get("name", "?") for r in study.get("runs", []) if r not in runs]
    colours = server_colours(study)
    names = server_names(study, words)
    workloads: list[str] = []
    for run in runs:
        if run["workload"] not in workloads:
            workloads.append(run["workload"])

    figure = new_figure(height=6.2)
    figure.suptitle(words.t("overview_title"), fontweight="bold")
    columns = max(1, len(workloads))
    axes = figure.subplots(2, columns, squeeze=False)
    for col, workload in enumerate(workloads):
        group = [r for r in runs if r["workload"] == workload]
        function = group[0].get("function")
        axes[0][col].set_title(f"{workload}" + (f"\n{function}" if function else ""))
        _makespan_panel(axes[0][col], group, colours, words)
        _latency_panel(axes[1][col], group, colours, words)
        # One scale per workload for both rows: the slowest request cannot outlast the burst.
        axes[1][col].sharey(axes[0][col])
        top = max(
            max(float(r["summary"]["makespan"]), float(r["summary"]["latency_max"])) for r in group
        )
        axes[0][col].set_ylim(0, top * 1.25 or 1.0)
    axes[0][0].set_ylabel(words.t("makespan_axis"))
    axes[1][0].set_ylabel(words.t("latency_axis"))
    if not workloads:
        axes[0][0].text(0.5, 0.5, words.t("no_runs"), ha="center", transform=axes[0][0].transAxes)
    if skipped:
        figure.supxlabel(words.t("not_drawn", names=", ".join(skipped)), fontsize="small")
    handles = [Patch(color=colour, label=names[name]) for name, colour in colours.items()]
    if handles:
        figure.legend(handles=handles, loc="outside lower center", ncols=min(3, len(handles)))
    save_png(figure, path)
    return figure


def _label(run: Mapping[str, Any]) -> str:
    server = run.get("server") or {}
    return str(server.get("label") or server.get("kind") or run.get("name", "?"))


def _makespan_panel(
    ax: Axes, group: Sequence[Mapping[str, Any]], colours: dict[str, str], words: Words
) -> None:
    values = [float(r["summary"]["makespan"]) for r in group]
    bars = ax.bar(
        range(len(group)),
        values,
        label="makespan",
        color=[colours.get(r["server_description"], "#777777") for r in group],
        width=0.6,
    )
    texts = []
    for run, value in zip(group, values, strict=True):
        summary = run["summary"]
        text = words.seconds(value)
        if summary.get("ok") != summary.get("requests"):
            succeeded = words.t("some_ok", ok=summary.get("ok"), requests=summary.get("requests"))
            text += f"\n{succeeded}"
        texts.append(text)
    ax.bar_label(bars, texts, padding=2, fontsize="small")
    _finish(ax, group)


def _latency_panel(
    ax: Axes, group: Sequence[Mapping[str, Any]], colours: dict[str, str], words: Words
) -> None:
    summaries = [r["summary"] for r in group]
    means = [float(s["latency_mean"]) for s in summaries]
    lows = [m - float(s["latency_min"]) for m, s in zip(means, summaries, strict=True)]
    highs = [float(s["latency_max"]) - m for m, s in zip(means, summaries, strict=True)]
    ax.bar(
        range(len(group)),
        means,
        label="latency_mean",
        color=[colours.get(r["server_description"], "#777777") for r in group],
        width=0.6,
        yerr=[lows, highs],
        capsize=6,
        error_kw={"elinewidth": 1.2},
    )
    # The numbers go under the bars: on them, a label would hide the bar or the whisker.
    texts = [
        f"{_label(r)}\n{words.t('mean', value=words.seconds(m))}\n"
        f"{words.seconds(float(s['latency_min']))} .. {words.seconds(float(s['latency_max']))}"
        for r, m, s in zip(group, means, summaries, strict=True)
    ]
    _finish(ax, group, texts)


def _finish(ax: Axes, group: Sequence[Mapping[str, Any]], texts: Sequence[str] = ()) -> None:
    ax.set_xticks(range(len(group)), list(texts) or [_label(r) for r in group])
    ax.set_xlim(-0.6, len(group) - 0.4)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
