"""Every figure of a repeated study as a median and a spread. Pure: studies in, rows out.

A figure is stable when its spread, ``(max - min) / median`` over the repeats, is under
``STABLE_SPREAD`` (5%, the issue's line between "repeats" and "one draw"). The spread is
the whole range, not a standard deviation: with 3-5 repeats a range is what a reader can
check against the table of values, and it does not pretend to know a distribution.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from ..results import BreakingPoint, RunEntry, SearchEntry, Study

__all__ = ["STABLE_SPREAD", "Figure", "MiddleCover", "cover_of", "figures", "middle_cover"]

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
    """How the 50% points of one search's repeats agree.

    covered: for each repeat, how many of the other repeats' 50% points its own 95%
      interval holds (of ``others``). That interval counts only the sampling of its own
      trials, not how the machine moved between runs.
    drift: the between-run spread of the 50% point beyond what the trials explain, as a
      relative standard deviation (``tau``, DerSimonian-Laird: the repeats' variance in log
      n minus their mean own variance, floored at 0).
    widened: the same count with each interval widened by the drift,
      ``sqrt(own^2 + tau^2)`` in log n. The drift comes from these same repeats, so this
      is a check of consistency, not an independent test.
    next_low, next_high: where a next run's 50% point is expected (a 95% prediction
      interval from the repeats' points: Student's t, in log n).
    """

    subject: str
    covered: tuple[int, ...]
    others: int
    drift: float
    widened: tuple[int, ...]
    next_low: int
    next_high: int

    @property
    def all_covered(self) -> bool:
        return all(c == self.others for c in self.covered)

    @property
    def all_widened(self) -> bool:
        return all(c == self.others for c in self.widened)


# Two-sided 95% quantiles of Student's t by degrees of freedom (repeats - 1), to 20 repeats.
_T95: Final = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093,
)  # fmt: skip
_Z95: Final = 1.959964


def middle_cover(studies: Sequence[Study]) -> list[MiddleCover]:
    """Per search with a bounded 50% interval in every repeat: coverage, drift, next run."""
    out: list[MiddleCover] = []
    if len(studies) < 2:
        return out
    for name in [search.name for search in studies[0].critical]:
        points = []
        for study in studies:
            search = _search(study, name)
            point = search.breaking.at(0.5) if search and search.breaking else None
            if point is None or point.high is None or point.low <= 0:
                break
            points.append(point)
        else:
            out.append(cover_of(name, points))
    return out


def cover_of(name: str, points: Sequence[BreakingPoint]) -> MiddleCover:
    """One search's 50% points over the repeats (at least two, each bounded): coverage,
    drift and the next run's interval."""
    logs = [math.log(point.n) for point in points]
    own = [(math.log(point.high or point.n) - math.log(point.low)) / (2 * _Z95) for point in points]
    k = len(points)
    variance = statistics.variance(logs)
    tau = math.sqrt(max(variance - statistics.fmean(w * w for w in own), 0.0))

    def held(i: int, half: float) -> int:
        return sum(1 for j in range(k) if j != i and abs(logs[j] - logs[i]) <= half)

    covered = tuple(
        sum(
            1
            for j, other in enumerate(points)
            if j != i and own_point.low <= other.n <= (own_point.high or other.n)
        )
        for i, own_point in enumerate(points)
    )
    widened = tuple(held(i, _Z95 * math.hypot(own[i], tau)) for i in range(k))
    t = _T95[min(k - 2, len(_T95) - 1)]
    half = t * math.sqrt(variance) * math.sqrt(1 + 1 / k)
    middle = statistics.fmean(logs)
    return MiddleCover(
        subject=name,
        covered=covered,
        others=k - 1,
        drift=math.expm1(tau),
        widened=widened,
        next_low=round(math.exp(middle - half)),
        next_high=round(math.exp(middle + half)),
    )


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
