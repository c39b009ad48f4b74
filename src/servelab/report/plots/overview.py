"""Every finished run side by side: makespan and latency, one panel per workload."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ...load.summary import LoadSummary
from ...results import RunEntry, Server, Study
from ...workloads import APP_WORKLOAD, function_name
from ._style import new_figure, save_png, series_colour
from .words import ENGLISH, Words

ServerKey = tuple[str, int, str, int, float]


@dataclass(frozen=True)
class _Done:
    """A finished run with its summary (which a finished run always has)."""

    run: RunEntry
    summary: LoadSummary


def _servers(study: Study) -> dict[ServerKey, Server]:
    """Each server, in the order the plan first names it (then the runs)."""
    found: dict[ServerKey, Server] = {}
    for server in [*(r.server for r in study.plan.runs), *(r.server for r in study.runs)]:
        found.setdefault(server.key, server)
    return found


def server_colours(study: Study) -> dict[ServerKey, str]:
    """One colour per server, in the order the plan first names each server."""
    return {key: series_colour(i) for i, key in enumerate(_servers(study))}


def server_names(study: Study, words: Words) -> dict[ServerKey, str]:
    """Each server of ``server_colours``, as the figure's language says it."""
    return {key: words.server(server) for key, server in _servers(study).items()}


def plot_runs_overview(study: Study, *, path: Path, words: Words = ENGLISH) -> Figure:
    """Draw makespan and latency (min/mean/max) of every finished run into ``path``.

    Columns are workloads, with each its own linear scale: the point is dev against
    prod within a workload, and a shared scale would flatten the fast workloads.
    Runs whose status is not ``done`` are named under the figure, not drawn.
    """
    runs = [_Done(r, r.summary) for r in study.runs if r.done and r.summary is not None]
    skipped = [r.name for r in study.runs if not (r.done and r.summary is not None)]
    colours = server_colours(study)
    names = server_names(study, words)
    workloads: list[str] = []
    for done in runs:
        if done.run.workload not in workloads:
            workloads.append(done.run.workload)

    figure = new_figure(height=6.2)
    figure.suptitle(words.t("overview_title"), fontweight="bold")
    columns = max(1, len(workloads))
    axes = figure.subplots(2, columns, squeeze=False)
    for col, workload in enumerate(workloads):
        group = [r for r in runs if r.run.workload == workload]
        app = study.plan.app
        if app is not None and workload == APP_WORKLOAD:
            axes[0][col].set_title(app.ref)  # the user's app: its reference says it all
        else:
            axes[0][col].set_title(f"{workload}\n{function_name(workload)}")
        _makespan_panel(axes[0][col], group, colours, words)
        _latency_panel(axes[1][col], group, colours, words)
        # One scale per workload for both rows: the slowest request cannot outlast the burst.
        axes[1][col].sharey(axes[0][col])
        top = max(max(_number(r.summary.makespan), _number(r.summary.latency.max)) for r in group)
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
    save_png(figure, path, words)
    return figure


def _label(done: _Done) -> str:
    return done.run.server.label or done.run.server.kind or done.run.name


def _number(value: float | None) -> float:
    """A summary's time; a run that measured none draws as 0 rather than not at all."""
    return 0.0 if value is None else float(value)


def _makespan_panel(
    ax: Axes, group: Sequence[_Done], colours: dict[ServerKey, str], words: Words
) -> None:
    values = [_number(r.summary.makespan) for r in group]
    bars = ax.bar(
        range(len(group)),
        values,
        label="makespan",
        color=[colours.get(r.run.server.key, "#777777") for r in group],
        width=0.6,
    )
    texts = []
    for done, value in zip(group, values, strict=True):
        summary = done.summary
        text = words.seconds(value)
        if summary.ok != summary.requests:
            succeeded = words.t("some_ok", ok=summary.ok, requests=summary.requests)
            text += f"\n{succeeded}"
        texts.append(text)
    ax.bar_label(bars, texts, padding=2, fontsize="small")
    _finish(ax, group)


def _latency_panel(
    ax: Axes, group: Sequence[_Done], colours: dict[ServerKey, str], words: Words
) -> None:
    latencies = [r.summary.latency for r in group]
    means = [_number(d.mean) for d in latencies]
    lows = [m - _number(d.min) for m, d in zip(means, latencies, strict=True)]
    highs = [_number(d.max) - m for m, d in zip(means, latencies, strict=True)]
    ax.bar(
        range(len(group)),
        means,
        label="latency_mean",
        color=[colours.get(r.run.server.key, "#777777") for r in group],
        width=0.6,
        yerr=[lows, highs],
        capsize=6,
        error_kw={"elinewidth": 1.2},
    )
    # The numbers go under the bars: on them, a label would hide the bar or the whisker.
    texts = [
        f"{_label(r)}\n{words.t('mean', value=words.seconds(m))}\n"
        f"{words.seconds(_number(d.min))} .. {words.seconds(_number(d.max))}"
        for r, m, d in zip(group, means, latencies, strict=True)
    ]
    _finish(ax, group, texts)


def _finish(ax: Axes, group: Sequence[_Done], texts: Sequence[str] = ()) -> None:
    ax.set_xticks(range(len(group)), list(texts) or [_label(r) for r in group])
    ax.set_xlim(-0.6, len(group) - 0.4)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
