"""The closed and open loops, their HTTP client, statistics and SLOs, over real sockets.

Real servers (gunicorn with the service's ``io`` workload) check counts, records and a
stall; small servers written here (an asyncio one in a thread, and scripted raw sockets)
check what a real server cannot be made to do on cue: hold every response for a while,
count its connections, answer chunked or not at all. Timings are asserted with generous
slack only: shapes (a stall shows or hides), never exact times.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil
import pytest

from servelab._io import read_jsonl
from servelab.errors import ConfigError, LoadError
from servelab.load import (
    ERROR_CLASSES,
    LoadSummary,
    Rate,
    RequestRecord,
    RequestSpec,
    Slo,
    TimeSeries,
    check_slos,
    describe,
    run_closed,
    run_open,
    summarize,
)
from servelab.load.summary import Distribution
from servelab.servers import ServerSpec, launch
from servelab.service.config import ServiceConfig
from tests.helpers import (
    REPO,
    process_group,
    read_request,
    replying,
    scripted_server,
    servelab_cli,
    stalled_server,
    wait_for,
)

GET = RequestSpec(method="GET")
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
OK_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


# --- servers ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _service(run_dir: Path, spec: str, io_delay: float) -> Iterator[str]:
    env = ServiceConfig(workload="io", io_delay=io_delay).to_env()
    with launch(ServerSpec.parse(spec), run_dir=run_dir, env=env) as server:
        yield f"{server.url}/predict?workload=io"


@pytest.fixture(scope="module")
def gunicorn_2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Two sync workers, 20 ms per request: closes every connection after its response."""
    with _service(tmp_path_factory.mktemp("servers"), "gunicorn:w2", 0.02) as url:
        yield url


@pytest.fixture(scope="module")
def gunicorn_slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One sync worker, 200 ms per request: at most 5 requests a second."""
    with _service(tmp_path_factory.mktemp("servers"), "gunicorn:w1", 0.2) as url:
        yield url


class AsyncServer:
    """An HTTP/1.1 keep-alive server on its own event loop in a thread, with counters.

    Every response is ``ok`` after ``delay`` seconds; a request that arrives while the
    server is stalled (``stall(seconds)``) is answered only when the stall ends. A request
    with ``Connection: close`` is answered and its connection closed.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.accepted = 0
        self.requests = 0
        self.active = 0
        self.max_active = 0
        self.stalled_until = 0.0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.port = 0

    def __enter__(self) -> AsyncServer:
        self._thread.start()
        assert self._ready.wait(5.0)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/x"

    def stall(self, seconds: float) -> None:
        self.stalled_until = time.monotonic() + seconds

    def _serve(self) -> None:
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=512)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).lower()
                match = re.search(rb"content-length:\s*(\d+)", head)
                if match:
                    await reader.readexactly(int(match.group(1)))
                self.requests += 1
                self.active += 1
                self.max_active = max(self.max_active, self.active)
                wait = max(self.delay, self.stalled_until - time.monotonic())
                if wait > 0:
                    await asyncio.sleep(wait)
                self.active -= 1
                closing = b"connection: close" in head
                writer.write(OK_CLOSE if closing else OK)
                if closing:
                    await writer.drain()
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


# --- the loops against real servers ----------------------------------------------------------


