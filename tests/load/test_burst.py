"""The load engine against real servers over loopback sockets, and its pure parts alone.

Servers run the ``io`` workload with a short delay ``D``; timing assertions check shapes
(concurrent vs. serial) with generous slack, never exact times.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from servelab._io import read_jsonl
from servelab.errors import LoadError
from servelab.load import (
    BODY_LIMIT,
    ERROR_CLASSES,
    LoadSummary,
    RequestRecord,
    Target,
    format_seed_line,
    format_seed_log,
    run_burst,
    summarize,
    write_seed_log,
)
from servelab.load.summary import Distribution, max_concurrent
from servelab.servers import ServerSpec, launch
from tests.helpers import servelab_cli

D = 0.1  # the io workload's delay in the servers these tests start
AREAS = [10 * (i + 1) for i in range(10)]
SEED_OK = re.compile(r'^Waited \d+\.\d{2} sec \{"price": \d+\}$')


# --- servers --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _service(run_dir: Path, spec: str) -> Iterator[str]:
    """The service on ``spec`` (e.g. ``gunicorn:w2``) with the io workload; yields its URL."""
    env = {"SERVELAB_WORKLOAD": "io", "SERVELAB_IO_DELAY": str(D)}
    with launch(ServerSpec.parse(spec), run_dir=run_dir, env=env) as server:
        yield server.url


@pytest.fixture(scope="module")
def flask_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _service(tmp_path_factory.mktemp("servers"), "flask-dev") as url:
        yield url


@pytest.fixture(scope="module")
def gunicorn_1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _service(tmp_path_factory.mktemp("servers"), "gunicorn") as url:
        yield url


@pytest.fixture(scope="module")
def gunicorn_2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _service(tmp_path_factory.mktemp("servers"), "gunicorn:w2") as url:
        yield url


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"content-length:\s*(\d+)", head, re.IGNORECASE)
    length = int(match.group(1)) if match else 0
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            return
        body += chunk


Handler = Callable[[socket.socket, threading.Event], None]


@contextmanager
def _raw_server(handle: Handler, connections: int = 1) -> Iterator[str]:
    """A loopback TCP server that treats ``connections`` clients with ``handle``."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5.0)
    port = listener.getsockname()[1]
    release = threading.Event()

    def serve() -> None:
        for _ in range(connections):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.settimeout(5.0)
            try:
                handle(conn, release)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/predict"
    finally:
        release.set()
        thread.join(timeout=6.0)
        listener.close()


# --- bursts against the real servers ----------------------------------------------------


def test_flask_dev_serves_the_burst_concurrently(flask_dev: str, tmp_path: Path) -> None:
    records = run_burst(f"{flask_dev}/predict?workload=io", records_path=tmp_path / "r.jsonl")
    summary = summarize(records)
    assert summary.handlers is not None

    assert summary.requests == 10 and summary.ok == 10 and summary.errors_by_class == {}
    assert sorted(r.area for r in records) == AREAS
    for r in records:
        assert r.status == 200 and r.error_class is None and r.error is None
        assert r.body is not None and json.loads(r.body) == {"price": r.area * 200_000}
    assert summary.makespan is not None and summary.makespan < 4 * D
    assert (summary.handlers.max_concurrent or 0) >= 8
    assert summary.handlers.distinct_pids == 1 and (summary.handlers.distinct_workers or 0) >= 8
    # One barrier released every thread: one intended start, all sent within moments.
    assert len({r.intended_start for r in records}) == 1
    assert max(r.start for r in records) - min(r.start for r in records) < D / 2
    assert all(r.start >= r.intended_start for r in records)


def test_a_burst_says_what_it_cost_its_client(flask_dev: str) -> None:
    """The records come with the client's CPU over the burst, for its summary: a server on
    the same machine did not get it (issue 17)."""
    records = run_burst(f"{flask_dev}/predict?workload=io", requests=4)
    assert len(records) == 4 and all(r.ok for r in records)
    assert records.client_cpu_seconds > 0


