"""Helpers the tests share: run the CLI, start the service or a seed command, talk HTTP, wait.

Every wait here is bounded by a ``time.monotonic()`` deadline and every socket, process and
server is closed or stopped on the way out, also when an assertion fails inside the block.

- ``servelab_cli``: the ``servelab`` command in a subprocess, as a user runs it.
- ``launch_service``: the service on a server spec, configured by a ``ServiceConfig``.
- ``process_group``: any command in its own session, stopped TERM -> grace -> KILL.
- ``http_request``: one request on a fresh connection, closed after the response.
- ``scripted_server``: a loopback listener whose connections a test script answers,
  for what a real server cannot be made to do on cue (a lie, a stall, a hang-up).
- ``wait_for``: poll a condition until it holds or a deadline passes.
- ``cpu_spinner``: a process that keeps one core busy for a bounded time (a busy machine).
- ``free_port``: a loopback port nothing listened on a moment ago.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from servelab.servers import HOST, RunningServer, ServerSpec, launch
from servelab.service import ServiceConfig

REPO = Path(__file__).resolve().parent.parent


def servelab_cli(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the ``servelab`` command as a user would, in a subprocess.

    On timeout it gets SIGTERM first, which the CLI turns into a clean stop of its servers
    and memory caps, and SIGKILL only if that does not end it.
    """
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    command = [sys.executable, "-m", "servelab", *args]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


# --- servers ------------------------------------------------------------------------------


@contextlib.contextmanager
def launch_service(
    spec: str, run_dir: Path, config: ServiceConfig, *, name: str | None = None
) -> Iterator[RunningServer]:
    """The service on ``spec`` (e.g. ``gunicorn:w2``) with exactly ``config``'s settings.

    Without a token in ``config``, auth is off even if the test's own environment has
    ``SERVELAB_TOKEN`` set: ``to_env`` says ``SERVELAB_AUTH=off``.
    """
    env = config.to_env()
    with launch(ServerSpec.parse(spec), run_dir=run_dir, env=env, name=name) as server:
        yield server


def _ctrl_c_as_at_a_terminal() -> None:
    """In the child, before exec: SIGINT back to its default. A shell starts a background
    job (a CI script's `make test &`) with SIGINT ignored, the ignore is inherited, and
    Python then never turns SIGINT into KeyboardInterrupt: a test of Ctrl-C would wait for
    nothing. The command under test meets SIGINT as it would at a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def process_group(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdout: int | IO[Any] | None = subprocess.DEVNULL,
    stderr: int | IO[Any] | None = subprocess.STDOUT,
    grace: float = 10.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in its own session; on the way out TERM its group, then KILL.

    ``env`` is the whole environment. After the block, ``returncode`` says how it ended.
    """
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=_ctrl_c_as_at_a_terminal,
    )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@contextlib.contextmanager
def cpu_spinner(seconds: float = 5.0) -> Iterator[subprocess.Popen[bytes]]:
    """A process that keeps one core busy (a Python loop) until the block ends, and in any
    case for no more than ``seconds``: other work on the machine, as a test makes it."""
    loop = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"
    with process_group([sys.executable, "-c", loop], cwd=REPO, env=os.environ, grace=2) as spin:
        time.sleep(0.1)  # past the interpreter's start, into the loop
        yield spin


def free_port() -> int:
    """A loopback port free a moment ago (another process may take it before it is used)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


# --- HTTP -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One HTTP response, read to its end."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Reply:
    """One request to ``127.0.0.1:port`` on a connection of its own, closed whatever happens."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return Reply(response.status, response.msg, response.read())
    finally:
        conn.close()


def read_request(conn: socket.socket) -> bytes:
    """Read one request's head and its Content-Length body from ``conn``; return the head.

    Returns what came if the client closes first.
    """
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"content-length:\s*(\d+)", head, re.IGNORECASE)
    length = int(match.group(1)) if match else 0
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            break
        body += chunk
    return head


Script = Callable[[socket.socket], None]


