"""The seed's three predict functions under their seminar names.

Thin aliases of ``servelab.service.workloads``, so code written for the seminar keeps working.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import servelab  # noqa: F401 - installed in the venv
except ImportError:  # a bare checkout: use the package beside this file
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from servelab.service.workloads import DEFAULT_N, predict_cpu, predict_io, predict_numpy

__all__ = ["predict_cpu_bounded", "predict_cpu_multithread", "predict_io_bounded"]


def predict_io_bounded(area: float) -> int:
    """An external prediction service: sleeps 1 s, price = area x 200 000."""
    return predict_io(area, 1.0)


def predict_cpu_bounded(area: float, n: int = DEFAULT_N) -> int:
    """Pure Python on our own server: int(area x mean(0..n-1)) through a full list."""
    return predict_cpu(area, n)


def predict_cpu_multithread(area: float, n: int = DEFAULT_N) -> int:
    """The same with numpy: int(area x np.mean(np.arange(n)))."""
    return predict_numpy(area, n)