def test_records_stream_to_disk_in_completion_order(gunicorn_1: str, tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    lines_at_callback: list[int] = []
    seen: list[RequestRecord] = []

    def on_record(record: RequestRecord) -> None:
        seen.append(record)
        lines_at_callback.append(len(path.read_text().splitlines()))

    records = run_burst(
        f"{gunicorn_1}/predict?workload=io", requests=4, records_path=path, on_record=on_record
    )

    # Written one by one as they completed, not all at the end.
    assert lines_at_callback == [1, 2, 3, 4]
    assert seen == records
    rows = read_jsonl(path)
    assert [RequestRecord.from_dict(row) for row in rows] == records
    assert [row["index"] for row in rows] == [r.index for r in records]
    ends = [r.end for r in records]
    assert ends == sorted(ends)  # one worker: completion order is time order


def test_gunicorn_one_sync_worker_serves_one_at_a_time(gunicorn_1: str) -> None:
    records = run_burst(f"{gunicorn_1}/predict?workload=io")
    summary = summarize(records)
    assert summary.handlers is not None

    assert summary.ok == 10
    latencies = sorted(r.latency for r in records)
    for k, latency in enumerate(latencies, start=1):
        assert latency >= 0.7 * k * D, f"request {k} of the staircase came back too soon"
    assert summary.makespan is not None and summary.makespan >= 8 * D
    assert summary.handlers.max_concurrent == 1
    assert summary.handlers.distinct_workers == 1
    assert (
        summary.handlers.mean_queue_wait is not None and summary.handlers.mean_queue_wait >= 3 * D
    )


def test_gunicorn_two_workers_halve_the_staircase(gunicorn_2: str) -> None:
    summary = summarize(run_burst(f"{gunicorn_2}/predict?workload=io"))
    assert summary.handlers is not None

    assert summary.ok == 10
    assert summary.handlers.distinct_pids == 2
    assert summary.makespan is not None and 4 * D <= summary.makespan < 8 * D
    assert summary.handlers.max_concurrent == 2


def test_concurrency_caps_requests_in_flight(flask_dev: str) -> None:
    records = run_burst(f"{flask_dev}/predict?workload=io", requests=6, concurrency=2)
    summary = summarize(records)
    assert summary.handlers is not None

    assert summary.ok == 6
    assert sorted(r.index for r in records) == list(range(6))
    assert summary.handlers.max_concurrent is not None
    assert summary.handlers.max_concurrent <= 2
    assert summary.makespan is not None and summary.makespan >= 2.5 * D


def test_cancel_sends_nothing_more_and_returns_what_completed(gunicorn_1: str) -> None:
    cancel = threading.Event()
    records = run_burst(
        f"{gunicorn_1}/predict?workload=io",
        requests=20,
        concurrency=2,
        on_record=lambda record: cancel.set(),
        cancel=cancel,
    )
    # the first completion cancels; the other in-flight request still completes
    assert 1 <= len(records) <= 3
    assert all(record.ok for record in records)


def test_cancel_from_another_thread_is_noticed_while_requests_are_in_flight(
    gunicorn_1: str,
) -> None:
    # As the study's OOM watch does: set from its own thread, mid-burst.
    cancel = threading.Event()
    timer = threading.Timer(2.5 * D, cancel.set)
    timer.start()
    try:
        records = run_burst(
            f"{gunicorn_1}/predict?workload=io", requests=20, concurrency=2, cancel=cancel
        )
    finally:
        timer.cancel()
    # One worker answers every D seconds; the two in flight at the cancel still end.
    assert 2 <= len(records) <= 5
    assert all(record.ok for record in records)


def test_an_error_in_on_record_stops_the_burst_and_propagates(
    flask_dev: str, tmp_path: Path
) -> None:
    path = tmp_path / "records.jsonl"

    def explode(record: RequestRecord) -> None:
        raise RuntimeError("callback bug")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="callback bug"):
        run_burst(f"{flask_dev}/predict?workload=io", records_path=path, on_record=explode)

    assert time.monotonic() - started < 3.0
    assert len(read_jsonl(path)) == 1  # what was recorded before it is kept


def test_bad_input_is_http_4xx_with_the_services_error(flask_dev: str) -> None:
    (record,) = run_burst(f"{flask_dev}/predict?workload=io&n=-1", requests=1)

    assert record.status == 400 and not record.ok
    assert record.error_class == "http-4xx"
    assert record.body is not None and json.loads(record.body)["field"] == "n"
    assert record.error == json.loads(record.body)["error"]
    assert record.served_pid is not None  # the service still said who answered
    assert re.fullmatch(
        r'Waited 0\.\d\d sec \{"error": ".+", "field": "n"\}', format_seed_line(record)
    )


# --- failures on real sockets -------------------------------------------------------------


def test_closed_port_is_refused() -> None:
    records = run_burst(f"http://127.0.0.1:{_free_port()}/predict", requests=3, concurrency=3)

    assert [r.error_class for r in records] == ["refused"] * 3
    assert all(r.status is None and r.body is None and r.served_pid is None for r in records)
    assert records[0].error == "ConnectionRefusedError: [Errno 111] Connection refused"


