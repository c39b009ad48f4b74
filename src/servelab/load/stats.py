"""The study's older flat burst summary (``Summary``, ``summarize``): pure functions, no I/O.

Kept only while the study still reads it; the load engine itself summarises every mode in
``summary.LoadSummary`` and imports nothing from here. Percentiles are exact, from every
latency (linear interpolation between the two nearest ranks, numpy's default), never from
rounded buckets.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from servelab.load.records import RequestRecord

# The percentiles every summary reports, by the names SLOs and JSON use.
PERCENTILES: Final = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))


@dataclass(frozen=True)
class Summary:
    """A load run in numbers. Times in seconds; None where nothing could be measured.

    requests, ok: how many were sent and how many got a complete 2xx.
    errors_by_class: failed requests counted by ``error_class``.
    makespan: from the first request sent to the last one finished.
    latency_*: over every request, failed ones included (a failure took time too).
    distinct_pids, distinct_workers: server processes, and (pid, thread) pairs, that ran
      a handler.
    max_concurrent: the most handlers running at one instant, from the servers' own
      [handler_start, handler_start + handler_duration] intervals.
    mean_queue_wait: mean of handler_start - start: how long requests sat in the server
      (and on the way there) before a handler took them.
    handler_mean, handler_sum: handler durations as the server timed them.
    served: how many records carry the server's timing headers (the base of the above).
    latency_p999: the 99.9th percentile of latency.
    by_status: responses counted by HTTP status (as a string: JSON keys are strings).
    """

    requests: int
    ok: int
    errors_by_class: dict[str, int]
    makespan: float | None
    latency_min: float | None
    latency_mean: float | None
    latency_p50: float | None
    latency_p90: float | None
    latency_p99: float | None
    latency_max: float | None
    distinct_pids: int
    distinct_workers: int
    max_concurrent: int
    mean_queue_wait: float | None
    handler_mean: float | None
    handler_sum: float | None
    served: int
    latency_p999: float | None = None
    by_status: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(records: Iterable[RequestRecord]) -> Summary:
    """Summarise records of one run (any order)."""
    rows = list(records)
    latencies = sorted(r.latency for r in rows)
    errors = Counter(r.error_class or "other" for r in rows if not r.ok)
    served = [
        (r.handler_start, r.handler_duration)
        for r in rows
        if r.handler_start is not None and r.handler_duration is not None
    ]
    waits = [r.handler_start - r.start for r in rows if r.handler_start is not None]
    durations = [d for _, d in served]
    pids = {r.served_pid for r in rows if r.served_pid is not None}
    workers = {
        (r.served_pid, r.served_thread)
        for r in rows
        if r.served_pid is not None and r.served_thread is not None
    }
    return Summary(
        requests=len(rows),
        ok=sum(1 for r in rows if r.ok),
        errors_by_class=dict(sorted(errors.items())),
        makespan=max(r.end for r in rows) - min(r.start for r in rows) if rows else None,
        latency_min=latencies[0] if latencies else None,
        latency_mean=_mean(latencies),
        latency_p50=percentile(latencies, 50),
        latency_p90=percentile(latencies, 90),
        latency_p99=percentile(latencies, 99),
        latency_max=latencies[-1] if latencies else None,
        distinct_pids=len(pids),
        distinct_workers=len(workers),
        max_concurrent=max_concurrent((s, s + d) for s, d in served),
        mean_queue_wait=_mean(waits),
        handler_mean=_mean(durations),
        handler_sum=math.fsum(durations) if durations else None,
        served=len(served),
        latency_p999=percentile(latencies, 99.9),
        by_status=count_statuses(r.status for r in rows),
    )


def count_statuses(statuses: Iterable[int | None]) -> dict[str, int]:
    """Responses by HTTP status, in status order; requests without one are not counted."""
    counts = Counter(s for s in statuses if s is not None)
    return {str(status): counts[status] for status in sorted(counts)}


def distribution(values: array[float] | Sequence[float]) -> dict[str, float | None]:
    """min, mean, the ``PERCENTILES`` and max of ``values``, exact; all None when empty."""
    names = ["min", "mean", *(name for name, _ in PERCENTILES), "max"]
    if len(values) == 0:
        return dict.fromkeys(names)
    # Imported here, after the run: numpy's import starts OpenBLAS's thread pool, whose
    # threads took 2-3% of the client's CPU during a closed loop when imported up front.
    import numpy as np

    data = np.sort(np.asarray(values, dtype=np.float64))
    ranks = np.percentile(data, [q for _, q in PERCENTILES])
    return {
        "min": float(data[0]),
        "mean": float(data.mean()),
        **{name: float(value) for (name, _), value in zip(PERCENTILES, ranks, strict=True)},
        "max": float(data[-1]),
    }


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) of ``values``, interpolated; None when empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, not {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def max_concurrent(intervals: Iterable[tuple[float, float]]) -> int:
    """The most intervals open at one instant (sweep line).

    An interval ending exactly when another starts does not overlap it: at equal times
    ends are counted before starts.
    """
    events: list[tuple[float, int]] = []
    for start, end in intervals:
        events.append((start, 1))
        events.append((end, -1))
    events.sort()  # (t, -1) sorts before (t, 1): ends first
    running = best = 0
    for _, delta in events:
        running += delta
        best = max(best, running)
    return best


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None
