"""The C closed loop (``speedups``) against the pure one: the same records, request for request.

Each case is a scripted server that does one thing a real server does now and then (write a
head and its body apart, cut a body short, send bytes past a response, hold a response
after its head), run once on each loop. The records must agree in everything but times:
status, error class and words, body, who served it; and so must the summary's counts.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from servelab._io import read_jsonl
from servelab.load import RequestSpec, run_closed, run_open, speedups
from servelab.load.http11.parse import _HEADS
from servelab.load.summary import LoadSummary
from tests.helpers import Script, read_request, scripted_server

GET = RequestSpec(method="GET")
HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Case: %s\r\n\r\n"
TIMED = ("intended_start", "start", "end", "latency", "service_time")


def _nodelay(conn: socket.socket) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _apart(case: bytes, count: int) -> Script:
    """``count`` responses on one connection, each head written 20 ms before its body."""

    def script(conn: socket.socket) -> None:
        _nodelay(conn)
        for _ in range(count):
            read_request(conn)
            conn.sendall(HEAD % case)
            time.sleep(0.02)
            conn.sendall(b"0123456789")

    return script


def _run_on(
    engine: str, monkeypatch: pytest.MonkeyPatch, url: str, path: Path | None, **kwargs: Any
) -> LoadSummary:
    with monkeypatch.context() as patch:
        if engine == "Python":
            patch.setattr(speedups, "native", None)
        else:
            assert speedups.native is not None, "the C loop is not built here"
        return run_closed(url, request=GET, records_path=path, **kwargs)


def _both(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    serve: Callable[[], Script],
    connections: int,
    **kwargs: Any,
) -> tuple[list[dict[str, Any]], LoadSummary, LoadSummary]:
    """Run the case on each loop (a fresh server each time, the head cache emptied before
    each so both meet the same heads new): the C loop's records and both summaries."""
    summaries: dict[str, LoadSummary] = {}
    rows: dict[str, list[dict[str, Any]]] = {}
    for engine in ("C", "Python"):
        _HEADS.clear()
        path = tmp_path / f"{engine}.jsonl"
        with scripted_server(serve(), connections=connections) as url:
            summaries[engine] = _run_on(engine, monkeypatch, url, path, **kwargs)
        rows[engine] = [
            {k: v for k, v in row.items() if k not in TIMED} for row in read_jsonl(path)
        ]
    assert rows["C"] == rows["Python"]
    c, pure = summaries["C"], summaries["Python"]
    for field in ("requests", "ok", "errors", "errors_by_class", "by_status"):
        assert getattr(c, field) == getattr(pure, field), field
    assert c.connections_opened == pure.connections_opened
    return rows["C"], c, pure


