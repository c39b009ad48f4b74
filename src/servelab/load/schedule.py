"""An open loop's arrival schedule: a constant rate, or a linear ramp from one to another."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from servelab.errors import LoadError


@dataclass(frozen=True)
class Rate:
    """An open loop's arrival rate in requests per second: constant, or a ramp start -> end."""

    start: float
    end: float

    @classmethod
    def parse(cls, text: str | float | Rate) -> Rate:
        """``100`` or ``"100"`` (constant), ``"100:1000"`` (linear ramp over the duration)."""
        if isinstance(text, Rate):
            return text
        if isinstance(text, int | float):
            return cls.constant(float(text))
        first, sep, second = text.partition(":")
        try:
            start = float(first)
            end = float(second) if sep else start
        except ValueError:
            raise LoadError(f"rate must be R or R1:R2 requests per second, not {text!r}") from None
        return cls.ramp(start, end)

    @classmethod
    def constant(cls, rate: float) -> Rate:
        return cls.ramp(rate, rate)

    @classmethod
    def ramp(cls, start: float, end: float) -> Rate:
        if not (math.isfinite(start) and math.isfinite(end) and start >= 0 and end >= 0):
            raise LoadError(f"rates must be finite and >= 0, not {start:g}:{end:g}")
        if start == end == 0:
            raise LoadError("the rate must be more than 0 requests per second")
        return cls(start, end)

    def expected(self, duration: float) -> float:
        """How many requests the schedule has within ``duration`` seconds, as a float (it may
        be too large for an int: check it before ``count``)."""
        return (self.start + self.end) / 2 * duration

    def count(self, duration: float) -> int:
        """How many requests the schedule has within ``duration`` seconds."""
        return max(0, math.ceil(self.expected(duration) - 1e-9))

    def offsets_ns(self, duration: float, count: int) -> Iterator[int]:
        """Intended send times of requests 0, 1, ... ``count - 1``, in ns after the start."""
        slope = (self.end - self.start) / duration if duration > 0 else 0.0
        for i in range(count):
            if slope == 0:
                seconds = i / self.start
            else:  # solve start*t + slope*t^2/2 = i for t
                seconds = (math.sqrt(self.start**2 + 2 * slope * i) - self.start) / slope
            yield int(seconds * 1e9)

    def __str__(self) -> str:
        return f"{self.start:g}" if self.start == self.end else f"{self.start:g}:{self.end:g}"
