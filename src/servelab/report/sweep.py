"""A sweep's report (``servelab sweep``): the recommendation first, then every cell.

``recommendation_lines`` is also what the terminal prints at the end of a sweep, so the two
never disagree. Reads ``results_sweep`` values only; the words are the language catalogs'.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from ..results import Server
from ..results_capacity import CapacityStep
from ..results_sweep import RankedCell, Sweep, SweepCell, SweepRecommendation
from .i18n import Lang
from .markdown import BUSY_MARK

if TYPE_CHECKING:  # the terminal's recommendation lines need no matplotlib
    from .plots.render import Plots

# A cell whose machine was this much slower than the fastest cell's (``servelab.speed``'s task
# took this much longer) is named under the table: about what one CPU-bound cell's capacity
# moves by when re-measured on a steady machine.
SPEED_DRIFT: Final = 0.10
# A server that used this many cores at its capacity is CPU-bound enough for the machine's
# speed to move it (an io cell's server uses a few hundredths).
CPU_BOUND_CORES: Final = 0.5

# The figures (``report/plots/sweep.py``) in page order, with their alt text and caption keys.
_FIGURES = (
    ("sweep-pareto", "sw_pareto_alt", "sw_pareto_caption"),
    ("sweep-memory", "sw_memory_alt", "sw_memory_caption"),
    ("sweep-latency", "sw_latency_alt", "sw_latency_caption"),
)


def recommendation_lines(sweep: Sweep, L: Lang) -> list[str]:
    """One paragraph per workload: what to run, its margins, and why each other cell loses."""
    lines: list[str] = []
    for choice in sweep.recommendations:
        lines.append(_verdict(sweep, choice, L))
        for ranked in choice.ranking:
            if ranked.loss is not None:
                lines.append(f"  - {_loss(sweep, ranked, choice, L)}")
        busy = [
            cell
            for ranked in choice.ranking
            if (cell := _cell(sweep, ranked.name)) is not None and _busy(cell)
        ]
        lines += [f"  - {BUSY_MARK} {line}" for line in _speed_rivals(sweep, choice, L)]
        if busy:
            busiest = max(busy, key=_noise_order)
            assert busiest.noise is not None
            lines.append(
                f"  - {BUSY_MARK} "
                + L.t(
                    "sw_busy",
                    cells=", ".join(f"`{cell.name}`" for cell in busy),
                    parts=L.noise(busiest.noise),
                )
            )
    return lines


def _machine(cell: SweepCell | None) -> float | None:
    """The median of the machine's speed over the cell's steps (``Capacity.machine_seconds``),
    None if not timed."""
    return None if cell is None or cell.capacity is None else cell.capacity.machine_seconds


def _cpu_bound(cell: SweepCell | None) -> bool:
    step = None if cell is None or cell.capacity is None else cell.capacity.at_capacity
    return step is not None and (step.server_cores or 0.0) >= CPU_BOUND_CORES


def _speed_rivals(sweep: Sweep, choice: SweepRecommendation, L: Lang) -> list[str]:
    """A line for each CPU-bound rival of the winner measured on a machine faster or slower
    by more than ``SPEED_DRIFT`` and by more than the two capacities differ: the machine, not
    the servers, may have ordered that pair."""
    best = None if choice.best is None else _cell(sweep, choice.best)
    best_speed = _machine(best)
    if best is None or best_speed is None or not _cpu_bound(best) or best.capacity is None:
        return []
    best_rate = best.capacity.capacity
    lines = []
    for ranked in choice.ranking:
        rival = _cell(sweep, ranked.name)
        speed = _machine(rival)
        if rival is None or rival is best or speed is None or not _cpu_bound(rival):
            continue
        rate = ranked.capacity
        drift = abs(speed / best_speed - 1)
        if not rate or not best_rate or drift <= SPEED_DRIFT:
            continue
        gap = abs(best_rate / rate - 1)
        if gap < drift:
            lines.append(
                L.t(
                    "sw_speed_rival",
                    rival=rival.name,
                    best=best.name,
                    drift=L.percent(drift),
                    way=L.t("sw_speed_slower" if speed > best_speed else "sw_speed_faster"),
                    gap=L.percent(gap),
                )
            )
    return lines


def _speed_lines(sweep: Sweep, L: Lang) -> list[str]:
    """Under the table: how fast the machine was for each CPU-bound cell, naming the slower
    ones. An io cell's capacity does not move with the machine's speed: its timing is left
    out rather than named beside cells it cannot explain."""
    timed = [
        (cell, t)
        for cell in ranked_cells(sweep)
        if _cpu_bound(cell) and (t := _machine(cell)) is not None
    ]
    if not timed:
        return []
    fastest = min(t for _, t in timed)
    more = [(cell, t / fastest - 1) for cell, t in timed]
    slower = [(cell, extra) for cell, extra in more if extra > SPEED_DRIFT]
    ms = L.decimal(fastest * 1000, 1)
    if not slower:
        spread = max(extra for _, extra in more)
        return [L.t("sw_speed_steady", spread=L.percent(spread), ms=ms)]
    cells = ", ".join(f"`{cell.name}` (+{L.percent(extra)})" for cell, extra in slower)
    return [f"{BUSY_MARK} " + L.t("sw_speed_drift", ms=ms, cells=cells)]


def _busy(cell: SweepCell) -> bool:
    """The cell was measured while the machine was busy (``Noise.busy``)."""
    return cell.noise is not None and cell.noise.busy


def _noise_order(cell: SweepCell) -> tuple[float, float]:
    noise = cell.noise
    return (0.0, 0.0) if noise is None else (noise.steal, noise.other_cores)


def render_sweep(sweep: Sweep, lang: str = "en", plots: Plots | None = None) -> str:
    """The page in ``lang``; ``plots`` are its figures (``render_sweep_plots``), shown after
    the table with a caption each, or named with the reason one could not be drawn."""
    L = Lang(lang)
    s = sweep.settings
    lines = [f"# {L.t('sw_title')}", ""]
    if not sweep.complete:
        lines += [L.t("sw_unfinished"), ""]
    lines += [f"## {L.t('sw_recommendation')}", ""]
    for line in recommendation_lines(sweep, L):
        lines.append(line if line.startswith("  - ") else f"- {line}")
    lines += ["", f"## {L.t('sw_cells')}", ""]
    budget = L.t("sw_no_budget") if s.memory_bytes is None else L.size(s.memory_bytes)
    lines += [
        L.t(
            "sw_setup",
            cells=len(sweep.planned),
            slos=", ".join(f"`{slo}`" for slo in s.slos),
            budget=budget,
            window=L.seconds(s.window),
            warmup=L.seconds(s.warmup),
            seconds=L.seconds(sweep.elapsed),
        )
        + (f" {L.t('sw_primed', prime=L.seconds(s.prime))}" if s.prime > 0 else "")
        + _engine_sentence(s.engine, L),
        "",
        L.t("sw_table"),
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    lines += [_row(cell, L) for cell in ranked_cells(sweep)]
    if any(_busy(cell) for cell in sweep.cells):
        lines += ["", L.t("sw_busy_mark", mark=BUSY_MARK)]
    lines += [line for text in _speed_lines(sweep, L) for line in ("", text)]
    if plots is not None:
        lines += ["", *_figures(plots, L)]
    lines += ["", f"## {L.t('sw_method_title')}", "", L.t("sw_method"), ""]
    if sweep.machine is not None:
        m = sweep.machine
        lines += [
            L.t(
                "sw_machine",
                cpu=m.cpu or L.na,
                cores=L.na if m.cores is None else m.cores,
                memory=L.gib(m.memory_bytes),
                python=m.python or L.na,
            ),
            "",
        ]
    return "\n".join(lines)


def _figures(plots: Plots, L: Lang) -> list[str]:
    lines = [f"## {L.t('sw_figures')}", ""]
    for key, alt, caption in _FIGURES:
        if key in plots:
            lines += [f"![{L.t(alt)}]({plots[key]})", "", L.t(caption), ""]
        elif key in plots.skipped:
            lines += [L.t("missing_file", what=f"{L.t(alt)} ({plots.skipped[key]})"), ""]
    return lines[:-1]


def ranked_cells(sweep: Sweep) -> list[SweepCell]:
    """The cells as the table lists them: workload by workload, each in its ranking's order
    (the recommended one first); a cell no ranking names keeps its place after them."""
    ordered: list[SweepCell] = []
    for choice in sweep.recommendations:
        for ranked in choice.ranking:
            cell = _cell(sweep, ranked.name)
            if cell is not None and cell not in ordered:
                ordered.append(cell)
    return ordered + [cell for cell in sweep.cells if cell not in ordered]


def _server(sweep: Sweep, name: str, L: Lang) -> str:
    cell = _cell(sweep, name)
    return name if cell is None else f"{_describe(cell.server, L)} (`{name}`)"


def _describe(server: Server, L: Lang) -> str:
    return L.server(server)


def _cell(sweep: Sweep, name: str) -> SweepCell | None:
    return next((c for c in sweep.cells if c.name == name), None)


def _rate(value: float | None, L: Lang) -> str:
    return L.na if value is None else L.digits(f"{value:.3g}")


def _verdict(sweep: Sweep, choice: SweepRecommendation, L: Lang) -> str:
    if choice.workload == "app":
        workload = L.t("sw_workload_app")
    else:
        workload = L.t("sw_workload", workload=choice.workload)
    winner = choice.winner
    if winner is None:
        return L.t("sw_none", workload=workload)
    parts = [
        L.t(
            "sw_best",
            workload=workload,
            server=_server(sweep, winner.name, L),
            slos=", ".join(sweep.settings.slos),
            rate=_rate(winner.capacity, L),
        )
    ]
    tied = [r.name for r in choice.ranking if r.loss == "same-capacity-more-memory"]
    if tied:
        parts.append(L.t("sw_tied", cells=", ".join(f"`{name}`" for name in tied)))
    if choice.lead is not None:
        parts.append(L.t("sw_lead", lead=L.ratio(choice.lead)))
    if choice.memory_headroom is not None and sweep.settings.memory_bytes is not None:
        parts.append(
            L.t(
                "sw_headroom",
                memory=L.size(winner.memory_bytes),
                budget=L.size(sweep.settings.memory_bytes),
                left=L.percent(choice.memory_headroom),
            )
        )
    elif winner.memory_bytes is not None:
        parts.append(L.t("sw_memory", memory=L.size(winner.memory_bytes)))
    shares = _shares(sweep, _cell(sweep, winner.name), L)
    if shares is not None:
        parts.append(shares)
    if choice.uncertain:
        parts.append(L.t("sw_uncertain", cells=", ".join(f"`{c}`" for c in choice.uncertain)))
    return " ".join(parts)


def _loss(sweep: Sweep, ranked: RankedCell, choice: SweepRecommendation, L: Lang) -> str:
    versus = ranked.versus
    cell = _cell(sweep, ranked.name)
    return L.t(
        f"sw_loss.{ranked.loss}",
        cell=f"`{ranked.name}`",
        rate=_rate(ranked.capacity, L),
        memory=L.size(ranked.memory_bytes),
        budget=L.size(versus) if ranked.loss in ("over-budget", "oom-killed") else "",
        best=_rate(versus, L),
        slos=", ".join(sweep.settings.slos),
        detail=_failure(sweep, ranked.name, L),
        critical=L.count(None if cell is None else cell.critical_n),
        size=L.count(int(versus)) if ranked.loss == "dies-below-size" and versus else "",
    )


def _failure(sweep: Sweep, name: str, L: Lang) -> str:
    cell = _cell(sweep, name)
    if cell is not None and cell.died is not None:
        return L.server_end(cell.died)
    if cell is None or cell.failure is None:
        return ""
    return L.t(f"error.{cell.failure.code}", detail=cell.failure.detail or "", n=cell.failure.n)


def _shares(sweep: Sweep, cell: SweepCell | None, L: Lang) -> str | None:
    """What share of the machine the server and the load client took at the cell's capacity:
    the client's CPU is the server's loss when the two share the machine. Said for the
    recommended cell: the client costs about the same per request in every cell, so the
    cell with the highest rate is where it took the most. None when a number is missing
    (sweeps written before the client's total was recorded)."""
    step = None if cell is None or cell.capacity is None else cell.capacity.at_capacity
    cores = sweep.machine.cores if sweep.machine is not None else None
    if cores is None and cell is not None and cell.noise is not None:
        cores = cell.noise.cores
    if step is None or not cores or step.server_cores is None or step.client_total_cores is None:
        return None
    return L.t(
        "sw_shares",
        server_share=L.share(step.server_cores / cores),
        server_cores=L.quantity(step.server_cores, 2, "core"),
        cores=cores,
        client_share=L.share(step.client_total_cores / cores),
        client_cores=L.quantity(step.client_total_cores, 2, "core"),
    )


def _cpu_ms(step: CapacityStep | None, L: Lang) -> str:
    """The server's CPU per request at the capacity, in ms (1 decimal below 10 ms)."""
    seconds = None if step is None else step.server_cpu_per_request
    if seconds is None:
        return L.na
    return L.decimal(seconds * 1000, 1 if seconds < 0.01 else 0)


def _engine_sentence(engine: str, L: Lang) -> str:
    """What sent the load, when it was not the own engine (``locust:N``)."""
    name, _, workers = engine.partition(":")
    return f" {L.t('sw_engine_locust', workers=workers)}" if name == "locust" else ""


def _row(cell: SweepCell, L: Lang) -> str:
    capacity = cell.capacity
    step = capacity.at_capacity if capacity is not None else None

    def ms(key: str) -> str:
        value = None if step is None else getattr(step.summary.latency, key)
        return L.na if value is None else L.digits(f"{value * 1000:.0f}")

    rate = L.na if capacity is None else _rate(capacity.capacity, L)
    if capacity is not None and capacity.client_bound:
        rate = f"≥ {rate}"
    idle, load = cell.memory_idle, cell.memory_load
    uss = None if load is None else load.worker_uss_mean
    cells: Sequence[str] = (
        f"`{cell.name}` {BUSY_MARK}" if _busy(cell) else f"`{cell.name}`",
        _describe(cell.server, L),
        rate,
        ms("p50"),
        ms("p99"),
        L.na
        if step is None or step.summary.error_rate is None
        else L.percent(step.summary.error_rate),
        L.na if step is None or step.server_cores is None else L.decimal(step.server_cores, 2),
        _cpu_ms(step, L),
        L.na if step is None or step.client_cores is None else L.decimal(step.client_cores, 2),
        L.milliseconds(None if step is None else step.client_cpu_per_request),
        L.size(None if idle is None else idle.total_pss),
        L.size(None if load is None else load.total_pss),
        L.size(uss),
        L.count(cell.workers_fit),
        L.count(cell.oom_kills) if cell.status == "done" else L.t(f"sw_status.{cell.status}"),
    )
    return "| " + " | ".join(cells) + " |"
