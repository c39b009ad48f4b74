"""Service-level objectives checked against a run, like k6's thresholds: ``p99<500ms``.

An SLO is ``<metric><op><value><unit>`` with no spaces needed (they are allowed):

    metric   p50 p90 p99 p99.9 max mean   latency (from the intended send time)   unit ms | s
             errors                       failed / all requests                   unit %
             rps                          requests completed per second           no unit
    op       <  <=  >  >=

``p99<500ms``, ``errors<1%``, ``rps>=100``. Anything else is a ``ConfigError`` naming the
text, so a typo never passes as a check that holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from servelab.errors import ConfigError
from servelab.load.summary import LoadSummary

LATENCY_METRICS: Final = ("p50", "p90", "p99", "p99.9", "max", "mean")
METRICS: Final = (*LATENCY_METRICS, "errors", "rps")
_UNITS: Final = {"ms": 1e-3, "s": 1.0, "%": 0.01, "": 1.0}
_PATTERN = re.compile(
    r"\s*(?P<metric>p99\.9|p\d+|[a-z]+)\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<value>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>ms|s|%)?\s*"
)
_SYNTAX = "an SLO looks like p99<500ms, errors<1% or rps>100"


@dataclass(frozen=True)
class Slo:
    """One objective; ``threshold`` is in base units (seconds, a fraction, requests/s)."""

    text: str
    metric: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> Slo:
        """Parse strictly; a ``ConfigError`` says what is wrong with ``text``."""
        match = _PATTERN.fullmatch(text)
        if match is None:
            raise ConfigError(f"cannot read SLO {text!r}: {_SYNTAX}")
        metric, op, unit = match["metric"], match["op"], match["unit"] or ""
        if metric not in METRICS:
            raise ConfigError(
                f"unknown SLO metric {metric!r} in {text!r}: one of {', '.join(METRICS)}"
            )
        if metric in LATENCY_METRICS and unit not in ("ms", "s"):
            raise ConfigError(f"SLO {text!r}: a latency needs a unit, ms or s")
        if metric == "errors" and unit != "%":
            raise ConfigError(f"SLO {text!r}: errors are a percentage, e.g. errors<1%")
        if metric == "rps" and unit:
            raise ConfigError(f"SLO {text!r}: rps takes no unit, e.g. rps>100")
        return cls(
            text=text.strip(), metric=metric, op=op, threshold=float(match["value"]) * _UNITS[unit]
        )

    def measure(self, summary: LoadSummary) -> float | None:
        """The metric's value in a run's summary, any mode's; None if nothing was measured."""
        if self.metric == "errors":
            return summary.error_rate
        if self.metric == "rps":
            return summary.throughput
        return summary.latency.get(self.metric)

    def holds(self, value: float | None) -> bool:
        """Whether ``value`` meets the objective; nothing measured never meets it."""
        if value is None:
            return False
        t = self.threshold
        return {"<": value < t, "<=": value <= t, ">": value > t, ">=": value >= t}[self.op]

    def format_value(self, value: float | None) -> str:
        """``value`` in the unit the SLO was written in, for a report line."""
        if value is None:
            return "nothing measured"
        if self.metric == "errors":
            return f"{value * 100:.3g}%"
        if self.metric == "rps":
            return f"{value:.1f} rps"
        return f"{value * 1000:.3f} ms"


@dataclass(frozen=True)
class SloResult:
    """An SLO, the value the run measured, and whether it held."""

    slo: Slo
    value: float | None
    held: bool

    def line(self) -> str:
        mark = "held" if self.held else "FAILED"
        return f"{mark}: {self.slo.text} (measured {self.slo.format_value(self.value)})"

    def to_dict(self) -> dict[str, Any]:
        return {"slo": self.slo.text, "value": self.value, "held": self.held}


def check(slos: list[Slo], summary: LoadSummary) -> list[SloResult]:
    """Every SLO against a run's summary, in the order given."""
    results = []
    for slo in slos:
        value = slo.measure(summary)
        results.append(SloResult(slo, value, slo.holds(value)))
    return results
