"""servelab.servers.monitor: real process trees sampled as they work, grow, lose workers, die."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from servelab.errors import ConfigError, ServerCrashedError
from servelab.load import run_burst
from servelab.servers import RunningServer, ServerSpec, launch
from servelab.servers.monitor import (
    Monitor,
    MonitorSummary,
    Sample,
    load_samples,
    tree_cpu_seconds,
)

MB = 1 << 20
COLUMNS = {
    "t",
    "rss_bytes",
    "processes",
    "pids",
    "cpu_seconds",
    "root_alive",
    "cgroup_bytes",
    "oom_kills",
    "max_vms_bytes",
}
CPU_ENV = {"SERVELAB_WORKLOAD": "cpu", "SERVELAB_N": "300000"}


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def gunicorn_w2(tmp_path: Path) -> Iterator[RunningServer]:
    with launch(
        ServerSpec.parse("gunicorn:w2"), run_dir=tmp_path / "server", env=CPU_ENV, ready_timeout=20
    ) as server:
        yield server


@contextlib.contextmanager
def python_group(code: str) -> Iterator[subprocess.Popen[str]]:
    """Run ``code`` in its own process group; KILL the whole group afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def check_file(path: Path, summary: MonitorSummary) -> list[Sample]:
    """Every sample is on disk, with every column, in time order, CPU never going down."""
    rows = load_samples(path)
    assert len(rows) == summary.samples
    assert all(set(row) == COLUMNS for row in rows)
    times = [row["t"] for row in rows]
    assert times == sorted(times)
    cpu = [row["cpu_seconds"] for row in rows]
    assert cpu == sorted(cpu)
    assert cpu[0] == 0 and cpu[-1] == pytest.approx(summary.cpu_seconds, abs=1e-5)
    assert max(row["rss_bytes"] for row in rows) == summary.max_rss_bytes
    assert max(row["processes"] for row in rows) == summary.max_processes
    assert all(row["max_vms_bytes"] >= 0 for row in rows)
    return rows


@pytest.mark.timeout(30)
def test_gunicorn_burst_is_sampled_at_20_hz_with_the_cpu_psutil_sees(
    gunicorn_w2: RunningServer, tmp_path: Path
) -> None:
    server = gunicorn_w2
    tree = server.process_pids()
    assert len(tree) == 3
    path = tmp_path / "samples.jsonl"
    before = tree_cpu_seconds(server.pid)
    with Monitor(server.pid, path) as monitor:
        began = time.monotonic()
        records = run_burst(f"{server.url}/predict", requests=10, concurrency=10)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - began)))  # a second, for the rate
    after = tree_cpu_seconds(server.pid)
    assert all(record.ok for record in records)
    assert sorted(server.process_pids()) == sorted(tree)  # nobody died: psutil saw it all

    summary = monitor.stop()
    assert summary.samples / summary.duration >= 10
    assert summary.duration >= 1.0
    assert set(tree) <= set(summary.pids_seen)
    assert summary.max_processes == 3 and not summary.root_exited
    assert summary.cpu_seconds > 0
    assert summary.cpu_seconds == pytest.approx(after - before, abs=0.05, rel=0.1)
    assert summary.mean_cores == pytest.approx(summary.cpu_seconds / summary.duration)
    assert summary.max_cgroup_bytes is None
    assert json.loads(json.dumps(summary.to_json()))["pids_seen"] == list(summary.pids_seen)

    rows = check_file(path, summary)
    assert all(row["processes"] == 3 and sorted(tree) == row["pids"] for row in rows)
    assert all(row["rss_bytes"] > 0 and row["cgroup_bytes"] is None for row in rows)
    assert max(b["t"] - a["t"] for a, b in itertools.pairwise(rows)) < 0.5


