"""Every figure of a repeated study as a median and a spread. Pure: studies in, rows out.

A figure is stable when its spread, ``(max - min) / median`` over the repeats, is under
``STABLE_SPREAD`` (5%, the issue's line between "repeats" and "one draw"). The spread is
the whole range, not a standard deviation: with 3-5 repeats a range is what a reader can
check against the table of values, and it does not pretend to know a distribution.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from ..results import RunEntry, SearchEntry, Study

__all__ = ["STABLE_SPREAD", "Figure", "MiddleCover", "figures", "middle_cover"]

STABLE_SPREAD: Final = 0.05

Unit = Literal["seconds", "count"]


@dataclass(frozen=True)
class Figure:
    """One figure over the repeats: ``subject`` (a run or search name), ``what`` (a word
    key: makespan, latency_mean, never_failed, always_failed, middle, predicted), its unit,
    and its value in each repeat (None where that repeat did not measure it)."""

    subject: str
    what: str
    unit: Unit
    values: tuple[float | None, ...]

    @property
    def known(self) -> tuple[float, ...]:
        return tuple(v for v in self.values if v is not None)

    @property
    def median(self) -> float | None:
        return statistics.median(self.known) if self.known else None

    @property
    def spread(self) -> float | None:
        """``(max - min) / median``; None with fewer than two values or a zero median."""
        known, middle = self.known, self.median
        if len(known) < 2 or not middle:
            return None
        return (max(known) - min(known)) / abs(middle)

    @property
    def stable(self) -> bool | None:
        spread = self.spread
        return None if spread is None else spread < STABLE_SPREAD


def figures(studies: Sequence[Study]) -> list[Figure]:
    """The runs' makespans and mean latencies, and the searches' ends, 50% points and
    predictions, in the first repeat's order, each with its value in every repeat."""
    if not studies:
        return []
    out: list[Figure] = []
    run_names = [run.name for run in studies[0].runs]
    run_figures: list[tuple[str, Unit, Callable[[RunEntry], float | None]]] = [
        ("makespan", "seconds", lambda r: r.summary.makespan if r.summary else None),
        ("latency_mean", "seconds", lambda r: r.summary.latency.mean if r.summary else None),
    ]
    for name in run_names:
        for what, unit, value in run_figures:
            values = tuple(_run_value(study, name, value) for study in studies)
            out.append(Figure(name, what, unit, values))
    search_figures: list[tuple[str, Callable[[SearchEntry], float | None]]] = [
        ("never_failed", lambda s: s.max_passing_n),
        ("always_failed", lambda s: s.min_failing_n),
        ("middle", _middle),
        ("predicted", lambda s: s.predicted_n),
    ]
    for name in [search.name for search in studies[0].critical]:
        for what, getter in search_figures:
            values = tuple(_search_value(study, name, getter) for study in studies)
            if any(v is not None for v in values):
                out.append(Figure(name, what, "count", values))
    return out


@dataclass(frozen=True)
class MiddleCover:
    """How the 50% points of one search's repeats agree: for each repeat, how many of the
    other repeats' 50% points its own 95% interval holds (``covered`` of ``others``)."""

    subject: str
    covered: tuple[int, ...]
    others: int

    @property
    def all_covered(self) -> bool:
        return all(c == self.others for c in self.covered)


def middle_cover(studies: Sequence[Study]) -> list[MiddleCover]:
    """Per search with a fitted curve in every repeat, the interval-covers-others count."""
    out: list[MiddleCover] = []
    if len(studies) < 2:
        return out
    for name in [search.name for search in studies[0].critical]:
        points = []
        for study in studies:
            search = _search(study, name)
            point = search.breaking.at(0.5) if search and search.breaking else None
            if point is None:
                break
            points.append(point)
        else:
            covered = tuple(
                sum(
                    1
                    for j, other in enumerate(points)
                    if j != i and own.low <= other.n and (own.high is None or other.n <= own.high)
                )
                for i, own in enumerate(points)
            )
            out.append(MiddleCover(name, covered, len(points) - 1))
    return out


def _middle(search: SearchEntry) -> float | None:
    point = search.breaking.at(0.5) if search.breaking else None
    return float(point.n) if point else None


def _run_value(study: Study, name: str, value: Callable[[RunEntry], float | None]) -> float | None:
    run = next((r for r in study.runs if r.name == name), None)
    return value(run) if run is not None and run.done else None


def _search(study: Study, name: str) -> SearchEntry | None:
    return next((s for s in study.critical if s.name == name and s.error is None), None)


def _search_value(
    study: Study, name: str, getter: Callable[[SearchEntry], float | None]
) -> float | None:
    search = _search(study, name)
    value = getter(search) if search is not None else None
    return None if value is None else float(value)
