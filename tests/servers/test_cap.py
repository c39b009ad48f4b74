"""servelab.servers.cap: real cgroups, real OOM kills, real servers; nothing left behind."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from servelab.errors import ConfigError, SandboxError
from servelab.load import run_burst
from servelab.results import Cap
from servelab.servers import RunningServer, ServerSpec, launch
from servelab.servers import cap as sandbox
from servelab.servers.cap import (
    MIN_LIMIT,
    MemoryCap,
    available_mechanism,
    cleanup_stale,
    memory_room,
    open_cap,
)
from servelab.study.trial import CapSetup
from servelab.units import format_size, parse_size

from ..helpers import REPO, in_cgroup, memory_cgroup

pytestmark = [pytest.mark.timeout(60), pytest.mark.cgroup]

MiB = 2**20
MECHANISM = available_mechanism()
needs_cgroup = pytest.mark.skipif(
    MECHANISM not in ("cgroup-v1", "cgroup-v2"), reason="no cgroup memory cap possible here"
)
OpenCap = Callable[..., MemoryCap]
Start = Callable[..., RunningServer]


def own_cgroup() -> Path | None:
    """Our cgroup in the memory hierarchy, found without the module under test."""
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return Path("/sys/fs/cgroup/memory" + path.rstrip("/"))
    for line in lines:
        if line.startswith("0::"):
            return Path("/sys/fs/cgroup" + line[3:].rstrip("/"))
    return None


def our_caps() -> set[Path]:
    """servelab cgroups this test process owns."""
    base = own_cgroup()
    return set(base.glob(f"servelab-{os.getpid()}-*")) if base else set()


def force_remove(path: Path) -> None:
    """Last-resort cleanup that does not trust the module under test."""
    deadline = time.monotonic() + 5
    while path.exists() and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            for pid in (path / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        with contextlib.suppress(OSError):
            path.rmdir()
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def no_cgroup_left() -> Iterator[None]:
    """Fail any test that leaves one of our cgroups behind, and remove it."""
    before = our_caps()
    yield
    left = our_caps() - before
    for path in left:
        force_remove(path)
    assert not left, f"cgroups left behind: {sorted(left)}"


@pytest.fixture
def caps() -> Iterator[OpenCap]:
    """open_cap with a text size; every cap is closed at teardown, also after a failure."""
    made: list[MemoryCap] = []

    def _open(size: str, **kwargs: Any) -> MemoryCap:
        cap = open_cap(parse_size(size), **kwargs)
        made.append(cap)
        return cap

    yield _open
    for cap in made:
        cap.close()


@pytest.fixture
def start(tmp_path: Path, caps: OpenCap) -> Iterator[Start]:
    """Launch a server inside a cap; servers stop at teardown before their caps close."""
    started: list[RunningServer] = []

    def _start(text: str, cap: MemoryCap, **env: str) -> RunningServer:
        server = launch(
            ServerSpec.parse(text),
            run_dir=tmp_path,
            env=env,
            command_prefix=cap.command_prefix(),
            ready_timeout=20.0,
        )
        started.append(server)
        return server

    yield _start
    for server in started:
        server.stop(grace=1.0)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def numpy_url(server: RunningServer, n: int) -> str:
    return f"{server.url}/predict?workload=numpy&n={n}"


def run_python(cap: MemoryCap, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cap.command_prefix(), sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("384MiB", 384 * MiB),
        ("1GiB", 2**30),
        ("1.5GiB", 3 * 2**29),
        ("1.5 gib", 3 * 2**29),
        ("300M", 300_000_000),
        ("300MB", 300_000_000),
        ("64Mi", 64 * MiB),
        ("2k", 2000),
        ("1073741824", 2**30),
        (" 1_000_000 ", 1_000_000),
        ("512B", 512),
        (".5KiB", 512),
        (4096, 4096),
    ],
)
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text", ["", "MiB", "12 parsecs", "1.2.3G", "-5MiB", "1e9", "0x10", "1__0"]
)
def test_parse_size_rejects_bad_text_and_names_it(text: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(repr(text))):
        parse_size(text)


@pytest.mark.parametrize("value", [-1, True, 1.5])
def test_parse_size_rejects_bad_values(value: Any) -> None:
    with pytest.raises(ConfigError):
        parse_size(value)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (2048, "2 KiB"),
        (384 * MiB, "384 MiB"),
        (300_000_000, "286.1 MiB"),
        (2**30, "1.0 GiB"),
        (3 * 2**29, "1.5 GiB"),
        (-2 * MiB, "-2 MiB"),
    ],
)
def test_format_size(n: int, text: str) -> None:
    assert format_size(n) == text


def test_open_cap_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="at least 1 MiB"):
        open_cap(MIN_LIMIT - 1)
    with pytest.raises(ConfigError, match="mechanism"):
        open_cap(64 * MiB, mechanism="docker")  # type: ignore[arg-type]


@needs_cgroup
def test_cap_is_a_child_of_our_cgroup_with_the_limit_and_is_gone_after_close() -> None:
    cap = open_cap(64 * MiB, label="life cycle/1")
    try:
        assert cap.mechanism == MECHANISM == available_mechanism()
        assert cap.path is not None and cap.path.parent == own_cgroup()
        assert re.fullmatch(rf"servelab-{os.getpid()}-life_cycle_1-\d+", cap.path.name)
        if cap.mechanism == "cgroup-v1":
            assert (cap.path / "memory.limit_in_bytes").read_text().strip() == str(64 * MiB)
            assert "oom_kill_disable 0" in (cap.path / "memory.oom_control").read_text()
            memsw = cap.path / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                assert memsw.read_text().strip() == str(64 * MiB)
        assert cap.describe() == f"cgroup {cap.mechanism[-2:]} memory cap of 64 MiB"
        assert cap.to_cap("cgroup") == Cap(
            mechanism=cap.mechanism,
            limit_bytes=64 * MiB,
            path=str(cap.path),
            fallback_reason=None,
            memory_source="cgroup",
        )
        assert cap.pids() == [] and cap.oom_kills() == 0
        assert cap in sandbox._OPEN
        prefix = cap.command_prefix()
        assert prefix[-1] == "servelab-cap" and str(cap.path / "cgroup.procs") in prefix[2]
    finally:
        cap.close()
    assert not cap.path.exists()
    assert cap.closed and cap not in sandbox._OPEN
    cap.close()  # idempotent
    assert cap.usage_bytes() is None and cap.pids() == [] and cap.oom_kills() == 0
    with pytest.raises(SandboxError, match="closed"):
        cap.command_prefix()
    # A command never runs uncapped: with the cgroup gone, the wrapper fails before exec.
    ran = subprocess.run([*prefix, "echo", "ran"], capture_output=True, text=True, check=False)
    assert ran.returncode != 0 and "ran" not in ran.stdout


@needs_cgroup
def test_cap_kills_what_is_inside_and_goes_away_when_the_block_raises() -> None:
    sleepers: list[subprocess.Popen[bytes]] = []
    try:
        with pytest.raises(RuntimeError, match="boom"), open_cap(64 * MiB, label="raises") as cap:
            sleepers.append(subprocess.Popen([*cap.command_prefix(), "sleep", "60"]))
            wait_for(lambda: cap.pids() == [sleepers[0].pid])
            raise RuntimeError("boom")
        assert sleepers[0].wait(timeout=5) == -signal.SIGKILL
        assert cap.path is not None and not cap.path.exists()
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()


@needs_cgroup
def test_plain_process_over_the_limit_is_oom_killed(caps: OpenCap) -> None:
    cap = caps("150MiB", label="oom")
    # np.ones touches every page: about 320 MB in a 150 MiB cap.
    result = run_python(cap, "import numpy as np; a = np.ones(40_000_000)")
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert cap.oom_kills() >= 1
    peak = cap.peak_bytes()
    assert peak is not None and 140 * MiB <= peak <= 150 * MiB
    assert cap.pids() == []


@needs_cgroup
def test_plain_process_under_the_limit_is_not_killed(caps: OpenCap) -> None:
    cap = caps("150MiB", label="fits")
    result = run_python(cap, "import numpy as np; a = np.ones(5_000_000)")  # 40 MB
    assert result.returncode == 0, result.stderr
    assert cap.oom_kills() == 0
    peak = cap.peak_bytes()
    assert peak is not None and 40_000_000 < peak < 100 * MiB
    usage = cap.usage_bytes()
    assert usage is not None and usage < peak
    cap.reset_peak()
    after = cap.peak_bytes()
    assert after is not None and after < 40_000_000


@needs_cgroup
def test_atexit_removes_a_cap_the_program_forgot_to_close(tmp_path: Path) -> None:
    code = "from servelab.servers.cap import open_cap; print(open_cap(2**26, label='forgot').path)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path.name.startswith("servelab-") and not path.exists()


@needs_cgroup
def test_flask_dev_dies_when_parallel_requests_exceed_the_cap(caps: OpenCap, start: Start) -> None:
    cap = caps("200MiB", label="dev-oom")
    server = start("flask-dev", cap, SERVELAB_WORKLOAD="numpy")
    assert server.pid in cap.pids()
    # 10 threads at once, 160 MB each, in one process: the kernel kills that process.
    records = run_burst(numpy_url(server, 20_000_000), requests=10, concurrency=10, timeout=30)
    wait_for(lambda: server.poll() is not None)
    died = server.poll()
    assert died is not None and died.signal == "SIGKILL" and not died.stopped_by_lab
    failed = {r.error_class for r in records if not r.ok}
    assert failed & {"disconnected", "reset"} and failed <= {"disconnected", "reset", "refused"}
    assert cap.oom_kills() >= 1
    assert cap.pids() == []


@needs_cgroup
def test_gunicorn_worker_is_oom_killed_and_rebooted_master_lives(
    caps: OpenCap, start: Start
) -> None:
    cap = caps("200MiB", label="prod-oom")
    server = start("gunicorn:w1", cap, SERVELAB_WORKLOAD="numpy")
    assert sorted(server.process_pids()) == sorted(cap.pids())
    (record,) = run_burst(numpy_url(server, 30_000_000), requests=1, concurrency=1, timeout=30)
    assert not record.ok and record.error_class in ("disconnected", "reset")
    log = server.log_path
    wait_for(lambda: log.read_text().count("Booting worker") >= 2)
    text = log.read_text()
    assert re.search(r"Worker \(pid:\d+\) was sent SIGKILL! Perhaps out of memory\?", text)
    assert server.poll() is None
    assert cap.oom_kills() >= 1
    (again,) = run_burst(numpy_url(server, 1000), requests=1, concurrency=1, timeout=30)
    assert again.ok  # the rebooted worker serves
    assert again.served_pid in cap.pids() and again.served_pid != record.served_pid


@needs_cgroup
@pytest.mark.parametrize("text", ["flask-dev", "gunicorn:w1"])
def test_servers_under_the_limit_serve_everything(caps: OpenCap, start: Start, text: str) -> None:
    cap = caps("200MiB", label="fits")
    server = start(text, cap, SERVELAB_WORKLOAD="numpy")
    idle = cap.usage_bytes()
    assert idle is not None and 10 * MiB < idle < 80 * MiB
    records = run_burst(numpy_url(server, 1_000_000), requests=10, concurrency=10, timeout=30)
    assert all(r.ok for r in records), [r.error for r in records]
    assert cap.oom_kills() == 0
    peak = cap.peak_bytes()
    assert peak is not None and idle < peak < 200 * MiB
    assert server.poll() is None


@needs_cgroup
def test_worker_killed_for_another_reason_is_not_an_oom(caps: OpenCap, start: Start) -> None:
    cap = caps("200MiB", label="timeout")
    server = start("gunicorn:w1:timeout1", cap, SERVELAB_WORKLOAD="io", SERVELAB_IO_DELAY="3")
    (record,) = run_burst(f"{server.url}/predict", requests=1, concurrency=1, timeout=30)
    # gunicorn 27 sends SIGABRT on timeout; a worker asleep in Python exits at once.
    assert not record.ok
    log = server.log_path
    wait_for(lambda: log.read_text().count("Booting worker") >= 2)
    assert re.search(r"WORKER TIMEOUT \(pid:\d+\)", log.read_text())
    # A SIGKILL from anyone else gets the same log line as an OOM kill.
    worker = next(pid for pid in server.process_pids() if pid != server.pid)
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: log.read_text().count("Booting worker") >= 3)
    assert f"Worker (pid:{worker}) was sent SIGKILL! Perhaps out of memory?" in log.read_text()
    assert server.poll() is None
    assert cap.oom_kills() == 0


def test_rlimit_fallback_gives_memory_errors_and_the_server_lives(
    caps: OpenCap, start: Start
) -> None:
    # The dev server reserves about 230 MiB of address space idle (numpy, OpenBLAS) and up
    # to about 450 MiB once 10 threads have run (stacks, malloc arenas); 400 MB more fails.
    cap = caps("512MiB", mechanism="rlimit", label="rlimit")
    assert cap.mechanism == "rlimit-as" and cap.path is None
    assert cap.describe().startswith("RLIMIT_AS of 512 MiB per process (fallback:")
    assert cap.to_cap().path is None and cap.fallback_reason is None
    assert cap.command_prefix()[2] == f'ulimit -v {512 * 1024} && exec "$@"'
    # glibc reserves 64 MiB of address space per malloc arena, and threads that meet in
    # malloc make new ones (up to 8 per core): how many depends on timing, and a few extra
    # would push 10 small requests over the limit. Two arenas keep the test about numpy.
    server = start("flask-dev", cap, SERVELAB_WORKLOAD="numpy", MALLOC_ARENA_MAX="2")
    small = run_burst(numpy_url(server, 1_000_000), requests=10, concurrency=10, timeout=30)
    assert all(r.ok for r in small), [r.error for r in small]
    (big,) = run_burst(numpy_url(server, 50_000_000), requests=1, concurrency=1, timeout=30)
    assert big.status == 500 and "MemoryError" in (big.error or ""), big.body
    assert server.poll() is None
    (after,) = run_burst(numpy_url(server, 1000), requests=1, concurrency=1, timeout=30)
    assert after.ok and after.served_pid == server.pid
    assert cap.oom_kills() == 0
    assert cap.usage_bytes() is None and cap.peak_bytes() is None and cap.pids() == []


@needs_cgroup
def test_cleanup_stale_removes_caps_of_dead_owners_only() -> None:
    base = own_cgroup()
    assert base is not None
    dead = subprocess.Popen(["true"])
    dead.wait()  # reaped: its pid names no process now
    owner = subprocess.Popen(["sleep", "60"])
    stale = base / f"servelab-{dead.pid}-stale-0"
    alive = base / f"servelab-{owner.pid}-alive-0"
    processes = [owner]
    try:
        stale.mkdir()
        alive.mkdir()
        script = f"echo $$ > {stale}/cgroup.procs && exec sleep 60"
        inside = subprocess.Popen(["/bin/sh", "-c", script])
        processes.append(inside)
        wait_for(lambda: (stale / "cgroup.procs").read_text().split() == [str(inside.pid)])

        removed = cleanup_stale()

        assert stale in removed and alive not in removed
        assert inside.wait(timeout=5) == -signal.SIGKILL
        assert not stale.exists() and alive.exists()
    finally:
        for process in processes:
            process.kill()
            process.wait()
        force_remove(stale)
        force_remove(alive)


# A cap bigger than the memory there is: refused in one line before any server starts.


@needs_cgroup
def test_a_cap_above_the_parent_cgroups_limit_is_refused_before_any_probe(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "servelab", "critical-n", "--server", "flask-dev"]
    command += ["--workload", "numpy", "--memory", "1GiB", "--out", str(out)]
    with memory_cgroup(300 * MiB) as parent:
        done = subprocess.run(
            in_cgroup(parent, command), capture_output=True, text=True, timeout=50, cwd=REPO
        )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: a memory cap of 1.0 GiB cannot be held here:")
    assert f"the cgroup {parent} that holds the lab is limited to 300 MiB" in lines[0]
    most = int(re.findall(r"ask for at most (\d+)MiB$", lines[0])[0])
    assert 200 < most < 300
    assert not out.exists()  # no probe, not even a server log


def test_a_cap_above_the_machines_memory_is_refused_by_the_plan_and_by_open_cap() -> None:
    room = memory_room()
    assert room is not None
    too_big = room.room_bytes + 2**30
    with pytest.raises(ConfigError, match=r"cannot be held here: .*; ask for at most \d+MiB$"):
        CapSetup(too_big)
    with pytest.raises(ConfigError, match=r"cannot be held here"):
        open_cap(too_big, mechanism="rlimit")
