"""The workloads of the lab, in one table: what each one is called, what it measures,
what it takes, and what it holds in memory.

    WORKLOADS["numpy"].seed_name      # "cpu_multithread": the seed's file stems
    WORKLOADS["cpu"].function         # "predict_cpu_bounded": the seed's function name
    workload("gpu")                   # ConfigError naming the known codes

The service computes them (``servelab.service.workloads``); this table is the lab's view
of them, so no other module spells a workload's name or its numbers. It sits at the top
of the package, not in ``study/``, because the study, the CLI and the report all read it
and the report imports nothing of the study.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from .errors import ConfigError

Measures = Literal["waiting", "python-cpu", "numpy-cpu", "model"]
# How a correct server prices an area: int(area x mean(0..n-1)), area x a price per square
# metre, or a fitted model the lab cannot check.
PriceRule = Literal["mean-of-n", "per-m2", "model"]


@dataclass(frozen=True)
class Workload:
    """One ``predict`` function of the seminar, as the lab sees it.

    code: the name on the command line and in ``study.json`` (``io``, ``cpu`` ...).
    seed_name: the seed's stem for its logs (``log/cpu_bounded_dev.txt``).
    function: the seed's function name, shown beside each run.
    measures: what a run of it shows: waiting (sleep), pure-Python CPU work, numpy work, or
      the real model.
    takes_n / takes_delay: the study's ``--n`` / ``--io-delay`` apply to it.
    guessed_bytes_per_element: a first guess of the array it holds per element of n, only to
      size the critical-n calibration well inside the cap (the model uses the measured
      value); None: it holds no array of n, so it has no critical n.
    calibration_n_max: the largest n the calibration request uses.
    price_rule: how a correct server prices an area, so the lab can check every answer.
    exact_total_below: ``mean-of-n`` is exact only while the sum ``n(n-1)/2`` stays below
      this (numpy sums in float64: 2**53); None: always exact (Python's ints).
    """

    code: str
    seed_name: str
    function: str
    measures: Measures
    takes_n: bool = False
    takes_delay: bool = False
    guessed_bytes_per_element: int | None = None
    calibration_n_max: int | None = None
    price_rule: PriceRule = "model"
    exact_total_below: int | None = None

    @property
    def has_critical_n(self) -> bool:
        """It holds an array of n elements per request, so enough n runs out of memory."""
        return self.guessed_bytes_per_element is not None


WORKLOADS: Final[dict[str, Workload]] = {
    w.code: w
    for w in (
        Workload(
            "io",
            "io_bounded",
            "predict_io_bounded",
            "waiting",
            takes_delay=True,
            price_rule="per-m2",
        ),
        Workload(
            "cpu",
            "cpu_bounded",
            "predict_cpu_bounded",
            "python-cpu",
            takes_n=True,
            guessed_bytes_per_element=40,  # an 8-byte pointer + a 28-32-byte int
            calibration_n_max=4_000_000,
            price_rule="mean-of-n",
        ),
        Workload(
            "numpy",
            "cpu_multithread",
            "predict_cpu_multithread",
            "numpy-cpu",
            takes_n=True,
            guessed_bytes_per_element=8,  # one int64
            calibration_n_max=20_000_000,
            price_rule="mean-of-n",
            exact_total_below=2**53,
        ),
        Workload("model", "model", "model.predict", "model"),
    )
}
# A study of the user's own app (``servelab study --app``) has one "workload": the app's
# request, its ``n`` the request's input size (``--size``). It is not a row of the table:
# servelab's service cannot be asked to run it.
APP_WORKLOAD: Final = "app"
# The seminar's six runs use these; its critical n is asked for those with an array.
SEED_WORKLOADS: Final = ("io", "cpu", "numpy")
CRITICAL_WORKLOADS: Final = tuple(code for code, w in WORKLOADS.items() if w.has_critical_n)


def workload(code: str) -> Workload:
    """The table's row for ``code``; a ConfigError naming the known codes otherwise."""
    try:
        return WORKLOADS[code]
    except KeyError:
        raise ConfigError(
            f"unknown workload {code!r}; choose from {', '.join(WORKLOADS)}"
        ) from None


def run_stem(code: str) -> str:
    """The file stem of a workload's runs: the seed's (``cpu_bounded``) or ``app``."""
    return code if code == APP_WORKLOAD else workload(code).seed_name


def function_name(code: str) -> str:
    """The seed function behind a workload (``predict_io_bounded``); the code itself for a
    workload the table does not know (a study folder may come from a newer servelab)."""
    row = WORKLOADS.get(code)
    return row.function if row is not None else code


def critical_workload(code: str) -> Workload:
    """The row for ``code`` if it has a critical n (cpu, numpy); a ConfigError otherwise."""
    row = workload(code)
    if not row.has_critical_n:
        raise ConfigError(
            f"critical n is searched for the {' and '.join(CRITICAL_WORKLOADS)} workloads,"
            f" not {code!r}"
        )
    return row


__all__ = [
    "APP_WORKLOAD",
    "CRITICAL_WORKLOADS",
    "SEED_WORKLOADS",
    "WORKLOADS",
    "Measures",
    "PriceRule",
    "Workload",
    "critical_workload",
    "function_name",
    "run_stem",
    "workload",
]