@contextlib.contextmanager
def scripted_server(script: Script, connections: int = 1, path: str = "/x") -> Iterator[str]:
    """A loopback server that treats each of its first ``connections`` clients with ``script``.

    Yields the URL of ``path`` on it. Each connection is closed after its script; a script's
    socket errors (the client hung up) end that connection only. Sockets time out after 5 s,
    so a client that never comes or never sends cannot hang the test.
    """
    listener = socket.create_server((HOST, 0))
    listener.settimeout(5.0)
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(connections):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.settimeout(5.0)
            try:
                script(conn)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{port}{path}"
    finally:
        thread.join(timeout=6.0)
        listener.close()


def replying(*responses: bytes) -> Script:
    """A script that answers one request per response, in turn, on the same connection."""

    def script(conn: socket.socket) -> None:
        for response in responses:
            read_request(conn)
            conn.sendall(response)

    return script


# --- waiting --------------------------------------------------------------------------------


def wait_for(
    condition: Callable[[], bool], what: str, timeout: float = 20.0, interval: float = 0.05
) -> None:
    """Call ``condition`` until it returns true; fail naming ``what`` after ``timeout`` s.

    ``condition`` is called once per round, so one with side effects (a scrape that records
    what it saw) sees each state once.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(interval)


@contextlib.contextmanager
def stalled_server(path: str = "/x") -> Iterator[str]:
    """A loopback server that takes every connection and never answers: a stalled server.

    Yields the URL of ``path`` on it; the connections it holds are closed after the block.
    """
    listener = socket.create_server((HOST, 0), backlog=1024)
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{port}{path}"
    finally:
        stop.set()
        thread.join(timeout=2.0)
        listener.close()
        for conn in held:
            conn.close()


def servelab_cli_limited(
    limits: Sequence[str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``servelab_cli`` under ``prlimit`` limits, e.g. ``("--nofile=1024:1024",)``.

    A process that outlives ``timeout`` is killed (its limits keep it from eating the
    machine meanwhile) and the test fails with ``TimeoutExpired``.
    """
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    command = ["prlimit", *limits, "--", sys.executable, "-m", "servelab", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


# --- the lab's own death --------------------------------------------------------------------


def running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has)."""
    import psutil  # here: helpers above this section need no psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@contextlib.contextmanager
def lab_process(script: str, *, cwd: Path) -> Iterator[tuple[subprocess.Popen[str], Any]]:
    """Run ``script`` (python, using servelab) in its own session as a lab would be run.

    The script prints one JSON line when it has started what it starts; that line is
    yielded, parsed, with the process. On the way out the process's group is SIGKILLed,
    and the test asserts what it left behind.
    """
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # No token from the caller's shell: a blank one is refused, an unset one means auth off.
        env={k: v for k, v in os.environ.items() if k != "SERVELAB_TOKEN"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            _, stderr = process.communicate(timeout=10)
            raise AssertionError(f"the lab script printed nothing; stderr:\n{stderr}")
        yield process, json.loads(line)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=10)


@contextlib.contextmanager
def memory_cgroup(limit_bytes: int) -> Iterator[Path]:
    """A child memory cgroup of ours limited to ``limit_bytes``, for a subprocess to run in
    (``in_cgroup``); removed afterwards, also when the test fails. Skips the test when no
    cgroup can be made here. Its name is not a servelab cap's, so no lab removes it."""
    import pytest

    base, limit = None, ""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, own = line.split(":", 2)
        if "memory" in controllers.split(","):
            base, limit = Path("/sys/fs/cgroup/memory" + own), "memory.limit_in_bytes"
        elif line.startswith("0::") and base is None:
            base, limit = Path("/sys/fs/cgroup" + own), "memory.max"
    if base is None or not (base / limit).parent.is_dir() or not os.access(base, os.W_OK):
        pytest.skip("no memory cgroup can be made here")
    path = base / f"test-parent-{os.getpid()}-{time.monotonic_ns()}"
    path.mkdir()
    try:
        (path / limit).write_text(str(limit_bytes))
        yield path
    finally:
        for pid in (path / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        deadline = time.monotonic() + 5
        while True:
            try:
                path.rmdir()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def in_cgroup(cgroup: Path, command: Sequence[str]) -> list[str]:
    """``command`` made to run (exec'd, same pid) inside ``cgroup``."""
    procs = str(cgroup / "cgroup.procs")
    return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', procs, *command]


# --- hostile clients ------------------------------------------------------------------------


@dataclass
class Trickle:
    """A slowloris connection under way: ``ended`` is set once the server cut it off."""

    ended: threading.Event
    bytes_sent: int = 0


@contextlib.contextmanager
def slowloris(port: int, *, interval: float = 1.0, limit: float = 40.0) -> Iterator[Trickle]:
    """One connection to ``port`` that sends a request head one byte every ``interval`` s.

    The head never ends, so the server waits for it with whatever holds the connection (a
    sync worker, a thread). Sending stops when the server closes the connection, after
    ``limit`` s, or when the block ends; the socket is closed on the way out.
    """
    import select  # here, not at the top: this block is appended to keep merges simple

    sock = socket.create_connection((HOST, port), timeout=5.0)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: slowloris\r\nX-Slow: ")
    trickle = Trickle(threading.Event())
    stop = threading.Event()

    def send_bytes() -> None:
        deadline = time.monotonic() + limit
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                sock.sendall(b"x")
                trickle.bytes_sent += 1
                # A closed connection shows as EOF (or a reset) on the read side.
                readable, _, _ = select.select([sock], [], [], interval)
                if readable and not sock.recv(4096):
                    break
        except OSError:
            pass
        trickle.ended.set()

    thread = threading.Thread(target=send_bytes, daemon=True)
    thread.start()
    try:
        yield trickle
    finally:
        stop.set()
        thread.join(timeout=interval + 6.0)
        sock.close()


# --- small file systems ---------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "64k", *, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (made if missing) for the block: a real full
    disk, or a real read-only one (chmod does not stop root). Skips the test where mounting
    is not allowed; always unmounted after, even on failure."""
    import pytest  # helpers is imported outside pytest too

    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False, timeout=10)


# --- a second venv: the servers people deploy, without servelab ------------------------------

APPS = REPO / "tests" / "apps"
APP_REQUIREMENTS = APPS / "requirements.txt"
APP_VENVS = REPO / ".venv-apps"
_VENV_TIMEOUT = 600.0


class AppVenvUnavailable(Exception):
    """The second venv could not be made here (no package index reachable): the message says
    what pip said."""


def app_venv_python(requirements: Path = APP_REQUIREMENTS) -> Path:
    """The python of a venv holding only ``requirements`` (servelab is not installed there).

    Made once per machine under ``.venv-apps/<hash of the requirements and this Python's
    version>/`` and reused after; a lock keeps two test runs from building it at once, and a
    half-built one (a killed run) is built again. Raises AppVenvUnavailable if pip fails.
    """
    import fcntl
    import hashlib
    import shutil

    text = requirements.read_text()
    key = hashlib.sha256(f"{sys.version_info[:2]}\n{text}".encode()).hexdigest()[:16]
    root = APP_VENVS / key
    python = root / "bin" / "python"
    done = root / ".servelab-complete"
    APP_VENVS.mkdir(exist_ok=True)
    with (APP_VENVS / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return python
        shutil.rmtree(root, ignore_errors=True)
        started = time.monotonic()
        # Python's own venv module, not this venv's python: the new one must not see servelab.
        base = getattr(sys, "_base_executable", sys.executable)
        steps = [
            [base, "-m", "venv", str(root)],
            [str(python), "-m", "pip", "install", "-q", "-r", str(requirements)],
        ]
        for step in steps:
            try:
                result = subprocess.run(
                    step, capture_output=True, text=True, timeout=_VENV_TIMEOUT, check=False
                )
            except subprocess.TimeoutExpired:
                shutil.rmtree(root, ignore_errors=True)
                raise AppVenvUnavailable(f"{step[2:4]} took over {_VENV_TIMEOUT:g} s") from None
            if result.returncode != 0:
                shutil.rmtree(root, ignore_errors=True)
                said = (result.stderr or result.stdout).strip().splitlines()[-3:]
                raise AppVenvUnavailable(f"{' '.join(step[1:4])} failed: {' | '.join(said)}")
        done.write_text(f"built in {time.monotonic() - started:.1f} s\n")
        return python
