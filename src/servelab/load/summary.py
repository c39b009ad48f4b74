"""A load run in numbers: one summary type for the burst, the closed and the open loop.

Every mode ends in a ``LoadSummary``, so ``--json``, ``--slo``, ``summary.json``, a study's
``study.json`` and the report read one shape, whatever drove the requests. Times are in
seconds; a value that could not be measured is None, never 0.

    requests: every request the run planned and ended, ``sent`` + ``unsent``.
    ok, errors, error_rate: 2xx responses read whole; the rest; errors / requests.
    errors_by_class, by_status: failures by ``error_class``; responses by HTTP status
      (a string: JSON keys are strings), in status order.
    elapsed: from the run's start to the last request's end.
    makespan: from the first request sent to the last one ended (the seed's figure).
    throughput: requests sent and ended (any outcome) per second of ``elapsed``;
      ok_throughput counts 2xx only; send_rate: requests sent per second while sending.
    latency: over every request (failed and unsent ones too), from the intended send
      time; service_time: the same from the actual send.
    late_sends: requests sent more than ``late_threshold`` after their intended time;
      send_delay_mean / send_delay_max: how late sends were, over all sent requests.
    held_back: requests that waited because ``max_in_flight`` requests were in flight.
    unsent: requests still held back when the drain time ran out (counted in ``errors``).
    max_in_flight_seen: the most requests in flight at once, as the client counted.
    connections_opened: TCP connections the client opened (keep-alive reuses them).
    client_cpu_seconds: CPU time of the load engine's process while the run lasted.
    loop: which implementation of the own engine's loops sent the requests: ``"C"``
      (``speedups``) or ``"Python"``; None for Locust's workers and older files.
    workers: a distributed run's workers (``WorkerShare``), each with the requests it sent
      and whether it was lost mid-run; empty (and left out of the JSON) for the own engine.
    handlers: what the servers said about their own handlers (``HandlerStats``), from
      the records' timing headers; None when the run kept no records to read them from,
      and its counts None (unknown) when no record carried the headers.
    series: one row per second (``timeseries``); written to ``timeseries.jsonl``, not
      part of ``to_json``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Final, Literal

from servelab.load.records import UNSENT, RequestRecord
from servelab.load.timeseries import SecondRow, TimeSeries

Mode = Literal["burst", "closed", "open"]
MODES: Final = ("burst", "closed", "open")
# Percentile names as SLOs and JSON spell them, with the q each one is.
PERCENTILES: Final = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))
# A run's parameters as given (a JSON object of scalars: counts, seconds, flags, a rate).
Parameters = dict[str, int | float | str | bool | None]


@dataclass(frozen=True)
class Distribution:
    """min, mean, the ``PERCENTILES`` and max of a set of durations; all None when empty.

    Exact: every value counts (linear interpolation between the two nearest ranks, numpy's
    default), never rounded buckets.
    """

    min: float | None = None
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    p999: float | None = None
    max: float | None = None

    # JSON and SLOs name the 99.9th percentile "p99.9", which is no Python name.
    _KEYS: ClassVar[tuple[str, ...]] = ("min", "mean", "p50", "p90", "p99", "p99.9", "max")

    @classmethod
    def of(cls, values: Sequence[float] | Any) -> Distribution:
        """The distribution of ``values`` (a sequence, an ``array('d')`` or a numpy array)."""
        if len(values) == 0:
            return cls()
        # Imported here, after a run: numpy's import starts OpenBLAS's thread pool, whose
        # threads took 2-3% of the client's CPU during a closed loop when imported up front.
        import numpy as np

        data = np.sort(np.asarray(values, dtype=np.float64))
        p50, p90, p99, p999 = (float(v) for v in np.percentile(data, [q for _, q in PERCENTILES]))
        return cls(float(data[0]), float(data.mean()), p50, p90, p99, p999, float(data[-1]))

    def get(self, name: str) -> float | None:
        """The value by its JSON name (``"p99.9"`` included); a KeyError for any other name."""
        if name not in self._KEYS:
            raise KeyError(name)
        value: float | None = getattr(self, "p999" if name == "p99.9" else name)
        return value

    def to_json(self) -> dict[str, float | None]:
        return {key: self.get(key) for key in self._KEYS}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Distribution:
        return cls(*(_number(data.get(key)) for key in cls._KEYS))


@dataclass(frozen=True)
class HandlerStats:
    """What the servers' own timing headers say about a run (``X-Servelab-*``, Server-Timing).

    served: records that carry the timing headers (the base of everything below).
    distinct_pids, distinct_workers: server processes, and (pid, thread) pairs, that ran
      a handler.
    max_concurrent: the most handlers running at one instant, from the servers' own
      [handler_start, handler_start + handler_duration] intervals.
    mean_queue_wait: mean of handler_start - start: how long requests sat in the server
      (and on the way there) before a handler took them.
    handler_mean, handler_sum: handler durations as the servers timed them.

    When records exist but none carries a served-by header (a server the lab did not wrap,
    or every request failed before a response), the counts are unknown: None, never 0, which would
    claim that no handler ran. Summaries written before this stored 0 and still load.
    """

    served: int | None
    distinct_pids: int | None
    distinct_workers: int | None
    max_concurrent: int | None
    mean_queue_wait: float | None
    handler_mean: float | None
    handler_sum: float | None

    @property
    def known(self) -> bool:
        """Whether the server said who served: some record carried the served-by headers."""
        return self.served is not None

    @classmethod
    def of(cls, records: Iterable[RequestRecord]) -> HandlerStats:
        rows = list(records)
        if rows and not any(_says_who_served(r) for r in rows):
            return cls(None, None, None, None, None, None, None)
        timed = [
            (r.handler_start, r.handler_duration)
            for r in rows
            if r.handler_start is not None and r.handler_duration is not None
        ]
        waits = [r.handler_start - r.start for r in rows if r.handler_start is not None]
        durations = [d for _, d in timed]
        return cls(
            served=len(timed),
            distinct_pids=len({r.served_pid for r in rows if r.served_pid is not None}),
            distinct_workers=len(
                {
                    (r.served_pid, r.served_thread)
                    for r in rows
                    if r.served_pid is not None and r.served_thread is not None
                }
            ),
            max_concurrent=max_concurrent((s, s + d) for s, d in timed),
            mean_queue_wait=_mean(waits),
            handler_mean=_mean(durations),
            handler_sum=math.fsum(durations) if durations else None,
        )

    def to_json(self) -> dict[str, int | float | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HandlerStats:
        return cls(
            served=_whole(data.get("served")),
            distinct_pids=_whole(data.get("distinct_pids")),
            distinct_workers=_whole(data.get("distinct_workers")),
            max_concurrent=_whole(data.get("max_concurrent")),
            mean_queue_wait=_number(data.get("mean_queue_wait")),
            handler_mean=_number(data.get("handler_mean")),
            handler_sum=_number(data.get("handler_sum")),
        )


@dataclass(frozen=True)
class WorkerShare:
    """One load worker's part of a distributed run (``--engine locust``).

    index: the worker's number (Locust's worker index); node: Locust's name for it.
    requests: the records it shipped to the master; lost: it went missing mid-run (killed,
      cut off): the summary holds what it had shipped, and its share after that was not sent.
    client_cpu_seconds: its process's CPU during the run, when it said (not when lost).
    error: why it could not run its share (the target's name unknown there, a plan from
      another servelab version), or None.
    """

    index: int
    node: str
    requests: int
    lost: bool
    client_cpu_seconds: float | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkerShare:
        return cls(
            index=int(data["index"]),
            node=str(data["node"]),
            requests=int(data["requests"]),
            lost=bool(data["lost"]),
            client_cpu_seconds=_number(data.get("client_cpu_seconds")),
            error=None if data.get("error") is None else str(data["error"]),
        )


def _says_who_served(record: RequestRecord) -> bool:
    return (
        record.served_pid is not None
        or record.handler_start is not None
        or record.handler_duration is not None
    )


@dataclass(frozen=True)
class LoadSummary:
    """A load run in numbers, the same for every mode; see the module docstring."""

    mode: Mode
    url: str
    method: str
    parameters: Parameters
    requests: int
    sent: int
    ok: int
    errors: int
    error_rate: float | None
    errors_by_class: dict[str, int]
    by_status: dict[str, int]
    elapsed: float
    makespan: float | None
    throughput: float | None
    ok_throughput: float | None
    send_rate: float | None
    latency: Distribution
    service_time: Distribution
    late_sends: int = 0
    late_threshold: float = 0.0
    send_delay_mean: float | None = None
    send_delay_max: float | None = None
    held_back: int = 0
    unsent: int = 0
    max_in_flight_seen: int = 0
    connections_opened: int = 0
    client_cpu_seconds: float | None = None
    loop: str | None = None
    handlers: HandlerStats | None = None
    workers: tuple[WorkerShare, ...] = ()
    series: tuple[SecondRow, ...] = field(default=(), repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types (what ``servelab load --json`` prints), without the series."""
        data: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "series":
                continue
            value = getattr(self, f.name)
            if isinstance(value, Distribution | HandlerStats):
                value = value.to_json()
            elif f.name == "workers":
                if not value:
                    continue  # the own engine: one process, no workers to list
                value = [worker.to_json() for worker in value]
            elif f.name == "loop" and value is None:
                continue  # Locust's workers, and files from before the C loop: not said
            elif isinstance(value, dict):
                value = dict(value)
            data[f.name] = value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoadSummary:
        """Inverse of ``to_json``; a KeyError or ValueError names what a damaged file lacks."""
        mode = data["mode"]
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        handlers = data.get("handlers")
        return cls(
            mode=mode,
            url=str(data["url"]),
            method=str(data["method"]),
            parameters=dict(data.get("parameters") or {}),
            requests=int(data["requests"]),
            sent=int(data["sent"]),
            ok=int(data["ok"]),
            errors=int(data["errors"]),
            error_rate=_number(data.get("error_rate")),
            errors_by_class={str(k): int(v) for k, v in (data["errors_by_class"] or {}).items()},
            by_status={str(k): int(v) for k, v in (data["by_status"] or {}).items()},
            elapsed=float(data["elapsed"]),
            makespan=_number(data.get("makespan")),
            throughput=_number(data.get("throughput")),
            ok_throughput=_number(data.get("ok_throughput")),
            send_rate=_number(data.get("send_rate")),
            latency=Distribution.from_json(data["latency"]),
            service_time=Distribution.from_json(data["service_time"]),
            late_sends=int(data.get("late_sends") or 0),
            late_threshold=float(data.get("late_threshold") or 0.0),
            send_delay_mean=_number(data.get("send_delay_mean")),
            send_delay_max=_number(data.get("send_delay_max")),
            held_back=int(data.get("held_back") or 0),
            unsent=int(data.get("unsent") or 0),
            max_in_flight_seen=int(data.get("max_in_flight_seen") or 0),
            connections_opened=int(data.get("connections_opened") or 0),
            client_cpu_seconds=_number(data.get("client_cpu_seconds")),
            loop=None if data.get("loop") is None else str(data["loop"]),
            handlers=HandlerStats.from_json(handlers) if handlers is not None else None,
            workers=tuple(WorkerShare.from_json(w) for w in data.get("workers") or ()),
        )


