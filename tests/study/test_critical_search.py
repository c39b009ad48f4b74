"""The critical-n model and search, without servers: probes are functions of n.

A sharp threshold T stands for gunicorn with one sync worker (fails iff n > T); a band
where the failure probability rises linearly from 0 at A to 1 at B stands for the threaded
dev server. Randomness is seeded, so every run sees the same probes.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from collections.abc import Callable

import pytest

from servelab.cli.words import stop_reason
from servelab.errors import ConfigError
from servelab.results import StopReason
from servelab.study import critical
from servelab.study.breaking import fit_curve
from servelab.study.critical import (
    CriticalSearch,
    SearchPolicy,
    SearchResult,
    predict_critical_n,
    search,
)

MiB = 2**20
THRESHOLDS = (3_333, 54_321, 1_000_000, 1_234_567, 9_999_999, 25_000_000, 123_456_789)
OFFSETS = (-0.40, -0.25, -0.10, -0.03, 0.0, 0.02, 0.10, 0.30, 0.60)
# Worst count over THRESHOLDS x OFFSETS with the default policy, as measured: 12
# (4 bracketing + 4 bisecting + 2 x 2 confirming, with the prediction 40% low or 60% high).
WORST_THRESHOLD_PROBES = 12


def sharp(threshold: int) -> Callable[[int], bool]:
    return lambda n: n > threshold


def noisy_band(low: int, high: int, seed: int) -> Callable[[int], bool]:
    rng = random.Random(seed)

    def probe(n: int) -> bool:
        p = 0.0 if n <= low else 1.0 if n >= high else (n - low) / (high - low)
        return rng.random() < p

    return probe


def significant_digits(n: int) -> int:
    return len(str(n).rstrip("0"))


def trials_at(result: SearchResult, n: int | None) -> tuple[int, int]:
    entry = next(t for t in result.per_n if t.n == n)
    return entry.trials, entry.failures


# -- the model ------------------------------------------------------------------------


def test_prediction_is_the_room_over_the_arrays_held_at_once() -> None:
    # 1 GiB cap, 40 MiB idle, 40-byte elements, 10 requests at once
    assert predict_critical_n(1024 * MiB, 40 * MiB, 40, 10) == (984 * MiB) // 400
    assert predict_critical_n(1024 * MiB, 40 * MiB, 40, 1) == (984 * MiB) // 40
    assert predict_critical_n(1000, 0, 8, 1) == 125
    assert predict_critical_n(1000, 0, 7.9, 1) == 126  # floor(126.58): a measured float
    assert predict_critical_n(1000, 999, 8, 1) == 0  # not even one element fits


def test_prediction_says_when_the_server_does_not_even_fit_idle() -> None:
    with pytest.raises(ConfigError, match="does not even fit idle"):
        predict_critical_n(40 * MiB, 45 * MiB, 40, 10)
    with pytest.raises(ConfigError, match="does not even fit idle"):
        predict_critical_n(40 * MiB, 40 * MiB, 40, 10)


@pytest.mark.parametrize(
    ("limit", "idle", "per_element", "at_once", "named"),
    [
        (0, 0, 40, 1, "limit_bytes"),
        (1000, -1, 40, 1, "idle_bytes"),
        (1000, 0, 0, 1, "bytes_per_element"),
        (1000, 0, -8, 1, "bytes_per_element"),
        (1000, 0, math.nan, 1, "bytes_per_element"),
        (1000, 0, math.inf, 1, "bytes_per_element"),
        (1000, 0, 40, 0, "in_memory_at_once"),
        (1000, 0, 40, True, "in_memory_at_once"),
    ],
)
def test_prediction_rejects_nonsense(
    limit: int, idle: int, per_element: float, at_once: int, named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        predict_critical_n(limit, idle, per_element, at_once)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"tolerance": 0.0}, "tolerance"),
        ({"tolerance": -0.05}, "tolerance"),
        ({"tolerance": math.nan}, "tolerance"),
        ({"tolerance": 5}, "tolerance"),  # 5 meaning 5% would be a 500% bracket
        ({"first_step": 0.0}, "first_step"),
        ({"repeats": 0}, "repeats"),
        ({"max_probes": 0}, "max_probes"),
        ({"min_n": 0}, "min_n"),
        ({"min_n": 5000, "max_n": 5000}, "max_n"),
    ],
)
def test_policy_rejects_nonsense(settings: dict[str, float], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        SearchPolicy(**settings)  # type: ignore[arg-type]


# -- a sharp threshold: gunicorn with one sync worker ---------------------------------


@pytest.mark.parametrize("threshold", THRESHOLDS)
@pytest.mark.parametrize("offset", OFFSETS)
def test_sharp_threshold_is_bracketed_within_tolerance(threshold: int, offset: float) -> None:
    policy = SearchPolicy()
    result = search(round(threshold * (1 + offset)), sharp(threshold), policy)

    assert result.converged, stop_reason(result.stop)
    assert stop_reason(result.stop) == "bracket within 5%"
    low, high = result.max_passing_n, result.min_failing_n
    assert low is not None and high is not None
    assert low <= threshold < high
    assert high / low - 1 <= policy.tolerance
    assert trials_at(result, low) == (policy.repeats, 0)
    assert trials_at(result, high) == (policy.repeats, policy.repeats)
    assert result.band() == ()
    assert result.probes <= WORST_THRESHOLD_PROBES
    # readable n in the report: 3 significant digits while the bracket is wider than that
    assert all(significant_digits(t.n) <= 3 for t in result.per_n)


def test_worst_probe_count_for_sharp_thresholds() -> None:
    counts = [
        search(round(t * (1 + offset)), sharp(t)).probes for t in THRESHOLDS for offset in OFFSETS
    ]
    assert max(counts) == WORST_THRESHOLD_PROBES
    # a good prediction is cheaper than a bad one
    assert search(1_000_000, sharp(1_000_000)).probes < max(counts)


def test_only_the_ends_are_repeated_and_no_n_twice_otherwise() -> None:
    result = search(700_000, sharp(1_234_567))
    repeated = {t.n for t in result.per_n if t.trials > 1}
    assert repeated == {result.max_passing_n, result.min_failing_n}
    assert sum(t.trials for t in result.per_n) == result.probes


def test_repeats_1_is_plain_bisection() -> None:
    policy = SearchPolicy(repeats=1)
    result = search(800_000, sharp(1_234_567), policy)
    assert result.converged
    assert all(t.trials == 1 for t in result.per_n)
    low, high = result.max_passing_n, result.min_failing_n
    assert low is not None and high is not None
    assert low <= 1_234_567 < high
    assert high / low - 1 <= policy.tolerance
    assert result.probes == search(800_000, sharp(1_234_567)).probes - 4


def test_tighter_tolerance_gives_tighter_bracket() -> None:
    policy = SearchPolicy(tolerance=0.01)
    result = search(1_000_000, sharp(1_234_567), policy)
    assert result.converged
    assert stop_reason(result.stop) == "bracket within 1%"
    low, high = result.max_passing_n, result.min_failing_n
    assert low is not None and high is not None
    assert low <= 1_234_567 < high
    assert high / low - 1 <= 0.01


def test_bracket_stops_at_adjacent_whole_numbers() -> None:
    result = search(1_000_000, sharp(1500), SearchPolicy(tolerance=0.0001))
    assert result.converged
    assert (result.max_passing_n, result.min_failing_n) == (1500, 1501)
    assert "whole numbers" in stop_reason(result.stop)


# -- a band: the threaded dev server --------------------------------------------------

BANDS = ((1_000_000, 1_100_000), (1_000_000, 1_300_000), (1_000_000, 1_600_000))
SEEDS = range(200)


@pytest.mark.parametrize(("low", "high"), BANDS)
@pytest.mark.parametrize("predicted_share", [0.6, 1.0, 1.5])
def test_noisy_band_is_reported_as_a_band(low: int, high: int, predicted_share: float) -> None:
    policy = SearchPolicy()
    predicted = round(low * predicted_share)
    results = [search(predicted, noisy_band(low, high, seed), policy) for seed in SEEDS]

    for result in results:
        assert result.probes <= policy.max_probes
        assert all(t.trials <= policy.repeats + policy.curve_trials for t in result.per_n)
        if not result.converged:
            assert stop_reason(result.stop) == "probe budget (30) spent"
            continue
        passing, failing = result.max_passing_n, result.min_failing_n
        assert passing is not None and failing is not None
        assert trials_at(result, passing) == (policy.repeats, 0)
        assert trials_at(result, failing) == (policy.repeats, policy.repeats)
        assert passing < high and failing > low  # n >= B always fails, n <= A never does
        band = result.band()
        assert all(passing < t.n < failing for t in band)
        if band:
            # the band holds both outcomes: that is what makes it a band
            assert sum(t.failures for t in band) > 0
            assert sum(t.trials - t.failures for t in band) > 0
            assert stop_reason(result.stop).startswith("band resolved")
        else:
            assert stop_reason(result.stop) == "bracket within 5%"

    converged = [r for r in results if r.converged]
    assert len(converged) >= 0.97 * len(results)
    # the band is seen, not hidden behind one lucky bracket
    assert sum(bool(r.band()) for r in converged) >= 0.7 * len(converged)
    assert sum(any(0 < t.rate < 1 for t in r.band()) for r in converged) >= 0.7 * len(converged)
    # max_passing_n walks out of the band from inside: not far below where failures start
    passing_ns = [r.max_passing_n for r in converged if r.max_passing_n is not None]
    assert statistics.median(passing_ns) >= low
    assert min(passing_ns) >= low / (1 + policy.tolerance) ** 2


# -- the curve's trials: where a band's failure curve is learnt -----------------------


def test_a_sharp_boundary_spends_no_curve_trials() -> None:
    with_curve = search(1_000_000, sharp(1_234_567), SearchPolicy(curve_trials=4))
    without = search(1_000_000, sharp(1_234_567), SearchPolicy(curve_trials=0))
    assert with_curve == without


def test_a_band_gets_its_curve_trials_inside_it_and_keeps_its_ends() -> None:
    spent = 0
    for seed in range(100):
        plain = search(
            1_000_000, noisy_band(1_000_000, 1_300_000, seed), SearchPolicy(curve_trials=0)
        )
        curved = search(
            1_000_000, noisy_band(1_000_000, 1_300_000, seed), SearchPolicy(curve_trials=4)
        )
        # The same trials up to the end of the plain search, so the same confirmed ends:
        # the curve's trials never reopen them.
        assert (curved.max_passing_n, curved.min_failing_n) == (
            plain.max_passing_n,
            plain.min_failing_n,
        )
        extra = curved.probes - plain.probes
        assert 0 <= extra <= 4
        spent += extra
        if extra:
            low, high = curved.max_passing_n, curved.min_failing_n
            assert low is not None and high is not None
            added = {t.n: t.trials for t in curved.per_n}
            before = {t.n: t.trials for t in plain.per_n}
            moved = [n for n in added if added[n] != before.get(n)]
            assert all(low < n < high for n in moved), (moved, low, high)
    assert spent >= 200  # most band searches spend all four


def test_curve_trials_narrow_the_fitted_50_percent_point() -> None:
    """Four trials placed by the curve make the 50% point's interval narrower and its error
    smaller than the search's own trials alone (over many seeds: a band's draws vary)."""
    widths: dict[int, list[float]] = {0: [], 4: []}
    errors: dict[int, list[float]] = {0: [], 4: []}
    true_middle = 1_150_000  # the failure rate rises linearly from 1.0 M to 1.3 M
    for curve_trials in widths:
        for seed in range(300):
            result = search(
                1_000_000,
                noisy_band(1_000_000, 1_300_000, seed),
                SearchPolicy(curve_trials=curve_trials, max_probes=40),
            )
            curve = fit_curve(result.per_n)
            if curve is not None:
                middle = curve.n_at(0.5)
                widths[curve_trials].append(math.log(middle.high / middle.low))
                errors[curve_trials].append(abs(math.log(middle.n / true_middle)))
    assert statistics.median(widths[4]) < 0.92 * statistics.median(widths[0])
    assert statistics.median(errors[4]) < 0.95 * statistics.median(errors[0])


# -- limits, budget and misuse --------------------------------------------------------


def test_fails_even_at_min_n() -> None:
    result = search(50_000, lambda n: True)
    assert not result.converged
    assert stop_reason(result.stop) == "fails even at min_n=1,000"
    assert result.max_passing_n is None
    assert result.per_n[0].n == 1000
    assert result.probes <= 7  # steps 15%, 30%, 60%, 120%, ... down from 50x min_n


def test_passes_at_max_n() -> None:
    policy = SearchPolicy(max_n=10_000_000)
    result = search(1_000_000, lambda n: False, policy)
    assert not result.converged
    assert stop_reason(result.stop) == "passes at max_n=10,000,000"
    assert result.min_failing_n is None
    assert result.per_n[-1].n == 10_000_000


def test_prediction_outside_the_range_starts_at_the_edge() -> None:
    policy = SearchPolicy(max_n=10_000_000)
    assert CriticalSearch(50_000_000, policy).next_n() == 10_000_000
    assert CriticalSearch(0, policy).next_n() == 1000
    assert search(0, sharp(5_000), policy).converged


def test_budget_spent_is_a_result_not_an_error() -> None:
    result = search(1_000_000, sharp(777_777), SearchPolicy(max_probes=5))
    assert result.probes == 5
    assert not result.converged
    assert stop_reason(result.stop) == "probe budget (5) spent"


def test_record_must_answer_the_n_asked_for() -> None:
    machine = CriticalSearch(1_000_000)
    with pytest.raises(ValueError, match="next_n"):
        machine.record(1_000_000, False)
    n = machine.next_n()
    assert n == 1_000_000
    assert machine.next_n() == n  # asking again does not move on
    with pytest.raises(ValueError, match="asked for n=1000000"):
        machine.record(1_234_000, False)
    machine.record(n, False)
    assert machine.next_n() != n


def test_record_after_the_end_is_refused() -> None:
    machine = CriticalSearch(1000)
    assert machine.next_n() == 1000
    machine.record(1000, True)
    assert machine.next_n() is None
    with pytest.raises(ValueError, match="over"):
        machine.record(1000, True)


def test_result_before_the_end_says_so() -> None:
    machine = CriticalSearch(1_000_000)
    n = machine.next_n()
    assert n is not None
    machine.record(n, False)
    result = machine.result()
    assert not result.converged
    assert stop_reason(result.stop) == "search not finished"
    assert result.probes == 1
    assert result.max_passing_n is None  # one pass is not yet repeats passes
    assert result.band() == ()


def test_the_stop_is_a_code_with_its_numbers() -> None:
    assert search(900_000, sharp(1_000_000)).stop == StopReason("within-tolerance", tolerance=0.05)
    policy = SearchPolicy(min_n=1000, max_n=10_000_000)
    assert search(50_000, lambda n: True, policy).stop == StopReason("fails-at-min", low=1000)
    assert search(50_000, lambda n: False, policy).stop == StopReason(
        "passes-at-max", high=10_000_000
    )


def test_random_policies_keep_the_search_honest() -> None:
    """A seeded sweep over policies, thresholds and noise: invariants that always hold."""
    rng = random.Random(20240611)
    for _ in range(400):
        min_n = rng.choice([1, 10, 1000, 50_000])
        policy = SearchPolicy(
            tolerance=rng.choice([0.005, 0.02, 0.05, 0.2]),
            repeats=rng.randint(1, 4),
            max_probes=rng.randint(1, 40),
            min_n=min_n,
            max_n=min_n * rng.choice([2, 100, 10**6]),
            first_step=rng.choice([0.05, 0.15, 0.5]),
        )
        threshold = round(10 ** rng.uniform(0, 10))
        width = rng.choice([0.0, 0.1, 0.5])
        predicted = round(threshold * rng.uniform(0.1, 5))
        probe = (
            sharp(threshold)
            if width == 0
            else noisy_band(threshold, round(threshold * (1 + width)) + 1, rng.randrange(10**9))
        )
        machine = CriticalSearch(predicted, policy)
        asked: Counter[int] = Counter()
        while (n := machine.next_n()) is not None:
            asked[n] += 1
            machine.record(n, probe(n))
        result = machine.result()

        assert result.probes == sum(asked.values()) <= policy.max_probes
        assert all(policy.min_n <= n <= policy.max_n for n in asked)
        assert max(asked.values()) <= policy.repeats + policy.curve_trials
        low, high = result.max_passing_n, result.min_failing_n
        if result.converged:
            assert low is not None and high is not None and low < high
            if width == 0:
                assert low <= threshold < high
                assert high / low - 1 <= policy.tolerance or high == low + 1
        elif result.probes < policy.max_probes:
            assert stop_reason(result.stop).startswith(("fails even at min_n", "passes at max_n"))


def test_all_is_sorted_and_complete() -> None:
    public = {
        name
        for name, value in vars(critical).items()
        if not name.startswith("_")
        and getattr(value, "__module__", None) == critical.__name__
        and callable(value)
    }
    assert critical.__all__ == sorted(critical.__all__)
    assert set(critical.__all__) == public
