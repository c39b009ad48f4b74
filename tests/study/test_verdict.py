# ruff: noqa: E501 - the gunicorn log lines are quoted whole
"""Failure verdicts from evidence: only the cap's OOM counter says "out of memory"."""

from __future__ import annotations

from servelab.cli.words import verdict_reason
from servelab.load import RequestRecord
from servelab.results import ServerEnd, Verdict
from servelab.study.verdict import failure_lines, judge

SEGFAULT = ServerEnd(returncode=-11, signal="SIGSEGV", stopped_by_lab=False)
KILLED = ServerEnd(returncode=-9, signal="SIGKILL", stopped_by_lab=False)


def reason(verdict: Verdict, records: list[RequestRecord]) -> str:
    """The sentence the terminal prints for ``verdict``."""
    return verdict_reason(verdict, len(records))


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
    index: int,
    *,
    ok: bool = True,
    error_class: str | None = None,
    error: str | None = None,
    status: int | None = None,
) -> RequestRecord:
    if status is None and ok:
        status = 200
    elif status is None and error_class == "http-5xx":
        status = 500
    return RequestRecord(
        index=index,
        area=10.0 * (index + 1),
        intended_start=0.0,
        start=0.0,
        end=1.0,
        latency=1.0,
        status=status,
        ok=ok,
        error_class=error_class,
        error=error,
        body=None,
    )


DISCONNECT = "RemoteDisconnected: Remote end closed connection without response"


def test_a_clean_run_is_ok() -> None:
    records = [record(i) for i in range(3)]
    verdict = judge(records, oom_kills=0, server_end=None, log_text="")
    assert verdict.outcome == "ok" and not verdict.failed
    assert reason(verdict, records) == "all 3 requests succeeded"
    assert verdict.server_lines == ()


def test_the_oom_counter_alone_makes_it_oom_and_the_evidence_is_kept() -> None:
    records = [record(0), record(1, ok=False, error_class="disconnected", error=DISCONNECT)]
    verdict = judge(records, oom_kills=1, server_end=None, log_text=OOM_LOG)
    assert verdict.outcome == "oom"
    assert reason(verdict, records) == "the kernel OOM-killed 1 process in the memory cap"
    assert verdict.client_errors == (DISCONNECT,)
    assert verdict.worker_sigkills == 1 and verdict.worker_boots == 2
    assert any("Perhaps out of memory?" in line for line in verdict.server_lines)


def test_gunicorn_saying_perhaps_out_of_memory_after_a_timeout_is_not_oom() -> None:
    records = [record(0, ok=False, error_class="disconnected", error=DISCONNECT)]
    verdict = judge(records, oom_kills=0, server_end=None, log_text=TIMEOUT_LOG)
    assert verdict.outcome == "failed"
    assert "WORKER TIMEOUT" in reason(verdict, records) and reason(verdict, records).endswith(
        "no OOM kill"
    )
    assert verdict.worker_timeouts == 1


def test_a_memory_error_500_under_rlimit_is_its_own_outcome() -> None:
    error = "out of memory: MemoryError while computing the prediction"
    records = [record(0), record(1, ok=False, error_class="http-5xx", error=error)]
    verdict = judge(records, oom_kills=0, server_end=None, log_text="")
    assert verdict.outcome == "memory-error"
    assert "MemoryError" in reason(verdict, records) and "no process was killed" in reason(
        verdict, records
    )


def test_a_server_that_died_without_an_oom_kill_failed_for_another_reason() -> None:
    records = [record(0, ok=False, error_class="refused", error="ConnectionRefusedError: x")]
    verdict = judge(records, oom_kills=0, server_end=SEGFAULT, log_text="")
    assert verdict.outcome == "failed" and verdict.server_died
    assert "the server ended (killed by SIGSEGV (not by the lab))" in reason(verdict, records)


def test_failure_lines_quote_what_shows_the_failure() -> None:
    log = "Starting gunicorn 27\n" + TIMEOUT_LOG + "Listening at: http://127.0.0.1:1\n"
    assert failure_lines(log) == tuple(TIMEOUT_LOG.splitlines())


BUSY = "memory guard: busy: 137.3 MiB of predictions in flight; retry after 1 s"
TOO_BIG = "memory guard: a numpy prediction at n=30000000 needs about 228.9 MiB"


def refused(index: int, status: int) -> RequestRecord:
    text = BUSY if status == 503 else TOO_BIG
    kind = "http-5xx" if status >= 500 else "http-4xx"
    return record(index, ok=False, error_class=kind, error=text, status=status)


def test_requests_refused_on_purpose_are_a_rejection_not_a_failure() -> None:
    records = [record(0), refused(1, 503), refused(2, 503), refused(3, 413), record(4)]
    verdict = judge(records, oom_kills=0, server_end=None, log_text="")
    assert verdict.outcome == "rejected"
    assert verdict.rejected == 3 and verdict.rejected_by_status == {413: 1, 503: 2}
    assert verdict.failed_requests == 0 and verdict.errors_by_class == {}
    assert reason(verdict, records) == (
        "the server refused 3 requests on purpose (1 with 413, 2 with 503); "
        "the other 2 succeeded; no OOM kill"
    )
    assert verdict.client_errors == (BUSY, TOO_BIG)
    # it did not serve every request: a search counts it as a failed trial
    assert verdict.failed
    assert verdict.to_json()["rejected_by_status"] == {"413": 1, "503": 2}


def test_a_rejection_never_hides_an_oom_kill_or_another_failure() -> None:
    disconnect = record(1, ok=False, error_class="disconnected", error=DISCONNECT)
    oom = judge([refused(0, 503), disconnect], oom_kills=1, server_end=None, log_text=OOM_LOG)
    assert oom.outcome == "oom" and oom.rejected == 1 and oom.failed_requests == 1
    assert oom.client_errors == (DISCONNECT, BUSY)  # the failure's evidence comes first
    both = [refused(0, 503), disconnect]
    other = judge(both, oom_kills=0, server_end=None, log_text="")
    assert other.outcome == "failed"
    assert reason(other, both) == (
        "1 request refused (413/503); 1 request failed (1 disconnected); no OOM kill"
    )
    alone = [refused(0, 413)]
    died = judge(alone, oom_kills=0, server_end=KILLED, log_text="")
    assert died.outcome == "failed"
    assert "the server ended (killed by SIGKILL (not by the lab))" in reason(died, alone)


def test_a_500_is_not_a_rejection() -> None:
    error = record(0, ok=False, error_class="http-5xx", error="Internal Server Error")
    verdict = judge([error], oom_kills=0, server_end=None, log_text="")
    assert verdict.outcome == "failed" and verdict.rejected == 0
