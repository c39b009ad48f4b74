# ruff: noqa: E501 - the gunicorn log lines are quoted whole
"""Failure verdicts from evidence: only the cap's OOM counter says "out of memory"."""

from __future__ import annotations

from servelab.load import RequestRecord
from servelab.verdict import failure_lines, judge

OOM_LOG = """\
[2026-11-25 17:07:44 +0000] [8279] [INFO] Booting worker with pid: 8279
[2026-11-25 17:07:46 +0000] [8009] [ERROR] Worker (pid:8279) was sent SIGKILL! Perhaps out of memory?
[2026-11-25 17:07:46 +0000] [8290] [INFO] Booting worker with pid: 8290
"""
TIMEOUT_LOG = """\
[2026-11-25 17:07:44 +0000] [8009] [CRITICAL] WORKER TIMEOUT (pid:8279)
[2026-11-25 17:07:45 +0000] [8009] [ERROR] Worker (pid:8279) was sent SIGKILL! Perhaps out of memory?
[2026-11-25 17:07:45 +0000] [8290] [INFO] Booting worker with pid: 8290
"""


def record(
    index: int, *, ok: bool = True, error_class: str | None = None, error: str | None = None
) -> RequestRecord:
    return RequestRecord(
        index=index,
        area=10.0 * (index + 1),
        intended_start=0.0,
        start=0.0,
        end=1.0,
        latency=1.0,
        status=200 if ok else (500 if error_class == "http-5xx" else None),
        ok=ok,
        error_class=error_class,
        error=error,
        body=None,
    )


DISCONNECT = "RemoteDisconnected: Remote end closed connection without response"


def test_a_clean_run_is_ok() -> None:
    verdict = judge([record(i) for i in range(3)], oom_kills=0, server_fate=None, log_text="")
    assert verdict.outcome == "ok" and not verdict.failed
    assert verdict.reason == "all 3 requests succeeded"
    assert verdict.server_lines == ()


def test_the_oom_counter_alone_makes_it_oom_and_the_evidence_is_kept() -> None:
    records = [record(0), record(1, ok=False, error_class="disconnected", error=DISCONNECT)]
    verdict = judge(records, oom_kills=1, server_fate=None, log_text=OOM_LOG)
    assert verdict.outcome == "oom"
    assert verdict.reason == "the kernel OOM-killed 1 process in the memory cap"
    assert verdict.client_errors == (DISCONNECT,)
    assert verdict.worker_sigkills == 1 and verdict.worker_boots == 2
    assert any("Perhaps out of memory?" in line for line in verdict.server_lines)


def test_gunicorn_saying_perhaps_out_of_memory_after_a_timeout_is_not_oom() -> None:
    records = [record(0, ok=False, error_class="disconnected", error=DISCONNECT)]
    verdict = judge(records, oom_kills=0, server_fate=None, log_text=TIMEOUT_LOG)
    assert verdict.outcome == "failed"
    assert "WORKER TIMEOUT" in verdict.reason and verdict.reason.endswith("no OOM kill")
    assert verdict.worker_timeouts == 1


def test_a_memory_error_500_under_rlimit_is_its_own_outcome() -> None:
    error = "out of memory: MemoryError while computing the prediction"
    records = [record(0), record(1, ok=False, error_class="http-5xx", error=error)]
    verdict = judge(records, oom_kills=0, server_fate=None, log_text="")
    assert verdict.outcome == "memory-error"
    assert "MemoryError" in verdict.reason and "no process was killed" in verdict.reason


def test_a_server_that_died_without_an_oom_kill_failed_for_another_reason() -> None:
    records = [record(0, ok=False, error_class="refused", error="ConnectionRefusedError: x")]
    verdict = judge(records, oom_kills=0, server_fate="killed by SIGSEGV", log_text="")
    assert verdict.outcome == "failed" and verdict.server_died
    assert "the server ended (killed by SIGSEGV)" in verdict.reason


def test_failure_lines_quote_what_shows_the_failure() -> None:
    log = "Starting gunicorn 27\n" + TIMEOUT_LOG + "Listening at: http://127.0.0.1:1\n"
    assert failure_lines(log) == tuple(TIMEOUT_LOG.splitlines())
