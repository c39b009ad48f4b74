"""Capped probes against real servers: OOM kills are found and labelled, other failures not."""

from __future__ import annotations

from pathlib import Path

import pytest

from servelab.servers import ServerSpec
from servelab.study.probe import ProbeLoad, run_probe
from servelab.units import parse_size

CAP = parse_size("200MiB")


def test_the_dev_server_dies_of_oom_and_the_client_sees_disconnects(tmp_path: Path) -> None:
    # ten parallel requests of 20M int64 (160 MB each) in a 200 MiB cap
    probe = run_probe(
        ServerSpec.parse("flask-dev"),
        "numpy",
        20_000_000,
        limit_bytes=CAP,
        folder=tmp_path,
        name="dev",
    )
    v = probe.verdict
    assert v.outcome == "oom" and v.oom_kills >= 1
    assert v.server_died and v.server_fate is not None and "SIGKILL" in v.server_fate
    assert set(v.errors_by_class) <= {"disconnected", "reset", "refused"}
    assert v.client_errors
    assert probe.peak_bytes is not None and probe.peak_bytes <= CAP


def test_gunicorn_loses_its_worker_to_oom_but_the_master_lives(tmp_path: Path) -> None:
    probe = run_probe(
        ServerSpec.parse("gunicorn:w1"),
        "numpy",
        30_000_000,
        limit_bytes=CAP,
        folder=tmp_path,
        name="prod",
    )
    v = probe.verdict
    assert v.outcome == "oom" and v.oom_kills >= 1
    assert not v.server_died  # the master was up when the lab stopped it
    assert any("was sent SIGKILL! Perhaps out of memory?" in line for line in v.server_lines)
    assert any("Booting worker" in line for line in v.server_lines)


def test_a_small_n_passes_with_its_memory_measured(tmp_path: Path) -> None:
    probe = run_probe(
        ServerSpec.parse("gunicorn:w1"),
        "numpy",
        2_000_000,
        limit_bytes=CAP,
        folder=tmp_path,
        name="small",
    )
    assert probe.verdict.outcome == "ok" and probe.verdict.oom_kills == 0
    assert probe.summary["ok"] == 10
    assert probe.idle_bytes is not None and probe.peak_bytes is not None
    # one request at a time: the peak is about idle + one 16 MB array
    assert 10 * 2**20 < probe.idle_bytes < probe.peak_bytes < probe.idle_bytes + 40 * 2**20
    assert probe.monitor["samples"] >= 2
    assert (tmp_path / probe.files["samples"]).is_file()
    assert (tmp_path / probe.files["records"]).read_text().count("\n") == 10


def test_a_worker_killed_for_time_is_not_labelled_oom(tmp_path: Path) -> None:
    probe = run_probe(
        ServerSpec.parse("gunicorn:w1:timeout1"),
        "io",
        1,
        limit_bytes=CAP,
        folder=tmp_path,
        name="timeout",
        io_delay=3.0,
        load=ProbeLoad(requests=1, concurrency=1, timeout=20),
    )
    v = probe.verdict
    assert v.outcome == "failed" and v.oom_kills == 0
    assert v.worker_timeouts >= 1 and "WORKER TIMEOUT" in v.reason
    assert v.reason.endswith("no OOM kill")


@pytest.mark.parametrize("server", ["flask-dev"])
def test_under_rlimit_memory_runs_out_as_memory_error_not_oom(tmp_path: Path, server: str) -> None:
    probe = run_probe(
        ServerSpec.parse(server),
        "numpy",
        50_000_000,
        limit_bytes=parse_size("512MiB"),
        folder=tmp_path,
        name="rlimit",
        mechanism="rlimit",
        load=ProbeLoad(requests=2, concurrency=2),
    )
    assert probe.cap["mechanism"] == "rlimit-as"
    assert "RLIMIT_AS" in probe.cap["description"]
    assert probe.verdict.outcome == "memory-error" and probe.verdict.oom_kills == 0
    assert not probe.verdict.server_died
