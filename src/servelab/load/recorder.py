"""Where the closed and open loops put each finished request, and what they say at the end.

Memory stays flat however long a run lasts. A record (about 1 KB as a Python object with its
body text) is written to ``records.jsonl`` and dropped; what stays is what the summary needs:
counters, the per-second ``TimeSeries``, and an ``array('d')`` of every latency, plus one of
every service time in an open loop (in a closed loop they are the same). Exact percentiles
need every value, so that part grows: 8 bytes per request in a closed loop, 16 in an open
one (160 MB for ten million requests), against ~1 KB per request for kept records.
Re-reading the file for percentiles would make memory constant, but it needs ``--out`` and
a second pass over a file that can be gigabytes; a histogram would make memory constant and
the percentiles approximate, which is what this engine exists not to do.

Records are written through a 64 KiB buffer flushed at least every ``FLUSH_EVERY`` seconds,
not one ``write``+``flush`` per request: at thousands of requests a second the syscalls
would cost the client CPU the server needs. A crash loses at most that last fraction of a
second of records.
"""

from __future__ import annotations

import json
import resource
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from servelab.load.engine import _http_error, classify_status, describe_exception, served_by
from servelab.load.http11 import Response, classify
from servelab.load.records import BODY_LIMIT, UNSENT, RequestRecord
from servelab.load.stats import distribution
from servelab.load.timeseries import SecondRow, TimeSeries

FLUSH_EVERY: Final = 0.2
LATE_AFTER: Final = 0.005
_NS: Final = 1e-9
_WRITE_BUFFER: Final = 64 * 1024