@pytest.mark.timeout(30)
def test_memory_a_grandchild_allocates_is_seen(tmp_path: Path) -> None:
    # The grandchild caps its own address space: a bug here must not eat the machine.
    allocate = (
        "import resource, time;"
        f" resource.setrlimit(resource.RLIMIT_AS, ({400 * MB}, {400 * MB}));"
        f" time.sleep(0.3); data = b'x' * {80 * MB}; time.sleep(30)"
    )
    path = tmp_path / "samples.jsonl"
    with (
        python_group(
            f"""
            import subprocess, sys
            subprocess.run([sys.executable, "-c", {allocate!r}])
            """
        ) as root,
        Monitor(root.pid, path, interval=0.02) as monitor,
    ):
        start = load_samples(path)[0]["rss_bytes"]

        def grown() -> bool:
            peak = monitor.summary.max_rss_bytes
            return peak is not None and peak > start + 60 * MB

        wait_for(grown)
    summary = monitor.stop()
    assert summary.max_rss_bytes is not None and summary.max_rss_bytes > start + 60 * MB
    assert summary.max_processes == 2 and len(summary.pids_seen) == 2
    rows = check_file(path, summary)
    assert max(rows, key=lambda row: row["rss_bytes"])["processes"] == 2


@pytest.mark.timeout(30)
def test_a_killed_worker_keeps_its_cpu_and_its_replacement_is_seen(
    gunicorn_w2: RunningServer, tmp_path: Path
) -> None:
    server = gunicorn_w2
    path = tmp_path / "samples.jsonl"
    with Monitor(server.pid, path) as monitor:
        records = run_burst(f"{server.url}/predict", requests=6, concurrency=6)
        victim = records[0].served_pid
        assert victim is not None and victim != server.pid
        time.sleep(0.1)
        cpu_before_kill = monitor.summary.cpu_seconds
        assert cpu_before_kill > 0
        tree = set(server.process_pids())
        killed_at = time.time()
        os.kill(victim, signal.SIGKILL)

        def replaced() -> bool:
            pids = server.process_pids()
            return len(pids) == 3 and victim not in pids

        wait_for(replaced, timeout=15)
        (new,) = set(server.process_pids()) - tree
        wait_for(lambda: new in monitor.summary.pids_seen)
        assert all(record.ok for record in run_burst(f"{server.url}/predict", requests=4))
    summary = monitor.stop()

    assert server.poll() is None
    assert {server.pid, victim, new} <= set(summary.pids_seen)
    assert summary.cpu_seconds >= cpu_before_kill
    rows = check_file(path, summary)  # monotone CPU: the dead worker's seconds stay counted
    later = [row for row in rows if row["t"] > killed_at]
    assert any(victim not in row["pids"] and new in row["pids"] for row in later)
    assert later[-1]["processes"] == 3


