"""Start a server under test, wait until it answers, and stop it with everything it started.

    spec = ServerSpec.parse("gunicorn:w2")
    with launch(spec, run_dir=Path("results/x/run")) as server:
        ...  # server.url, server.process_pids(), server.poll()
    # here the server's whole process group is gone, also after Ctrl-C or an error

Each server runs in its own session and process group and is stopped TERM -> grace -> KILL
on the group. Servers still running when the interpreter exits are stopped by ``atexit``;
when the lab dies without running it (SIGKILL, a crash), its reaper (``reaper``) SIGKILLs
the group: a dead lab must not leave servers holding ports and memory.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import math
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Literal

import psutil

from servelab.errors import ConfigError, ServerError, ServerStartError
from servelab.results import ServerEnd
from servelab.servers import reaper
from servelab.servers.app import SHIM_DIR, AppTarget
from servelab.servers.spec import DEFAULT_APP, ENGLISH, HOST, SHIM_APP, ServerSpec

# What the dev server and gunicorn print when another process took the port between our
# probe and their bind. gunicorn would retry for 5 s before giving up, so we look early.
_PORT_TAKEN = (
    b"Address already in use",
    b"address already in use",  # uvicorn
    b"Connection in use",
    b"is in use by another program",
)
_PORT_ATTEMPTS = 3
_POLL_INTERVAL = 0.05
_PROBE_TIMEOUT = 0.5
_KILL_WAIT = 5.0
_REAP_WAIT = 5.0
_FAILED_START_GRACE = 1.0
_ATEXIT_GRACE = 2.0
_TAIL_BYTES = 64 * 1024
# servelab.service.headers.PID; not imported, as that would load the whole service here.
_PID_HEADER = "X-Servelab-Pid"
# gunicorn's workers count requests in prometheus_client's multiprocess mode: the directory
# their files go to.
_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class ServerExit:
    """How a server's leader process ended, and whether the lab ended it.

    ``returncode`` is Popen's (negative = killed by that signal; None if unknown).
    ``forced``: the lab had to SIGKILL the group because it outlived the grace period.
    """

    returncode: int | None
    signal: str | None
    stopped_by_lab: bool
    forced: bool = False

    @classmethod
    def from_returncode(
        cls, returncode: int | None, *, stopped_by_lab: bool, forced: bool = False
    ) -> ServerExit:
        """Name the signal behind a negative return code."""
        name = None
        if returncode is not None and returncode < 0:
            try:
                name = signal.Signals(-returncode).name
            except ValueError:
                name = f"signal {-returncode}"
        return cls(returncode, name, stopped_by_lab, forced)

    def describe(self) -> str:
        """E.g. ``killed by SIGKILL (not by the lab)``, ``stopped by the lab (SIGTERM)``; in
        the report's English words."""
        return ENGLISH.server_end(self.to_end())

    def to_end(self) -> ServerEnd:
        """As the results contract stores it (codes, no description)."""
        return ServerEnd(self.returncode, self.signal, self.stopped_by_lab, self.forced)


_RUNNING: set[RunningServer] = set()


