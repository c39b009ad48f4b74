"""How many requests' arrays a threaded server holds at once, calibrated, and the breaking
band it predicts. Pure code: the bursts are the caller's (``critical_run``).

Why a calibration and not a constant
    A sync worker holds one request's array at a time, so the cap's model is exact for it.
    A threaded server holds "up to all of them", which predicts the dev server's critical n
    40% low (all 10 at once never happens), while the share it does hold grows with n: the
    server's accept loop competes with the running handlers for the GIL, so the requests
    start spread over a few tenths of a second whatever n is, while each handler's lifetime
    grows with n. Measured here (flask-dev, 10 at once, the cpu workload, peak memory over
    one request's array): 4.3 arrays at 1 M, 5.7 at 2 M, 6.4 at 3 M; numpy: 6.5 at 8 M,
    7.2 at 16 M, 7.7 at 24 M. A ratio measured at a small n therefore predicts 30-60% high.

The model
    Call ``share(n)`` what the burst holds at its peak above the idle server, per element
    of n: bytes per element times the arrays held at once. It grows with n as the handlers
    outlive their start spread, and over the range that matters it grows about linearly
    (cpu, from the search's passing probes: 122 bytes at 1.17 M, 195 at 2.35 M, 255 at
    3.4 M), up to every request at once. Bursts of the search's own load at n where even
    every request at once fits under the cap (so none of them should be OOM-killed) give
    it: one at a share of that n and several at it. Single bursts vary a lot (two at the
    same 2.35 M held 434 and 741 MiB), so the larger n takes the median of its bursts, and
    their relative standard deviation is the ``spread``. A burst fails when
    ``n * share(n) * (1 + spread * z) > room`` with ``z`` standard normal, so the n at
    failure probability ``p`` solves ``n * share(n) = room / (1 - spread * z_p)``, with
    ``z_p`` the standard normal quantile (the 5% point lies below the median's n, the 95%
    point above it).

Measured against the searches' fitted 50% points here, the median's n came within 3% for
cpu and 16% for numpy (whose bursts vary most); the line a constant share would give is
30-60% high, and "every request at once" 40% low.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from statistics import NormalDist

# The bursts: at this share of the worst-case n (every request's array at once), and at it.
LOW_SHARE = 0.5
# The failure probabilities the prediction gives, as the breaking curve does.
PROBABILITIES = (0.05, 0.5, 0.95)


@dataclass(frozen=True)
class HeldAt:
    """One burst: at ``n``, the most memory the server held above its idle memory."""

    n: int
    held_bytes: int


@dataclass(frozen=True)
class OverlapFit:
    """``share(n) = min(share_at + growth * (n - n_at), most)`` bytes per element, for
    ``n >= n_at``, and the spread of one burst around it.

    at_once: the arrays held at once at the predicted 50% point (share / bytes per element).
    predicted: (p, n) for each of ``PROBABILITIES``; n None where the spread puts the
      probability out of reach (a spread so wide that no n fails 95% of the time).
    """

    n_at: int
    share_at: float
    growth: float
    most: float
    spread: float
    at_once: float
    predicted: tuple[tuple[float, int | None], ...]

    def share(self, n: float) -> float:
        return min(self.share_at + self.growth * max(n - self.n_at, 0.0), self.most)

    def at(self, p: float) -> int | None:
        return next((n for q, n in self.predicted if q == p), None)


def burst_sizes(worst_case_n: int) -> tuple[int, int]:
    """The two n the calibration bursts run at: a share of the worst case, and the worst
    case itself (every request's array at once still fits there)."""
    high = max(worst_case_n, 2)
    return max(round(high * LOW_SHARE), 1), high


def fit_overlap(
    points: list[HeldAt], room_bytes: int, bytes_per_element: float, concurrency: int
) -> OverlapFit | None:
    """The share's growth through the bursts and the band it predicts; None without bursts
    at two different n (one n alone cannot tell how the share grows) or with nothing held."""
    by_n: dict[int, list[int]] = {}
    for point in points:
        by_n.setdefault(point.n, []).append(point.held_bytes)
    if len(by_n) < 2 or room_bytes <= 0 or bytes_per_element <= 0:
        return None
    low_n, high_n = min(by_n), max(by_n)
    low_share = statistics.median(by_n[low_n]) / low_n
    high_share = statistics.median(by_n[high_n]) / high_n
    most = bytes_per_element * concurrency
    if high_share <= 0:
        return None
    # The share cannot shrink as handlers get longer, nor pass every request at once.
    growth = max((high_share - low_share) / (high_n - low_n), 0.0)
    fit = OverlapFit(
        n_at=high_n,
        share_at=min(high_share, most),
        growth=growth,
        most=most,
        spread=relative_spread(list(by_n.values())),
        at_once=0.0,
        predicted=(),
    )
    predicted = tuple((p, _n_at(p, fit, room_bytes)) for p in PROBABILITIES)
    middle = dict(predicted)[0.5]
    at_once = fit.share(middle if middle is not None else high_n) / bytes_per_element
    return replace(fit, at_once=at_once, predicted=predicted)


def relative_spread(groups: list[list[int]]) -> float:
    """The standard deviation of one burst around the mean of its n, relative to that mean,
    pooled over the n (one degree of freedom per n goes to its mean; 0 with no n repeated)."""
    squares = 0.0
    free = 0
    for group in groups:
        mean = statistics.fmean(group)
        if mean > 0:
            squares += sum((held / mean - 1.0) ** 2 for held in group)
            free += len(group) - 1
    return math.sqrt(squares / free) if free > 0 else 0.0


def _n_at(p: float, fit: OverlapFit, room: int) -> int | None:
    """The n where a burst fails with probability ``p``: the largest n whose median burst
    holds at most ``room / (1 - spread z_p)`` (``n * share(n)`` grows with n: bisection)."""
    scale = 1.0 - fit.spread * NormalDist().inv_cdf(p)
    if scale <= 0:
        return None
    target = room / scale
    low, high = 1, max(fit.n_at, 1)
    while high * fit.share(high) <= target:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if middle * fit.share(middle) <= target:
            low = middle
        else:
            high = middle
    return low
