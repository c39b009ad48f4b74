"""The critical n: the model that predicts it, and the search that measures it. Pure code.

Nothing here starts a server, sleeps, reads a file or draws a random number: a probe is
whatever the caller does between ``next_n()`` and ``record()``.

The model
    A server under a memory cap dies when ``idle + bytes_per_element * n * at_once`` passes
    the cap, where ``at_once`` is how many requests hold their array at the same instant
    (``ServerSpec.in_memory_at_once``, from the server kind table). So
    ``n* = floor((limit - idle) / (bytes_per_element * at_once))``.

The search (``CriticalSearch``), and why it looks like this
    Probes cost 1-20 s each, so the search spends single trials wherever one answer is
    enough, and repeats only where a run-to-run difference would change the answer.

    1. Bracket. Probe the prediction, then step away from it with growing relative steps
       (x(1 + first_step), then x(1 + 2 first_step), x(1 + 4 first_step), ...) until the
       answer flips: a good prediction costs two probes, a bad one only a few more. Steps
       are relative because memory grows in proportion to n and the tolerance is relative.
    2. Bisect at the geometric midpoint until ``fail / pass - 1 <= tolerance``.
    3. Confirm. The pass end is the largest n probed below the smallest n that ever
       failed; it gets ``repeats`` trials. If one fails, that n joins the band and the pass
       end moves down by one tolerance step (to an n already probed if one is that close),
       until an n passes all its trials within a tolerance step of a failure. The fail end,
       the smallest n probed above the largest n that ever passed, is confirmed the same
       way, moving up. For a sharp boundary (gunicorn, one sync worker) this costs
       ``2 * (repeats - 1)`` probes and nothing moves; for the threaded dev server it walks
       out of the band from its inside, so ``max_passing_n`` is the highest n that passed
       all its trials rather than the first one a big jump down happened to hit. In a band
       that does not make it safe: an n that fails 20% of the time passes 3 trials in half
       of the searches. The band's rates in ``per_n`` are the finding, not one number.
    4. Narrow the curve. When the confirmed ends leave a band (some n between them passed
       and failed: a threaded server), ``curve_trials`` more trials go where they teach most
       about the failure curve ``P(fail | n)`` fitted to every trial so far
       (``breaking.next_targets``: its 50% point, then 18% and 82%, in turn), each rounded
       to a nice n strictly inside the band. A sharp boundary (no band) spends none.
    5. Stop when both ends are confirmed, when min_n fails or max_n passes (nothing to
       search; no confirmation is spent on a server that cannot hold even min_n), or when
       ``max_probes`` probes are spent.

    Every decision is recomputed from the trials recorded so far (plus one flag: still
    bisecting or already confirming), so no stale state can pile up. Each probe either
    adds a trial to an n that has fewer than ``repeats``, or opens a new n strictly between
    two neighbours already probed: no n is probed twice except for repeats, and the search
    ends even without a budget.

    Probes land on "nice" n (3 significant digits, more only when 3 would leave the
    bracket), so a report says 12,300,000, not 12,345,678.

Typical cost with the defaults (repeats=3, tolerance 5%, first_step 0.15): a sharp
boundary with the prediction 40% low to 60% high takes 8-12 probes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigError
from ..results import NTrials, Policy, StopReason
from .breaking import fit_curve, next_targets

__all__ = [
    "CriticalSearch",
    "SearchPolicy",
    "SearchResult",
    "predict_critical_n",
    "search",
]

_NICE_DIGITS = 3

_Rounding = Literal["nearest", "up", "down"]


def _whole(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, not {value!r}")
    return value


def predict_critical_n(
    limit_bytes: int, idle_bytes: int, bytes_per_element: float, in_memory_at_once: int
) -> int:
    """The largest n whose arrays, ``in_memory_at_once`` of them, still fit under the cap.

    ``floor((limit_bytes - idle_bytes) / (bytes_per_element * in_memory_at_once))``; it can
    be 0 when not even one element per request fits beside the idle server.
    """
    _whole("limit_bytes", limit_bytes, 1)
    _whole("idle_bytes", idle_bytes, 0)
    _whole("in_memory_at_once", in_memory_at_once, 1)
    if (
        isinstance(bytes_per_element, bool)
        or not isinstance(bytes_per_element, int | float)
        or not math.isfinite(bytes_per_element)
        or bytes_per_element <= 0
    ):
        raise ConfigError(f"bytes_per_element must be > 0, not {bytes_per_element!r}")
    if idle_bytes >= limit_bytes:
        raise ConfigError(
            f"the server does not even fit idle: it needs {idle_bytes:,} bytes idle,"
            f" the memory limit is {limit_bytes:,} bytes"
        )
    room = limit_bytes - idle_bytes
    if isinstance(bytes_per_element, int):
        return room // (bytes_per_element * in_memory_at_once)
    return math.floor(room / (bytes_per_element * in_memory_at_once))


@dataclass(frozen=True)
class SearchPolicy:
    """How hard the search tries.

    tolerance: the bracket is narrow enough when ``min_failing / max_passing - 1`` is at
      most this (relative).
    repeats: trials each end of the bracket needs before it counts as confirmed.
    max_probes: the budget; every trial is one probe.
    min_n, max_n: the search never leaves this range.
    first_step: the first bracketing step away from the prediction (relative); each
      further step doubles it.
    curve_trials: trials spent, once both ends are confirmed around a band, where they
      narrow the fitted failure curve (0: none).
    """

    tolerance: float = 0.05
    repeats: int = 3
    max_probes: int = 30
    min_n: int = 1_000
    max_n: int = 2_000_000_000
    first_step: float = 0.15
    curve_trials: int = 4

    def __post_init__(self) -> None:
        for name in ("tolerance", "first_step"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or not 0 < value <= 1
            ):
                raise ConfigError(f"{name} must be > 0 and <= 1 (a fraction), not {value!r}")
        _whole("repeats", self.repeats, 1)
        _whole("max_probes", self.max_probes, 1)
        _whole("curve_trials", self.curve_trials, 0)
        _whole("min_n", self.min_n, 1)
        _whole("max_n", self.max_n, 1)
        if self.max_n <= self.min_n:
            raise ConfigError(f"max_n ({self.max_n}) must be larger than min_n ({self.min_n})")

    def to_policy(self) -> Policy:
        """The numbers a results file keeps of it."""
        return Policy(
            self.tolerance,
            self.repeats,
            self.max_probes,
            self.min_n,
            self.max_n,
            self.curve_trials,
        )


_DEFAULT_POLICY = SearchPolicy()


@dataclass(frozen=True)
class SearchResult:
    """Where the server stops surviving, as the probes found it.

    max_passing_n: the largest n with at least ``repeats`` trials and no failure.
    min_failing_n: the smallest n above ``max_passing_n`` with at least ``repeats`` trials,
      all failed.
    per_n: every n probed, ascending.
    probes: probes used (trials, repeats included).
    converged: the search finished: both ends confirmed, and either within the tolerance
      of each other or with a band between them walked out to a tolerance step on each side.
    stop: why it stopped, as a code and its numbers (``servelab.cli.words`` words it).
    """

    predicted_n: int
    max_passing_n: int | None
    min_failing_n: int | None
    per_n: tuple[NTrials, ...]
    probes: int
    converged: bool
    stop: StopReason

    def band(self) -> tuple[NTrials, ...]:
        """The n strictly between the two confirmed ends (mixed or single-trial results).

        Empty while either end is missing: a band needs both of its edges.
        """
        low, high = self.max_passing_n, self.min_failing_n
        if low is None or high is None:
            return ()
        return tuple(t for t in self.per_n if low < t.n < high)


@dataclass(frozen=True)
class _Stop:
    reason: StopReason
    converged: bool


def _round_sig(x: float, digits: int, rounding: _Rounding) -> int:
    """``x`` rounded to ``digits`` significant digits (whole numbers only)."""
    magnitude = len(str(int(x))) - 1
    unit = int(10 ** max(magnitude - digits + 1, 0))
    scaled = x / unit
    if rounding == "up":
        return math.ceil(scaled) * unit
    if rounding == "down":
        return math.floor(scaled) * unit
    return round(scaled) * unit


def _pick(x: float, low: int, high: int, rounding: _Rounding) -> int | None:
    """A nice n near ``x`` strictly between ``low`` and ``high``; None if no whole n is."""
    if high - low < 2:
        return None
    for digits in range(_NICE_DIGITS, len(str(int(x))) + 1):
        n = _round_sig(x, digits, rounding)
        if low < n < high:
            return n
    whole = _round_sig(x, len(str(int(x))), rounding)
    return min(max(whole, low + 1), high - 1)


class CriticalSearch:
    """A state machine: ask next_n(), run that probe, record() the outcome, until next_n() is None.

    ``next_n()`` returns the same n until it is recorded. ``result()`` can be read at any
    time; before the end its stop is ``not-finished``.
    """

    def __init__(self, predicted_n: int, policy: SearchPolicy = _DEFAULT_POLICY) -> None:
        _whole("predicted_n", predicted_n, 0)
        self.predicted_n = predicted_n
        self.policy = policy
        self._failed: dict[int, list[bool]] = {}
        self._probes = 0
        self._bisecting = True
        self._pending: int | None = None
        self._pending_for_curve = False
        # The curve's trials, kept apart: they add to the rates and the fitted curve, never
        # to the decisions or the confirmed ends (so they cannot reopen a finished search).
        self._curve: dict[int, list[bool]] = {}
        self._stop: _Stop | None = None

    def __repr__(self) -> str:
        state = self._stop.reason.code if self._stop else f"next n={self._pending}"
        return f"CriticalSearch(predicted_n={self.predicted_n}, probes={self._probes}, {state})"

    def next_n(self) -> int | None:
        """The n to probe next, or None when the search is over."""
        if self._stop is not None:
            return None
        if self._pending is None:
            decision = self._decide()
            if isinstance(decision, _Stop):
                self._stop = decision
                return None
            if self._probes >= self.policy.max_probes:
                self._stop = _Stop(StopReason("budget-spent", budget=self.policy.max_probes), False)
                return None
            self._pending = decision
        return self._pending

    def record(self, n: int, failed: bool) -> None:
        """Record a probe at ``n``: the n ``next_n()`` asked for, and whether it failed."""
        if self._pending is None:
            raise ValueError(
                f"no probe is pending: call next_n() first (n={n} was not asked for)"
                if self._stop is None
                else f"the search is over ({self._stop.reason.code}); n={n} was not asked for"
            )
        if n != self._pending:
            raise ValueError(f"the search asked for n={self._pending}, not n={n}")
        (self._curve if self._pending_for_curve else self._failed).setdefault(n, []).append(
            bool(failed)
        )
        self._probes += 1
        self._pending = None
        self._pending_for_curve = False

    def result(self) -> SearchResult:
        """The trials so far, the confirmed ends, and why the search stopped.

        The ends come from the search's own trials; ``per_n`` holds every trial, the
        curve's too."""
        repeats = self.policy.repeats
        own = [NTrials(n, len(runs), sum(runs)) for n, runs in self._failed.items()]
        passing = [t.n for t in own if t.trials >= repeats and t.failures == 0]
        max_passing = max(passing, default=None)
        failing = [
            t.n
            for t in own
            if t.trials >= repeats
            and t.failures == t.trials
            and (max_passing is None or t.n > max_passing)
        ]
        every: dict[int, list[bool]] = {n: list(runs) for n, runs in self._failed.items()}
        for n, runs in self._curve.items():
            every.setdefault(n, []).extend(runs)
        per_n = tuple(NTrials(n, len(runs), sum(runs)) for n, runs in sorted(every.items()))
        stop = self._stop or _Stop(StopReason("not-finished"), False)
        return SearchResult(
            predicted_n=self.predicted_n,
            max_passing_n=max_passing,
            min_failing_n=min(failing, default=None),
            per_n=per_n,
            probes=self._probes,
            converged=stop.converged,
            stop=stop.reason,
        )

    # -- decisions, from the recorded trials alone -------------------------------------

    def _trials(self, n: int) -> int:
        return len(self._failed.get(n, ()))

    def _gap_open(self, low: int, high: int) -> bool:
        """True while a whole n fits between ``low`` and ``high`` and they are too far apart."""
        return high - low >= 2 and high / low - 1 > self.policy.tolerance

    def _decide(self) -> int | _Stop:
        p = self.policy
        if not self._failed:
            start = min(max(self.predicted_n, p.min_n), p.max_n)
            return _pick(start, p.min_n - 1, p.max_n + 1, "nearest") or start
        passed = [n for n, runs in self._failed.items() if not all(runs)]
        failed = [n for n, runs in self._failed.items() if any(runs)]
        if not failed or not passed:
            return self._bracket(going_up=not failed)
        highest_pass, lowest_fail = max(passed), min(failed)
        if self._bisecting:
            if self._gap_open(highest_pass, lowest_fail):
                middle = math.sqrt(highest_pass * lowest_fail)
                n = _pick(middle, highest_pass, lowest_fail, "nearest")
                if n is not None:
                    return n
            self._bisecting = False
        pass_end = self._confirm_pass_end(lowest_fail)
        if pass_end is not None:
            return pass_end
        return self._confirm_fail_end(highest_pass)

    def _bracket(self, going_up: bool) -> int | _Stop:
        p = self.policy
        step = p.first_step * 2 ** (len(self._failed) - 1)
        if going_up:
            top = max(self._failed)
            if top >= p.max_n:
                return _Stop(StopReason("passes-at-max", high=p.max_n), False)
            n = _pick(min(top * (1 + step), p.max_n), top, p.max_n + 1, "nearest")
        else:
            bottom = min(self._failed)
            if bottom <= p.min_n:
                return _Stop(StopReason("fails-at-min", low=p.min_n), False)
            n = _pick(max(bottom / (1 + step), p.min_n), p.min_n - 1, bottom, "nearest")
        assert n is not None  # the range holds at least one whole n
        return n

    def _confirm_pass_end(self, lowest_fail: int) -> int | _Stop | None:
        """The next probe for the pass end, a stop, or None once it is confirmed."""
        p = self.policy
        below = [n for n in self._failed if n < lowest_fail]
        if not below:
            if lowest_fail <= p.min_n:
                return _Stop(StopReason("fails-at-min", low=p.min_n), False)
            step = max(lowest_fail / (1 + p.tolerance), p.min_n)
            n = _pick(step, p.min_n - 1, lowest_fail, "up")
            assert n is not None
            return n
        candidate = max(below)
        if self._gap_open(candidate, lowest_fail):
            # rounding up keeps the new n within one tolerance step of the failure
            n = _pick(lowest_fail / (1 + p.tolerance), candidate, lowest_fail, "up")
            assert n is not None
            return n
        if self._trials(candidate) < p.repeats:
            return candidate
        return None

    def _confirm_fail_end(self, highest_pass: int) -> int | _Stop:
        p = self.policy
        above = [n for n in self._failed if n > highest_pass]
        if not above:
            if highest_pass >= p.max_n:
                return _Stop(StopReason("passes-at-max", high=p.max_n), False)
            step = min(highest_pass * (1 + p.tolerance), p.max_n)
            n = _pick(step, highest_pass, p.max_n + 1, "down")
            assert n is not None
            return n
        candidate = min(above)
        if self._gap_open(highest_pass, candidate):
            n = _pick(highest_pass * (1 + p.tolerance), highest_pass, candidate, "down")
            assert n is not None
            return n
        if self._trials(candidate) < p.repeats:
            return candidate
        return self._finished()

    def _finished(self) -> int | _Stop:
        result = self.result()
        low, high = result.max_passing_n, result.min_failing_n
        assert low is not None and high is not None
        tolerance = self.policy.tolerance
        mixed = any(0 < t.failures < t.trials for t in result.per_n)
        if mixed:
            target = self._curve_target(result, low, high)
            if target is not None:
                return target
        band = result.band()
        # A band of mixed results is the finding even inside the tolerance (the curve's
        # trials can land there); without one the bracket is all there is.
        if high / low - 1 <= tolerance and not any(0 < t.failures < t.trials for t in band):
            return _Stop(StopReason("within-tolerance", tolerance=tolerance), True)
        if not band:
            return _Stop(StopReason("whole-numbers", low=low, high=high), True)
        return _Stop(
            StopReason("band-resolved", low=low, high=high, band=len(band), tolerance=tolerance),
            True,
        )

    def _curve_target(self, result: SearchResult, low: int, high: int) -> int | None:
        """The next trial that narrows the failure curve, or None when its trials are spent
        or no curve can be placed. Targets cycle through ``next_targets`` (middle, 18%,
        82%); one that rounds onto a confirmed end or outside the band moves on to the next."""
        spent = sum(len(runs) for runs in self._curve.values())
        if spent >= self.policy.curve_trials or self._probes >= self.policy.max_probes:
            return None  # spent, or the budget is: the confirmed ends stand as found
        curve = fit_curve(result.per_n)
        if curve is None:
            return None
        targets = next_targets(curve)
        for offset in range(len(targets)):
            x = targets[(spent + offset) % len(targets)]
            # Nice n only (3 or 4 digits): a target beyond the band, or one the band is
            # too narrow to round into, is not clamped to an end's neighbour (17,699,999).
            for digits in (_NICE_DIGITS, _NICE_DIGITS + 1):
                n = _round_sig(x, digits, "nearest")
                if low < n < high:
                    self._pending_for_curve = True
                    return n
        return None


def search(
    predicted_n: int,
    probe: Callable[[int], bool],
    policy: SearchPolicy = _DEFAULT_POLICY,
) -> SearchResult:
    """Run the search to its end; ``probe(n)`` returns True if the probe at n FAILED."""
    machine = CriticalSearch(predicted_n, policy)
    while (n := machine.next_n()) is not None:
        machine.record(n, probe(n))
    return machine.result()