class RunningServer:
    """A started server: where it listens, its processes, its log.

    Made by ``launch()``. Use it as a context manager, or call ``stop()``: until then its
    processes run, and ``atexit`` is the only other thing that stops them.
    """

    def __init__(
        self,
        spec: ServerSpec,
        process: subprocess.Popen[bytes],
        *,
        port: int,
        log_path: Path,
        log_offset: int,
        command: Sequence[str],
        name: str,
    ) -> None:
        self.spec = spec
        self.name = name
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.pid = process.pid
        self.pgid = process.pid  # start_new_session: the leader heads its own group
        self.log_path = log_path
        self.command = tuple(command)
        self._process = process
        self._log_offset = log_offset
        self._sent: set[int] = set()
        self._died: ServerExit | None = None
        self._exit: ServerExit | None = None
        self.metrics_dir: Path | None = None  # gunicorn's multiprocess metrics, removed on stop
        self.app: AppTarget | None = None  # the user's app it serves; None: our own service
        _RUNNING.add(self)

    def __repr__(self) -> str:
        state = "running" if self.poll() is None else "ended"
        return f"<RunningServer {self.name} pid={self.pid} {self.url} {state}>"

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def poll(self) -> ServerExit | None:
        """None while the leader runs; how it ended otherwise."""
        if self._exit is not None:
            return self._exit
        if self._died is None:
            returncode = self._process.poll()
            if returncode is None:
                return None
            self._died = ServerExit.from_returncode(returncode, stopped_by_lab=False)
        return self._died

    def process_pids(self) -> list[int]:
        """Pids alive now: the leader and all its descendants (gunicorn's workers)."""
        if self.poll() is None:
            try:
                leader = psutil.Process(self.pid)
                procs = [leader, *leader.children(recursive=True)]
            except psutil.NoSuchProcess:
                procs = []
            return [p.pid for p in procs if _alive(p)]
        # The leader is gone (and its pid may be reused): what is left is what is in its group.
        return _group_pids(self.pgid)

    def stop(self, grace: float = 5.0) -> ServerExit:
        """TERM the group, wait ``grace`` s, then KILL it; reap. Idempotent.

        Returns how the leader ended; ``stopped_by_lab`` is False if it had ended on its own.
        """
        if self._exit is not None:
            return self._exit
        died = self.poll()
        # Descendants that left the group (setsid) are not reached by killpg: remember them.
        strays = [p for p in _descendants(self.pid) if _pgid(p.pid) != self.pgid]
        dead = False
        try:
            self._signal_group(signal.SIGTERM)
            dead = self._wait_dead(grace, strays)
        finally:
            # Also after a second Ctrl-C during the grace period: nothing may outlive stop().
            if not dead:
                self._signal_group(signal.SIGKILL)
                for proc in strays:
                    with contextlib.suppress(psutil.Error):
                        proc.kill()
                dead = self._wait_dead(_KILL_WAIT, strays)
        if not dead:
            raise ServerError(
                f"{self.name} (pid {self.pid}): processes {_group_pids(self.pgid)} of its group"
                f" are still alive after SIGKILL"
            )
        # Members orphaned by the leader's death are reaped by init, not by us, and until then
        # their zombies keep the group (killpg) alive: under some inits that takes ~2 s.
        deadline = time.monotonic() + _REAP_WAIT
        while group_exists(self.pgid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if died is not None:
            result = replace(died, forced=bool(self._sent & {signal.SIGKILL}))
        else:
            code = self._process.returncode
            # A signal the lab did not send (the OOM killer's SIGKILL during the grace
            # period, a segfault) means the server ended on its own.
            own = code is not None and code < 0 and -code not in self._sent
            result = ServerExit.from_returncode(
                code, stopped_by_lab=not own, forced=signal.SIGKILL in self._sent
            )
        self._exit = result
        _RUNNING.discard(self)
        reaper.forget_group(self.pgid)
        if self.metrics_dir is not None:
            # prometheus_client's memory-mapped scratch files mean nothing once every worker
            # is gone; left in a results folder they would be 64 KiB of zeros each.
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        return result

    def log_mark(self) -> int:
        """The log's current size: pass it to ``log_since`` to read what comes after."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, mark: int) -> str:
        """What the server printed after ``log_mark()`` returned ``mark``."""
        return _read_log_bytes(self.log_path, mark).decode("utf-8", "replace")

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines this server wrote to its log."""
        return _read_log(self.log_path, self._log_offset, lines)

    def _signal_group(self, sig: signal.Signals) -> None:
        self._sent.add(sig)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, sig)

    def _wait_dead(self, timeout: float, strays: Sequence[psutil.Process]) -> bool:
        """Wait until no process of the group (or a stray) is running; zombies count as dead."""
        deadline = time.monotonic() + timeout
        while True:
            # poll() reaps the leader, our child; a zombie leader would hold the group.
            if (
                self._process.poll() is not None
                and not (group_exists(self.pgid) and _group_pids(self.pgid))
                and not any(_alive(p) for p in strays)
            ):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def _port_taken(self) -> bool:
        tail = _read_log_bytes(self.log_path, self._log_offset)
        return any(marker in tail for marker in _PORT_TAKEN)


