"""The app's size model: calibration sizes grow until a request shows, the fit recovers the
cost per unit and the fixed cost, and the prediction follows from them."""

from __future__ import annotations

from servelab.results import CalibrationPoint
from servelab.study.sizefit import NOISE_FLOOR, fit_sizes, next_calibration_size

MIB = 2**20
IDLE = 30 * MIB
CAP = 256 * MIB


def point(n: int, per_unit: float, fixed: int = 0, idle: int = IDLE) -> CalibrationPoint:
    return CalibrationPoint(n, idle, idle + fixed + round(per_unit * n))


def test_the_fit_recovers_the_cost_per_unit_and_the_fixed_cost() -> None:
    points = [point(n, 1024.0, fixed=6 * MIB) for n in (4_000, 16_000, 64_000)]
    fit = fit_sizes(points)
    assert fit is not None
    assert abs(fit.bytes_per_unit - 1024.0) < 1e-6
    assert abs(fit.fixed_bytes - 6 * MIB) <= 1
    assert fit.idle_bytes == IDLE
    # One request at a time: (cap - idle - fixed) / 1 KiB.
    assert fit.predict(CAP, at_once=1) == (CAP - IDLE - 6 * MIB) // 1024
    # Ten at once: each holds the fixed cost and its own units.
    assert fit.predict(CAP, at_once=10) == int(((CAP - IDLE) / 10 - 6 * MIB) // 1024)


def test_points_lost_in_the_noise_are_not_fitted() -> None:
    # A first point whose growth is jitter would drag the line; it is left out.
    noisy = CalibrationPoint(100, IDLE, IDLE + NOISE_FLOOR // 2)
    points = [noisy, point(16_000, 2048.0), point(8_000, 2048.0)]
    fit = fit_sizes(points)
    assert fit is not None and abs(fit.bytes_per_unit - 2048.0) < 1e-6 and fit.points == 2


def test_an_app_whose_memory_does_not_grow_has_no_fit() -> None:
    assert fit_sizes([CalibrationPoint(n, IDLE, IDLE + MIB) for n in (1, 16, 256)]) is None


def test_a_fixed_cost_larger_than_the_room_predicts_zero() -> None:
    fit = fit_sizes([point(n, 10.0, fixed=300 * MIB) for n in (1_000, 100_000)])
    assert fit is not None and fit.predict(CAP, at_once=1) == 0


def test_calibration_sizes_grow_until_a_request_shows_then_stop() -> None:
    per_unit = 1024.0
    sizes = [100]
    points = [point(100, per_unit)]
    while (size := next_calibration_size(points, CAP, 10**12)) is not None:
        sizes.append(size)
        points.append(point(size, per_unit))
        assert len(sizes) < 10, sizes
    growths = [p.peak_bytes - p.idle_bytes for p in points]
    room = CAP - IDLE
    # No calibration request came near the cap, and the last ones stand clear of the noise.
    assert max(growths) < 0.5 * room
    assert sum(g > NOISE_FLOOR for g in growths) >= 2
    assert sizes[1] == 1_600  # growth under the noise floor: the biggest step, x16


def test_a_first_size_already_big_enough_is_measured_at_half_too() -> None:
    first = point(100_000, 1024.0)  # ~98 MiB: over the target share of the room
    assert next_calibration_size([first], CAP, 10**12) == 50_000
    assert next_calibration_size([first, point(50_000, 1024.0)], CAP, 10**12) is None


def test_a_size_beyond_the_largest_allowed_is_not_tried() -> None:
    assert next_calibration_size([point(10, 1.0)], CAP, max_size=100) is None
