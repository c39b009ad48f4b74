"""Processes the benchmark starts, and what it reads off them: CPU, counts, ports.

Every process runs in its own session (``start_new_session=True``) so that it can be
stopped as a group: TERM, a grace period, then KILL, gunicorn-style. A load tool is
reaped with ``os.wait4``, whose rusage is the exact user+system CPU of the tool and of
every descendant it reaped; ``psutil`` samples the live tree in between.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_get(url: str, timeout: float = 5.0) -> bytes:
    """The body of ``GET url`` (loopback only)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
        return body


def tree_cpu(pid: int) -> float:
    """User+system CPU seconds of ``pid``, its reaped children and its live descendants."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def system_busy() -> float:
    """CPU seconds all cores spent busy since boot (everything but idle and iowait)."""
    t = psutil.cpu_times()
    return float(sum(t)) - t.idle - getattr(t, "iowait", 0.0)


def wait_for_quiet(limit: float, threshold: float = 0.15, step: float = 0.5) -> dict[str, float]:
    """Wait, at most ``limit`` s, until the machine uses under ``threshold`` cores for ``step`` s.

    The benchmark shares its 2 cores with whatever else runs; starting a run while another
    process is busy would charge that noise to one tool. Returns how long it waited and the
    cores last seen busy (when that is still above ``threshold``, the limit ran out).
    """
    started = time.monotonic()
    while True:
        before = system_busy()
        time.sleep(step)
        cores = (system_busy() - before) / step
        waited = time.monotonic() - started
        if cores < threshold or waited >= limit:
            return {"waited_s": round(waited, 2), "busy_cores": round(cores, 3)}


def self_cpu() -> float:
    """This harness's own user+system CPU seconds."""
    t = os.times()
    return t.user + t.system


def stop_group(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """TERM the process group of ``proc``, wait up to ``grace`` s, then KILL it."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class Gunicorn:
    """``gunicorn -w N -k CLASS bench.target_app:app`` on a free loopback port, as a context
    manager: sync workers close the connection after each response, gthread's keep it."""

    def __init__(self, workers: int, worker_class: str, log: Path, threads: int = 4) -> None:
        """``threads``: gthread's threads per worker (other classes take none)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.argv = [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "-c",
            "bench/gunicorn_conf.py",
            "-w",
            str(workers),
            "-k",
            worker_class,
            *(["--threads", str(threads)] if worker_class == "gthread" else []),
            "--preload",  # the request counter's shared memory is made before the fork
            "--no-control-socket",
            "-b",
            f"127.0.0.1:{self.port}",
            "bench.target_app:app",
        ]
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(
                self.argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 30.0
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start; see {self._log}")
            try:
                self.count()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    stop_group(self._proc)
                    raise RuntimeError(f"gunicorn not ready in 30 s; see {self._log}") from None
                time.sleep(0.1)

    def __exit__(self, *_: object) -> None:
        if self._proc is not None:
            stop_group(self._proc)

    def count(self) -> int:
        """Requests the app has served so far, all workers together."""
        return int(http_get(self.url + "__count"))

    def cpu(self) -> float:
        """CPU seconds of the master and its workers."""
        assert self._proc is not None
        return tree_cpu(self._proc.pid)


class FixedDelayServer:
    """``bench/fixed_delay_server.py`` on a free loopback port, as a context manager."""

    def __init__(self, delay_ms: float, lifetime: float) -> None:
        self.argv = [
            sys.executable,
            "bench/fixed_delay_server.py",
            "--delay-ms",
            str(delay_ms),
            "--lifetime",
            str(lifetime),
        ]
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> FixedDelayServer:
        self._proc = subprocess.Popen(
            self.argv, cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], 15.0)
        line = self._proc.stdout.readline() if ready else ""
        if not line.startswith("listening on "):
            stop_group(self._proc)
            raise RuntimeError(f"fixed-delay server did not start: {line!r}")
        self.url = f"http://{line.split()[-1]}/"
        return self

    def __exit__(self, *_: object) -> None:
        if self._proc is not None:
            stop_group(self._proc)

    def cpu(self) -> float:
        """CPU seconds of the server process."""
        assert self._proc is not None
        return tree_cpu(self._proc.pid)

    def lateness(self) -> dict[str, Any]:
        """How late the server itself answered since the last call (and reset)."""
        stats: dict[str, Any] = json.loads(http_get(self.url + "__stats"))
        return stats


@dataclass
class Sample:
    """Counters read at one instant of a tool's run."""

    at: float  # seconds since the tool was started
    client_cpu: float
    server_cpu: float
    system_busy: float
    harness_cpu: float
    served: int | None


@dataclass
class Finished:
    """A load tool's run: exit, wall time, exact CPU from wait4, output, samples."""

    argv: list[str]
    returncode: int
    wall: float
    cpu_user: float
    cpu_system: float
    stdout: str
    stderr: str
    timed_out: bool
    samples: list[Sample] = field(default_factory=list)


def run_tool(
    argv: Sequence[str],
    *,
    workdir: Path,
    timeout: float,
    sample_at: Sequence[float] = (),
    sampler: Callable[[int, float], Sample] | None = None,
    env: Mapping[str, str] | None = None,
) -> Finished:
    """Run one load tool to its end; sample counters at ``sample_at`` s after its start.

    The tool is reaped with ``os.wait4`` so its rusage is its own (and its reaped
    descendants'), whatever else this process runs. Past ``timeout`` s its group is
    stopped and the run is marked ``timed_out``.
    """
    out_path, err_path = workdir / "stdout.txt", workdir / "stderr.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    started = time.monotonic()
    samples: list[Sample] = []
    pending = sorted(sample_at)
    timed_out = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        now = time.monotonic() - started
        if pending and now >= pending[0] and sampler is not None:
            pending.pop(0)
            samples.append(sampler(proc.pid, now))
            continue
        if now > timeout:
            timed_out = True
            _kill_unreaped(proc.pid)
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        nap = min(0.05, pending[0] - now) if pending else 0.05
        time.sleep(max(nap, 0.001))
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    with contextlib.suppress(ProcessLookupError):  # a descendant left behind: none may stay
        os.killpg(proc.pid, signal.SIGKILL)
    return Finished(
        argv=list(argv),
        returncode=proc.returncode,
        wall=wall,
        cpu_user=usage.ru_utime,
        cpu_system=usage.ru_stime,
        stdout=_read(out_path),
        stderr=_read(err_path),
        timed_out=timed_out,
        samples=samples,
    )


def _kill_unreaped(pid: int) -> None:
    # Popen.wait would reap the child and lose its rusage, so signal the group by hand.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if _exited(pid):
                return
            time.sleep(0.05)


def _exited(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _read(path: Path) -> str:
    return path.read_text(errors="replace")


def tail(text: str, lines: int = 5) -> str:
    """The last ``lines`` lines of ``text``, for an error message."""
    return "\n".join(text.strip().splitlines()[-lines:])


def versions(commands: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """First line each version command prints (stdout or stderr), or why it could not."""
    found: dict[str, str] = {}
    for name, argv in commands.items():
        try:
            done = subprocess.run(
                list(argv), cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
            )
            text = (done.stdout.strip() or done.stderr.strip()).splitlines()
            found[name] = text[0] if text else f"exit {done.returncode}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            found[name] = f"unavailable: {exc}"
    return found


def log_line(text: str, stream: IO[str] = sys.stderr) -> None:
    """Progress for the person watching; results go to files and stdout."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=stream, flush=True)
