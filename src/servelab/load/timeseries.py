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
from typing import TypedDict

from servelab.load.records import UNSENT, RequestRecord


class SecondRow(TypedDict):
    """One second of a run; latencies in seconds, None when nothing completed."""

    t: int
    sent: int
    completed: int
    ok: int
    errors: int
    latency_mean: float | None
    latency_max: float | None


class TimeSeries:
    """Per-second counters, grown as the run goes."""

    __slots__ = ("_completed", "_errors", "_lat_max", "_lat_sum", "_ok", "_sent")

    def __init__(self) -> None:
        self._sent: list[int] = []
        self._completed: list[int] = []
        self._ok: list[int] = []
        self._errors: list[int] = []
        self._lat_sum: list[float] = []
        self._lat_max: list[float] = []

    def _grow(self, second: int) -> None:
        extra = second + 1 - len(self._sent)
        if extra > 0:
            for column in (self._sent, self._completed, self._ok, self._errors):
                column.extend([0] * extra)
            self._lat_sum.extend([0.0] * extra)
            self._lat_max.extend([0.0] * extra)

    def sent(self, at: float) -> None:
        """Count a request sent ``at`` seconds after the start."""
        second = max(0, int(at))
        if second >= len(self._sent):
            self._grow(second)
        self._sent[second] += 1

    def completed(self, at: float, ok: bool, latency: float) -> None:
        """Count a request that ended ``at`` seconds after the start."""
        second = max(0, int(at))
        if second >= len(self._sent):
            self._grow(second)
        self._completed[second] += 1
        if ok:
            self._ok[second] += 1
        else:
            self._errors[second] += 1
        self._lat_sum[second] += latency
        if latency > self._lat_max[second]:
            self._lat_max[second] = latency

    def add(self, sent_at: float, ended_at: float, ok: bool, latency: float) -> None:
        """``sent`` and ``completed`` in one call (the loops' hot path: one call per request)."""
        sent_second = int(sent_at) if sent_at > 0 else 0
        second = int(ended_at) if ended_at > 0 else 0
        if second >= len(self._sent) or sent_second >= len(self._sent):
            self._grow(max(second, sent_second))
        self._sent[sent_second] += 1
        self._completed[second] += 1
        if ok:
            self._ok[second] += 1
        else:
            self._errors[second] += 1
        self._lat_sum[second] += latency
        if latency > self._lat_max[second]:
            self._lat_max[second] = latency

    def rows(self) -> list[SecondRow]:
        """One row per second, from second 0 to the last one anything happened in."""
        rows: list[SecondRow] = []
        for t, done in enumerate(self._completed):
            rows.append(
                SecondRow(
                    t=t,
                    sent=self._sent[t],
                    completed=done,
                    ok=self._ok[t],
                    errors=self._errors[t],
                    latency_mean=self._lat_sum[t] / done if done else None,
                    latency_max=self._lat_max[t] if done else None,
                )
            )
        return rows

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
