"""An app's memory against its input size, from a few calibration requests. Pure code.

servelab's own workloads know roughly what one element costs (8 bytes of numpy, 40 of a
Python int), so one calibration request at a size well inside the cap is enough. A user's
app could cost anything per row, character or pixel, and also a fixed amount per request
(parsing, the response, a lazily imported module), so its calibration runs single requests
at growing sizes, each on a fresh server in a fresh cap:

1. Start at the study's ``--size``. While the request's growth (peak - idle) stays under
   ``TARGET_SHARE`` of the room (cap - idle), try a size up to ``MAX_STEP`` times larger,
   aiming at about 1.5 x the target; stop once two points stand clear of the noise and the
   last reached the target (or half the room: no calibration request goes nearer the cap).
2. Fit ``growth = fixed + bytes_per_unit x size`` by least squares over the points clear of
   ``NOISE_FLOOR`` (a few MiB of allocator and page-cache jitter).
3. Predict: ``at_once`` requests each holding ``fixed + bytes_per_unit x size`` beside the
   idle server: ``size* = floor(((cap - idle) / at_once - fixed) / bytes_per_unit)``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ..results import CalibrationPoint

NOISE_FLOOR: Final = 4 * 2**20
TARGET_SHARE: Final = 0.15
MAX_SHARE: Final = 0.5
MAX_STEP: Final = 16


def _growth(point: CalibrationPoint) -> int:
    return point.peak_bytes - point.idle_bytes


@dataclass(frozen=True)
class SizeFit:
    """``growth = fixed_bytes + bytes_per_unit x size`` for one request, beside a server
    holding ``idle_bytes``; fitted over ``points`` calibration requests."""

    idle_bytes: int
    bytes_per_unit: float
    fixed_bytes: int
    points: int

    def predict(self, limit_bytes: int, at_once: int) -> int:
        """The largest size at which ``at_once`` requests still fit beside the idle server
        (0 when not even one unit does)."""
        per_request = (limit_bytes - self.idle_bytes) / max(at_once, 1) - self.fixed_bytes
        if per_request <= 0:
            return 0
        return math.floor(per_request / self.bytes_per_unit)


def fit_sizes(points: Sequence[CalibrationPoint]) -> SizeFit | None:
    """The fit, or None when no request grew the server's memory clear of the noise (the
    app's memory does not depend on the size: it has no critical size to find)."""
    clear = [p for p in points if _growth(p) > NOISE_FLOOR]
    if not clear:
        return None
    idle = int(statistics.median(p.idle_bytes for p in points))
    if len({p.n for p in clear}) < 2:
        best = max(clear, key=lambda p: p.n)
        return SizeFit(idle, _growth(best) / best.n, 0, len(clear))
    sizes = [float(p.n) for p in clear]
    growths = [float(_growth(p)) for p in clear]
    slope, intercept = statistics.linear_regression(sizes, growths)
    if slope <= 0:
        return None
    return SizeFit(idle, slope, max(0, round(intercept)), len(clear))


def next_calibration_size(
    points: Sequence[CalibrationPoint], limit_bytes: int, max_size: int
) -> int | None:
    """The next calibration size after ``points`` (the last one is the newest), or None
    when the calibration has what it needs (or cannot grow further)."""
    last = points[-1]
    room = limit_bytes - last.idle_bytes
    growth = _growth(last)
    clear = sum(1 for p in points if _growth(p) > NOISE_FLOOR)
    if growth >= MAX_SHARE * room or (growth >= TARGET_SHARE * room and clear >= 2):
        return None
    if growth >= TARGET_SHARE * room:
        # Big enough already, but one point cannot tell fixed cost from cost per unit:
        # measure half the size too.
        smaller = last.n // 2
        known = {p.n for p in points}
        return smaller if smaller >= 1 and smaller not in known else None
    if growth <= NOISE_FLOOR:
        factor = float(MAX_STEP)
    else:
        factor = min(float(MAX_STEP), max(2.0, 1.5 * TARGET_SHARE * room / growth))
    size = max(last.n + 1, math.ceil(last.n * factor))
    return size if size <= max_size else None
