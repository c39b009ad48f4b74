"""``servelab load --engine locust``: a real Locust master and workers on loopback.

Each run starts Locust's processes (a few seconds of imports and connecting), so the runs
are short and marked slow. The server is the bench's fixed-delay server, which counts what
it answered: the merged records must be exactly that many, and the summary's percentiles
exactly what the records give.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from servelab._io import read_jsonl
from servelab.servers import RunningServer
from servelab.service import ServiceConfig

from ..helpers import REPO, free_port, launch_service, process_group, servelab_cli, wait_for
from .fixed_delay import FixedDelayServer, fixed_delay_server

DELAY = 0.02
TOKEN = "d1str1buted-T0ken"


@pytest.fixture(scope="module")
def server() -> Iterator[FixedDelayServer]:
    with fixed_delay_server(DELAY) as (_, port):
        yield FixedDelayServer(port, DELAY)


def _locust_load(url: str, out: Path, *args: str) -> dict[str, Any]:
    done = servelab_cli(
        "load", url, "--method", "GET", "--engine", "locust", "--processes", "2",
        "--out", str(out), *args,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Locust workers: 2" in done.stdout
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return summary


@pytest.mark.slow
def test_two_workers_closed_loop_merge_to_the_servers_own_count(
    server: FixedDelayServer, tmp_path: Path
) -> None:
    server.take_count()
    out = tmp_path / "closed"
    summary = _locust_load(
        server.url, out, "--mode", "closed", "--concurrency", "4", "--duration", "2"
    )
    rows = read_jsonl(out / "records.jsonl")

    assert summary["requests"] == len(rows) == server.take_count() > 0
    assert len({row["index"] for row in rows}) == len(rows)  # one row per request
    workers = summary["workers"]
    assert [w["index"] for w in workers] == [0, 1]
    assert all(w["requests"] > 0 and not w["lost"] for w in workers)
    assert sum(w["requests"] for w in workers) == len(rows)
    # Exact, not bucketed: the summary's percentiles are the merged records' own.
    latencies = np.array([row["latency"] for row in rows])
    latency = summary["latency"]
    for key, q in (("p50", 50), ("p90", 90), ("p99", 99)):
        assert latency[key] == float(np.percentile(latencies, q))
    assert latency["max"] == float(latencies.max())
    assert DELAY <= latency["p50"] < DELAY * 1.5  # the server's fixed delay, and loopback
    assert summary["parameters"] == {
        **summary["parameters"],
        "engine": "locust",
        "workers": 2,
        "concurrency": 4,
    }
    assert (out / "locust-master.log").exists()
    assert not (out / ".servelab-plan.json").exists()  # it may hold a token: removed


@pytest.mark.slow
def test_two_workers_open_loop_send_the_one_schedule(
    server: FixedDelayServer, tmp_path: Path
) -> None:
    server.take_count()
    out = tmp_path / "open"
    summary = _locust_load(
        server.url, out, "--mode", "open", "--rate", "100", "--duration", "2",
        "--slo", "p99<1s", "--slo", "errors<1%",
    )  # fmt: skip
    rows = read_jsonl(out / "records.jsonl")

    # 100/s for 2 s is 200 requests, each sent once by one of the two workers.
    assert sorted(row["index"] for row in rows) == list(range(200))
    assert summary["requests"] == summary["sent"] == 200 == server.take_count()
    intended = np.array([row["intended_start"] for row in sorted(rows, key=lambda r: r["index"])])
    assert np.allclose(np.diff(intended), 0.01, atol=0.002)  # one schedule, both workers
    assert [w["requests"] for w in summary["workers"]] == [100, 100]
    assert summary["errors"] == 0
    # The SLOs are judged on the merged whole, as for one machine.
    assert [(c["slo"], c["held"]) for c in summary["slo"]] == [
        ("p99<1s", True),
        ("errors<1%", True),
    ]


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = ServiceConfig(workload="io", io_delay=0.01, token=TOKEN)
    with launch_service("gunicorn:w2", tmp_path_factory.mktemp("locked"), config) as running:
        yield running


@pytest.mark.slow
def test_workers_send_the_own_engines_bodies_and_token(
    locked: RunningServer, tmp_path: Path
) -> None:
    url = f"{locked.url}/predict"
    done = servelab_cli(
        "load", url, "--engine", "locust", "--processes", "2", "--mode", "closed",
        "--concurrency", "2", "--requests", "20", "--token", TOKEN, "--out", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rows = read_jsonl(tmp_path / "records.jsonl")
    # The seed's bodies ({"area": 10} ... {"area": 100}), each worker cycling through them.
    assert len(rows) == 20 and all(row["ok"] for row in rows)
    assert {row["area"] for row in rows} == {10.0 * k for k in range(1, 11)}
    assert all(row["served_pid"] is not None for row in rows)  # the service's own headers
    assert TOKEN not in done.stdout + done.stderr
    assert TOKEN not in "".join(p.read_text() for p in tmp_path.glob("*.log"))

    refused = servelab_cli(
        "load", url, "--engine", "locust", "--processes", "2", "--mode", "closed",
        "--requests", "4", "--json",
    )  # fmt: skip
    assert refused.returncode == 0, refused.stderr
    summary = json.loads(refused.stdout)
    assert summary["ok"] == 0 and summary["errors_by_class"] == {"http-4xx": 4}


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_reported_with_what_it_sent(
    server: FixedDelayServer, tmp_path: Path
) -> None:
    server.take_count()
    port = free_port()
    out = tmp_path / "run"
    env = {**os.environ, "NO_COLOR": "1"}
    master_command = [
        sys.executable, "-m", "servelab", "load", server.url, "--method", "GET",
        "--engine", "locust", "--master", "--expect-workers", "2",
        "--master-bind-host", "127.0.0.1", "--master-port", str(port),
        "--mode", "closed", "--concurrency", "4", "--duration", "6", "--out", str(out),
    ]  # fmt: skip
    worker_command = [
        sys.executable, "-m", "servelab", "locust-worker",
        "--master-host", "127.0.0.1", "--master-port", str(port),
    ]  # fmt: skip
    with process_group(master_command, cwd=REPO, env=env, stdout=subprocess.PIPE) as master:
        with (
            process_group(worker_command, cwd=REPO, env=env) as first,
            process_group(worker_command, cwd=REPO, env=env) as second,
        ):
            records = out / "records.jsonl"
            wait_for(
                lambda: records.exists() and records.read_bytes().count(b"\n") >= 40,
                "both workers' first records",
                timeout=60,
            )
            os.killpg(second.pid, signal.SIGKILL)
            assert master.wait(timeout=60) == 0
            assert first.wait(timeout=15) == 0  # told to quit by the master
        assert master.stdout is not None
        text = master.stdout.read().decode()

    summary = json.loads((out / "summary.json").read_text())
    lost = [w for w in summary["workers"] if w["lost"]]
    kept = [w for w in summary["workers"] if not w["lost"]]
    assert len(lost) == 1 and len(kept) == 1, summary["workers"]
    assert lost[0]["requests"] > 0  # what it had shipped before it died counts
    assert summary["requests"] == sum(w["requests"] for w in summary["workers"])
    # The server answered those, and the few the killed worker never got to ship.
    assert server.take_count() >= summary["requests"]
    assert f"worker #{lost[0]['index']}" in text and "lost mid-run" in text


def test_locust_options_need_the_locust_engine_and_a_loop() -> None:
    own = servelab_cli("load", "http://127.0.0.1:9/x", "--processes", "2")
    burst = servelab_cli("load", "http://127.0.0.1:9/x", "--engine", "locust")
    lonely = servelab_cli(
        "load", "http://127.0.0.1:9/x", "--engine", "locust", "--mode", "closed", "--master"
    )
    few = servelab_cli(
        "load", "http://127.0.0.1:9/x", "--engine", "locust", "--mode", "closed",
        "--processes", "4", "--concurrency", "2",
    )  # fmt: skip
    assert own.returncode == burst.returncode == lonely.returncode == few.returncode == 2
    assert "--concurrency (2) must be at least --processes" in few.stderr
    assert "--processes is for --engine locust" in own.stderr
    assert "--engine locust runs --mode closed or --mode open" in burst.stderr
    assert "--master needs --expect-workers" in lonely.stderr


# Python's own way to say a module is not there: None in sys.modules (``import`` then raises
# ModuleNotFoundError, and ``importlib.util.find_spec`` finds nothing).
_WITHOUT_LOCUST = (
    "import sys; sys.modules['locust'] = None; sys.argv[0] = 'servelab'; "
    "from servelab.cli import main; main()"
)


@pytest.mark.parametrize(
    "args",
    [
        ("load", "http://127.0.0.1:9/x", "--engine", "locust", "--mode", "closed"),
        ("locust-worker", "--master-host", "127.0.0.1"),
    ],
)
def test_without_locust_one_line_says_what_to_install(args: tuple[str, ...]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_LOCUST, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: --engine locust needs Locust, not installed here: "
        "pip install 'servelab[distributed]'"
    ]


@pytest.mark.slow
def test_no_worker_connecting_is_a_clear_error(server: FixedDelayServer, tmp_path: Path) -> None:
    done = servelab_cli(
        "load", server.url, "--engine", "locust", "--master", "--expect-workers", "1",
        "--master-bind-host", "127.0.0.1", "--master-port", str(free_port()),
        "--workers-wait", "2", "--mode", "closed", "--duration", "1",
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "worker" in done.stderr.splitlines()[-1]


@pytest.mark.slow
def test_ctrl_c_keeps_the_records_and_leaves_no_locust_process(
    server: FixedDelayServer, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "servelab", "load", server.url, "--method", "GET",
        "--engine", "locust", "--processes", "2", "--mode", "closed", "--concurrency", "2",
        "--duration", "60", "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "NO_COLOR": "1"}
    records = out / "records.jsonl"
    with process_group(command, cwd=REPO, env=env) as lab:
        wait_for(
            lambda: records.exists() and records.read_bytes().count(b"\n") >= 20,
            "the first records",
            timeout=60,
        )
        locust = psutil.Process(lab.pid).children(recursive=True)
        assert len(locust) == 3  # the master and two workers
        lab.send_signal(signal.SIGINT)
        assert lab.wait(timeout=30) == 130
    assert read_jsonl(records)  # what was measured is kept
    assert not [p for p in locust if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not (out / ".servelab-plan.json").exists()


@pytest.mark.slow
def test_a_worker_that_cannot_reach_the_target_says_why_at_once() -> None:
    port = free_port()
    worker = [
        sys.executable, "-m", "servelab", "locust-worker",
        "--master-host", "127.0.0.1", "--master-port", str(port),
    ]  # fmt: skip
    with process_group(worker, cwd=REPO, env={**os.environ}):
        done = servelab_cli(
            "load", "http://no-such-host.invalid/x", "--engine", "locust", "--master",
            "--expect-workers", "1", "--master-bind-host", "127.0.0.1",
            "--master-port", str(port), "--mode", "closed", "--duration", "30",
            timeout=60,
        )  # fmt: skip
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: no Locust worker could run: worker #0: gaierror"), last