def test_a_head_and_its_body_written_apart_are_one_response_on_both_loops(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The first response's head is new (the parser reads it); the next two are known heads
    # whose bodies come in a second read: the C loop reads those bodies itself.
    rows, c, _ = _both(
        monkeypatch, tmp_path, lambda: _apart(b"apart", 3), 1, concurrency=1, requests=3
    )
    assert c.ok == 3 and c.connections_opened == 1
    assert [row["body"] for row in rows] == ["0123456789"] * 3


def test_a_known_head_whose_body_is_cut_short_is_disconnected_on_both_loops(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def serve() -> Script:
        def script(conn: socket.socket) -> None:
            _nodelay(conn)
            read_request(conn)
            conn.sendall(HEAD % b"cut" + b"0123456789")  # the head becomes known
            read_request(conn)
            conn.sendall(HEAD % b"cut" + b"012")
            time.sleep(0.02)

        return script

    rows, c, _ = _both(monkeypatch, tmp_path, serve, 1, concurrency=1, requests=2)
    assert c.ok == 1 and c.errors_by_class == {"disconnected": 1}
    assert rows[1]["status"] == 200 and rows[1]["body"] is None
    assert "3 bytes read, 7 more expected" in rows[1]["error"]


def test_bytes_past_a_known_heads_body_end_its_connection_on_both_loops(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No pipelining: bytes after a response mean the framing is off, so the connection is
    # not reused, whether they came with the body's last read or in one read with the head.
    def serve() -> Script:
        def script(conn: socket.socket) -> None:
            _nodelay(conn)
            read_request(conn)
            conn.sendall(HEAD % b"extra" + b"0123456789")
            read_request(conn)
            conn.sendall(HEAD % b"extra" + b"01234")
            time.sleep(0.02)
            conn.sendall(b"56789EXTRA")

        return script

    def second() -> Script:
        def script(conn: socket.socket) -> None:
            read_request(conn)
            conn.sendall(HEAD % b"extra" + b"0123456789" + b"EXTRA")

        return script

    def both() -> Script:
        scripts = iter([serve(), second()])
        return lambda conn: next(scripts)(conn)

    # Requests 1 and 2 on the first connection, which the extra bytes end; 3 on a second.
    rows, c, _ = _both(monkeypatch, tmp_path, both, 2, concurrency=1, requests=3)
    assert c.ok == 3 and c.connections_opened == 2
    assert [row["body"] for row in rows] == ["0123456789"] * 3


def test_a_response_held_after_its_known_head_times_out_with_its_status(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def serve() -> Script:
        def script(conn: socket.socket) -> None:
            _nodelay(conn)
            read_request(conn)
            conn.sendall(HEAD % b"held" + b"0123456789")
            read_request(conn)
            conn.sendall(HEAD % b"held" + b"01")
            time.sleep(0.5)

        return script

    rows, c, _ = _both(monkeypatch, tmp_path, serve, 1, concurrency=1, requests=2, timeout=0.2)
    assert c.errors_by_class == {"timeout": 1}
    assert rows[1]["status"] == 200 and rows[1]["error_class"] == "timeout"


def test_without_records_both_loops_count_the_same(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No records file, no callback: the C loop appends to the recorder's arrays itself.
    def serve() -> Script:
        def script(conn: socket.socket) -> None:
            _nodelay(conn)
            for case in (b"a", b"a", b"b"):
                read_request(conn)
                conn.sendall(HEAD % case + b"0123456789")
            read_request(conn)  # a known head, its body apart
            conn.sendall(HEAD % b"a")
            time.sleep(0.02)
            conn.sendall(b"0123456789")
            read_request(conn)
            conn.sendall(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
            read_request(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n01")

        return script

    summaries = []
    for engine in ("C", "Python"):
        _HEADS.clear()
        with scripted_server(serve()) as url:
            summaries.append(_run_on(engine, monkeypatch, url, None, concurrency=1, requests=6))
    c, pure = summaries
    assert c.by_status == pure.by_status == {"200": 4, "503": 1}
    assert c.errors_by_class == pure.errors_by_class == {"disconnected": 1, "http-5xx": 1}
    assert c.latency.max is not None and c.latency.max < 1.0


def test_head_requests_have_no_body_on_both_loops(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def serve() -> Script:
        def script(conn: socket.socket) -> None:
            for _ in range(2):
                read_request(conn)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")

        return script

    for engine in ("C", "Python"):
        _HEADS.clear()
        with scripted_server(serve()) as url, monkeypatch.context() as patch:
            if engine == "Python":
                patch.setattr(speedups, "native", None)
            s = run_closed(url, request=RequestSpec(method="HEAD"), concurrency=1, requests=2)
        assert s.ok == 2 and s.connections_opened == 1, engine


def _response(status: bytes, *fields: bytes, body: bytes = b"ok") -> bytes:
    """A response with a ``%d`` left in its head, for a timestamp of its own each time."""
    return b"\r\n".join([b"HTTP/1.1 " + status, *fields, b"X-At: %d", b"", body])


LENGTH = b"Content-Length: 2"
# Heads the C loop frames itself (plain: one Content-Length, no Transfer-Encoding) and heads
# it leaves to the parser, each new every time, as servelab's service stamps its responses.
HEADS = {
    "plain": _response(b"200 OK", LENGTH),
    "upper-case names, blanks": _response(b"201 Created", b"CONTENT-LENGTH :  2 "),
    "connection close": _response(b"200 OK", LENGTH, b"Connection: Close"),
    "http/1.0 keep-alive": _response(b"200 OK", LENGTH, b"Connection: keep-alive").replace(
        b"HTTP/1.1", b"HTTP/1.0"
    ),
    "http/1.0": _response(b"200 OK", LENGTH).replace(b"HTTP/1.1", b"HTTP/1.0"),
    "no reason": _response(b"404", LENGTH),
    "204": _response(b"204 No Content", b"Content-Length: 0", body=b""),
    "repeated length": _response(b"200 OK", LENGTH, LENGTH),
    "lengths disagree": _response(b"200 OK", LENGTH, b"Content-Length: 3"),
    "bad length": _response(b"200 OK", b"Content-Length: 2x"),
    "signed length": _response(b"200 OK", b"Content-Length: +2"),
    "chunked": _response(b"200 OK", b"Transfer-Encoding: chunked", body=b"2\r\nok\r\n0\r\n\r\n"),
    "bad status": _response(b"2x0 OK", LENGTH),
    "status 0xx": _response(b"020 OK", LENGTH),
    "too many fields": _response(b"200 OK", LENGTH, *[b"X-F: 1"] * 100),
}


@contextmanager
def _answering(response: bytes, count: int) -> Iterator[str]:
    """A server that answers ``count`` requests in all, each with ``response % i``, on
    whatever connections the client opens (kept alive or not)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    answered = iter(range(count))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5.0)
                try:
                    while read_request(conn):
                        at = next(answered, None)
                        if at is None:
                            break
                        conn.sendall(response % at)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/x"
    finally:
        stop.set()
        thread.join(timeout=6.0)
        listener.close()


@pytest.mark.parametrize("name", list(HEADS))
def test_a_head_never_seen_before_is_framed_alike_on_both_loops(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summaries: dict[tuple[str, bool], LoadSummary] = {}
    rows: dict[str, list[dict[str, Any]]] = {}
    for engine in ("C", "Python"):
        for records in (True, False):  # without records the C loop fills the arrays itself
            path = tmp_path / f"{engine}.jsonl" if records else None
            with _answering(HEADS[name], 2) as url:
                summaries[engine, records] = _run_on(
                    engine, monkeypatch, url, path, concurrency=1, requests=2, timeout=2.0
                )
            if path is not None:
                rows[engine] = [
                    {k: v for k, v in row.items() if k not in TIMED} for row in read_jsonl(path)
                ]
    assert rows["C"] == rows["Python"]
    for records in (True, False):
        c, pure = summaries["C", records], summaries["Python", records]
        assert (c.by_status, c.errors_by_class, c.connections_opened) == (
            pure.by_status,
            pure.errors_by_class,
            pure.connections_opened,
        ), records


@pytest.mark.parametrize("records", [False, True])
def test_an_open_loop_held_back_by_its_bound_counts_late_sends_on_both_loops(
    records: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # 20 requests due 10 ms apart, one in flight at a time, each answered in 30 ms: most wait
    # for the slot, leave late, and carry the wait in their latency. Without records the C
    # loop counts the delays itself (Recorder.add_send_delays); with them, Recorder.add does.
    def serve() -> Script:
        def script(conn: socket.socket) -> None:
            for _ in range(20):
                read_request(conn)
                time.sleep(0.03)
                conn.sendall(HEAD % b"open" + b"0123456789")

        return script

    for engine in ("C", "Python"):
        path = tmp_path / f"{engine}.jsonl" if records else None
        with scripted_server(serve()) as url, monkeypatch.context() as patch:
            if engine == "Python":
                patch.setattr(speedups, "native", None)
            s = run_open(
                url, rate=100, requests=20, max_in_flight=1, request=GET, records_path=path
            )
        assert s.ok == 20 and s.connections_opened == 1 and s.max_in_flight_seen == 1, engine
        assert s.held_back >= 10 and s.late_sends >= 10, (engine, s.held_back, s.late_sends)
        assert s.send_delay_mean is not None and s.send_delay_mean > 0.05, engine
        assert s.service_time.p50 is not None and 0.02 < s.service_time.p50 < 0.2, engine
        assert s.latency.max is not None and s.latency.max > 0.3, engine  # the waits add up


def test_which_loop_runs_is_said_and_chosen_by_the_environment() -> None:
    code = "from servelab.load import speedups; print(speedups.engine())"
    env = {"PATH": "/usr/bin:/bin"}
    pure = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, speedups.PURE_ENV: "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    native = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert (pure.stdout.strip(), native.stdout.strip()) == ("Python", "C")
