"""Which configuration to run, from a sweep's measurements, and why every other one loses.

    facts = [CellFacts("prod_w2", capacity=38.5, memory_bytes=180 << 20), ...]
    choice = recommend(facts, workload="io", budget_bytes=2 << 30)
    choice.best            # "prod_w2", or None when no cell qualifies
    choice.ranking         # every cell, best first, each with a LossCode and its numbers
    # (a results_sweep.SweepRecommendation: sweep.json stores it as it is)

The rules, in order (a cell is judged by the first one it breaks):

1. ``failed``: the cell measured nothing (its server did not start or crashed).
2. ``not-measured``: the sweep's time budget ran out before the cell.
3. ``oom-killed``: the budget's cap OOM-killed one of its processes during the search.
   ``over-budget``: its memory at load exceeds the memory budget.
   ``died``: its server ended on its own during the search (a crash, a signal).
   ``dev-server``: Flask's development server, which Flask's own documentation says not to
   deploy; it is measured (the seminar's baseline) but never recommended.
4. ``dies-below-size``: its critical size under the budget is below the size asked for.
5. ``slo-never-held``: the SLO failed at every rate tried.
6. ``client-bound``: the load client, not the server, limited its rate search; its capacity
   is only a lower bound, so the recommendation does not rest on it (``uncertain``
   says when such a lower bound reaches the winner's capacity).
7. Among the cells left, the highest capacity wins, except that capacities within
   ``SAME_CAPACITY`` of the highest are the same within the noise of a re-measurement: of
   those, the one with the least memory wins (more headroom for the same rate) and the
   others lose with ``same-capacity-more-memory``; the rest lose with ``lower-capacity``.

Pure: numbers in, codes and numbers out; the report and the terminal put them in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from servelab.results_sweep import LossCode, RankedCell, SweepRecommendation

# A cell's capacity, re-measured, agrees within about this (the sweep's measured repeatability,
# issue 15's goal): closer capacities are not a reason to prefer one.
SAME_CAPACITY: Final = 0.10


@dataclass(frozen=True)
class CellFacts:
    """What the recommendation needs of one cell.

    ``capacity``: the highest arrival rate (requests/s) at which the SLO held, None when it
    held at none; ``client_bound``: the client limited the search; ``memory_bytes``: the
    server's memory at that load (None: not measured); ``critical_n``: the largest size it
    survived under the budget (None: not searched); ``measured``/``failed``: whether the cell
    ran at all and whether its server failed.
    """

    label: str
    capacity: float | None = None
    client_bound: bool = False
    memory_bytes: int | None = None
    critical_n: int | None = None
    measured: bool = True
    failed: bool = False
    oom_kills: int = 0
    died: bool = False
    production: bool = True


def recommend(
    cells: Sequence[CellFacts],
    *,
    workload: str = "",
    budget_bytes: int | None = None,
    size: int | None = None,
) -> SweepRecommendation:
    """The recommendation for ``cells`` (one workload's) under a memory budget and a size
    (both optional)."""
    judged: list[RankedCell] = []
    candidates: list[CellFacts] = []
    for cell in cells:
        loss, versus = _disqualified(cell, budget_bytes, size)
        if loss is None:
            candidates.append(cell)
        else:
            judged.append(RankedCell(cell.label, loss, cell.capacity, cell.memory_bytes, versus))
    if not candidates:
        return SweepRecommendation(workload, None, tuple(sorted(judged, key=_order)))
    top = max(_capacity(c) for c in candidates)
    tied = [c for c in candidates if _capacity(c) >= top * (1 - SAME_CAPACITY)]
    best = min(tied, key=lambda c: (_memory_or_inf(c), -_capacity(c)))
    ranked = [RankedCell(best.label, None, best.capacity, best.memory_bytes)]
    for cell in candidates:
        if cell is best:
            continue
        loss = "same-capacity-more-memory" if cell in tied else "lower-capacity"
        ranked.append(RankedCell(cell.label, loss, cell.capacity, cell.memory_bytes, best.capacity))
    ranked.sort(key=_order)
    # The lead is over the cells it beat on capacity: a tie within the noise is no lead
    # (those cells lost on memory, and the report says so).
    others = [r.capacity for r in ranked if r.loss == "lower-capacity" and r.capacity]
    best_capacity = _capacity(best)
    lead = best_capacity / max(others) if others and max(others) > 0 else None
    headroom = None
    if budget_bytes and best.memory_bytes is not None:
        headroom = (budget_bytes - best.memory_bytes) / budget_bytes
    uncertain = tuple(
        r.name
        for r in judged
        if r.loss == "client-bound" and r.capacity is not None and r.capacity >= best_capacity
    )
    return SweepRecommendation(
        workload,
        best.label,
        tuple(ranked + sorted(judged, key=_order)),
        lead=lead,
        memory_headroom=headroom,
        uncertain=uncertain,
    )


def _disqualified(
    cell: CellFacts, budget_bytes: int | None, size: int | None
) -> tuple[LossCode | None, float | None]:
    if cell.failed:
        return "failed", None
    if not cell.measured:
        return "not-measured", None
    if cell.oom_kills:
        return "oom-killed", None if budget_bytes is None else float(budget_bytes)
    if cell.died:
        return "died", None
    if not cell.production:
        return "dev-server", None
    over = budget_bytes is not None and (cell.memory_bytes or 0) > budget_bytes
    if over and budget_bytes is not None:
        return "over-budget", float(budget_bytes)
    if size is not None and cell.critical_n is not None and cell.critical_n < size:
        return "dies-below-size", float(size)
    if cell.capacity is None:
        return "slo-never-held", None
    if cell.client_bound:
        return "client-bound", None
    return None, None


def _capacity(cell: CellFacts) -> float:
    """A candidate's capacity (candidates always have one)."""
    assert cell.capacity is not None
    return cell.capacity


def _memory_or_inf(cell: CellFacts) -> float:
    return float("inf") if cell.memory_bytes is None else float(cell.memory_bytes)


def _order(r: RankedCell) -> tuple[int, float]:
    """Winner first, then by loss rule (the closest losers first), then by capacity."""
    rank = -1 if r.loss is None else _LOSS_ORDER[r.loss]
    return (rank, -(r.capacity or 0.0))


# Closest to winning first: a cell that merely measured less comes before one that broke a rule.
_LOSS_ORDER: Final = {
    "same-capacity-more-memory": 0,
    "lower-capacity": 1,
    "client-bound": 2,
    "dies-below-size": 3,
    "over-budget": 4,
    "oom-killed": 5,
    "died": 5,
    "dev-server": 2,
    "slo-never-held": 6,
    "not-measured": 7,
    "failed": 8,
}