@pytest.mark.timeout(30)
def test_the_root_exiting_leaves_its_orphan_monitored_then_nothing(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    with python_group(
        """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        print(child.pid, flush=True)
        time.sleep(0.3)
        """
    ) as root:
        assert root.stdout is not None
        orphan = int(root.stdout.readline())
        monitor = Monitor(root.pid, path, interval=0.02).start()
        try:
            root.wait(10)  # the root ends; its child lives on, re-parented

            def last() -> Sample:
                return load_samples(path)[-1]

            wait_for(lambda: not last()["root_alive"] and last()["pids"] == [orphan])
            os.killpg(root.pid, signal.SIGKILL)
            wait_for(lambda: gone(orphan))
            wait_for(lambda: last()["processes"] == 0)
            time.sleep(0.1)  # the thread keeps sampling an empty tree
        finally:
            summary = monitor.stop()

    assert summary.root_exited
    assert set(summary.pids_seen) == {root.pid, orphan}
    rows = check_file(path, summary)
    assert rows[0]["root_alive"] and rows[0]["processes"] == 2
    assert rows[-1] == {**rows[-1], "processes": 0, "pids": [], "rss_bytes": 0}
    assert sum(row["processes"] == 0 for row in rows) >= 3


class CountingCap:
    """A UsageSource that reports 1000 bytes more at every call."""

    def __init__(self) -> None:
        self.calls = 0

    def usage_bytes(self) -> int | None:
        self.calls += 1
        return 1000 * self.calls

    def oom_kills(self) -> int:
        return self.calls // 3


class UnknownCap:
    def usage_bytes(self) -> int | None:
        return None


class RemovedCap:
    def usage_bytes(self) -> int | None:
        raise FileNotFoundError("memory.usage_in_bytes")


def test_a_usage_source_fills_cgroup_bytes(tmp_path: Path) -> None:
    cap = CountingCap()
    path = tmp_path / "samples.jsonl"
    with Monitor(os.getpid(), path, interval=0.01, usage=cap) as monitor:
        time.sleep(0.1)
    summary = monitor.stop()
    rows = check_file(path, summary)
    assert [row["cgroup_bytes"] for row in rows] == [1000 * (i + 1) for i in range(len(rows))]
    assert summary.max_cgroup_bytes == 1000 * cap.calls == 1000 * summary.samples
    # a source with an OOM-kill counter fills that column, read right after the usage
    assert [row["oom_kills"] for row in rows] == [(i + 1) // 3 for i in range(len(rows))]


@pytest.mark.parametrize("cap", [UnknownCap(), RemovedCap()])
def test_an_unknown_usage_is_null(tmp_path: Path, cap: UnknownCap | RemovedCap) -> None:
    path = tmp_path / "samples.jsonl"
    with Monitor(os.getpid(), path, interval=0.01, usage=cap) as monitor:
        time.sleep(0.05)
    summary = monitor.stop()
    assert summary.max_cgroup_bytes is None
    rows = check_file(path, summary)
    assert all(row["cgroup_bytes"] is None and row["oom_kills"] is None for row in rows)


def test_stop_is_idempotent_and_no_path_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Monitor(os.getpid(), interval=0.01) as monitor:
        time.sleep(0.1)
        assert "running" in repr(monitor)
    first = monitor.stop()
    assert monitor.stop() == first == monitor.summary
    assert first.samples >= 5 and first.max_processes >= 1
    assert first.pids_seen[0] == os.getpid()
    assert "stopped" in repr(monitor)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="only once"):
        monitor.start()


def test_load_samples_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    with Monitor(os.getpid(), path, interval=0.01) as monitor:
        time.sleep(0.05)
    with path.open("a") as handle:
        handle.write('{"t": 17000')
    assert len(load_samples(path)) == monitor.stop().samples


def test_a_root_already_gone_is_an_error(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(10)
    path = tmp_path / "samples.jsonl"
    with pytest.raises(ServerCrashedError, match=str(proc.pid)):
        Monitor(proc.pid, path).start()
    assert not path.exists()


@pytest.mark.parametrize("interval", [0, -0.05, math.nan, math.inf])
def test_interval_must_be_positive(interval: float) -> None:
    with pytest.raises(ConfigError, match="interval"):
        Monitor(os.getpid(), interval=interval)


@pytest.mark.timeout(30)
def test_a_child_born_and_dead_between_samples_counts_its_cpu_not_its_zombie(
    tmp_path: Path,
) -> None:
    path = tmp_path / "samples.jsonl"
    with python_group(
        """
        import subprocess, sys, time
        time.sleep(0.2)
        burn = "import time\\nend = time.process_time() + 0.3\\n"
        burn += "while time.process_time() < end: pass"
        child = subprocess.Popen([sys.executable, "-c", burn])
        print(child.pid, flush=True)
        time.sleep(30)  # never reaps the child: it stays a zombie
        """
    ) as root:
        assert root.stdout is not None
        # One sample at start() (no child yet), the next only at stop().
        with Monitor(root.pid, path, interval=600) as monitor:
            child = int(root.stdout.readline())
            wait_for(lambda: gone(child))
    summary = monitor.stop()
    assert summary.samples == 2
    assert summary.pids_seen == (root.pid, child)
    assert summary.cpu_seconds >= 0.25  # the child burnt 0.3 s: it counts from zero
    rows = check_file(path, summary)
    assert [row["pids"] for row in rows] == [[root.pid], [root.pid]]
