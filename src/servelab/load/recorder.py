"""Where every mode puts each finished request, and the ``LoadSummary`` it makes at the end.

One record path for the burst, the closed and the open loop: each request that ends is
handed to a ``Recorder`` with the response or the exception it ended with, becomes one
``RequestRecord`` (``outcome`` names its error and who served it) and one entry in the
arrays the summary is computed from.

Memory stays flat however long a run lasts. A record (about 1 KB as a Python object with its
body text) is written to ``records.jsonl`` and dropped; what stays is what the summary needs,
in compact arrays: every request's latency, end time and status, plus its service time in
an open loop (in a closed loop it is the latency). Exact percentiles need every value, so
that part grows: 18 bytes per request in a closed loop, 26 in an open one (260 MB for ten
million requests), against ~1 KB per request for kept records.
Re-reading the file for percentiles would make memory constant, but it needs ``--out`` and
a second pass over a file that can be gigabytes; a histogram would make memory constant and
the percentiles approximate, which is what this engine exists not to do.

Records are written through a 64 KiB buffer flushed at least every ``FLUSH_EVERY`` seconds,
not one ``write``+``flush`` per request: at thousands of requests a second the syscalls
would cost the client CPU the server needs. A crash loses at most that last fraction of a
second of records. A burst (``burst=True``, tens of requests) flushes each record as it
comes, keeps them all for its caller, and measures latency from each request's own start,
as the seed's script did.
"""

from __future__ import annotations

import json
import resource
import time
from array import array
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Final

from servelab.load.http11.connection import Response
from servelab.load.outcome import (
    classify,
    classify_status,
    describe_exception,
    http_error,
    served_by,
)
from servelab.load.records import BODY_LIMIT, UNSENT, RequestRecord
from servelab.load.summary import Distribution, LoadSummary, Mode, Parameters
from servelab.load.timeseries import TimeSeries

FLUSH_EVERY: Final = 0.2
LATE_AFTER: Final = 0.005
_NS: Final = 1e-9
_WRITE_BUFFER: Final = 64 * 1024


