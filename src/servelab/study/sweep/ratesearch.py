"""The rate search of a capacity, and the rule that says a step was the client's limit. Pure.

Nothing here sends a request, sleeps or reads a clock: a step is whatever the caller does
between ``RateSearch.next_rate()`` and ``record()`` (``capacity.find_capacity`` runs one
open loop), and ``client_bound`` judges a step from its numbers. The search's moves and why
are in ``capacity``'s docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

from servelab.errors import ConfigError
from servelab.results_capacity import ClientCause, ClientLimits, RatePolicy, StopCode

__all__ = ["ClientMeasure", "Outcome", "RateSearch", "client_bound"]

Outcome = Literal["held", "failed", "client-bound"]
_NICE_DIGITS: Final = 3


def _round_sig(x: float, digits: int) -> float:
    if x <= 0:
        return x
    return round(x, digits - 1 - math.floor(math.log10(x)))


def _nice(x: float, low: float, high: float) -> float:
    """``x`` with as few significant digits (3 or more) as keep it strictly between ``low``
    and ``high``; ``x`` itself when none does."""
    for digits in range(_NICE_DIGITS, 10):
        value = _round_sig(x, digits)
        if low < value < high:
            return value
    return x


class RateSearch:
    """A state machine: ``next_rate()``, measure a step there, ``record()`` it, until
    ``next_rate()`` is None; ``stop`` then says why. Decisions are recomputed from the steps
    recorded so far, so no stale state piles up.

    ``next_rate()`` returns the same rate until it is recorded. ``give_up()`` ends the search
    from outside (the deadline came).
    """

    def __init__(self, estimate: float, policy: RatePolicy | None = None) -> None:
        if isinstance(estimate, bool) or not math.isfinite(estimate) or estimate <= 0:
            raise ConfigError(f"the closed-loop estimate must be a rate > 0, not {estimate!r}")
        self.estimate = float(estimate)
        self.policy = policy or RatePolicy()
        self._tried: list[tuple[float, Outcome]] = []
        self._pending: float | None = None
        self._stop: StopCode | None = None

    def __repr__(self) -> str:
        state = self._stop or f"next rate {self._pending}"
        return f"RateSearch(estimate={self.estimate:g}, steps={len(self._tried)}, {state})"

    @property
    def steps(self) -> int:
        return len(self._tried)

    @property
    def stop(self) -> StopCode | None:
        """Why the search ended; None while it goes on."""
        return self._stop

    def next_rate(self) -> float | None:
        """The rate (requests/s) to measure next, or None when the search is over."""
        if self._stop is not None:
            return None
        if self._pending is None:
            decision = self._decide()
            if isinstance(decision, str):
                self._stop = decision
                return None
            if len(self._tried) >= self.policy.max_steps:
                self._stop = "budget-spent"
                return None
            self._pending = decision
        return self._pending

    def record(self, rate: float, *, held: bool, client_bound: bool = False) -> None:
        """The step at ``rate`` (the one ``next_rate()`` asked for): whether its SLOs held,
        and whether the client could not deliver the rate (then ``held`` is not looked at)."""
        if self._pending is None:
            raise ValueError(f"no step is pending (rate {rate:g} was not asked for)")
        if rate != self._pending:
            raise ValueError(f"the search asked for rate {self._pending:g}, not {rate:g}")
        outcome: Outcome = "client-bound" if client_bound else "held" if held else "failed"
        self._tried.append((rate, outcome))
        self._pending = None

    def give_up(self, code: StopCode = "time-spent") -> None:
        """End the search now (no further rate), for ``code``."""
        if self._stop is None:
            self._stop = code
        self._pending = None

    def _latest(self) -> list[tuple[float, Outcome]]:
        """Each rate tried with its last outcome: a failure that a confirming step at the
        same rate did not repeat no longer counts."""
        last: dict[float, Outcome] = {}
        for rate, outcome in self._tried:
            last[rate] = outcome
        return list(last.items())

    def bracket(self) -> tuple[float | None, float | None]:
        """(highest rate that held below the upper end, lowest rate that failed or was
        client-bound); either is None while no step has given it."""
        upper = self._upper()
        held = [r for r, o in self._latest() if o == "held" and (upper is None or r < upper[0])]
        return (max(held, default=None), None if upper is None else upper[0])

    @property
    def capacity(self) -> float | None:
        """The highest rate that held below every rate that failed or was client-bound."""
        return self.bracket()[0]

    @property
    def client_bound(self) -> bool:
        """The lowest rate that did not hold was one the client could not deliver."""
        upper = self._upper()
        return upper is not None and upper[1] == "client-bound"

    def _upper(self) -> tuple[float, Outcome] | None:
        ends = [(r, o) for r, o in self._latest() if o != "held"]
        return min(ends) if ends else None

    def _factor(self, moves: int) -> float:
        return 1 + self.policy.first_step * (1 << max(moves - 1, 0))

    def _decide(self) -> float | StopCode:
        p = self.policy
        if not self._tried:
            start = min(max(self.estimate * p.start_factor, p.min_rate), p.max_rate)
            return (
                _nice(start, p.min_rate, p.max_rate) if p.min_rate < start < p.max_rate else start
            )
        lower, upper_rate = self.bracket()
        upper = self._upper()
        if upper is None:  # every step held: go up
            assert lower is not None
            if lower >= p.max_rate:
                return "holds-at-max"
            # Each further move up doubles the step, counted over the climb that led here:
            # the trailing steps that held, each above every rate tried before it (after a
            # confirmed transient the climb starts again at the first step, not at x9).
            moves = 0
            for i in range(len(self._tried) - 1, -1, -1):
                rate, outcome = self._tried[i]
                if outcome != "held" or any(r >= rate for r, _ in self._tried[:i]):
                    break
                moves += 1
            target = min(lower * self._factor(moves), p.max_rate)
            return target if target >= p.max_rate else _nice(target, lower, p.max_rate)
        assert upper_rate is not None
        if lower is None:  # nothing held below the upper end: go down
            if upper_rate <= p.min_rate:
                return "client-bound" if upper[1] == "client-bound" else "fails-at-min"
            moves = sum(1 for _, o in self._tried if o != "held")
            target = max(upper_rate / self._factor(moves), p.min_rate)
            return target if target <= p.min_rate else _nice(target, p.min_rate, upper_rate)
        if upper_rate / lower - 1 <= p.tolerance:
            if upper[1] == "client-bound":
                return "client-bound"
            if p.confirm and sum(1 for r, _ in self._tried if r == upper_rate) == 1:
                return upper_rate  # measured once more before the search rests on it
            return "within-tolerance"
        return _nice(math.sqrt(lower * upper_rate), lower, upper_rate)


# --- is the client the limit? ----------------------------------------------------------------


@dataclass(frozen=True)
class ClientMeasure:
    """What a step says about the client: the rate asked, the load engine's CPU over the
    window (cores), the share of the window's sends that left late, the send rate achieved
    and over how many sends, and how many requests the in-flight bound held back."""

    rate: float
    client_cores: float | None
    late_share: float | None
    send_rate: float | None
    sends: int
    held_back: int = 0


def client_bound(
    measure: ClientMeasure, limits: ClientLimits | None = None
) -> tuple[ClientCause, ...]:
    """Why the client could not deliver ``measure.rate`` (empty: it could), in a fixed order.

    Lateness and a short send rate count only when nothing was held back by the in-flight
    bound: a request held back waited for the server to free a connection, not for the client.
    """
    limits = limits or ClientLimits()
    causes: list[ClientCause] = []
    if measure.client_cores is not None and measure.client_cores > limits.max_cores:
        causes.append("client-cpu")
    if measure.held_back == 0:
        if measure.late_share is not None and measure.late_share > limits.max_late_share:
            causes.append("late-sends")
        if (
            measure.send_rate is not None
            and measure.sends >= limits.min_sends
            and measure.send_rate < limits.min_send_share * measure.rate
        ):
            causes.append("send-rate")
    return tuple(causes)
