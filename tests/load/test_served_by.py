"""Who served the requests: unknown, never 0, when the server does not say (issue 13).

`servelab load` against a foreign app printed "max 0 at once" and "served: 0" for 10
requests that ran concurrently. A server that sends no served-by headers ran its handlers all
the same: the counts are unknown (null in JSON), and a server that says keeps its numbers.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from servelab.load import describe, run_burst, summarize
from servelab.load.records import RequestRecord
from servelab.load.summary import HandlerStats, LoadSummary

from ..helpers import servelab_cli
from .foreign import foreign_app

COUNTS = ("served", "distinct_pids", "distinct_workers", "max_concurrent")


def test_a_server_without_the_headers_leaves_who_served_unknown(tmp_path: Path) -> None:
    with foreign_app(tmp_path, delay=0.3) as url:
        summary = summarize(run_burst(f"{url}/predict", requests=10, timeout=20))
    assert summary.ok == 10 and summary.handlers is not None
    assert not summary.handlers.known
    data = json.loads(json.dumps(summary.to_json()))
    assert all(data["handlers"][name] is None for name in COUNTS), data["handlers"]
    assert LoadSummary.from_json(data).handlers == summary.handlers
    (line,) = describe(summary)
    assert "max 0" not in line
    assert line.endswith(
        "handlers at once unknown: the server does not send servelab's served-by headers"
    )


def test_cli_says_unknown_in_text_and_null_in_json(tmp_path: Path) -> None:
    with foreign_app(tmp_path, delay=0.2) as url:
        text = servelab_cli("load", f"{url}/predict", "--requests", "10", timeout=60)
        as_json = servelab_cli("load", f"{url}/predict", "--requests", "10", "--json", timeout=60)
    assert text.returncode == 0, text.stderr
    assert "max 0 at once" not in text.stdout
    assert "handlers at once unknown: the server does not send servelab's served-by headers" in (
        text.stdout
    )
    handlers = json.loads(as_json.stdout)["handlers"]
    assert {name: handlers[name] for name in COUNTS} == dict.fromkeys(COUNTS)


def test_a_server_that_says_who_served_keeps_its_numbers(tmp_path: Path) -> None:
    with foreign_app(tmp_path, delay=0.3, served_by=True) as url:
        summary = summarize(run_burst(f"{url}/predict", requests=10, timeout=20))
    h = summary.handlers
    assert h is not None and h.known
    assert h.served == 10 and h.distinct_pids == 1
    assert h.max_concurrent is not None and h.max_concurrent >= 2  # a threaded server
    (line,) = describe(summary)
    assert f"max {h.max_concurrent} at once" in line and "unknown" not in line


def _record(index: int, *, pid: int | None, status: int | None = 200) -> RequestRecord:
    start = 100.0 + index
    return RequestRecord(
        index=index,
        area=0.0,
        intended_start=100.0,
        start=start,
        end=start + 1.0,
        latency=1.0,
        status=status,
        ok=status == 200,
        error_class=None if status == 200 else "disconnected",
        error=None,
        body=None,
        served_pid=pid,
        served_thread=None if pid is None else 7,
        handler_start=None if pid is None else start + 0.1,
        handler_duration=None if pid is None else 0.5,
    )


def test_a_partly_served_run_counts_what_was_said() -> None:
    h = HandlerStats.of([_record(0, pid=42), _record(1, pid=None), _record(2, pid=43)])
    assert (h.served, h.distinct_pids, h.distinct_workers, h.max_concurrent) == (2, 2, 2, 1)


def test_every_request_failed_before_a_response_is_unknown_too() -> None:
    failed = [_record(i, pid=None, status=None) for i in range(3)]
    summary = summarize(failed)
    assert summary.handlers is not None and not summary.handlers.known
    (line,) = describe(summary)
    assert line.endswith("handlers at once unknown: no response came back to say who served it")


def test_a_loops_summary_read_from_records_says_unknown_too() -> None:
    records = [_record(i, pid=None) for i in range(3)]
    summary = summarize(records, mode="closed", parameters={"concurrency": 1})
    assert "who served: unknown: the server does not send servelab's served-by headers" in (
        describe(summary)
    )


def test_a_summary_that_stored_0_still_reads_as_0() -> None:
    old = summarize([_record(0, pid=42)]).to_json()
    old["handlers"] = dict.fromkeys(COUNTS, 0) | {
        "mean_queue_wait": None,
        "handler_mean": None,
        "handler_sum": None,
    }
    read = LoadSummary.from_json(old)
    assert read.handlers is not None and read.handlers.max_concurrent == 0
    assert "max 0 at once" in describe(replace(read, mode="burst"))[0]
