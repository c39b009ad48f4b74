"""Trials against real servers: OOM kills in a cap are found and labelled, other failures
not, and a study's run (no cap) keeps its files where the study puts them."""

from __future__ import annotations

from pathlib import Path

import pytest

from servelab.cli.words import verdict_reason
from servelab.servers import ServerSpec
from servelab.study.critical import SearchPolicy
from servelab.study.critical_run import CriticalSpec, find_critical_n
from servelab.study.trial import Burst, CapSetup, TrialFiles, TrialSetup, run_trial
from servelab.units import parse_size

from ..helpers import cpu_spinner

CAP = CapSetup(parse_size("200MiB"))


@pytest.mark.cgroup
def test_the_dev_server_dies_of_oom_and_the_client_sees_disconnects(tmp_path: Path) -> None:
    # ten parallel requests of 20M int64 (160 MB each) in a 200 MiB cap
    result = run_trial(
        TrialSetup(ServerSpec.parse("flask-dev"), "numpy", 20_000_000, cap=CAP),
        TrialFiles.for_probe(tmp_path, "dev"),
    )
    v = result.verdict
    assert v.outcome == "oom" and v.oom_kills >= 1
    assert v.server_died and v.server_end is not None and v.server_end.signal == "SIGKILL"
    assert set(v.errors_by_class) <= {"disconnected", "reset", "refused"}
    assert v.client_errors
    assert result.peak_bytes is not None and result.peak_bytes <= CAP.limit_bytes
    assert not result.survived


@pytest.mark.cgroup
def test_gunicorn_loses_its_worker_to_oom_but_the_master_lives(tmp_path: Path) -> None:
    result = run_trial(
        TrialSetup(ServerSpec.parse("gunicorn:w1"), "numpy", 30_000_000, cap=CAP),
        TrialFiles.for_probe(tmp_path, "prod"),
    )
    v = result.verdict
    assert v.outcome == "oom" and v.oom_kills >= 1
    assert not v.server_died  # the master was up when the lab stopped it
    assert any("was sent SIGKILL! Perhaps out of memory?" in line for line in v.server_lines)
    assert any("Booting worker" in line for line in v.server_lines)
    trial = result.as_trial(probe=3)
    assert trial.probe == 3 and trial.name == "prod" and trial.outcome == "oom"
    assert trial.ok_requests < trial.requests == result.summary.requests


@pytest.mark.cgroup
def test_a_small_n_passes_with_its_memory_measured(tmp_path: Path) -> None:
    files = TrialFiles.for_probe(tmp_path, "small")
    result = run_trial(
        TrialSetup(ServerSpec.parse("gunicorn:w1"), "numpy", 2_000_000, cap=CAP), files
    )
    assert result.verdict.outcome == "ok" and result.verdict.oom_kills == 0
    assert result.summary.ok == 10
    assert result.cap is not None and result.cap.memory_source == "cgroup"
    assert result.idle_bytes is not None and result.peak_bytes is not None
    # one request at a time: the peak is about idle + one 16 MB array
    assert 10 * 2**20 < result.idle_bytes < result.peak_bytes < result.idle_bytes + 40 * 2**20
    assert result.usage.samples >= 2
    assert result.prices is not None and result.prices.correct == 10
    assert (tmp_path / files.samples).is_file()
    assert (tmp_path / files.records).read_text().count("\n") == 10
    assert (tmp_path / files.server_log).is_file()
    assert result.server_end.stopped_by_lab and result.survived


@pytest.mark.cgroup
def test_a_worker_killed_for_time_is_not_labelled_oom(tmp_path: Path) -> None:
    setup = TrialSetup(
        ServerSpec.parse("gunicorn:w1:timeout1"),
        "io",
        1,
        cap=CAP,
        io_delay=3.0,
        load=Burst(requests=1, concurrency=1, timeout=20),
    )
    result = run_trial(setup, TrialFiles.for_probe(tmp_path, "timeout"))
    v = result.verdict
    assert v.outcome == "failed" and v.oom_kills == 0
    assert v.worker_timeouts >= 1
    said = verdict_reason(v, result.summary.requests)
    assert "WORKER TIMEOUT" in said and said.endswith("no OOM kill")