def test_closing_without_a_reply_is_disconnected() -> None:
    def close_after_reading(conn: socket.socket, _: threading.Event) -> None:
        _read_request(conn)

    with _raw_server(close_after_reading) as url:
        (record,) = run_burst(url, requests=1, timeout=5.0)

    assert record.error_class == "disconnected"
    assert record.error == "RemoteDisconnected: Remote end closed connection without response"
    assert re.fullmatch(
        r"Waited \d+\.\d\d sec RemoteDisconnected: Remote end closed connection without response",
        format_seed_line(record),
    )


def test_an_aborted_connection_is_reset() -> None:
    def abort(conn: socket.socket, _: threading.Event) -> None:
        _read_request(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with _raw_server(abort) as url:
        (record,) = run_burst(url, requests=1, timeout=5.0)

    assert record.error_class == "reset"
    assert record.error is not None and record.error.startswith("ConnectionResetError: ")


def test_a_body_cut_short_is_disconnected() -> None:
    def cut(conn: socket.socket, _: threading.Event) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b'{"price": 1')

    with _raw_server(cut) as url:
        (record,) = run_burst(url, requests=1, timeout=5.0)

    assert record.error_class == "disconnected" and not record.ok
    assert record.status == 200
    assert record.error is not None and record.error.startswith("IncompleteRead: ")


def test_a_server_slower_than_the_timeout_is_a_timeout() -> None:
    def hold(conn: socket.socket, release: threading.Event) -> None:
        _read_request(conn)
        release.wait(5.0)

    with _raw_server(hold) as url:
        (record,) = run_burst(url, requests=1, timeout=0.3)

    assert record.error_class == "timeout"
    assert record.error == "TimeoutError: timed out"
    assert 0.25 <= record.latency < 1.0


def test_a_dripping_response_is_cut_at_the_timeout() -> None:
    # Every byte arrives within the socket timeout; only a whole-request deadline stops it.
    def drip(conn: socket.socket, release: threading.Event) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(100):
            if release.wait(0.05):
                return
            conn.sendall(b" ")

    with _raw_server(drip) as url:
        (record,) = run_burst(url, requests=1, timeout=0.5)

    assert record.error_class == "timeout"
    assert record.latency < 1.0


def test_a_head_that_never_ends_is_cut_at_the_timeout() -> None:
    # The head drips a byte at a time and never reaches its blank line.
    def endless_head(conn: socket.socket, release: threading.Event) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        for _ in range(200):
            if release.wait(0.02):
                return
            conn.sendall(b"a")

    with _raw_server(endless_head) as url:
        (record,) = run_burst(url, requests=1, timeout=0.5)

    assert record.error_class == "timeout" and record.status is None
    assert record.error == "TimeoutError: timed out"
    assert 0.45 <= record.latency < 1.5


