"""The terminal's words for the codes a study stores: every code has its sentence."""

from __future__ import annotations

from typing import cast

import pytest

from servelab.cli import words
from servelab.results import (
    ERROR_CODES,
    STOP_CODES,
    ErrorCode,
    Failure,
    ServerEnd,
    StopCode,
    StopReason,
    Verdict,
)


@pytest.mark.parametrize("code", STOP_CODES)
def test_every_stop_code_has_its_own_sentence(code: str) -> None:
    stop = StopReason(cast(StopCode, code), low=10, high=12, band=1, budget=30, tolerance=0.05)
    said = words.stop_reason(stop)
    assert "does not know" not in said or code == "unknown"
    others = {words.stop_reason(StopReason(cast(StopCode, c))) for c in STOP_CODES if c != code}
    assert words.stop_reason(StopReason(cast(StopCode, code))) not in others


@pytest.mark.parametrize("code", ERROR_CODES)
def test_every_failure_code_has_a_sentence(code: str) -> None:
    assert words.failure(Failure(cast(ErrorCode, code), n=1000))


def test_a_failure_the_lab_did_not_foresee_is_quoted() -> None:
    failure = Failure("server-failed", detail="gunicorn did not start (log: x.log)")
    assert words.failure(failure) == "gunicorn did not start (log: x.log)"
    assert words.failure(Failure("calibration-failed", n=250_000)) == (
        "the calibration probe at n = 250,000 did not pass"
    )


def test_a_verdict_reads_as_the_lab_printed_it() -> None:
    end = ServerEnd(returncode=-9, signal="SIGKILL", stopped_by_lab=False)
    died = Verdict("failed", failed_requests=2, errors_by_class={"reset": 2}, server_died=True,
                   server_end=end)  # fmt: skip
    assert words.verdict_reason(died, requests=10) == (
        "2 requests failed (2 reset); the server ended (killed by SIGKILL (not by the lab));"
        " no OOM kill"
    )
    assert words.verdict_reason(Verdict("ok"), requests=1) == "all 1 request succeeded"
    assert words.verdict_reason(Verdict("oom", oom_kills=2), requests=10) == (
        "the kernel OOM-killed 2 processes in the memory cap"
    )
