"""The seed's three ``predict`` emulations, kept exactly as the seminar wrote them.

They are what the study measures, so they are deliberately naive: ``cpu`` builds a full
Python list of ``n`` ints (about 40 bytes per element at its peak) before summing it, and
``numpy`` allocates an int64 array of ``n`` elements (8 bytes each). Do not "optimise" them.
"""

from __future__ import annotations

import time

import numpy as np

DEFAULT_N = 5_000_000
IO_PRICE_PER_M2 = 200_000


def predict_io(area: float, delay: float = 1.0) -> int:
    """A call to an external prediction service, emulated by sleeping ``delay`` seconds."""
    time.sleep(delay)
    return int(area * IO_PRICE_PER_M2)


def predict_cpu(area: float, n: int = DEFAULT_N) -> int:
    """Pure-Python work on our own server: the mean of 0..n-1 through a full list."""
    # The list is the point: it is what costs memory (about 40 bytes per element).
    avg = sum([x for x in range(n)]) / n
    return int(area * avg)


def predict_numpy(area: float, n: int = DEFAULT_N) -> int:
    """The same mean with numpy: one int64 array of ``n`` elements."""
    avg = np.mean(np.arange(n))
    return int(area * avg)
