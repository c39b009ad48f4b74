"""The breaking point as a probability: Wilson intervals and the Firth logistic fit."""

from __future__ import annotations

import math
import random

import pytest

from servelab.results import NTrials
from servelab.study.breaking import fit_curve, next_targets, wilson


def logistic_trials(
    rng: random.Random, n50: float, spread: float, factors: tuple[float, ...], trials: int
) -> list[NTrials]:
    """Binomial draws from a true ``P(fail | n) = sigmoid((log n - log n50) / spread)``."""
    out = []
    for factor in factors:
        n = round(n50 * factor)
        p = 1 / (1 + math.exp(-(math.log(n) - math.log(n50)) / spread))
        out.append(NTrials(n, trials, sum(rng.random() < p for _ in range(trials))))
    return out


def true_n(n50: float, spread: float, p: float) -> float:
    return n50 * math.exp(spread * math.log(p / (1 - p)))


@pytest.mark.parametrize(
    ("failures", "trials", "low", "high"),
    [(0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0), (5, 10, 0.2366, 0.7634), (1, 3, 0.0615, 0.7923)],
)
def test_wilson_gives_the_textbook_intervals(
    failures: int, trials: int, low: float, high: float
) -> None:
    got = wilson(failures, trials)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_wilson_always_holds_the_observed_rate_inside_zero_and_one() -> None:
    for trials in range(1, 12):
        for failures in range(trials + 1):
            low, high = wilson(failures, trials)
            assert 0.0 <= low <= failures / trials <= high <= 1.0
            assert high - low > 0.1  # a few trials never pin a rate down


def test_wilson_refuses_counts_that_cannot_be() -> None:
    with pytest.raises(ValueError):
        wilson(4, 3)
    with pytest.raises(ValueError):
        wilson(0, 0)


def test_a_well_sampled_curve_is_recovered_with_its_quantiles() -> None:
    n50, spread = 4_000_000, 0.05
    factors = (0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15)
    curve = fit_curve(logistic_trials(random.Random(7), n50, spread, factors, trials=30))
    assert curve is not None and not curve.separated
    for point in curve.quantiles():
        truth = true_n(n50, spread, point.p)
        assert point.low < truth < point.high, (point, truth)
        assert abs(point.n / truth - 1) < 0.05
    middle = curve.n_at(0.5)
    assert middle.high / middle.low < 1.1  # 210 trials pin the middle to a few percent


def test_the_interval_of_the_50_percent_point_covers_the_truth_most_of_the_time() -> None:
    """Over many small searches' worth of data (5 n x 4 trials), the delta-method interval
    is an approximation: it must still cover the true middle in most of them."""
    rng = random.Random(11)
    n50, spread = 1_000_000, 0.06
    covered = fitted = 0
    for _ in range(300):
        data = logistic_trials(rng, n50, spread, (0.9, 0.95, 1.0, 1.05, 1.1), trials=4)
        curve = fit_curve(data)
        if curve is None:
            continue
        fitted += 1
        middle = curve.n_at(0.5)
        covered += middle.low <= n50 <= middle.high
    assert fitted > 250
    assert covered / fitted > 0.85, covered / fitted


def test_a_sharp_boundary_gives_a_finite_narrow_curve_between_the_ends() -> None:
    # gunicorn's usual search: every pass below every failure (the reference study's cpu).
    data = [NTrials(25_600_000, 3, 0), NTrials(26_500_000, 3, 3), NTrials(27_400_000, 1, 1)]
    curve = fit_curve(data)
    assert curve is not None and curve.separated
    middle = curve.n_at(0.5)
    assert 25_600_000 < middle.n < 26_500_000
    assert all(math.isfinite(v) for v in (curve.b0, curve.b1, middle.low, middle.high))


@pytest.mark.parametrize(
    "data",
    [
        [NTrials(1000, 3, 1)],  # one n: no slope to fit
        [NTrials(1000, 3, 0), NTrials(2000, 3, 0)],  # never failed
        [NTrials(1000, 3, 3), NTrials(2000, 3, 3)],  # always failed
        [NTrials(1000, 3, 3), NTrials(2000, 3, 0)],  # failures fall as n grows
        [],
    ],
)
def test_data_that_cannot_place_a_curve_gives_none(data: list[NTrials]) -> None:
    assert fit_curve(data) is None


def test_the_next_trials_go_to_the_middle_then_the_design_points() -> None:
    data = logistic_trials(random.Random(3), 2e6, 0.05, (0.9, 0.95, 1.0, 1.05, 1.1), trials=6)
    curve = fit_curve(data)
    assert curve is not None
    middle, lower, upper = next_targets(curve)
    assert lower < middle < upper
    assert curve.probability(middle) == pytest.approx(0.5, abs=1e-6)
    assert curve.probability(lower) == pytest.approx(0.176, abs=1e-3)
    assert curve.probability(upper) == pytest.approx(0.824, abs=1e-3)


def test_a_curve_from_two_close_mixed_n_is_wide_but_never_an_error() -> None:
    # Two neighbouring n with mixed results say almost nothing about the slope: the
    # interval may be unbounded, but every quantile is a number, not an overflow.
    curve = fit_curve([NTrials(1_000_000, 3, 1), NTrials(1_010_000, 3, 2)])
    assert curve is not None
    for point in curve.quantiles():
        assert 0 <= point.low <= point.n <= point.high  # high may be inf
        assert not math.isnan(point.high)