def test_a_run_without_a_cap_writes_the_seed_log_where_a_study_keeps_it(tmp_path: Path) -> None:
    files = TrialFiles.for_run(tmp_path, "io_bounded_dev")
    setup = TrialSetup(ServerSpec.parse("flask-dev"), "io", 1, io_delay=0.1, load=Burst(4, 4, 30))
    result = run_trial(setup, files)
    assert result.cap is None and result.verdict.outcome == "ok"
    assert files.as_json() == {
        "log": "log/io_bounded_dev.txt",
        "records": "records/io_bounded_dev.jsonl",
        "server_log": "server/io_bounded_dev.log",
        "samples": "samples/io_bounded_dev.jsonl",
    }
    lines = (tmp_path / "log" / "io_bounded_dev.txt").read_text().splitlines()
    assert len(lines) == 4 and all(line.startswith("Waited ") for line in lines)
    assert (
        result.summary.handlers is not None and (result.summary.handlers.max_concurrent or 0) >= 2
    )


def test_a_trial_records_what_its_client_cost(tmp_path: Path) -> None:
    """The burst's client CPU is in the trial's summary, which a study's run and a search's
    probe both keep: the report sets it beside the server's (issue 17)."""
    setup = TrialSetup(ServerSpec.parse("flask-dev"), "io", 1, io_delay=0.1, load=Burst(4, 4, 30))
    result = run_trial(setup, TrialFiles.for_probe(tmp_path, "client"))
    cpu = result.summary.client_cpu_seconds
    assert result.summary.ok == 4 and cpu is not None and cpu > 0
    probe = result.as_trial(probe=1).summary
    assert probe is not None and probe.client_cpu_seconds == cpu


@pytest.mark.parametrize("server", ["flask-dev"])
def test_under_rlimit_memory_runs_out_as_memory_error_not_oom(tmp_path: Path, server: str) -> None:
    setup = TrialSetup(
        ServerSpec.parse(server),
        "numpy",
        50_000_000,
        cap=CapSetup(parse_size("512MiB"), mechanism="rlimit"),
        load=Burst(requests=2, concurrency=2),
    )
    result = run_trial(setup, TrialFiles.for_probe(tmp_path, "rlimit"))
    assert result.cap is not None and result.cap.mechanism == "rlimit-as"
    assert result.verdict.outcome == "memory-error" and result.verdict.oom_kills == 0
    assert not result.verdict.server_died


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_under_rlimit_the_model_is_calibrated_in_address_space(tmp_path: Path) -> None:
    # RLIMIT_AS holds each process's address space, far above its RSS: a model calibrated
    # in RSS predicted 57.5 M for 45.4-46.9 M here (512 MiB). In VmSize it hits the bracket.
    spec = CriticalSpec(
        ServerSpec.parse("gunicorn:w1"),
        "numpy",
        parse_size("384MiB"),
        policy=SearchPolicy(repeats=1),
        mechanism="rlimit",
    )
    entry = find_critical_n(spec, tmp_path)
    assert entry.cap is not None and entry.cap.memory_source == "vms"
    assert entry.error is None and entry.predicted_n is not None
    assert entry.max_passing_n is not None and entry.min_failing_n is not None
    middle = (entry.max_passing_n + entry.min_failing_n) / 2
    assert abs(entry.predicted_n - middle) / middle < 0.08, entry


@pytest.mark.slow
def test_a_burst_while_other_work_runs_is_judged_busy(tmp_path: Path) -> None:
    setup = TrialSetup(
        ServerSpec.parse("gunicorn:w1"), "io", 1, io_delay=0.5, load=Burst(2, 2, timeout=30)
    )
    with cpu_spinner(60):
        result = run_trial(setup, TrialFiles.for_probe(tmp_path, "busy"))
    noise = result.noise
    assert noise is not None and noise.other_cores >= 0.6
    assert noise.busy and "cpu" in noise.busy_reasons()
    assert result.as_trial(probe=1).noise == noise  # a probe keeps it for search.json


@pytest.mark.slow
def test_a_cpu_burst_is_counted_as_the_servers_cpu(tmp_path: Path) -> None:
    setup = TrialSetup(ServerSpec.parse("gunicorn:w1"), "cpu", 3_000_000, load=Burst(3, 3))
    result = run_trial(setup, TrialFiles.for_probe(tmp_path, "cpu"))
    noise = result.noise
    assert noise is not None and noise.server_cores is not None
    assert noise.server_cores >= 0.25
    # the monitor's own sum of the tree, so the two agree; nothing is counted twice
    assert abs(noise.server_cores - (result.usage.mean_cores or 0)) < 0.05
    assert noise.server_cores + noise.lab_cores + noise.other_cores <= noise.cores + 0.15
