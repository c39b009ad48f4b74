"""How many requests' arrays a threaded server holds at once, calibrated, and the breaking
band it predicts. Pure code: the bursts are the caller's (``critical_run``).

Why a calibration and not a constant
    A sync worker holds one request's array at a time, so the cap's model is exact for it.
    A threaded server holds "up to all of them", which predicts the dev server's critical n
    about 40% low, while the share it does hold grows with n. Measured here (flask-dev, 10
    requests at once, the cpu workload, the peak above idle in arrays of n): 4.3 arrays at
    1 M, 5.7 at 2 M, 6.4 at 3 M; numpy: 6.5 at 8 M, 7.2 at 16 M, 7.7 at 24 M. A share
    measured at one n and kept constant therefore predicts 30-60% high.

The model: a fixed deficit
    The requests start spread over a few tenths of a second whatever n is: the server's
    accept loop competes with the running handlers for the GIL. While the first handlers
    build their arrays, the late ones have not started, so when the memory peaks the late
    arrays lack about as many elements as the CPU builds during the start spread: a number
    of elements that does not depend on n. So above the worst case the burst holds
    ``held(n) = most * n - deficit``, where ``most`` is every request's array at once
    (bytes per element x concurrency) and ``deficit`` the bytes the stagger keeps out. It
    explains the shares above: from the 2 M burst (deficit 420 MB, 44 bytes per element),
    the 3 M burst should hold 900 MB; it held 885.

    One burst varies a lot (three at the same 2.35 M held 406, 441 and 470 MiB; two others
    434 and 741), so the calibration runs several at the worst case, the largest n at
    which even every request at once fits under the cap (none of them should be
    OOM-killed), takes their median, and their relative standard deviation as ``spread``.
    A burst fails when ``held(n) * (1 + spread * z) > room`` with ``z`` standard normal,
    so the n at failure probability ``p`` solves ``held(n) = room / (1 - spread * z_p)``
    (``z_p`` the standard normal quantile: the 5% point lies below the median's n).

Against the searches' fitted 50% points in six studies here, the predicted 50% point came
within 4% for cpu (-3.9% .. +2.3%) and within 12% for numpy (-9.8% .. +12%), whose bursts
vary most; the run-to-run drift of the measured points themselves is 5-10%.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from statistics import NormalDist

# The failure probabilities the prediction gives, as the breaking curve does.
PROBABILITIES = (0.05, 0.5, 0.95)


@dataclass(frozen=True)
class OverlapFit:
    """``held(n) = most * n - deficit`` bytes above idle at the peak, for n at or above the
    bursts', and the relative spread of one burst around it.

    at_once: the arrays held at once at the predicted 50% point (``held / (n x bytes per
      element)``).
    predicted: (p, n) for each of ``PROBABILITIES``; n None where the spread puts the
      probability out of reach (a spread so wide that no n fails 95% of the time).
    """

    most: float
    deficit: float
    spread: float
    at_once: float
    predicted: tuple[tuple[float, int | None], ...]

    def held(self, n: float) -> float:
        return self.most * n - self.deficit

    def at(self, p: float) -> int | None:
        return next((n for q, n in self.predicted if q == p), None)


def fit_overlap(
    n: int, held_bytes: list[int], room_bytes: int, bytes_per_element: float, concurrency: int
) -> OverlapFit | None:
    """The deficit from bursts at ``n`` (each held ``held_bytes`` above idle at its peak)
    and the band it predicts under ``room_bytes``; None without a burst that held memory."""
    held = [h for h in held_bytes if h > 0]
    if not held or n < 1 or room_bytes <= 0 or bytes_per_element <= 0 or concurrency < 1:
        return None
    most = bytes_per_element * concurrency
    # Never below zero: a burst cannot hold more than every request's array at once
    # (a median above it is the calibration's bytes per element measured low).
    deficit = max(most * n - statistics.median(held), 0.0)
    spread = statistics.stdev(held) / statistics.fmean(held) if len(held) > 1 else 0.0
    predicted = tuple((p, _n_at(p, most, deficit, spread, room_bytes)) for p in PROBABILITIES)
    middle = dict(predicted)[0.5] or n
    at_once = (most * middle - deficit) / (bytes_per_element * middle)
    return OverlapFit(most, deficit, spread, at_once, predicted)


def _n_at(p: float, most: float, deficit: float, spread: float, room: int) -> int | None:
    """The largest n whose median burst holds at most ``room / (1 - spread z_p)``."""
    scale = 1.0 - spread * NormalDist().inv_cdf(p)
    if scale <= 0:
        return None
    return max(math.floor((room / scale + deficit) / most), 1)