@dataclass(frozen=True)
class LoadSummary:
    """A closed- or open-loop run in numbers; ``to_dict`` is what ``servelab load --json`` prints.

    requests: every request the run planned and ended, ``sent`` + ``unsent``.
    ok, errors, error_rate: 2xx responses read whole; the rest; errors / requests.
    errors_by_class, by_status: failures by ``error_class``; responses by HTTP status.
    elapsed: seconds from the run's start to the last request's end.
    throughput: requests that were sent and ended (any outcome) per second of ``elapsed``;
      ok_throughput counts 2xx only. send_rate: requests sent per second while sending.
    latency: min, mean, p50, p90, p99, p99.9, max over every request (failed and unsent ones
      too), from the intended send time; service_time: the same from the actual send.
    late_sends: requests sent more than ``late_threshold`` s after their intended time;
      send_delay_mean / send_delay_max: how late sends were, over all sent requests.
    held_back: requests that waited because ``max_in_flight`` requests were in flight.
    unsent: requests still held back when the drain time ran out (in ``errors``).
    max_in_flight_seen: the most requests in flight at once, as the client counted.
    connections_opened: TCP connections the client opened (keep-alive reuses them).
    client_cpu_seconds: CPU time of this process (all its threads) while the run lasted.
    series: one row per second (``timeseries``); not part of ``to_dict``.
    """

    mode: str
    url: str
    method: str
    parameters: dict[str, Any]
    requests: int
    sent: int
    ok: int
    errors: int
    error_rate: float | None
    errors_by_class: dict[str, int]
    by_status: dict[str, int]
    elapsed: float
    throughput: float | None
    ok_throughput: float | None
    send_rate: float | None
    latency: dict[str, float | None]
    service_time: dict[str, float | None]
    late_sends: int
    late_threshold: float
    send_delay_mean: float | None
    send_delay_max: float | None
    held_back: int
    unsent: int
    max_in_flight_seen: int
    connections_opened: int
    client_cpu_seconds: float
    series: tuple[SecondRow, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, without the series."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "series"}


class _RecordWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = path.open("a", encoding="utf-8", buffering=_WRITE_BUFFER)
        self._flushed = time.monotonic()

    def write(self, row: dict[str, Any]) -> None:
        self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        now = time.monotonic()
        if now - self._flushed >= FLUSH_EVERY:
            self._handle.flush()
            self._flushed = now

    def close(self) -> None:
        self._handle.close()


class Recorder:
    """Takes each finished request once; keeps counters and latencies, streams records.

    Times come in as ``time.perf_counter_ns()`` values; ``start_ns`` is the run's start.
    ``scheduled=False`` (a closed loop, where a request's intended start is its start)
    keeps one array of latencies instead of two.
    """

    def __init__(
        self,
        *,
        records_path: Path | None = None,
        on_record: Callable[[RequestRecord], None] | None = None,
        late_after: float = LATE_AFTER,
        scheduled: bool = True,
    ) -> None:
        self._writer = _RecordWriter(records_path) if records_path is not None else None
        self._on_record = on_record
        self._keeps_records = self._writer is not None or on_record is not None
        self._late_ns = int(late_after * 1e9)
        self.late_after = late_after
        self.latencies: array[float] = array("d")
        # Without a schedule (a closed loop) every latency is its service time: one array.
        self.service_times: array[float] | None = array("d") if scheduled else None
        self.series = TimeSeries()
        self.ok = 0
        self.sent = 0
        self.unsent = 0
        self.late = 0
        self.held_back = 0
        self._statuses: dict[int, int] = {}
        self._errors: dict[str, int] = {}
        self._delay_sum_ns = 0
        self._delay_max_ns = 0
        self._first_send_ns: int | None = None
        self._last_send_ns = 0
        self._last_end_ns = 0
        self.start_ns = time.perf_counter_ns()
        self._wall0 = time.time()
        self._cpu0 = _cpu_seconds()

    def restart_clock(self) -> None:
        """Make now the run's start (after setup such as resolving the host)."""
        self.start_ns = time.perf_counter_ns()
        self._wall0 = time.time()
        self._cpu0 = _cpu_seconds()

    def _epoch(self, ns: int) -> float:
        return self._wall0 + (ns - self.start_ns) * _NS

    def add(
        self,
        index: int,
        area: float,
        intended_ns: int,
        start_ns: int,
        end_ns: int,
        response: Response | None,
        exc: BaseException | None,
    ) -> None:
        """One request that was sent and ended: with ``response``, or failed with ``exc``."""
        # Called once per request at thousands a second: plain comparisons, no helpers.
        latency = (end_ns - intended_ns) * _NS
        self.latencies.append(latency)
        if self.service_times is not None:
            self.service_times.append((end_ns - start_ns) * _NS)
        self.sent += 1
        if start_ns != intended_ns:
            delay = start_ns - intended_ns
            self._delay_sum_ns += delay
            if delay > self._delay_max_ns:
                self._delay_max_ns = delay
            if delay > self._late_ns:
                self.late += 1
        if self._first_send_ns is None:
            self._first_send_ns = start_ns
        if start_ns > self._last_send_ns:
            self._last_send_ns = start_ns
        if end_ns > self._last_end_ns:
            self._last_end_ns = end_ns
        error_class: str | None
        status: int | None
        if response is not None:
            code = status = response.status
            statuses = self._statuses
            statuses[code] = statuses.get(code, 0) + 1
            ok = 200 <= code < 300
        else:
            status, ok = None, False
        if ok:
            self.ok += 1
            error_class = None
        else:
            if status is not None:
                error_class = classify_status(status)
            else:
                error_class = classify(exc) if exc is not None else "other"
            self._errors[error_class] = self._errors.get(error_class, 0) + 1
        start = self.start_ns
        self.series.add((start_ns - start) * _NS, (end_ns - start) * _NS, ok, latency)
        if not self._keeps_records:
            return
        text = response.body.decode("utf-8", "replace")[:BODY_LIMIT] if response else None
        if exc is not None:
            error: str | None = describe_exception(exc)
        elif not ok and status is not None:
            error = _http_error(status, text or "")
        else:
            error = None
        if response is not None:
            headers = response.headers
            pid, thread, handler_start, handler_duration = served_by(
                lambda name: headers.get(name.lower())
            )
        else:
            pid = thread = None
            handler_start = handler_duration = None
        self._emit(
            {
                "index": index,
                "area": area,
                "intended_start": self._epoch(intended_ns),
                "start": self._epoch(start_ns),
                "end": self._epoch(end_ns),
                "latency": latency,
                "status": status,
                "ok": ok,
                "error_class": error_class,
                "error": error,
                "body": text,
                "served_pid": pid,
                "served_thread": thread,
                "handler_start": handler_start,
                "handler_duration": handler_duration,
                "service_time": (end_ns - start_ns) * _NS,
            }
        )

    def add_unsent(self, index: int, area: float, intended_ns: int, now_ns: int, why: str) -> None:
        """A request given up on before it could be sent, at ``now_ns``."""
        latency = (now_ns - intended_ns) * _NS
        self.latencies.append(latency)
        self.unsent += 1
        self._errors[UNSENT] = self._errors.get(UNSENT, 0) + 1
        self._last_end_ns = max(self._last_end_ns, now_ns)
        if self._writer is None and self._on_record is None:
            return
        epoch = self._epoch(now_ns)
        self._emit(
            {
                "index": index,
                "area": area,
                "intended_start": self._epoch(intended_ns),
                "start": epoch,
                "end": epoch,
                "latency": latency,
                "status": None,
                "ok": False,
                "error_class": UNSENT,
                "error": why,
                "body": None,
            }
        )

    def _emit(self, row: dict[str, Any]) -> None:
        if self._writer is not None:
            self._writer.write(row)
        if self._on_record is not None:
            self._on_record(RequestRecord(**row))

    def close(self) -> None:
        """Flush and close the records file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def summary(
        self,
        *,
        mode: str,
        url: str,
        method: str,
        parameters: dict[str, Any],
        max_in_flight_seen: int,
        connections_opened: int,
    ) -> LoadSummary:
        """The run in numbers, from what was counted and kept."""
        requests = self.sent + self.unsent
        errors = requests - self.ok
        elapsed = max(0.0, (self._last_end_ns - self.start_ns) * _NS)
        completed = self.sent
        sending = (self._last_send_ns - (self._first_send_ns or 0)) * _NS
        return LoadSummary(
            mode=mode,
            url=url,
            method=method,
            parameters=parameters,
            requests=requests,
            sent=self.sent,
            ok=self.ok,
            errors=errors,
            error_rate=errors / requests if requests else None,
            errors_by_class=dict(sorted(self._errors.items())),
            by_status={str(s): self._statuses[s] for s in sorted(self._statuses)},
            elapsed=elapsed,
            throughput=completed / elapsed if elapsed > 0 else None,
            ok_throughput=self.ok / elapsed if elapsed > 0 else None,
            send_rate=(self.sent - 1) / sending if self.sent > 1 and sending > 0 else None,
            latency=distribution(self.latencies),
            service_time=distribution(
                self.latencies if self.service_times is None else self.service_times
            ),
            late_sends=self.late,
            late_threshold=self.late_after,
            send_delay_mean=self._delay_sum_ns * _NS / self.sent if self.sent else None,
            send_delay_max=self._delay_max_ns * _NS if self.sent else None,
            held_back=self.held_back,
            unsent=self.unsent,
            max_in_flight_seen=max_in_flight_seen,
            connections_opened=connections_opened,
            client_cpu_seconds=round(_cpu_seconds() - self._cpu0, 4),
            series=tuple(self.series.rows()),
        )


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