def test_a_huge_body_does_not_grow_the_clients_memory() -> None:
    size = 64 * 1024 * 1024
    piece = b"x" * (1024 * 1024)

    def huge(conn: socket.socket, _: threading.Event) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for _piece in range(size // len(piece)):
            conn.sendall(piece)

    tracemalloc.start()
    try:
        with _raw_server(huge) as url:
            (record,) = run_burst(url, requests=1, timeout=30.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert record.ok and record.body == "x" * BODY_LIMIT
    assert peak < 8 * 1024 * 1024, f"{peak / 2**20:.1f} MiB held for a 64 MiB body"


def test_a_burst_cancelled_before_it_starts_sends_nothing() -> None:
    cancel = threading.Event()
    cancel.set()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/predict"
        assert run_burst(url, requests=5, cancel=cancel, timeout=5.0) == []
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # the kernel would have queued any connection made


def test_cli_burst_prints_the_seed_lines_and_checks_slos_on_the_one_summary(
    tmp_path: Path,
) -> None:
    answer = b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{"price": 5}'

    def reply(conn: socket.socket, _: threading.Event) -> None:
        _read_request(conn)
        conn.sendall(answer)

    out = tmp_path / "run"
    with _raw_server(reply, connections=3) as url:
        result = servelab_cli(
            "load", url, "--requests", "3", "--concurrency", "1", "--out", str(out),
            "--slo", "errors<1%", "--slo", "rps>1000000000",
        )  # fmt: skip

    assert result.returncode == 3, result.stderr
    lines = result.stdout.splitlines()
    assert all(SEED_OK.match(line) for line in lines[:3]), lines
    # This scripted server sends no served-by headers: how many ran at once is unknown, not 0.
    assert re.fullmatch(
        r"makespan \d+\.\d\d s, 3/3 ok, errors none, handlers at once unknown: "
        r"the server does not send servelab's served-by headers",
        lines[3],
    )
    assert lines[4] == "held: errors<1% (measured 0%)"
    assert lines[5].startswith("FAILED: rps>1000000000 (measured ")
    summary = LoadSummary.from_json(json.loads((out / "summary.json").read_text()))
    assert (summary.mode, summary.requests, summary.ok, summary.error_rate) == ("burst", 3, 3, 0.0)
    assert summary.parameters == {"requests": 3, "concurrency": 1, "timeout": 60.0}
    assert summary.client_cpu_seconds is not None and summary.client_cpu_seconds > 0
    assert len(read_jsonl(out / "records.jsonl")) == 3


def test_other_failures_are_other_and_never_raised() -> None:
    def garbage(conn: socket.socket, _: threading.Event) -> None:
        _read_request(conn)
        conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")

    with _raw_server(garbage) as url:
        (record,) = run_burst(url, requests=1, timeout=5.0)

    assert record.error_class == "other"
    assert record.error is not None and record.error.startswith("BadStatusLine: ")


def test_a_server_without_servelab_headers_leaves_them_empty() -> None:
    def plain(conn: socket.socket, _: threading.Event) -> None:
        _read_request(conn)
        body = b'{"price": 5}'
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        conn.sendall(head + body)

    with _raw_server(plain) as url:
        (record,) = run_burst(url, requests=1, timeout=5.0)

    assert record.ok and record.body == '{"price": 5}'
    assert (record.served_pid, record.served_thread) == (None, None)
    assert (record.handler_start, record.handler_duration) == (None, None)


# --- the engine's arguments -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:5000/predict",
        "127.0.0.1:5000/predict",
        "localhost:5000/predict",
        "http:///predict",
        "http://127.0.0.1:99999/predict",
        "http://127.0.0.1:port/predict",
        "",
    ],
)
def test_a_malformed_url_is_a_load_error(url: str) -> None:
    with pytest.raises(LoadError, match="URL"):
        run_burst(url, requests=1)


def test_target_keeps_path_and_query() -> None:
    target = Target.parse("http://localhost:8000/predict?workload=cpu&n=5")
    assert (target.host, target.port, target.path) == (
        "localhost",
        8000,
        "/predict?workload=cpu&n=5",
    )
    assert Target.parse("http://example.test").path == "/"
    assert Target.parse("http://example.test").port == 80


@pytest.mark.parametrize(
    "kwargs",
    [{"concurrency": 0}, {"requests": -1}, {"timeout": 0.0}, {"areas": []}],
)
def test_bad_burst_settings_are_load_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(LoadError):
        run_burst("http://127.0.0.1:1/predict", **kwargs)  # type: ignore[arg-type]


def test_no_requests_is_an_empty_run() -> None:
    assert run_burst("http://127.0.0.1:1/predict", requests=0) == []


# --- records, statistics and the seed log without a server -----------------------------------


def _record(
    index: int,
    start: float,
    latency: float,
    *,
    handler: tuple[float, float] | None = None,
    pid: int | None = 100,
    thread: int | None = 1,
    error_class: str | None = None,
    body: str | None = '{"price":2000000}\n',
    error: str | None = None,
) -> RequestRecord:
    return RequestRecord(
        index=index,
        area=10 * (index + 1),
        intended_start=0.0,
        start=start,
        end=start + latency,
        latency=latency,
        status=200 if error_class is None else None,
        ok=error_class is None,
        error_class=error_class,
        error=error,
        body=body,
        served_pid=pid if handler else None,
        served_thread=thread if handler else None,
        handler_start=handler[0] if handler else None,
        handler_duration=handler[1] if handler else None,
    )


def test_record_round_trips_through_json() -> None:
    record = _record(3, 1000.25, 0.5, handler=(1000.3, 0.4))
    row = json.loads(json.dumps(record.to_dict()))
    assert list(row) == [
        "index", "area", "intended_start", "start", "end", "latency", "status", "ok",
        "error_class", "error", "body", "served_pid", "served_thread", "handler_start",
        "handler_duration",
    ]  # fmt: skip
    assert RequestRecord.from_dict(row) == record
    assert RequestRecord.from_dict({**row, "added_later": 1}) == record
    assert record.queue_wait == pytest.approx(0.05)
    assert record.handler_end == pytest.approx(1000.7)


