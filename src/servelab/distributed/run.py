"""Start Locust's master (and, on this machine, its workers) for a plan, wait, clean up.

servelab's own process never imports Locust (it would monkey-patch it with gevent): the
master and the workers are ``python -m locust -f <servelab's locustfile>`` subprocesses,
each in its own process group, logged to ``locust-master.log`` and
``locust-worker-N.log`` in the run's folder, watched by the lab's reaper (``servers.reaper``)
so that they die with the lab however it dies, and stopped TERM -> KILL when the run ends,
fails or is interrupted. The master writes ``records.jsonl`` and ``workers.json`` there
(``locustfile``); ``merge`` makes the summary from them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from servelab.distributed.plan import RECORDS_FILE, START_FILE, WORKERS_FILE, Plan
from servelab.errors import LoadError
from servelab.noise import add_client_cpu
from servelab.servers import reaper
from servelab.servers.process import group_exists

LOCUSTFILE: Final = Path(__file__).with_name("locustfile.py")
INSTALL_HINT: Final = "pip install 'servelab[distributed]'"
DEFAULT_MASTER_PORT: Final = 5557
# How long the master waits for its workers to connect before it gives up.
WORKERS_WAIT: Final = 60.0
_STOP_GRACE: Final = 3.0
_WORKERS_QUIT_WAIT: Final = 5.0
_POLL: Final = 0.05
# (the instant the workers start at, epoch seconds; the pids of the workers started here)
OnStart = Callable[[float, list[int]], None]


def check_locust() -> None:
    """A one-line ``LoadError`` when Locust is not installed where servelab runs."""
    if importlib.util.find_spec("locust") is None:
        raise LoadError(f"--engine locust needs Locust, not installed here: {INSTALL_HINT}")


def locust_command(*args: str) -> list[str]:
    """``python -m locust -f <servelab's locustfile> ARGS``, with this interpreter."""
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args]


def worker_command(master_host: str, master_port: int) -> list[str]:
    return locust_command(
        "--worker", "--master-host", master_host, "--master-port", str(master_port)
    )


@dataclass(frozen=True)
class LocustRun:
    """How the processes ended: the master's exit status and each log's last lines."""

    master_status: int | None
    timed_out: bool
    logs: tuple[Path, ...]

    def tail(self, lines: int = 5) -> str:
        """The last lines of the master's log (where Locust says why it stopped)."""
        try:
            text = self.logs[0].read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class _Process:
    """A Locust process in its own group, logged to a file, killed with its group."""

    def __init__(self, command: Sequence[str], log: Path) -> None:
        self.log = log
        handle: IO[bytes] = log.open("ab")
        try:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            self.popen = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        finally:
            handle.close()
        reaper.watch_group(self.popen.pid)

    def poll(self) -> int | None:
        """The exit status once the leader has ended (reaped here, with its CPU)."""
        popen = self.popen
        if popen.returncode is not None:
            return popen.returncode
        try:
            pid, status, usage = os.wait4(popen.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: ended, status unknown
            popen.returncode = -1
            return popen.returncode
        if pid == 0:
            return None
        popen.returncode = os.waitstatus_to_exitcode(status)
        # Locust's processes are the lab's load client: their CPU is the lab's, not noise.
        add_client_cpu(usage.ru_utime + usage.ru_stime)
        return popen.returncode

    def stop(self) -> None:
        """TERM the group, then KILL what is left of it; reap the leader."""
        pgid = self.popen.pid
        for sig, wait in ((signal.SIGTERM, _STOP_GRACE), (signal.SIGKILL, _STOP_GRACE)):
            if self.poll() is not None and not group_exists(pgid):
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and (self.poll() is None or group_exists(pgid)):
                time.sleep(0.02)
        reaper.forget_group(pgid)


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` a moment ago (Locust's ``*``: every address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0" if host in ("", "*") else host, 0))
        port: int = sock.getsockname()[1]
        return port


def run_locust(
    plan: Plan,
    run_dir: Path,
    *,
    local_workers: int,
    bind_host: str = "127.0.0.1",
    port: int | None = None,
    workers_wait: float = WORKERS_WAIT,
    on_start: OnStart | None = None,
) -> LocustRun:
    """Run ``plan`` on a Locust master and ``local_workers`` workers started here (0: the
    workers come from other machines, ``servelab locust-worker``); return when the master
    has written its files and quit, or the plan's hard limit has passed.

    The plan goes to the master in a file (0600: it may hold a token) that is removed after.
    Ctrl-C or an error stops every process started here before it propagates.
    ``on_start(start, worker_pids)`` is called once the master has set the instant (epoch
    seconds) the workers start at, with the pids of the workers started here.
    """
    check_locust()
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in (RECORDS_FILE, WORKERS_FILE, START_FILE):
        (run_dir / name).unlink(missing_ok=True)
    port = free_port(bind_host) if port is None else port
    plan_path = run_dir / ".servelab-plan.json"
    plan_path.unlink(missing_ok=True)
    descriptor = os.open(plan_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(plan.to_json())
    users = plan.users if plan.mode == "closed" else plan.workers
    hard_limit = plan.hard_limit
    master_args = [
        "--master",
        "--headless",
        "--only-summary",
        "--expect-workers", str(plan.workers),
        "--expect-workers-max-wait", f"{workers_wait:g}",
        "--users", str(users),
        "--spawn-rate", str(users),  # every user at once: the loops have no ramp-up
        "--run-time", f"{int(hard_limit) + 1}s",  # a last resort: servelab's users end first
        "--master-bind-host", bind_host,
        "--master-bind-port", str(port),
        "--servelab-plan", f"@{plan_path}",
        "--servelab-out", str(run_dir),
        "ServelabUser",
    ]  # fmt: skip
    processes: list[_Process] = []
    timed_out = False
    try:
        master = _Process(locust_command(*master_args), run_dir / "locust-master.log")
        processes.append(master)
        for number in range(local_workers):
            log = run_dir / f"locust-worker-{number}.log"
            processes.append(_Process(worker_command(_connect_host(bind_host), port), log))
        deadline = time.monotonic() + workers_wait + hard_limit + 30.0
        started = on_start is None
        while master.poll() is None:
            if time.monotonic() > deadline:
                timed_out = True
                break
            if not started and on_start is not None:
                start = _read_start(run_dir / START_FILE)
                if start is not None:
                    started = True
                    on_start(start, [p.popen.pid for p in processes[1:]])
            time.sleep(_POLL)
        # The master told its workers to quit: give them a moment to do it themselves.
        settle = time.monotonic() + _WORKERS_QUIT_WAIT
        while time.monotonic() < settle and any(p.poll() is None for p in processes[1:]):
            time.sleep(_POLL)
    finally:
        for process in reversed(processes):
            process.stop()
        plan_path.unlink(missing_ok=True)
    return LocustRun(
        master_status=processes[0].popen.returncode,
        timed_out=timed_out,
        logs=tuple(p.log for p in processes),
    )


def _read_start(path: Path) -> float | None:
    try:
        return float(json.loads(path.read_text(encoding="utf-8"))["start"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _connect_host(bind_host: str) -> str:
    """Where local workers reach a master bound to ``bind_host``."""
    return "127.0.0.1" if bind_host in ("", "*", "0.0.0.0") else bind_host
