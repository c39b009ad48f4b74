"""The breaking point as a probability: failure rate against n, and a fitted curve. Pure code.

A threaded server does not have one critical n: the same n passes in one run and fails in
the next, because how many requests hold their arrays at once depends on how the threads
were scheduled. So each n tried is a binomial count (``failures`` of ``trials``), and the
finding is the curve ``P(fail | n)`` through them.

Per n: the Wilson score interval
    A rate from 1-5 trials needs an interval that stays inside [0, 1] and is not empty at
    0/3 or 3/3; the normal ("Wald") interval is both wrong there. Wilson's is the usual
    choice for small counts (Brown, Cai, DasGupta 2001).

The curve: a logistic in log n, fitted with Firth's penalty
    ``P(fail | n) = 1 / (1 + exp(-(b0 + b1 * x)))`` with ``x = log(n)``: memory grows in
    proportion to n, so the spread of the breaking point is relative, like the search's
    tolerance. Plain maximum likelihood has no finite answer when the trials separate (every
    pass below every failure: a sharp boundary, gunicorn's usual case): the slope runs off
    to infinity. Firth's penalty (the Jeffreys prior, ``+ 1/2 log det I(b)``) keeps the
    estimate finite and removes most of the small-sample bias; it is the standard cure for
    separation in logistic regression (Firth 1993; Heinze and Schemper 2002).

    The n at failure probability p is ``n_p = exp((logit(p) - b0) / b1)``; its uncertainty
    comes from the covariance ``I(b)^-1`` by the delta method on ``log n_p``, so its
    interval is multiplicative, ``n_p / k .. n_p * k``. With a handful of trials that is an
    approximation; it is said so wherever it is reported, and the trials behind it are
    counted next to it.

Placing trials
    The information a trial at ``x`` carries about a logistic's position and slope is
    largest near failure probabilities of about 18% and 82% (the D-optimal two-point design
    for a logistic), and about its middle at 50%. ``next_targets`` gives those n from the
    current fit, so a search can spend its trials where they narrow the curve rather than
    only at the two ends of the band.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..results import BreakingCurve, BreakingPoint, NTrials

__all__ = [
    "Curve",
    "CurvePoint",
    "breaking_curve",
    "fit_curve",
    "next_targets",
    "wilson",
]

Z95 = 1.959963984540054  # the two-sided 95% normal quantile
# The quantiles the report gives: where a server starts to fail, fails half the time, and
# almost always fails.
QUANTILES = (0.05, 0.5, 0.95)
# The D-optimal design for a two-parameter logistic puts half the trials at p = 0.176 and
# half at p = 0.824 (logit = -/+ 1.5434); the middle is where the 50% point is learnt.
DESIGN_PROBABILITIES = (0.5, 0.176, 0.824)
_MAX_ITERATIONS = 100
_STEP_LIMIT = 5.0  # Newton steps on the scaled parameters, bounded: no overflow on the way
_CONVERGED = 1e-9


def wilson(failures: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a failure rate: (low, high) within [0, 1]."""
    if trials < 1 or not 0 <= failures <= trials:
        raise ValueError(f"need 0 <= failures <= trials and trials >= 1, not {failures}/{trials}")
    rate = failures / trials
    z2 = z * z
    centre = (rate + z2 / (2 * trials)) / (1 + z2 / trials)
    half = (
        z * math.sqrt(rate * (1 - rate) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    )
    # At 0 or all failures the interval touches 0 or 1 exactly (not 5e-17 from rounding).
    low = 0.0 if failures == 0 else max(0.0, centre - half)
    high = 1.0 if failures == trials else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class CurvePoint:
    """The n at failure probability ``p``, with a 95% interval ``low .. high``."""

    p: float
    n: float
    low: float
    high: float


@dataclass(frozen=True)
class Curve:
    """A fitted ``P(fail | n) = 1 / (1 + exp(-(b0 + b1 * log n)))``.

    ``b0``, ``b1`` and their covariance (``var0``, ``var1``, ``cov01``) on the log-n scale;
    ``trials`` and ``failures``: the data behind it; ``separated``: every pass lay below
    every failure (no n both passed and failed, none crossing), so the slope is bounded only
    by the penalty and the curve's width is an upper estimate, not a measurement."""

    b0: float
    b1: float
    var0: float
    var1: float
    cov01: float
    trials: int
    failures: int
    separated: bool

    def probability(self, n: float) -> float:
        """The fitted failure probability at ``n``."""
        return _sigmoid(self.b0 + self.b1 * math.log(n))

    def n_at(self, p: float, z: float = Z95) -> CurvePoint:
        """The n where the failure probability is ``p``, and its delta-method interval."""
        if not 0 < p < 1:
            raise ValueError(f"p must be strictly between 0 and 1, not {p}")
        logit = math.log(p / (1 - p))
        x = (logit - self.b0) / self.b1
        # d x / d b0 = -1 / b1, d x / d b1 = -x / b1
        g0, g1 = -1 / self.b1, -x / self.b1
        variance = g0 * g0 * self.var0 + 2 * g0 * g1 * self.cov01 + g1 * g1 * self.var1
        spread = z * math.sqrt(max(variance, 0.0))
        return CurvePoint(p, _exp(x), _exp(x - spread), _exp(x + spread))

    def quantiles(self) -> tuple[CurvePoint, ...]:
        """The n at 5%, 50% and 95% failure."""
        return tuple(self.n_at(p) for p in QUANTILES)


def fit_curve(per_n: Iterable[NTrials]) -> Curve | None:
    """The Firth-penalised logistic fit of failure against log n; None when the data
    cannot place a curve: fewer than two distinct n, no failure, no pass, or failures
    that fall as n grows (a slope that is not positive says the curve is not about n)."""
    rows = [(math.log(e.n), e.trials, e.failures) for e in per_n if e.trials > 0 and e.n > 0]
    trials = sum(t for _, t, _ in rows)
    failures = sum(f for _, _, f in rows)
    if len({x for x, _, _ in rows}) < 2 or failures == 0 or failures == trials:
        return None
    # Centre and scale x, so Newton's steps are well conditioned for n of any magnitude.
    centre = sum(x * t for x, t, _ in rows) / trials
    scale = max(math.sqrt(sum(t * (x - centre) ** 2 for x, t, _ in rows) / trials), 1e-12)
    data = [((x - centre) / scale, t, f) for x, t, f in rows]
    beta = _firth(data)
    if beta is None or beta[1] <= 0:
        return None
    info = _information(data, beta)
    inverse = _invert(info)
    if inverse is None:
        return None
    (v00, v01), (_, v11) = inverse
    # Back to x = log n: a = b0' - b1' * centre / scale, b = b1' / scale.
    a0, a1 = beta[0] - beta[1] * centre / scale, beta[1] / scale
    # The same linear map on the covariance: [a0, a1] = M [b0', b1'],
    # M = [[1, -centre/scale], [0, 1/scale]].
    m01, m11 = -centre / scale, 1 / scale
    var0 = v00 + 2 * m01 * v01 + m01 * m01 * v11
    cov01 = m11 * v01 + m01 * m11 * v11
    var1 = m11 * m11 * v11
    return Curve(a0, a1, var0, var1, cov01, trials, failures, _separated(rows))


def breaking_curve(per_n: Iterable[NTrials]) -> BreakingCurve | None:
    """A search's trials as the results contract stores the curve (whole n; an unbounded
    interval end as None); None when no curve can be placed (``fit_curve``)."""
    curve = fit_curve(per_n)
    if curve is None:
        return None
    points = tuple(
        BreakingPoint(
            p=point.p,
            n=round(point.n),
            low=round(point.low),
            high=round(point.high) if math.isfinite(point.high) else None,
        )
        for point in curve.quantiles()
    )
    return BreakingCurve(points, curve.trials, curve.failures, curve.separated)


def next_targets(curve: Curve) -> tuple[float, ...]:
    """The n where trials now teach most about the curve: its middle, then the two points
    of the D-optimal design (18% and 82% failure), in that order."""
    return tuple(curve.n_at(p).n for p in DESIGN_PROBABILITIES)


# --- the fit ------------------------------------------------------------------------------

_Row = tuple[float, int, int]  # scaled x, trials, failures


def _exp(x: float) -> float:
    """``exp``, saturating: a curve fitted to a few trials may be so flat that an interval
    end leaves float range; it is then unbounded (inf), or 0 below."""
    return math.exp(x) if x < 709 else math.inf


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


def _information(data: Sequence[_Row], beta: tuple[float, float]) -> list[list[float]]:
    """Fisher information ``X' W X`` of the binomial logistic at ``beta``."""
    i00 = i01 = i11 = 0.0
    for x, t, _ in data:
        p = _sigmoid(beta[0] + beta[1] * x)
        w = t * p * (1 - p)
        i00 += w
        i01 += w * x
        i11 += w * x * x
    return [[i00, i01], [i01, i11]]


def _invert(m: list[list[float]]) -> list[list[float]] | None:
    det = m[0][0] * m[1][1] - m[0][1] * m[1][0]
    if not det > 1e-300:
        return None
    return [[m[1][1] / det, -m[0][1] / det], [-m[1][0] / det, m[0][0] / det]]


def _firth(data: Sequence[_Row]) -> tuple[float, float] | None:
    """Newton's method on Firth's modified score: ``sum (f - t p + h (1/2 - p)) x`` where
    ``h`` is the hat value of each row's trials (``t w x' I^-1 x`` with ``w = p(1-p)``)."""
    b0, b1 = 0.0, 1.0
    for _ in range(_MAX_ITERATIONS):
        info = _information(data, (b0, b1))
        inverse = _invert(info)
        if inverse is None:
            return None
        u0 = u1 = 0.0
        for x, t, f in data:
            p = _sigmoid(b0 + b1 * x)
            w = t * p * (1 - p)
            hat = w * (
                inverse[0][0] + 2 * x * inverse[0][1] + x * x * inverse[1][1]
            )  # the hat value of the row, all its trials together
            score = f - t * p + hat * (0.5 - p)
            u0 += score
            u1 += score * x
        step0 = inverse[0][0] * u0 + inverse[0][1] * u1
        step1 = inverse[1][0] * u0 + inverse[1][1] * u1
        largest = max(abs(step0), abs(step1))
        if largest > _STEP_LIMIT:
            step0, step1 = step0 * _STEP_LIMIT / largest, step1 * _STEP_LIMIT / largest
        b0, b1 = b0 + step0, b1 + step1
        if largest < _CONVERGED:
            return b0, b1
    return (b0, b1) if math.isfinite(b0) and math.isfinite(b1) else None


def _separated(rows: Sequence[_Row]) -> bool:
    """Every pass at an n below every failure's n: nothing crossed, no n had both."""
    passes = [x for x, t, f in rows if t - f > 0]
    fails = [x for x, _, f in rows if f > 0]
    return max(passes) < min(fails)