def launch(
    spec: ServerSpec,
    *,
    run_dir: Path,
    env: Mapping[str, str] | None = None,
    name: str | None = None,
    ready_timeout: float = 30.0,
    command_prefix: Sequence[str] = (),
    app: AppTarget | None = None,
) -> RunningServer:
    """Start ``spec`` on a free loopback port and return once it is ready.

    ``app`` None: servelab's own service, ready when ``GET /health`` answers 200 from each
    worker. An ``AppTarget``: the user's app, wrapped in the served-by shim, run by the
    app's python in its directory with its settings; ready when ``app.ready`` answers 2xx,
    else when ``GET /health`` answers 2xx, else when ``GET /`` answers at all (from each
    worker). ``app.check_server(spec)`` is asked first.
    The log goes to ``run_dir/<name or spec.label>.log`` (appended). ``env`` is added on top of
    this process's environment (and of the app's settings). ``command_prefix`` is put before
    the server's argv (e.g. a cgroup wrapper that ends in ``exec "$@"``). Our service's
    workers share a fresh ``run_dir/<name>.prometheus/`` for their metrics.
    Raises ServerStartError, saying what was tried and with the log tail, if the server exits
    first or is not ready in ``ready_timeout`` s; nothing it started is left running then.
    """
    name = name or spec.label
    if name in (".", "..") or "/" in name or "\0" in name:
        raise ConfigError(f"server name must be a plain file name, not {name!r}")
    if not (math.isfinite(ready_timeout) and ready_timeout > 0):
        raise ConfigError(f"ready_timeout must be > 0 seconds, not {ready_timeout!r}")
    if app is not None:
        app.check_server(spec)
    elif not spec.serves("wsgi"):
        raise ConfigError(
            f"{spec.describe()} serves ASGI apps only, and servelab's own service is a WSGI app:"
            " use flask-dev, gunicorn, waitress or granian"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / f"{name}.log"
    child_env = _server_env(spec, env, app)
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        # Fresh for each attempt: a failed one's stop removes it. Only our service counts
        # metrics in it; another app using prometheus_client must not switch modes.
        if spec.kind_info.forks_workers and app is None:
            child_env[_MULTIPROC_ENV] = str(_fresh_dir(run_dir / f"{name}.prometheus"))
        port = _free_port()
        if app is None:
            served = spec.command_line(port, DEFAULT_APP)
        else:
            served = spec.command_line(port, SHIM_APP, python=app.python, interface=app.interface)
        command = [*command_prefix, *served]
        server = _start(
            spec,
            command,
            port=port,
            log_path=log_path,
            env=child_env,
            name=name,
            cwd=app.app_dir if app else None,
        )
        if _MULTIPROC_ENV in child_env:
            server.metrics_dir = Path(child_env[_MULTIPROC_ENV])
        server.app = app
        readiness = _Readiness(app)
        try:
            outcome = _wait_ready(server, time.monotonic() + ready_timeout, readiness)
        except BaseException:
            server.stop(_FAILED_START_GRACE)
            raise
        if outcome == "ready":
            return server
        tail = server.log_tail()
        # gunicorn ignores TERM while it retries a taken port; it has served nothing: KILL.
        end = server.stop(0 if outcome == "port taken" else _FAILED_START_GRACE)
        if outcome == "port taken" and attempt < _PORT_ATTEMPTS:
            continue
        what = {
            "exited": f"{_how(end)} before it was ready",
            "timeout": f"not ready after {ready_timeout:g} s{_workers_note(spec, readiness)}",
            "port taken": f"found its port taken {_PORT_ATTEMPTS} times (another process"
            " listened or answered there)",
        }[outcome]
        if outcome != "port taken":
            what += f"; tried {readiness.tried()}"
        raise ServerStartError(f"{spec.describe()} [{name}] {what} (log: {log_path})", tail)
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _server_env(
    spec: ServerSpec, env: Mapping[str, str] | None, app: AppTarget | None
) -> dict[str, str]:
    base = {**os.environ, **(env or {})}
    # The dev server is one process and counts in memory: an inherited directory would mix
    # other processes' counts into its /metrics. gunicorn gets a fresh one for its workers.
    base.pop(_MULTIPROC_ENV, None)
    if app is not None:
        base = app.server_env(base)
    elif spec.kind == "flask-dev" and spec.mode:
        # Our service on the dev server single-threaded or with the reloader: the shim runs it.
        base["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(SHIM_DIR), base.get("PYTHONPATH", "")) if p
        )
    return {**base, "PYTHONUNBUFFERED": "1"}


def _workers_note(spec: ServerSpec, readiness: _Readiness) -> str:
    answered = readiness.answered
    if spec.answering_processes < 2 or not answered:
        return ""
    return f" ({len(answered)} of {spec.answering_processes} workers answered)"


def _how(end: ServerExit) -> str:
    return replace(end, forced=False).describe().removesuffix(" (not by the lab)")


def _fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _start(
    spec: ServerSpec,
    command: list[str],
    *,
    port: int,
    log_path: Path,
    env: Mapping[str, str],
    name: str,
    cwd: Path | None = None,
) -> RunningServer:
    with log_path.open("ab") as log:
        log.write(f"\n=== servelab: {spec.describe()} [{name}]: {shlex.join(command)}\n".encode())
        log.flush()
        offset = log.tell()
        try:
            # The child keeps its own copy of the log fd; ours closes when this block ends.
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as error:
            raise ServerStartError(
                f"{spec.describe()} [{name}] could not be started: {error}"
            ) from None
    try:
        reaper.watch_group(process.pid)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    return RunningServer(
        spec, process, port=port, log_path=log_path, log_offset=offset, command=command, name=name
    )


class _Readiness:
    """Which paths to ask, what counts as an answer, and what each path last said.

    Our service: ``/health`` must answer 200. An app: its ``ready`` path must answer 2xx;
    without one, ``/health`` answering 2xx, else any HTTP answer to ``/`` (most apps have
    no ``/health``). Each answer names the pid that served it (the shim's header on every
    response of an app), so each worker is seen to answer.
    """

    def __init__(self, app: AppTarget | None) -> None:
        self.app = app
        self.answered: set[int] = set()
        self.last: dict[str, str] = {}

    def probe(self, port: int, timeout: float) -> tuple[bool, int | None]:
        """One round of probes: whether it answered as ready, and the pid that served it."""
        if self.app is None:
            status, pid = self._ask(port, "/health", timeout)
            return status == 200, pid
        if self.app.ready is not None:
            status, pid = self._ask(port, self.app.ready, timeout)
            return status is not None and 200 <= status < 300, pid
        status, pid = self._ask(port, "/health", timeout)
        if status is None or 200 <= status < 300:
            return status is not None, pid
        status, pid = self._ask(port, "/", timeout)
        return status is not None, pid

    def tried(self) -> str:
        """E.g. ``GET /health (last: 404), GET / (last: no answer)``."""
        paths = self.last or {self._first_path(): "no answer"}
        return ", ".join(f"GET {path} (last: {said})" for path, said in paths.items())

    def _first_path(self) -> str:
        return self.app.ready if self.app is not None and self.app.ready else "/health"

    def _ask(self, port: int, path: str, timeout: float) -> tuple[int | None, int | None]:
        status, pid = _get(port, path, timeout)
        self.last[path] = "no answer" if status is None else str(status)
        return status, pid


def _wait_ready(
    server: RunningServer, deadline: float, readiness: _Readiness
) -> Literal["ready", "exited", "port taken", "timeout"]:
    # Ready means every worker has loaded the app and answered once: the first worker is
    # up well before the last, and a load run must not start on part of the server.
    needed = server.spec.answering_processes
    while True:
        if server._port_taken():
            return "port taken"
        if server.poll() is not None:
            return "exited"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        # Short probes: while the port is taken, whatever holds it may never answer, and
        # the log says so only after the first probe went out.
        ok, pid = readiness.probe(server.port, timeout=min(_PROBE_TIMEOUT, max(remaining, 0.05)))
        if ok:
            ours = server.process_pids()
            if pid is None:
                # An app that does not say which process answered: the listening socket
                # must then be one of our processes', else another server took the port.
                return "ready" if _listens(ours, server.port) else "port taken"
            if pid not in ours:
                return "port taken"  # another server answers there: ours cannot bind it
            readiness.answered.add(pid)
            if len(readiness.answered) >= needed:
                return "ready"
        time.sleep(min(_POLL_INTERVAL, max(deadline - time.monotonic(), 0)))


def _listens(pids: Sequence[int], port: int) -> bool:
    """Whether one of ``pids`` holds a socket listening on ``HOST:port``."""
    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        for conn in connections:
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return True
    return False


def _get(port: int, path: str, timeout: float) -> tuple[int | None, int | None]:
    """``GET path``: the status (None: no HTTP answer) and the pid that served it, if said."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        pid = response.getheader(_PID_HEADER, "")
        return response.status, int(pid) if pid.isdigit() else None
    except (OSError, http.client.HTTPException):
        return None, None
    finally:
        conn.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _alive(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def group_exists(pgid: int) -> bool:
    """Whether process group ``pgid`` still has a member (zombies count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_pids(pgid: int) -> list[int]:
    return [p.pid for p in psutil.process_iter() if _pgid(p.pid) == pgid and _alive(p)]


def _read_log_bytes(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(offset, size - _TAIL_BYTES))
            return log.read()
    except OSError:
        return b""


def _read_log(path: Path, offset: int, lines: int) -> str:
    text = _read_log_bytes(path, offset).decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        with contextlib.suppress(Exception):
            server.stop(_ATEXIT_GRACE)
