"""The memory guard: its estimate and accounting, the service's 413/503, and real servers in a
real memory cap that the guard keeps alive at the n where they are OOM-killed without it."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from servelab.report.i18n import Lang
from servelab.results import Prices
from servelab.servers import ServerSpec
from servelab.service import create_app
from servelab.service.guard import (
    BYTES_PER_ELEMENT,
    MESSAGE_PREFIX,
    RETRY_AFTER_SECONDS,
    MemoryGuard,
    Rejected,
    estimate_bytes,
)
from servelab.service.workloads import predict_cpu, predict_numpy
from servelab.study.critical_run import derived_budget
from servelab.study.trial import (
    CapSetup,
    TrialFiles,
    TrialResult,
    TrialSetup,
    expected_price,
    run_trial,
)
from servelab.units import parse_size

from ..helpers import servelab_cli

CAP = parse_size("200MiB")
MiB = 2**20


# --- the estimate and the accounting ---------------------------------------------------


def test_the_estimate_is_bytes_per_element_times_n() -> None:
    assert estimate_bytes("cpu", 1_000_000) == 44_000_000
    assert estimate_bytes("numpy", 20_000_000) == 160_000_000
    assert estimate_bytes("io", 10**9) == estimate_bytes("model", 10**9) == 0
    assert estimate_bytes("something-else", 1000) == 0
    # the measured 40-45 bytes of the Python list, 8 of int64: the stated constants
    assert 40 <= BYTES_PER_ELEMENT["cpu"] <= 46 and BYTES_PER_ELEMENT["numpy"] == 8


def test_without_a_budget_the_guard_admits_everything_and_counts_nothing() -> None:
    guard = MemoryGuard(None)
    with guard.admit("cpu", 10**9), guard.admit("numpy", 10**9):
        pass
    assert guard.stats().admitted == 0 and guard.stats().in_flight_bytes == 0


def test_a_request_bigger_than_the_whole_budget_gets_413() -> None:
    guard = MemoryGuard(8 * 1000 - 1)
    with pytest.raises(Rejected) as caught, guard.admit("numpy", 1000):
        pytest.fail("admitted a request bigger than the budget")
    error = caught.value
    assert (error.status, error.reason, error.retry_after) == (413, "too-big", None)
    assert error.message.startswith(MESSAGE_PREFIX) and "smaller n" in error.message
    with guard.admit("numpy", 999):  # exactly fits
        assert guard.stats().in_flight_bytes == 7992
    stats = guard.stats()
    assert (stats.rejected_too_big, stats.admitted, stats.in_flight_bytes) == (1, 1, 0)


def _hold(guard: MemoryGuard, n: int, entered: threading.Event, leave: threading.Event) -> None:
    with guard.admit("numpy", n):
        entered.set()
        leave.wait(10)


@pytest.fixture
def two_holders() -> Iterator[tuple[MemoryGuard, list[threading.Event]]]:
    """A guard of 800 bytes with two threads each holding 400 (numpy, n=50) until released."""
    guard = MemoryGuard(800)
    leaves = [threading.Event(), threading.Event()]
    threads = []
    for leave in leaves:
        entered = threading.Event()
        thread = threading.Thread(target=_hold, args=(guard, 50, entered, leave))
        thread.start()
        assert entered.wait(5)
        threads.append(thread)
    yield guard, leaves
    for leave in leaves:
        leave.set()
    for thread in threads:
        thread.join(5)


def test_a_request_that_would_overflow_the_in_flight_total_gets_503_with_retry_after(
    two_holders: tuple[MemoryGuard, list[threading.Event]],
) -> None:
    guard, leaves = two_holders
    assert guard.stats().in_flight_bytes == 800 and guard.stats().in_flight_requests == 2
    with pytest.raises(Rejected) as caught, guard.admit("numpy", 1):
        pytest.fail("admitted past the budget")
    assert (caught.value.status, caught.value.reason) == (503, "busy")
    assert caught.value.retry_after == RETRY_AFTER_SECONDS
    with guard.admit("io", 1):  # needs no memory: admitted even when the budget is full
        pass
    leaves[0].set()
    for _ in range(500):
        if guard.stats().in_flight_bytes == 400:
            break
        threading.Event().wait(0.01)
    with guard.admit("numpy", 50):  # the released 400 bytes are available again
        assert guard.stats().in_flight_bytes == 800
    assert guard.stats().rejected_busy == 1


def test_the_budget_is_released_when_the_prediction_raises() -> None:
    guard = MemoryGuard(800)
    for _ in range(3):
        with pytest.raises(MemoryError), guard.admit("numpy", 100):
            raise MemoryError
    assert guard.stats().in_flight_bytes == 0 and guard.stats().in_flight_requests == 0
    with guard.admit("numpy", 100):
        pass


def test_threads_never_hold_more_than_the_budget() -> None:
    guard = MemoryGuard(8 * 300)
    lock = threading.Lock()
    held = [0, 0]  # now, most ever
    outcomes: list[str] = []

    def worker(n: int) -> None:
        for _ in range(300):
            try:
                with guard.admit("numpy", n):
                    with lock:
                        held[0] += 8 * n
                        held[1] = max(held[1], held[0])
                    threading.Event().wait(0.0001)
                    with lock:
                        held[0] -= 8 * n
                outcomes.append("ok")
            except Rejected as error:
                outcomes.append(error.reason)

    threads = [threading.Thread(target=worker, args=(n,)) for n in (50, 70, 100, 120, 150, 200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    stats = guard.stats()
    assert held[1] <= 8 * 300 and stats.peak_in_flight_bytes <= 8 * 300
    assert stats.in_flight_bytes == 0 and stats.in_flight_requests == 0
    assert {"ok", "busy"} <= set(outcomes)
    assert stats.admitted + stats.rejected_busy == len(outcomes) == 6 * 300


_FREED_ARRAYS_CODE = """
import sys
import numpy as np, psutil
from servelab.service import create_app
budget = None if sys.argv[1] == "off" else 10**9
create_app({"workload": "numpy", "memory_budget": budget})
process = psutil.Process()
np.arange(10)
before = process.memory_info().rss
for _ in range(3):  # one prediction's array (n = 3.5 M, 27 MiB), made and freed
    array = np.arange(3_500_000)
    array += 1
    del array
