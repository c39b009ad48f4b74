"""Rows merged from workers make the summary the own engine would have made from them.

The master gets every request as its ``records.jsonl`` row; ``Recorder.add_row`` keeps it
as ``Recorder.add`` kept the request. Here the own engine records real requests (every
outcome a server can give: ok, a 5xx, a redirect, a body cut short after its head, a close
without a response, a timeout, requests never sent), and the rows fed back through
``add_row`` must give the same counts and exactly the same distributions.
"""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

import pytest

from servelab._io import read_jsonl
from servelab.distributed.plan import Plan
from servelab.errors import LoadError
from servelab.load import RequestSpec, run_closed, run_open
from servelab.load.recorder import Recorder
from servelab.load.summary import LoadSummary, WorkerShare

from ..helpers import read_request, scripted_server, stalled_server

_ANSWERS = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 17\r\n\r\n{"error": "busy"}',
    b"HTTP/1.1 302 Found\r\nLocation: /y\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part",  # then the close
    b"",  # a close without a response
)


def _merged(rows: list[dict[str, object]], scheduled: bool) -> Recorder:
    recorder = Recorder(scheduled=scheduled)
    recorder.restart_clock(wall=min(float(str(r["intended_start"])) for r in rows))
    for row in rows:
        recorder.add_row(row)
    recorder.close()
    return recorder


def _same_numbers(own: LoadSummary, merged: LoadSummary) -> None:
    for name in ("requests", "sent", "ok", "errors", "errors_by_class", "by_status", "unsent"):
        assert getattr(merged, name) == getattr(own, name), name
    assert merged.latency == own.latency
    assert merged.service_time == own.service_time


def test_rows_of_every_outcome_merge_to_the_own_engines_summary(tmp_path: Path) -> None:
    answers = itertools.cycle(_ANSWERS)

    def answer(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(next(answers))

    with scripted_server(answer, connections=10) as url:
        own = run_closed(
            url,
            concurrency=1,
            requests=10,
            request=RequestSpec(method="GET"),
            keep_alive=False,
            records_path=tmp_path / "records.jsonl",
        )
    rows = read_jsonl(tmp_path / "records.jsonl")
    assert own.errors_by_class == {"disconnected": 4, "http-5xx": 2, "other": 2}
    merged = _merged(rows, scheduled=False).summary(
        mode="closed",
        url=url,
        method="GET",
        parameters={},
        max_in_flight_seen=1,
        connections_opened=10,
        client_cpu_seconds=0.5,
    )
    _same_numbers(own, merged)
    assert merged.client_cpu_seconds == 0.5  # the workers' CPU, not the merging process's


def test_unsent_and_timed_out_rows_merge_too(tmp_path: Path) -> None:
    with stalled_server() as url:
        own = run_open(
            url,
            rate=50,
            duration=0.2,
            max_in_flight=1,
            drain=0.0,
            timeout=0.5,
            request=RequestSpec(method="GET"),
            records_path=tmp_path / "records.jsonl",
        )
    rows = read_jsonl(tmp_path / "records.jsonl")
    assert own.errors_by_class == {"timeout": 1, "unsent": 9}
    merged = _merged(rows, scheduled=True).summary(
        mode="open",
        url=url,
        method="GET",
        parameters={},
        max_in_flight_seen=1,
        connections_opened=1,
    )
    _same_numbers(own, merged)
    assert merged.late_sends == own.late_sends


def test_a_plan_travels_as_json_and_a_foreign_one_is_refused() -> None:
    plan = Plan(
        url="http://127.0.0.1:8000/predict",
        mode="open",
        method="POST",
        headers={"Authorization": "Bearer x"},
        payloads=[(10.0, b'{"area": 10}'), (0.0, None), (0.0, bytes(range(256)))],
        workers=3,
        timeout=2.0,
        keep_alive=False,
        duration=4.0,
        rate_start=10.0,
        rate_end=40.0,
        max_in_flight=7,
    )
    assert Plan.from_json(plan.to_json()) == plan
    # 7 slots dealt over 3 workers; the schedule has (10 + 40) / 2 * 4 requests.
    assert [plan.share(7, k) for k in range(3)] == [3, 2, 2]
    assert plan.open_count() == 100
    with pytest.raises(LoadError, match="not a servelab run plan"):
        Plan.from_json('{"url": "http://x/"}')


def test_workers_round_trip_in_the_summary_json() -> None:
    share = WorkerShare(index=1, node="host_ab12", requests=298, lost=True)
    assert WorkerShare.from_json(share.to_json()) == share
