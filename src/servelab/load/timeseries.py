"""A run second by second: requests sent, completed, ok and failed, and their latency.

Second ``t`` covers ``[t, t + 1)`` seconds after the run's start. A request counts as sent in
the second it left and as completed (ok or failed) in the second it ended, so ``completed``
is the throughput and ``errors`` the errors per second of that second. Latency mean and max
are of the requests completed in the second (exact percentiles need every latency and are
kept for the whole run only). Requests an open loop never sent (``unsent``) are in neither
column. Memory is a few numbers per second of run, not per request.

``timeseries.jsonl`` has one row per second with the keys of ``SecondRow``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypedDict

from servelab.load.records import UNSENT, RequestRecord

if TYPE_CHECKING:
    from numpy.typing import NDArray


class SecondRow(TypedDict):
    """One second of a run; latencies in seconds, None when nothing completed."""

    t: int
    sent: int
    completed: int
    ok: int
    errors: int
    latency_mean: float | None
    latency_max: float | None


# A second's counters: one small list per second, so that a request touches one of them.
_SENT, _COMPLETED, _OK, _ERRORS, _LAT_SUM, _LAT_MAX = range(6)


class TimeSeries:
    """Per-second counters, grown as the run goes."""

    __slots__ = ("_seconds",)

    def __init__(self) -> None:
        self._seconds: list[list[float]] = []

    def _second(self, at: float) -> list[float]:
        second = int(at) if at > 0 else 0
        seconds = self._seconds
        while second >= len(seconds):
            seconds.append([0, 0, 0, 0, 0.0, 0.0])
        return seconds[second]

    def sent(self, at: float) -> None:
        """Count a request sent ``at`` seconds after the start."""
        self._second(at)[_SENT] += 1

    def completed(self, at: float, ok: bool, latency: float) -> None:
        """Count a request that ended ``at`` seconds after the start."""
        row = self._second(at)
        row[_COMPLETED] += 1
        row[_OK if ok else _ERRORS] += 1
        row[_LAT_SUM] += latency
        if latency > row[_LAT_MAX]:
            row[_LAT_MAX] = latency

    def rows(self) -> list[SecondRow]:
        """One row per second, from second 0 to the last one anything happened in."""
        rows: list[SecondRow] = []
        for t, (sent, done, ok, errors, lat_sum, lat_max) in enumerate(self._seconds):
            rows.append(
                SecondRow(
                    t=t,
                    sent=int(sent),
                    completed=int(done),
                    ok=int(ok),
                    errors=int(errors),
                    latency_mean=lat_sum / done if done else None,
                    latency_max=lat_max if done else None,
                )
            )
        return rows

    @classmethod
    def from_arrays(
        cls, sent_at: NDArray[Any], ended_at: NDArray[Any], ok: NDArray[Any], latency: NDArray[Any]
    ) -> TimeSeries:
        """The series of requests given as numpy arrays: sent and end times (s after the
        start), whether each was ok, and its latency; one entry per request sent."""
        import numpy as np

        series = cls()
        if len(ended_at) == 0:
            return series
        sent_second = np.maximum(sent_at, 0).astype(np.int64)
        end_second = np.maximum(ended_at, 0).astype(np.int64)
        seconds = int(max(sent_second.max(), end_second.max())) + 1
        sent = np.bincount(sent_second, minlength=seconds)
        completed = np.bincount(end_second, minlength=seconds)
        oks = np.bincount(end_second, weights=ok.astype(np.float64), minlength=seconds)
        lat_sum = np.bincount(end_second, weights=latency, minlength=seconds)
        lat_max = np.zeros(seconds)
        np.maximum.at(lat_max, end_second, latency)
        for t in range(seconds):
            done, good = int(completed[t]), int(oks[t])
            series._seconds.append(
                [int(sent[t]), done, good, done - good, float(lat_sum[t]), float(lat_max[t])]
            )
        return series

    @classmethod
    def from_records(cls, records: Iterable[RequestRecord], start: float) -> TimeSeries:
        """The series of records read back from a file; ``start`` is the run's epoch start."""
        series = cls()
        for r in records:
            if r.error_class == UNSENT:
                continue
            series.sent(r.start - start)
            series.completed(r.end - start, r.ok, r.latency)
        return series