def summarize(
    records: Iterable[RequestRecord],
    *,
    mode: Mode = "burst",
    url: str = "",
    method: str = "POST",
    parameters: Parameters | None = None,
    client_cpu_seconds: float | None = None,
    connections_opened: int | None = None,
    late_threshold: float = 0.0,
) -> LoadSummary:
    """The summary of records (any order): a burst's, or any run's read back from a file.

    The records hold everything but the client's own counters, which the caller passes.
    """
    rows = list(records)
    sent_rows = [r for r in rows if r.error_class != UNSENT]
    unsent = len(rows) - len(sent_rows)
    ok = sum(1 for r in rows if r.ok)
    start = min((r.intended_start for r in rows), default=0.0)
    first_send = min((r.start for r in sent_rows), default=None)
    last_end = max((r.end for r in rows), default=None)
    elapsed = max(0.0, last_end - start) if last_end is not None else 0.0
    service = [r.service_time if r.service_time is not None else r.latency for r in sent_rows]
    delays = [r.start - r.intended_start for r in sent_rows]
    sends = sorted(r.start for r in sent_rows)
    sending = sends[-1] - sends[0] if sends else 0.0
    errors = len(rows) - ok
    series = TimeSeries.from_records(rows, start).rows() if rows else []
    return LoadSummary(
        mode=mode,
        url=url,
        method=method,
        parameters=dict(parameters or {}),
        requests=len(rows),
        sent=len(sent_rows),
        ok=ok,
        errors=errors,
        error_rate=errors / len(rows) if rows else None,
        errors_by_class=dict(
            sorted(Counter(r.error_class or "other" for r in rows if not r.ok).items())
        ),
        by_status=count_statuses(r.status for r in rows),
        elapsed=elapsed,
        makespan=last_end - first_send if first_send is not None and last_end is not None else None,
        throughput=len(sent_rows) / elapsed if elapsed > 0 else None,
        ok_throughput=ok / elapsed if elapsed > 0 else None,
        send_rate=(len(sends) - 1) / sending if len(sends) > 1 and sending > 0 else None,
        latency=Distribution.of([r.latency for r in rows]),
        service_time=Distribution.of(service),
        late_sends=sum(1 for d in delays if d > late_threshold) if late_threshold > 0 else 0,
        late_threshold=late_threshold,
        send_delay_mean=_mean(delays),
        send_delay_max=max(delays, default=None),
        unsent=unsent,
        max_in_flight_seen=max_concurrent((r.start, r.end) for r in sent_rows),
        connections_opened=len(sent_rows) if connections_opened is None else connections_opened,
        client_cpu_seconds=client_cpu_seconds,
        handlers=HandlerStats.of(rows),
        series=tuple(series),
    )


def count_statuses(statuses: Iterable[int | None]) -> dict[str, int]:
    """Responses by HTTP status, in status order; requests without one are not counted."""
    counts = Counter(s for s in statuses if s is not None)
    return {str(status): counts[status] for status in sorted(counts)}


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


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _whole(value: Any) -> int | None:
    return None if value is None else int(value)