@pytest.mark.usefixtures("engine")
def test_closed_loop_against_gunicorn_counts_every_request(gunicorn_2: str, tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    seen: list[RequestRecord] = []
    s = run_closed(gunicorn_2, concurrency=4, requests=40, records_path=path, on_record=seen.append)

    assert (s.mode, s.requests, s.sent, s.ok, s.errors) == ("closed", 40, 40, 40, 0)
    assert s.by_status == {"200": 40} and s.errors_by_class == {}
    assert s.max_in_flight_seen == 4
    # gunicorn's sync workers close every connection: one per request, none reused.
    assert s.connections_opened == 40
    records = [RequestRecord.from_dict(row) for row in read_jsonl(path)]
    assert records == seen
    assert sorted(r.index for r in records) == list(range(40))
    for r in records:
        assert r.body is not None and json.loads(r.body) == {"price": r.area * 200_000}
        assert r.service_time == pytest.approx(r.latency) and r.intended_start == r.start
        assert r.handler_duration is not None and r.handler_duration >= 0.015
    assert len({r.served_pid for r in records}) == 2
    assert s.latency.p50 is not None and s.latency.p50 >= 0.015
    assert s.elapsed >= 40 / 4 * 0.02 * 0.8


@pytest.mark.slow
@pytest.mark.usefixtures("engine")
def test_open_loop_stalled_server_shows_in_latency_not_service_time(gunicorn_slow: str) -> None:
    # 20 requests/s at a server that takes 5: with 2 in flight at most, the rest wait. The
    # wait is the stall, and it must show in latency (from the intended send time).
    s = run_open(gunicorn_slow, rate=20, duration=1.0, max_in_flight=2)

    assert (s.requests, s.ok) == (20, 20)
    assert s.held_back >= 10 and s.late_sends >= 10
    assert s.send_delay_max is not None and s.send_delay_max > 1.0
    service, latency = s.service_time, s.latency
    assert service.p50 is not None and service.p50 < 0.8
    assert latency.p99 is not None and latency.p99 > 5 * service.p50
    assert latency.max is not None and latency.max >= 2.0


@pytest.mark.usefixtures("engine")
def test_open_loop_against_gunicorn_keeps_its_schedule(gunicorn_2: str, tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    s = run_open(gunicorn_2, rate=40, duration=1.5, records_path=path)

    assert (s.requests, s.ok) == (60, 60)
    assert s.held_back == 0 and s.unsent == 0
    records = sorted((RequestRecord.from_dict(row) for row in read_jsonl(path)), key=_index)
    gaps = np.diff([r.intended_start for r in records])
    assert gaps == pytest.approx(np.full(59, 1 / 40), abs=1e-6)  # the schedule itself
    for r in records:
        assert r.start >= r.intended_start - 1e-6
        assert r.service_time is not None and r.latency >= r.service_time - 1e-9


def _index(record: RequestRecord) -> int:
    return record.index


# --- the loops' behaviour, on servers written here -------------------------------------------


@pytest.mark.usefixtures("engine")
def test_closed_loop_keeps_exactly_c_in_flight() -> None:
    with AsyncServer(delay=0.03) as server:
        s = run_closed(server.url, concurrency=5, duration=1.0, request=GET)

    assert server.max_active == 5 and s.max_in_flight_seen == 5
    assert server.accepted == 5 and s.connections_opened == 5
    assert s.requests == server.requests
    # Five users at 30 ms each: about 166 requests a second, never more.
    assert s.throughput is not None and 80 < s.throughput <= 5 / 0.03 * 1.05


@pytest.mark.usefixtures("engine")
def test_closed_loop_think_time_spaces_each_users_requests() -> None:
    with AsyncServer() as server:
        s = run_closed(server.url, concurrency=2, duration=0.6, think_time=0.1, request=GET)

    # Each user: a fast request, then 100 ms of thought: about 6 in 0.6 s, 12 for two users.
    assert 8 <= s.requests <= 14


@pytest.mark.parametrize("keep_alive", [True, False])
@pytest.mark.usefixtures("engine")
def test_keep_alive_reuses_connections(keep_alive: bool) -> None:
    with AsyncServer() as server:
        s = run_closed(server.url, concurrency=3, requests=300, request=GET, keep_alive=keep_alive)

    assert s.ok == 300
    expected = 3 if keep_alive else 300
    assert server.accepted == expected and s.connections_opened == expected


@pytest.mark.usefixtures("engine")
def test_open_loop_reuses_idle_connections() -> None:
    with AsyncServer() as server:
        s = run_open(server.url, rate=200, duration=1.0, request=GET)

    assert s.ok == 200 and server.accepted == s.connections_opened
    assert server.accepted <= 10  # a fast server: one or a few connections carry them all


@pytest.mark.slow
@pytest.mark.usefixtures("engine")
def test_open_loop_rate_is_kept() -> None:
    with AsyncServer() as server:
        s = run_open(server.url, rate=300, duration=2.5, request=GET)

    assert (s.requests, s.ok) == (750, 750)
    assert s.send_rate == pytest.approx(300, rel=0.10)
    assert s.throughput == pytest.approx(300, rel=0.10)
    full_seconds = [row["sent"] for row in s.series[:2]]
    assert full_seconds == pytest.approx([300, 300], rel=0.10)
    assert s.late_sends <= 0.05 * s.requests


@pytest.mark.usefixtures("engine")
def test_open_loop_ramp_rises_linearly() -> None:
    with AsyncServer() as server:
        s = run_open(server.url, rate="50:250", duration=2.0, request=GET)

    assert s.requests == 300 and s.parameters["rate"] == "50:250"
    first, second = (row["sent"] for row in s.series[:2])
    assert first == pytest.approx(100, rel=0.15)  # the mean rate of 50..150
    assert second == pytest.approx(200, rel=0.15)  # of 150..250


@pytest.mark.slow
@pytest.mark.usefixtures("engine")
def test_a_stall_hides_in_a_closed_loop_and_shows_in_an_open_one() -> None:
    """Coordinated omission: during a 0.5 s stall a closed loop's users wait instead of
    sending, so only their few requests are slow; an open loop's schedule keeps going."""
    with AsyncServer() as server:
        stall = threading.Timer(0.5, server.stall, args=(0.5,))
        stall.start()
        closed = run_closed(server.url, concurrency=2, duration=1.5, request=GET)
        stall.join()
    with AsyncServer() as server:
        stall = threading.Timer(0.5, server.stall, args=(0.5,))
        stall.start()
        opened = run_open(server.url, rate=100, duration=1.5, max_in_flight=2, request=GET)
        stall.join()

    assert closed.latency.max is not None and closed.latency.max > 0.3
    assert closed.latency.p90 is not None and closed.latency.p90 < 0.05
    assert opened.late_sends >= 30
    assert opened.latency.p90 is not None and opened.latency.p90 > 0.1
    assert opened.service_time.p90 is not None and opened.service_time.p90 < 0.05


@pytest.mark.usefixtures("engine")
def test_requests_still_held_back_when_the_drain_ends_are_unsent(tmp_path: Path) -> None:
    def hold(conn: socket.socket) -> None:
        read_request(conn)
        time.sleep(1.0)

    path = tmp_path / "records.jsonl"
    began = time.monotonic()
    with scripted_server(hold, connections=2) as url:
        s = run_open(
            url, rate=20, duration=0.5, max_in_flight=1, timeout=0.4, drain=0.2, records_path=path
        )

    assert time.monotonic() - began < 3.0
    assert s.requests == 10 and s.ok == 0
    assert s.errors_by_class == {"timeout": 2, "unsent": 8}
    assert s.unsent == 8 and s.errors == 10 and s.error_rate == 1.0
    unsent = [
        r for r in map(RequestRecord.from_dict, read_jsonl(path)) if r.error_class == "unsent"
    ]
    assert sorted(r.index for r in unsent) == list(range(2, 10))
    assert all(
        r.status is None and r.latency > 0 and "in flight" in (r.error or "") for r in unsent
    )
    assert "unsent" in ERROR_CLASSES


@pytest.mark.usefixtures("engine")
def test_a_dead_target_is_refused_in_both_loops() -> None:
    url = f"http://127.0.0.1:{_free_port()}/x"
    closed = run_closed(url, concurrency=2, requests=5, request=GET)
    opened = run_open(url, rate=50, duration=0.2, request=GET)

    assert closed.errors_by_class == {"refused": 5} and closed.ok == 0
    assert opened.errors_by_class == {"refused": 10} and opened.ok == 0
    assert closed.by_status == {} and opened.latency.max is not None


@pytest.mark.usefixtures("engine")
def test_a_silent_server_times_out() -> None:
    def hold(conn: socket.socket) -> None:
        read_request(conn)
        time.sleep(0.5)

    with scripted_server(hold, connections=2) as url:
        s = run_closed(url, concurrency=2, requests=2, timeout=0.3, request=GET)

    assert s.errors_by_class == {"timeout": 2}
    assert s.latency.min is not None and s.latency.min >= 0.25
    assert s.latency.max is not None and s.latency.max < 1.0


@pytest.mark.usefixtures("engine")
def test_an_error_in_on_record_stops_the_run_and_propagates() -> None:
    def explode(record: RequestRecord) -> None:
        raise RuntimeError("callback bug")

    with AsyncServer() as server:
        began = time.monotonic()
        with pytest.raises(RuntimeError, match="callback bug"):
            run_closed(server.url, concurrency=3, duration=5.0, on_record=explode)
        with pytest.raises(RuntimeError, match="callback bug"):
            run_open(server.url, rate=100, duration=5.0, on_record=explode)
        assert time.monotonic() - began < 3.0


@pytest.mark.usefixtures("engine")
def test_memory_stays_flat_over_many_requests(tmp_path: Path) -> None:
    """Records go to disk; only 18 bytes per request (latency, end, status) stay in memory."""
    process = psutil.Process()
    with AsyncServer() as server:
        run_closed(server.url, concurrency=20, requests=3_000, request=GET)  # warm up
        gc.collect()
        before = process.memory_info().rss
        path = tmp_path / "records.jsonl"
        began = time.monotonic()
        s = run_closed(server.url, concurrency=20, requests=30_000, request=GET, records_path=path)
        elapsed = time.monotonic() - began
        grown = process.memory_info().rss - before

    assert s.ok == 30_000 and elapsed < 25
    assert path.read_bytes().count(b"\n") == 30_000
    # Kept records would take ~1 KB each (30 MB); the recorder's arrays take 0.54 MB.
    assert grown < 4 * 2**20 + 18 * 30_000, f"RSS grew {grown / 2**20:.1f} MiB"


# --- the HTTP client's framing, on scripted servers -------------------------------------------


@pytest.mark.usefixtures("engine")
def test_chunked_and_close_delimited_bodies_are_read_whole(tmp_path: Path) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
    path = tmp_path / "records.jsonl"
    with scripted_server(replying(chunked, interim, OK)) as url:
        s = run_closed(url, concurrency=1, requests=3, request=GET, records_path=path)

    assert s.ok == 3 and s.connections_opened == 1  # all three on one kept-alive connection
    bodies = [row["body"] for row in read_jsonl(path)]
    assert bodies == ["hello world", "", "ok"]

    def http10(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")

    with scripted_server(http10) as url:
        s = run_closed(url, concurrency=1, requests=1, request=GET, records_path=path)
    assert s.ok == 1 and read_jsonl(path)[-1]["body"] == "until the end"


@pytest.mark.usefixtures("engine")
def test_responses_cut_anywhere_across_reads_are_read_whole(tmp_path: Path) -> None:
    # Each piece is sent on its own after a pause, so the client reads it on its own:
    # cuts inside the status line, a header, the blank line, a chunk line, a chunk's CRLF,
    # the trailer and a Content-Length body.
    pieces = [
        b"HTTP/1.1 2",
        b"00 OK\r\nTransfer-Enc",
        b"oding: chunked\r\n\r",
        b"\n5;ext",
        b"=1\r\nhel",
        b"lo\r",
        b"\n6\r\n world\r\n0\r\nX-Trailer: 1\r",
        b"\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234",
        b"56789",
    ]

    def in_pieces(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        read_request(conn)
        for piece in pieces[:8]:
            conn.sendall(piece)
            time.sleep(0.01)
        read_request(conn)
        for piece in pieces[8:]:
            conn.sendall(piece)
            time.sleep(0.01)

    path = tmp_path / "records.jsonl"
    with scripted_server(in_pieces) as url:
        s = run_closed(url, concurrency=1, requests=2, request=GET, records_path=path)

    assert s.ok == 2 and s.connections_opened == 1
    assert [row["body"] for row in read_jsonl(path)] == ["hello world", "0123456789"]


@pytest.mark.usefixtures("engine")
def test_a_kept_alive_connection_the_server_closed_is_retried_once() -> None:
    def one_then_close(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(OK)  # says keep-alive, then closes: the next request must go anew

    with scripted_server(one_then_close, connections=3) as url:
        s = run_closed(url, concurrency=1, requests=3, request=GET)

    assert s.ok == 3 and s.connections_opened == 3


@pytest.mark.usefixtures("engine")
def test_http_errors_and_garbage_are_classified(tmp_path: Path) -> None:
    not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"
    failing = b'HTTP/1.1 500 Oops\r\nContent-Length: 17\r\n\r\n{"error": "boom"}'
    path = tmp_path / "records.jsonl"
    with scripted_server(replying(not_found, failing)) as url:
        s = run_closed(url, concurrency=1, requests=2, request=GET, records_path=path)
    assert s.errors_by_class == {"http-4xx": 1, "http-5xx": 1}
    assert s.by_status == {"404": 1, "500": 1}
    errors = [row["error"] for row in read_jsonl(path)]
    assert errors == ["HTTP 404 Not Found: not found", "boom"]

    def garbage(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")

    def cut(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")

    with scripted_server(garbage) as url:
        assert run_closed(url, requests=1, request=GET).errors_by_class == {"other": 1}
    with scripted_server(cut) as url:
        assert run_closed(url, requests=1, request=GET).errors_by_class == {"disconnected": 1}


@pytest.mark.usefixtures("engine")
def test_requests_carry_method_headers_and_body() -> None:
    seen: list[bytes] = []

    def capture(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data or not data.endswith(b"}"):
            data += conn.recv(4096)
        seen.append(data)
        conn.sendall(OK)

    spec = RequestSpec(method="PUT", headers={"X-Test": "yes"}, body=b'{"a": 1}')
    with scripted_server(capture) as url:
        assert run_closed(url, requests=1, request=spec).ok == 1
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"PUT /x HTTP/1.1"
    assert b"X-Test: yes" in lines and b"Content-Type: application/json" in lines
    assert b"Content-Length: 8" in lines and body == b'{"a": 1}'


@pytest.mark.usefixtures("engine")
def test_a_body_larger_than_the_socket_buffer_is_sent_whole_on_each_request() -> None:
    body = bytes(range(256)) * (8 * 4096)  # 8 MiB: several times the loopback send buffer
    received: list[bytes] = []

    def read_body(conn: socket.socket) -> None:
        for _ in range(2):  # two requests on the kept-alive connection
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            _, _, got = data.partition(b"\r\n\r\n")
            while len(got) < len(body):
                chunk = conn.recv(1 << 20)
                if not chunk:
                    break
                got += chunk
            received.append(got)
            conn.sendall(OK)

    spec = RequestSpec(method="POST", body=body)
    with scripted_server(read_body) as url:
        s = run_closed(url, concurrency=1, requests=2, request=spec)

    assert s.ok == 2 and s.connections_opened == 1
    assert [len(got) for got in received] == [len(body)] * 2 and received[1] == body


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"requests": None, "duration": None}, "must end"),
        ({"concurrency": 0}, "concurrency"),
        ({"timeout": 0.0}, "timeout"),
        ({"duration": -1.0}, "duration"),
        ({"request": RequestSpec(headers={"Host": "x"})}, "Host"),
        ({"request": RequestSpec(method="GE T")}, "method"),
    ],
)
def test_bad_loop_settings_are_load_errors(kwargs: dict[str, object], message: str) -> None:
    settings: dict[str, object] = {"requests": 1, **kwargs}
    with pytest.raises(LoadError, match=message):
        run_closed("http://127.0.0.1:1/x", **settings)  # type: ignore[arg-type]


# --- schedules, statistics and SLOs without a server -----------------------------------------


def test_rate_schedules() -> None:
    constant = Rate.parse("100")
    assert constant.count(2.0) == 200
    assert list(constant.offsets_ns(2.0, 3)) == [0, 10_000_000, 20_000_000]
    ramp = Rate.parse("0:100")
    assert ramp.count(2.0) == 100
    offsets = np.array(list(ramp.offsets_ns(2.0, 100))) / 1e9
    # Rate t*50/s: request i at sqrt(i/25) s; arrivals thicken as the rate rises.
    assert offsets == pytest.approx(np.sqrt(np.arange(100) / 25), abs=2e-9)
    for bad in ("0", "fast", "-5:10", "1:2:3", "nan"):
        with pytest.raises(LoadError):
            Rate.parse(bad)


def test_distribution_is_exact() -> None:
    from array import array

    values = array("d", np.random.default_rng(3).exponential(size=10_001))
    d = Distribution.of(values)
    for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9)):
        assert d.get(name) == pytest.approx(float(np.percentile(values, q)))
    assert (d.min, d.max) == (min(values), max(values))
    assert Distribution.of([]).p99 is None


def test_burst_summary_has_p999_and_statuses() -> None:
    rows = [
        RequestRecord(i, 10.0, 0.0, 0.0, 1.0, float(i), 200 if i % 3 else 503, i % 3 != 0,
                      None if i % 3 else "http-5xx", None, None)
        for i in range(1, 1001)
    ]  # fmt: skip
    s = summarize(rows)
    assert s.latency.p999 == pytest.approx(float(np.percentile(range(1, 1001), 99.9)))
    assert s.by_status == {"200": 667, "503": 333}


def test_old_records_still_load() -> None:
    old = {
        "index": 0, "area": 10, "intended_start": 1.0, "start": 1.0, "end": 1.5,
        "latency": 0.5, "status": 200, "ok": True, "error_class": None, "error": None,
        "body": "{}",
    }  # fmt: skip
    record = RequestRecord.from_dict(old)
    assert record.service_time is None and record.served_pid is None
    assert "service_time" not in record.to_dict()
    new = RequestRecord.from_dict({**old, "service_time": 0.25})
    assert new.to_dict()["service_time"] == 0.25
    assert RequestRecord.from_dict(new.to_dict()) == new


def test_time_series_from_records_matches_the_live_one() -> None:
    records = [
        RequestRecord(i, 0, 100.0 + i * 0.25, 100.0 + i * 0.25, 100.25 + i * 0.25, 0.25,
                      200, i != 2, None if i != 2 else "http-5xx", None, None)
        for i in range(8)
    ]  # fmt: skip
    rows = TimeSeries.from_records(records, start=100.0).rows()
    assert [r["sent"] for r in rows] == [4, 4, 0]
    assert [r["completed"] for r in rows] == [3, 4, 1]
    assert [r["errors"] for r in rows] == [1, 0, 0]
    assert rows[0]["latency_mean"] == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold"),
    [
        ("p99<500ms", "p99", "<", 0.5),
        ("p99.9 <= 2s", "p99.9", "<=", 2.0),
        ("mean>=0.5ms", "mean", ">=", 0.0005),
        ("max<1.5s", "max", "<", 1.5),
        ("errors<1%", "errors", "<", 0.01),
        ("rps>100", "rps", ">", 100.0),
    ],
)
def test_slo_parsing(text: str, metric: str, op: str, threshold: float) -> None:
    slo = Slo.parse(text)
    assert (slo.metric, slo.op) == (metric, op)
    assert slo.threshold == pytest.approx(threshold)


@pytest.mark.parametrize(
    "text",
    ["p95<1ms", "p99<500", "errors<1", "rps>100ms", "p99=5ms", "latency<5ms", "", "p99<ms"],
)
def test_bad_slos_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        Slo.parse(text)


def test_slos_hold_or_fail_against_a_summary() -> None:
    summary = dataclasses.replace(
        summarize([], mode="closed"),
        latency=Distribution(p99=0.4),
        error_rate=0.02,
        throughput=150.0,
    )
    results = check_slos(
        [Slo.parse(t) for t in ("p99<500ms", "errors<1%", "rps>=150", "max<1s")], summary
    )
    assert [r.held for r in results] == [True, False, True, False]
    assert results[0].line() == "held: p99<500ms (measured 400.000 ms)"
    assert results[3].line() == "FAILED: max<1s (measured nothing measured)"


# --- the command line -----------------------------------------------------------------------------


@pytest.mark.usefixtures("engine")
def test_cli_closed_loop_json_out_and_slos(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with AsyncServer() as server:
        held = servelab_cli(
            "load", server.url, "--mode", "closed", "--method", "GET", "--requests", "200",
            "--concurrency", "4", "--json", "--out", str(out),
            "--slo", "p99<5s", "--slo", "errors<1%", "--slo", "rps>1",
        )  # fmt: skip
        failed = servelab_cli(
            "load", server.url, "--mode", "open", "--rate", "50", "--duration", "0.5",
            "--method", "GET", "--slo", "rps>1000000", "--slo", "p99<10s",
        )  # fmt: skip

    assert held.returncode == 0, held.stderr
    (line,) = held.stdout.splitlines()  # one JSON object, nothing else
    summary = json.loads(line)
    assert (summary["mode"], summary["requests"], summary["ok"]) == ("closed", 200, 200)
    assert summary["parameters"]["concurrency"] == 4
    assert set(summary["latency"]) == {"min", "mean", "p50", "p90", "p99", "p99.9", "max"}
    assert [s["held"] for s in summary["slo"]] == [True, True, True]
    assert json.loads((out / "summary.json").read_text()) == summary
    assert len(read_jsonl(out / "records.jsonl")) == 200
    series = read_jsonl(out / "timeseries.jsonl")
    assert sum(row["completed"] for row in series) == 200

    assert failed.returncode == 3, failed.stderr
    assert "FAILED: rps>1000000" in failed.stdout and "held: p99<10s" in failed.stdout
    assert "1 of 2 SLOs failed: rps>1000000" in failed.stderr
    assert "open loop at 50 requests/s" in failed.stdout


def test_cli_dead_target_is_one_line_and_fails_fast() -> None:
    url = f"http://127.0.0.1:{_free_port()}/x"
    for mode in ("closed", "open", "burst"):
        began = time.monotonic()
        extra = ("--rate", "100") if mode == "open" else ()
        result = servelab_cli("load", url, "--mode", mode, *extra, timeout=30)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and f"nothing is listening at {url}" in lines[0]
        assert time.monotonic() - began < 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--mode", "closed", "--rate", "5"), "--rate is for --mode open"),
        (("--mode", "open"), "needs --rate"),
        (("--mode", "open", "--rate", "x"), "rate"),
        (("--mode", "burst", "--duration", "5"), "--duration is for --mode closed or open"),
        (("--slo", "p95<1ms"), "unknown SLO metric"),
        (("--header", "no colon"), "Name: value"),
    ],
)
def test_cli_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    result = servelab_cli("load", "http://127.0.0.1:1/x", *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_cli_help_states_the_defaults() -> None:
    text = " ".join(servelab_cli("load", "--help").stdout.split())
    for needle in (
        "--mode [burst|closed|open]",
        "--max-in-flight INTEGER",
        "[default: 1000]",
        "--keep-alive / --no-keep-alive",
        "[default: 60 for burst, 10 for closed/open,",
        "Exit status: 0",
    ):
        assert needle in text, needle


def test_load_summary_json_is_plain() -> None:
    with AsyncServer() as server:
        s = run_closed(server.url, requests=10, request=GET)
    assert isinstance(s, LoadSummary)
    data = s.to_json()
    assert "series" not in data and json.loads(json.dumps(data)) == data
    assert LoadSummary.from_json(data) == s


@pytest.mark.usefixtures("engine")
def test_a_stalled_server_gets_each_scheduled_request_counted_once(tmp_path: Path) -> None:
    """Issue 12 #6: 50 scheduled requests are 50 records, sent or unsent, never more, and
    the run ends at duration + timeout however many requests the stall held back."""
    path = tmp_path / "records.jsonl"
    with stalled_server() as url:
        s = run_open(
            url, rate=50, duration=1.0, max_in_flight=5, timeout=1.0, request=GET, records_path=path
        )

    assert s.requests == 50 and s.sent + s.unsent == 50
    # Every request after the first five waited for a slot: sent late or never.
    assert s.held_back == 45
    assert s.errors_by_class == {"timeout": s.sent, "unsent": s.unsent}
    indexes = sorted(RequestRecord.from_dict(row).index for row in read_jsonl(path))
    assert indexes == list(range(50))
    assert s.elapsed <= 1.0 + 1.0 + 0.4


@pytest.mark.usefixtures("engine")
def test_think_time_longer_than_the_duration_ends_the_run_at_the_duration() -> None:
    """Issue 12 #7: a user whose think would end after ``duration`` stops instead of
    keeping the run alive for its whole think time."""
    with AsyncServer() as server:
        began = time.monotonic()
        s = run_closed(server.url, concurrency=2, duration=0.5, think_time=20.0, request=GET)
        took = time.monotonic() - began

    assert s.requests == 2 and s.ok == 2
    assert took < 10.0


_EAT_DESCRIPTORS = """
import json, os, resource, sys
from servelab.load import RequestSpec, describe, run_closed
resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))
hoard = []
def eat(record):  # after every record: a finished request's socket frees a descriptor
    while True:
        try:
            hoard.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            return
s = run_closed(sys.argv[1], concurrency=2, requests=20, keep_alive=False,
               request=RequestSpec(method="GET"), on_record=eat)
print(json.dumps(s.errors_by_class))
for line in describe(s):
    print(line)
"""


@pytest.mark.usefixtures("engine")
def test_the_clients_own_emfile_is_a_client_error_not_the_servers() -> None:
    """Issue 12 #7: once the client has no descriptor left (something else took them after
    the up-front check), its failed connects are ``client`` errors, never ``other``."""
    with AsyncServer() as server:
        result = subprocess.run(
            [sys.executable, "-c", _EAT_DESCRIPTORS, server.url],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    first, *text = result.stdout.splitlines()
    errors = json.loads(first)
    assert set(errors) == {"client"} and errors["client"] >= 15
    assert any("never reached the server" in line for line in text)


def test_the_terminal_says_what_the_client_spent_per_request_and_in_cores(engine: str) -> None:
    """What the load engine took from the machine is part of the run's story: a server on
    the same machine did not get it (issue 17)."""
    with AsyncServer() as server:
        summary = run_closed(
            server.url, concurrency=2, requests=200, request=RequestSpec(method="GET")
        )
    (line,) = [line for line in describe(summary) if line.startswith("connections opened")]
    cpu = summary.client_cpu_seconds
    assert cpu is not None and cpu > 0
    assert line.endswith(
        f"client CPU {cpu:.2f} s: {cpu / summary.sent * 1000:.3f} ms per request, "
        f"{cpu / summary.elapsed:.2f} cores, the {engine} loop"
    )
    assert summary.loop == engine and summary.to_json()["loop"] == engine


@pytest.mark.parametrize(
    "mode",
    [("--mode", "closed", "--concurrency", "4"), ("--mode", "open", "--rate", "300")],
    ids=["closed", "open"],
)
def test_ctrl_c_ends_a_long_run_at_once_and_keeps_its_records(
    engine: str, mode: tuple[str, ...], tmp_path: Path
) -> None:
    """Ctrl-C reaches the loop wherever it waits (the C loop checks at every pass): exit
    130 within seconds, what was measured on disk."""
    out = tmp_path / "run"
    records = out / "records.jsonl"
    with AsyncServer(delay=0.002) as server:
        command = [
            sys.executable, "-m", "servelab", "load", server.url, "--method", "GET", *mode,
            "--duration", "60", "--out", str(out),
        ]  # fmt: skip
        env = {**os.environ, "NO_COLOR": "1"}
        with process_group(command, cwd=REPO, env=env) as lab:
            wait_for(
                lambda: records.exists() and records.read_bytes().count(b"\n") >= 100,
                "the first records",
                timeout=30,
            )
            lab.send_signal(signal.SIGINT)
            began = time.monotonic()
            assert lab.wait(timeout=20) == 130
            assert time.monotonic() - began < 5
    rows = [RequestRecord.from_dict(row) for row in read_jsonl(records)]
    assert len(rows) >= 100 and all(row.ok for row in rows[:100])
