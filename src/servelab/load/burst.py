"""The burst: N requests all due at the same instant, at most C in flight, one connection each.

The seed's test (``test/test_parallel.py``: 10 POSTs from a process pool of 10) as a
schedule of the same engine the loops run on (``driver``, ``reactor``, ``http11``,
``recorder``): every request is due at the run's start; the first ``concurrency`` leave at
once and each one that ends lets the next one leave, until none is left. Each request opens
its own connection and sends ``Connection: close`` (keep-alive off), so requests share
nothing, like the seed's ``requests.post`` calls.

A request that fails becomes a record with an ``error_class``; the burst itself raises only
when it cannot run at all (a malformed URL, method or header: ``LoadError``) or when
``on_record`` raises. Every request ends within ``timeout`` of leaving, whatever the server
does (slow to connect, a head that never ends, a body that drips), and only the first
bytes of a body are kept, so a huge response costs no memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final

from servelab.errors import LoadError
from servelab.load.driver import Driver
from servelab.load.http11.connection import Connection, Response
from servelab.load.limits import (
    BYTES_PER_RECORD,
    BYTES_PER_REQUEST,
    check_seconds,
    ensure_descriptors,
    ensure_memory,
)
from servelab.load.recorder import Recorder
from servelab.load.records import RequestRecord
from servelab.load.request import (
    BURST_RESERVED_HEADERS,
    RESERVED_HEADERS,
    RequestSpec,
    Target,
    check_headers,
    check_method,
    default_area,
    seed_body,
)

# How often a set ``cancel`` is looked for: it is set from another thread.
_CANCEL_CHECK: Final = 0.02


class BurstRecords(list[RequestRecord]):
    """A burst's records, in the order its requests ended, and what the burst cost the
    client: ``client_cpu_seconds``, this process's CPU while it ran (``Recorder.cpu_seconds``,
    every thread's, as a loop's summary counts it). A list, so a caller that wants only the
    records has them; one that summarizes passes the CPU on:
    ``summarize(records, client_cpu_seconds=records.client_cpu_seconds)``."""

    def __init__(
        self, records: Iterable[RequestRecord] = (), client_cpu_seconds: float = 0.0
    ) -> None:
        super().__init__(records)
        self.client_cpu_seconds = client_cpu_seconds


def run_burst(
    url: str,
    *,
    requests: int = 10,
    concurrency: int = 10,
    areas: Sequence[float] | None = None,
    timeout: float = 60.0,
    records_path: Path | None = None,
    on_record: Callable[[RequestRecord], None] | None = None,
    cancel: threading.Event | None = None,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    body: bytes | None = None,
    bodies: Sequence[bytes | None] | None = None,
) -> BurstRecords:
    """POST ``{"area": a}`` to ``url`` ``requests`` times, ``concurrency`` at a time.

    Request ``i`` sends ``areas[i % len(areas)]`` (default 10, 20, ... 100). ``timeout``
    bounds each request as a whole (connect, send, wait, read). Records are appended to
    ``records_path`` and passed to ``on_record`` as requests complete; the list comes back
    in that same order. Setting ``cancel`` (from any thread) sends no further request;
    those in flight finish (or fail) and the burst returns the records it has, fewer than
    ``requests``. ``headers`` are added to every request (e.g. ``{"Authorization": "Bearer
    <token>"}``); they never reach the records. ``method`` and ``body`` send something
    else: ``body`` as it is to every request, and no body at all for a method other than
    POST without one (e.g. GET). ``bodies`` (a ``RequestTemplate``'s) instead: request ``i``
    sends ``bodies[i % len(bodies)]``, its record's area 0. With a body of its own, a request
    may set its ``Content-Type``; the seed's bodies are JSON, said by the engine. The records
    come back as ``BurstRecords``, with the client's CPU over the burst.
    """
    Target.parse(url)
    check_method(method)
    own_body = body is not None or bodies is not None
    extra_headers = check_headers(headers, RESERVED_HEADERS if own_body else BURST_RESERVED_HEADERS)
    if requests < 0:
        raise LoadError(f"requests must be >= 0, not {requests}")
    if concurrency < 1:
        raise LoadError(f"concurrency must be >= 1, not {concurrency}")
    check_seconds("timeout", timeout)
    if areas is not None and len(areas) == 0:
        raise LoadError("areas must not be empty")
    if bodies is not None and len(bodies) == 0:
        raise LoadError("bodies must not be empty")
    # One payload per area, sent in turn: never one per request, which for a burst of 10^8
    # requests took all memory before the first was sent.
    cycle = list(areas) if areas is not None else [default_area(i) for i in range(10)]
    if bodies is not None:
        payloads: list[tuple[float, bytes | None]] = [(0.0, data) for data in bodies]
    elif body is not None or method != "POST":
        payloads = [(area, body) for area in cycle]
    else:
        try:
            payloads = [(area, seed_body(area)) for area in cycle]
        except (TypeError, ValueError) as exc:
            raise LoadError(f"areas must be numbers: {exc}") from None
    if requests == 0:
        return BurstRecords()
    ensure_memory(
        requests,
        BYTES_PER_REQUEST + BYTES_PER_RECORD,
        "a burst keeps every request's record",
        "--requests",
    )
    ensure_descriptors(min(concurrency, requests), "--concurrency")

    recorder = Recorder(records_path=records_path, on_record=on_record, scheduled=False, burst=True)
    try:
        driver = Driver(
            url=url,
            request=RequestSpec(method=method, headers=extra_headers),
            timeout=timeout,
            keep_alive=False,
            recorder=recorder,
            payloads=payloads,
        )
        driver.run(_BurstRun(driver, requests, concurrency, cancel).start)
    finally:
        recorder.close()
    assert recorder.records is not None, "a burst's recorder keeps its records"
    return BurstRecords(recorder.records, round(recorder.cpu_seconds, 4))


class _BurstRun:
    """Sends the next request whenever one ends, until none is left or ``cancel`` is set."""

    def __init__(
        self, driver: Driver, requests: int, concurrency: int, cancel: threading.Event | None
    ) -> None:
        self.driver = driver
        self.requests = requests
        self.concurrency = concurrency
        self.cancel = cancel
        self.next_index = 0
        self.t0 = 0

    def start(self) -> None:
        """Send the first ``concurrency`` requests, all due now."""
        recorder = self.driver.recorder
        recorder.restart_clock()
        self.t0 = recorder.start_ns
        if self.cancel is not None:
            self.driver.reactor.call_later(_CANCEL_CHECK, self._watch_cancel)
        for _ in range(min(self.concurrency, self.requests)):
            self.next()

    def stopped(self) -> bool:
        cancel = self.cancel
        return self.driver.failure is not None or (cancel is not None and cancel.is_set())

    def next(self) -> None:
        """Send the next request, or end the run once nothing is left in flight."""
        driver = self.driver
        index = self.next_index
        if index >= self.requests or self.stopped():
            if driver.in_flight == 0:
                driver.wake()
            return
        self.next_index = index + 1
        payloads = driver.payloads
        area, data = payloads[index % len(payloads)]
        request = _Request(self, index, area, time.perf_counter_ns())
        driver.started()
        driver.send(None, data, request.done)

    def _watch_cancel(self) -> None:
        if self.stopped():
            if self.driver.in_flight == 0:
                self.driver.wake()
            return
        self.driver.reactor.call_later(_CANCEL_CHECK, self._watch_cancel)


class _Request:
    """One request of the burst, from its send to its record."""

    __slots__ = ("area", "index", "run", "start")

    def __init__(self, run: _BurstRun, index: int, area: float, start: int) -> None:
        self.run = run
        self.index = index
        self.area = area
        self.start = start

    def done(
        self,
        response: Response | None,
        exc: BaseException | None,
        conn: Connection | None,
        end: int,
    ) -> None:
        run = self.run
        driver = run.driver
        driver.in_flight -= 1
        if driver.failure is not None:
            return  # on_record raised for a request that ended in the same batch: stopping
        try:
            driver.recorder.add(self.index, self.area, run.t0, self.start, end, response, exc)
        except BaseException as error:
            driver.fail(error)
            return
        run.next()