print(process.memory_info().rss - before)
"""


def _resident_growth(guard: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _FREED_ARRAYS_CODE, guard],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the mmap threshold is glibc's; others differ"
)
def test_a_guarded_process_gives_a_freed_prediction_array_back_at_once() -> None:
    # Unguarded, glibc raises its mmap threshold after the first big free and keeps the
    # next arrays resident once freed: memory the guard's sum would not see.
    assert _resident_growth("off") > 20 * MiB
    assert _resident_growth("on") < 4 * MiB


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 100_001, 3_350_000])
def test_the_lab_knows_the_correct_price_exactly(n: int) -> None:
    for area in (10.0, 33.3, 100.0):
        assert expected_price("numpy", area, n) == predict_numpy(area, n)
        assert expected_price("cpu", area, n) == predict_cpu(area, n)
    # beyond 2**53 numpy's float sum may round: the lab claims no price there
    assert expected_price("numpy", 10.0, 200_000_000) is None


# --- through the service -----------------------------------------------------------------


@pytest.fixture
def guarded_client() -> FlaskClient:
    config = {"workload": "numpy", "n": 1000, "memory_budget": 8 * 1000, "io_delay": 0.01}
    return create_app(config).test_client()


def test_the_service_answers_413_for_a_request_too_big_for_the_budget(
    guarded_client: FlaskClient,
) -> None:
    response = guarded_client.post("/predict?n=1001", json={"area": 42})
    assert response.status_code == 413
    body = response.get_json()
    assert body["field"] == "n" and body["error"].startswith(MESSAGE_PREFIX)
    assert "Retry-After" not in response.headers
    ok = guarded_client.post("/predict?n=1000", json={"area": 42})
    assert ok.status_code == 200 and ok.get_json() == {"price": expected_price("numpy", 42, 1000)}


def test_the_service_answers_503_with_retry_after_while_the_budget_is_taken(
    guarded_client: FlaskClient,
) -> None:
    guard: MemoryGuard = guarded_client.application.extensions["servelab.guard"]
    with guard.admit("numpy", 600):  # another request holding 4800 of the 8000 bytes
        busy = guarded_client.post("/predict?n=500", json={"area": 42})
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert busy.get_json()["error"].startswith(MESSAGE_PREFIX + "busy")
        io = guarded_client.post("/predict?workload=io", json={"area": 1})
        assert io.status_code == 200
    after = guarded_client.post("/predict?n=500", json={"area": 42})
    assert after.status_code == 200 and after.get_json() == {"price": int(42 * 249.5)}
    assert guard.stats().in_flight_bytes == 0


def test_the_budget_comes_from_the_environment_with_a_unit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SERVELAB_MEMORY_BUDGET", "1KiB")
    client = create_app({"workload": "numpy"}).test_client()
    assert client.post("/predict?n=128", json={"area": 1}).status_code == 200
    assert client.post("/predict?n=129", json={"area": 1}).status_code == 413


# --- real servers in a real cap, at the n where the unguarded server is OOM-killed ---------


def _probe(
    tmp_path: Path, server: str, n: int, name: str, budget: int | None = None
) -> TrialResult:
    setup = TrialSetup(
        ServerSpec.parse(server), "numpy", n, cap=CapSetup(CAP), memory_budget=budget
    )
    return run_trial(setup, TrialFiles.for_probe(tmp_path, name))


def _prices(folder: Path, probe: TrialResult) -> list[tuple[int | None, Any]]:
    rows = [json.loads(line) for line in (folder / probe.files.records).read_text().splitlines()]
    return [
        (row["status"], json.loads(row["body"]).get("price") if row["body"] else None)
        for row in rows
    ]


@pytest.mark.cgroup
def test_the_guard_keeps_the_dev_server_alive_where_it_is_oom_killed(tmp_path: Path) -> None:
    # 10 parallel requests of 96 MB (n = 12M int64) in a 200 MiB cap: two at once kill it
    n = 12_000_000
    unguarded = _probe(tmp_path, "flask-dev", n, "unguarded")
    assert unguarded.verdict.outcome == "oom" and unguarded.verdict.server_died
    assert unguarded.idle_bytes is not None
    budget = derived_budget(CAP, unguarded.idle_bytes)  # cap - idle - 10% of the cap
    assert 140 * MiB < budget < 160 * MiB  # room for one 91.6 MiB request, not two
    guarded = _probe(tmp_path, "flask-dev", n, "guarded", budget)
    v = guarded.verdict
    assert v.oom_kills == 0 and not v.server_died and v.failed_requests == 0
    assert v.outcome == "rejected", v
    assert v.rejected_by_status.get(503, 0) >= 1 and 413 not in v.rejected_by_status
    served = [(status, price) for status, price in _prices(tmp_path, guarded) if status == 200]
    assert served and guarded.prices == Prices(correct=len(served), wrong=0)
    assert guarded.summary.ok + v.rejected == 10
    assert guarded.peak_bytes is not None and guarded.peak_bytes < CAP


@pytest.mark.cgroup
def test_a_request_bigger_than_the_budget_gets_413_and_the_server_lives(tmp_path: Path) -> None:
    # tests/study/test_trial.py: at 20M the unguarded dev server is OOM-killed
    probe = _probe(tmp_path, "flask-dev", 20_000_000, "too_big", 150 * MiB)
    v = probe.verdict
    assert v.outcome == "rejected" and v.oom_kills == 0 and not v.server_died
    assert v.rejected_by_status == {413: 10}
    assert all(status == 413 for status, _ in _prices(tmp_path, probe))


@pytest.mark.cgroup
def test_gunicorn_at_its_failing_n_with_the_guard_has_no_oom_kill(tmp_path: Path) -> None:
    # tests/study/test_trial.py: at 30M one sync worker is OOM-killed again and again
    probe = _probe(tmp_path, "gunicorn:w1", 30_000_000, "gunicorn", 150 * MiB)
    v = probe.verdict
    assert v.oom_kills == 0 and v.worker_sigkills == 0 and v.outcome == "rejected"
    assert v.rejected_by_status == {413: 10}


@pytest.mark.cgroup
def test_gthread_workers_share_one_budget_per_process(tmp_path: Path) -> None:
    # four threads of one worker: 64 MB requests, two fit 140 MiB, the rest are told to retry
    probe = _probe(tmp_path, "gunicorn:w1:gthread:t4", 8_000_000, "gthread", 140 * MiB)
    v = probe.verdict
    assert v.oom_kills == 0 and v.outcome in ("rejected", "ok"), v
    assert probe.prices == Prices(correct=probe.summary.ok, wrong=0)
    assert probe.summary.ok >= 1


@pytest.mark.cgroup
@pytest.mark.slow
def test_critical_n_with_the_guard_finds_where_it_starts_refusing(tmp_path: Path) -> None:
    budget = 150 * MiB
    result = servelab_cli(
        "critical-n", "--server", "gunicorn", "--workload", "numpy", "--memory", "200MiB",
        "--memory-budget", "150MiB", "--repeats", "1", "--json", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["memory_budget"] == budget and found["oom_kills"] == 0
    # one sync worker: the guard refuses exactly when one array (8 bytes x n) passes the budget
    assert found["max_passing_n"] * 8 <= budget < found["min_failing_n"] * 8
    failing = [t for t in found["trials"] if t["n"] == found["min_failing_n"]]
    assert {t["verdict"]["outcome"] for t in failing} == {"rejected"}


# --- a study with the guard on in its runs ---------------------------------------------


@pytest.mark.slow
def test_a_study_with_a_budget_guards_every_run_and_the_report_says_so(tmp_path: Path) -> None:
    result = servelab_cli(
        "study", "--out", str(tmp_path), "--servers", "flask-dev", "--workloads", "io,numpy",
        "--n", "100000", "--io-delay", "0.1", "--no-critical", "--memory-budget", "500KiB",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    study = json.loads((tmp_path / "study.json").read_text())
    assert study["guard"]["memory_budget"] == 500 * 1024
    runs = {run["workload"]: run for run in study["runs"]}
    # io needs no memory; numpy at n = 100,000 needs 800,000 bytes, more than the budget
    assert runs["io"]["guard"] == {"memory_budget": 512000, "rejected_413": 0, "rejected_503": 0}
    assert runs["numpy"]["guard"]["rejected_413"] == 10
    assert runs["numpy"]["summary"]["ok"] == 0 and runs["io"]["summary"]["ok"] == 10
    report = (tmp_path / "report.md").read_text()
    budget = Lang("en").mib(512000)
    assert f"memory guard was on in every run's server: {budget} per server process" in report
    assert f"The memory guard ({budget} per server process) refused 10 as too big (413)" in report