def test_summarize_counts_times_and_workers() -> None:
    records = [
        _record(0, 10.0, 1.0, handler=(10.1, 0.8), pid=1, thread=11),
        _record(1, 10.0, 2.0, handler=(11.0, 0.9), pid=1, thread=11),
        _record(2, 10.5, 3.0, handler=(10.6, 2.0), pid=2, thread=21),
        _record(3, 10.0, 0.5, error_class="disconnected", body=None, error="X: y"),
        _record(4, 10.0, 4.0, error_class="timeout", body=None, error="TimeoutError"),
    ]
    s = summarize(records)

    assert (s.requests, s.ok, s.errors) == (5, 3, 2)
    assert s.errors_by_class == {"disconnected": 1, "timeout": 1}
    assert s.makespan == pytest.approx(4.0)  # 10.0 .. 14.0
    assert (s.latency.min, s.latency.max) == (0.5, 4.0)
    assert s.latency.mean == pytest.approx(2.1)
    assert s.latency.p50 == pytest.approx(2.0)
    h = s.handlers
    assert h is not None
    assert (h.distinct_pids, h.distinct_workers, h.served) == (2, 2, 3)
    # [10.1, 10.9], [11.0, 11.9], [10.6, 12.6]: two at once at most.
    assert h.max_concurrent == 2
    assert h.mean_queue_wait == pytest.approx((0.1 + 1.0 + 0.1) / 3)
    assert h.handler_sum == pytest.approx(3.7)
    assert h.handler_mean == pytest.approx(3.7 / 3)
    assert set(s.errors_by_class) <= set(ERROR_CLASSES)
    assert LoadSummary.from_json(json.loads(json.dumps(s.to_json()))) == s


def test_summarize_nothing() -> None:
    s = summarize([])
    assert (s.requests, s.ok, s.errors) == (0, 0, 0)
    assert s.handlers is not None and (s.handlers.max_concurrent, s.handlers.served) == (0, 0)
    assert s.makespan is None and s.latency.p50 is None and s.handlers.handler_sum is None


def test_max_concurrent_counts_ends_before_starts() -> None:
    assert max_concurrent([]) == 0
    assert max_concurrent([(0, 1), (1, 2), (2, 3)]) == 1  # back to back: never two at once
    assert max_concurrent([(0, 1), (0.999, 2)]) == 2
    assert max_concurrent([(0, 10), (1, 9), (2, 8), (3, 4), (5, 6)]) == 4
    assert max_concurrent([(0, 10), (5, 5), (5, 8)]) == 2  # an empty interval adds nothing


def test_percentiles_are_exact_and_match_numpy() -> None:
    rng = np.random.default_rng(7)
    values = list(rng.exponential(size=37))
    d = Distribution.of(values)
    for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9)):
        assert d.get(name) == pytest.approx(float(np.percentile(values, q)))
    assert (d.min, d.max) == (min(values), max(values))
    assert Distribution.of([1.0, 2.0, 3.0, 4.0]).p50 == 2.5
    assert Distribution.of([]) == Distribution()
    with pytest.raises(KeyError):
        d.get("p75")


def test_seed_lines_show_the_body_or_the_error() -> None:
    ok = _record(0, 0.0, 1.016, handler=(0.0, 1.0))
    failed = _record(
        1,
        0.0,
        0.527,
        error_class="disconnected",
        body=None,
        error="RemoteDisconnected: Remote end closed connection without response",
    )
    html = _record(2, 0.0, 0.004, body="<html>\n  <p>Internal Server Error</p>\n</html>\n")

    assert format_seed_line(ok) == 'Waited 1.02 sec {"price": 2000000}'
    assert SEED_OK.match(format_seed_line(ok))
    assert format_seed_line(failed) == (
        "Waited 0.53 sec RemoteDisconnected: Remote end closed connection without response"
    )
    assert format_seed_line(html) == "Waited 0.00 sec <html> <p>Internal Server Error</p> </html>"
    assert format_seed_log([ok, failed]).splitlines() == [
        format_seed_line(ok),
        format_seed_line(failed),
    ]


def test_write_seed_log(tmp_path: Path) -> None:
    records = [_record(i, 0.0, 0.1 * (i + 1)) for i in range(3)]
    path = tmp_path / "log" / "io_bounded_dev.txt"
    write_seed_log(records, path)
    assert path.read_text() == format_seed_log(records)
    assert len(path.read_text().splitlines()) == 3
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
