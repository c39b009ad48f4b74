"""Names the report shows that are code, not words: the seed's function behind a workload.

study.json stores a run's workload (``io``, ``cpu``, ``numpy``); the seminar knows them by the
functions of ``src/utils.py`` that the service calls for them.
"""

from __future__ import annotations

from typing import Final

SEED_FUNCTIONS: Final = {
    "io": "predict_io_bounded",
    "cpu": "predict_cpu_bounded",
    "numpy": "predict_cpu_multithread",
}


def function_name(workload: str) -> str:
    """The seed function a workload runs; the workload itself for one the seed does not know."""
    return SEED_FUNCTIONS.get(workload, workload)