class _RecordWriter:
    def __init__(self, path: Path, flush_every: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = path.open("a", encoding="utf-8", buffering=_WRITE_BUFFER)
        self._flushed = time.monotonic()
        self._flush_every = flush_every

    def write(self, row: dict[str, Any]) -> None:
        self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        now = time.monotonic()
        if now - self._flushed >= self._flush_every:
            self._handle.flush()
            self._flushed = now

    def close(self) -> None:
        self._handle.close()


class Recorder:
    """Takes each finished request once; keeps its numbers in compact arrays, streams records.

    Times come in as ``time.perf_counter_ns()`` values; ``start_ns`` is the run's start.
    ``scheduled=False`` (a closed loop, where a request's intended start is its start)
    keeps no service times: they equal the latencies. ``burst=True``: latency from each
    request's start, records without a ``service_time`` column, flushed one by one and
    kept in ``records``.

    ``add`` runs once per request at thousands a second, on the client's share of the CPU,
    so it only appends to arrays: the counts by status and error class, the time series
    and the send rate are computed from them once, by ``summary``.
    """

    def __init__(
        self,
        *,
        records_path: Path | None = None,
        on_record: Callable[[RequestRecord], None] | None = None,
        on_row: Callable[[dict[str, Any]], None] | None = None,
        late_after: float = LATE_AFTER,
        scheduled: bool = True,
        burst: bool = False,
    ) -> None:
        self._writer = (
            _RecordWriter(records_path, 0.0 if burst else FLUSH_EVERY)
            if records_path is not None
            else None
        )
        self._on_record = on_record
        self._on_row = on_row
        self._burst = burst
        self.records: list[RequestRecord] | None = [] if burst else None
        self._keeps_records = (
            burst or self._writer is not None or on_record is not None or on_row is not None
        )
        self._late_ns = int(late_after * 1e9)
        self.late_after = late_after
        # One entry per request sent, in the order they ended:
        self.latencies: array[float] = array("d")  # from the intended send time, s
        self.ends: array[float] = array("d")  # end, s after the start
        self.statuses: array[int] = array("H")  # HTTP status, 0 when none came
        self.service_times: array[float] | None = array("d") if scheduled else None
        self.unsent_latencies: array[float] = array("d")
        self.held_back = 0
        self.late = 0
        self._failures: dict[str, int] = {}  # requests that got no response, by class
        self._delay_sum_ns = 0
        self._delay_max_ns = 0
        self._last_unsent_ns = 0
        self.start_ns = time.perf_counter_ns()
        self._wall0 = time.time()
        self._cpu0 = _cpu_seconds()
        self._cpu_used: float | None = None

    def restart_clock(self, wall: float | None = None, at_ns: int | None = None) -> None:
        """Make now the run's start (after setup such as resolving the host).

        ``wall``: the start in epoch seconds instead, with ``at_ns`` its ``perf_counter_ns``:
        a run whose processes start together at an agreed instant (Locust's workers), or
        rows recorded elsewhere (``add_row``) on the epoch clock.
        """
        self.start_ns = time.perf_counter_ns() if at_ns is None else at_ns
        self._wall0 = time.time() if wall is None else wall
        self._cpu0 = _cpu_seconds()

    @property
    def arrays_only(self) -> bool:
        """``add`` of a request that got a response only appends to the arrays (latency, end,
        status, service time) and counts its send delay: a loop's recorder that keeps no
        records. The C loops do that themselves (``speedups``), then ``add_send_delays``."""
        return not self._keeps_records and not self._burst

    def add_send_delays(self, total_ns: int, max_ns: int, late: int) -> None:
        """The send delays of requests another loop put in the arrays (the C loop's): their
        sum and maximum in ns, and how many were late (over ``late_after``)."""
        self._delay_sum_ns += total_ns
        self._delay_max_ns = max(self._delay_max_ns, max_ns)
        self.late += late

    @property
    def sent(self) -> int:
        return len(self.statuses)

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
        """One request that was sent and ended: with ``response``, or failed with ``exc``
        (``response`` is then its head, if that had come, or None)."""
        latency = (end_ns - (start_ns if self._burst else intended_ns)) * _NS
        self.latencies.append(latency)
        self.ends.append((end_ns - self.start_ns) * _NS)
        if self.service_times is not None:
            self.service_times.append((end_ns - start_ns) * _NS)
            if start_ns != intended_ns:
                delay = start_ns - intended_ns
                self._delay_sum_ns += delay
                if delay > self._delay_max_ns:
                    self._delay_max_ns = delay
                if delay > self._late_ns:
                    self.late += 1
        if exc is None and response is not None:
            self.statuses.append(response.status)
        else:
            self.statuses.append(0)
            failure = classify(exc) if exc is not None else "other"
            self._failures[failure] = self._failures.get(failure, 0) + 1
        if self._keeps_records:
            self._record(index, area, intended_ns, start_ns, end_ns, latency, response, exc)

    def _record(
        self,
        index: int,
        area: float,
        intended_ns: int,
        start_ns: int,
        end_ns: int,
        latency: float,
        response: Response | None,
        exc: BaseException | None,
    ) -> None:
        status = response.status if response is not None else None
        ok = exc is None and status is not None and 200 <= status < 300
        if exc is not None or status is None:
            error_class: str | None = classify(exc) if exc is not None else "other"
        else:
            error_class = None if ok else classify_status(status)
        text = None  # no body for a request that failed, even after its head
        if exc is None and response is not None:
            text = response.body.decode("utf-8", "replace")[:BODY_LIMIT]
        if exc is not None:
            error: str | None = describe_exception(exc)
        elif not ok and status is not None:
            error = http_error(status, text or "")
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
        row = {
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
        }
        if not self._burst:  # a burst's latency is its service time: no column for it
            row["service_time"] = (end_ns - start_ns) * _NS
        self._emit(row)

    def add_unsent(self, index: int, area: float, intended_ns: int, now_ns: int, why: str) -> None:
        """A request given up on before it could be sent, at ``now_ns``."""
        latency = (now_ns - intended_ns) * _NS
        self.unsent_latencies.append(latency)
        self._last_unsent_ns = max(self._last_unsent_ns, now_ns)
        if not self._keeps_records:
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

    def add_row(self, row: Mapping[str, Any]) -> None:
        """A request another process recorded (a Locust worker), as its ``records.jsonl`` row.

        Kept in the arrays as ``add`` would have kept it, with times from the row's epoch
        seconds (``restart_clock(wall=...)`` set the run's start on the same clock); the row
        itself is not written again. A row's ``status`` counts as a response unless the
        request failed after its head came: then ``add`` had counted no status and the
        error's class, and such a row has no ``body`` (every read response has one, maybe
        empty).
        """
        latency = float(row["latency"])
        end = float(row["end"]) - self._wall0
        if row["error_class"] == UNSENT:
            self.unsent_latencies.append(latency)
            self._last_unsent_ns = max(self._last_unsent_ns, self.start_ns + int(end * 1e9))
            return
        self.latencies.append(latency)
        self.ends.append(end)
        if self.service_times is not None:
            self.service_times.append(float(row["service_time"]))
            delay = float(row["start"]) - float(row["intended_start"])
            if delay > 0:
                delay_ns = int(delay * 1e9)
                self._delay_sum_ns += delay_ns
                self._delay_max_ns = max(self._delay_max_ns, delay_ns)
                if delay_ns > self._late_ns:
                    self.late += 1
        status = row["status"]
        if status is not None and row["body"] is not None:
            self.statuses.append(int(status))
        else:
            self.statuses.append(0)
            failure = str(row["error_class"] or "other")
            self._failures[failure] = self._failures.get(failure, 0) + 1

    def _emit(self, row: dict[str, Any]) -> None:
        if self._writer is not None:
            self._writer.write(row)
        if self._on_row is not None:
            self._on_row(row)
        if self.records is None and self._on_record is None:
            return
        record = RequestRecord(**row)
        if self.records is not None:
            self.records.append(record)
        if self._on_record is not None:
            self._on_record(record)

    @property
    def cpu_seconds(self) -> float:
        """This process's CPU over the run: from its start to ``close``, or to now."""
        return self._cpu_used if self._cpu_used is not None else _cpu_seconds() - self._cpu0

    def close(self) -> None:
        """The run is over: flush and close the records file, and note the CPU it took."""
        if self._cpu_used is None:
            self._cpu_used = _cpu_seconds() - self._cpu0
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def summary(
        self,
        *,
        mode: Mode,
        url: str,
        method: str,
        parameters: Parameters,
        max_in_flight_seen: int,
        connections_opened: int,
        client_cpu_seconds: float | None = None,
        loop: str | None = None,
    ) -> LoadSummary:
        """The run in numbers, from what was kept. ``client_cpu_seconds``: the client's CPU
        when other processes sent the requests (else this process's, during the run);
        ``loop``: which loop sent them (``LoadSummary.loop``)."""
        import numpy as np  # after the run: see ``Distribution.of``

        statuses = np.frombuffer(self.statuses, dtype=np.uint16) if self.statuses else None
        ends = np.frombuffer(self.ends) if self.ends else np.zeros(0)
        latencies = np.frombuffer(self.latencies) if self.latencies else np.zeros(0)
        service = latencies
        if self.service_times is not None and self.service_times:
            service = np.frombuffer(self.service_times)
        sent = len(self.statuses)
        unsent = len(self.unsent_latencies)
        by_status: dict[str, int] = {}
        errors_by_class = dict(self._failures)
        ok = 0
        if statuses is not None:
            codes, counts = np.unique(statuses, return_counts=True)
            for code, count in zip(codes.tolist(), counts.tolist(), strict=True):
                if code == 0:
                    continue
                by_status[str(code)] = count
                if 200 <= code < 300:
                    ok += count
                else:
                    error_class = classify_status(code)
                    errors_by_class[error_class] = errors_by_class.get(error_class, 0) + count
        if unsent:
            errors_by_class[UNSENT] = unsent
        requests = sent + unsent
        errors = requests - ok
        last_end = float(ends.max()) if sent else 0.0
        if unsent:
            last_end = max(last_end, (self._last_unsent_ns - self.start_ns) * _NS)
        elapsed = max(0.0, last_end)
        starts = ends - service
        sending = float(starts.max() - starts.min()) if sent else 0.0
        makespan = float(ends.max() - starts.min()) if sent else None
        if client_cpu_seconds is not None:
            self._cpu_used = client_cpu_seconds
        elif self._cpu_used is None:
            self._cpu_used = _cpu_seconds() - self._cpu0
        ok_mask = (statuses >= 200) & (statuses < 300) if statuses is not None else np.zeros(0)
        series = TimeSeries.from_arrays(starts, ends, ok_mask, latencies)
        every_latency = self.latencies + self.unsent_latencies if unsent else self.latencies
        return LoadSummary(
            mode=mode,
            url=url,
            method=method,
            parameters=parameters,
            requests=requests,
            sent=sent,
            ok=ok,
            errors=errors,
            error_rate=errors / requests if requests else None,
            errors_by_class=dict(sorted(errors_by_class.items())),
            by_status=by_status,
            elapsed=elapsed,
            makespan=makespan,
            throughput=sent / elapsed if elapsed > 0 else None,
            ok_throughput=ok / elapsed if elapsed > 0 else None,
            send_rate=(sent - 1) / sending if sent > 1 and sending > 0 else None,
            latency=Distribution.of(every_latency),
            service_time=Distribution.of(
                self.latencies if self.service_times is None else self.service_times
            ),
            late_sends=self.late,
            late_threshold=self.late_after,
            send_delay_mean=self._delay_sum_ns * _NS / sent if sent else None,
            send_delay_max=self._delay_max_ns * _NS if sent else None,
            held_back=self.held_back,
            unsent=unsent,
            max_in_flight_seen=max_in_flight_seen,
            connections_opened=connections_opened,
            client_cpu_seconds=round(self._cpu_used, 4),
            loop=loop,
            series=tuple(series.rows()),
        )


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
