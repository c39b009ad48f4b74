"""The threaded server's overlap calibration: the fixed deficit of a staggered start, and
the breaking band it predicts from bursts where even every request at once fits."""

from __future__ import annotations

import random
from statistics import NormalDist

import pytest

from servelab.study.overlap import fit_overlap

ROOM = 1_000_000_000
BPE = 40.0
MOST = BPE * 10  # every one of 10 requests' arrays at once


def test_a_fixed_deficit_predicts_between_every_request_and_a_constant_share() -> None:
    # At 2 M all 10 arrays would be 800 MB; the bursts held 400 MB: a 400 MB deficit.
    fit = fit_overlap(2_000_000, [390_000_000, 400_000_000, 410_000_000], ROOM, BPE, 10)
    assert fit is not None
    assert fit.deficit == pytest.approx(400_000_000)
    middle = fit.at(0.5)
    assert middle == (ROOM + 400_000_000) // MOST  # 3.5 M
    worst_case = ROOM // MOST  # 2.5 M: every request's array at once
    constant_share = ROOM / (400_000_000 / 2_000_000)  # 5 M: the share at 2 M, kept
    assert worst_case < middle < constant_share
    # The share grows with n: 5 arrays at 2 M, 10 - 400 MB / (40 B x 3.5 M) ~ 7.1 at 3.5 M.
    assert fit.at_once == pytest.approx(10 - 400_000_000 / (BPE * middle))


def test_the_dev_servers_measured_shares_follow_from_one_burst() -> None:
    """The numbers the model was built on (flask-dev, cpu, 10 at once, 44 bytes per
    element): from the 2 M burst, the 3 M burst's 885 MB within 2%."""
    fit = fit_overlap(2_000_000, [460_000_000], 10**12, 44.0, 10)
    assert fit is not None
    assert fit.held(3_000_000) == pytest.approx(885_000_000, rel=0.02)


def test_a_burst_above_every_request_at_once_leaves_no_deficit() -> None:
    fit = fit_overlap(2_000_000, [900_000_000], ROOM, BPE, 10)
    assert fit is not None
    assert fit.deficit == 0
    assert fit.at(0.5) == ROOM // MOST
    assert fit.at_once == pytest.approx(10.0)


def test_the_median_burst_counts_and_the_spread_widens_the_band() -> None:
    calm = fit_overlap(2_000_000, [400_000_000, 410_000_000, 420_000_000], ROOM, BPE, 10)
    wild = fit_overlap(2_000_000, [300_000_000, 410_000_000, 700_000_000], ROOM, BPE, 10)
    assert calm is not None and wild is not None
    assert calm.at(0.5) == wild.at(0.5)  # the same median, whatever the outlier
    low, high = wild.at(0.05), wild.at(0.95)
    calm_low, calm_middle, calm_high = calm.at(0.05), calm.at(0.5), calm.at(0.95)
    assert None not in (low, high, calm_low, calm_middle, calm_high)
    assert low < calm_low < calm_middle < calm_high < high  # type: ignore[operator]


def test_a_spread_too_wide_for_95_percent_leaves_that_point_open() -> None:
    fit = fit_overlap(2_000_000, [100_000_000, 400_000_000, 900_000_000], ROOM, BPE, 10)
    assert fit is not None
    assert fit.spread * NormalDist().inv_cdf(0.95) >= 1
    assert fit.at(0.95) is None and fit.at(0.05) is not None


def test_bursts_that_held_nothing_give_no_fit() -> None:
    assert fit_overlap(2_000_000, [0, 0], ROOM, BPE, 10) is None
    assert fit_overlap(2_000_000, [], ROOM, BPE, 10) is None


def test_the_predicted_50_percent_point_from_noisy_bursts() -> None:
    """Bursts drawn around a known deficit, 15% apart as the dev server's are: the predicted
    50% point lands within 10% of the true one in 90% of the draws (the deficit is taken
    from a median of 3, and only the deficit is noisy, not the slope)."""
    rng = random.Random(14)
    n, deficit = 2_000_000, 400_000_000
    true = (ROOM + deficit) / MOST
    errors = []
    for _ in range(200):
        held = [round((MOST * n - deficit) * (1 + rng.gauss(0, 0.15))) for _ in range(3)]
        fit = fit_overlap(n, held, ROOM, BPE, 10)
        assert fit is not None
        middle = fit.at(0.5)
        assert middle is not None
        errors.append(abs(middle / true - 1))
    errors.sort()
    assert errors[180] <= 0.10
