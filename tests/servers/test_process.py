"""servelab.servers: real servers started, probed, crashed and stopped; nothing left behind."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from servelab.errors import ConfigError, ServerStartError
from servelab.results import Server, ServerEnd
from servelab.servers import AppTarget, RunningServer, ServerExit, ServerSpec, launch
from servelab.servers import process as servers

from ..helpers import APPS

Start = Callable[..., RunningServer]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Launch servers that are stopped at teardown even if the test failed."""
    started: list[RunningServer] = []

    def _start(text: str, **kwargs: Any) -> RunningServer:
        kwargs.setdefault("run_dir", tmp_path)
        kwargs.setdefault("ready_timeout", 20.0)
        server = launch(ServerSpec.parse(text), **kwargs)
        started.append(server)
        return server

    yield _start
    for server in started:
        server.stop(grace=1.0)


def predict(server: RunningServer, area: int = 42) -> tuple[int, int]:
    """POST /predict; the price and the pid that served it."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(
            "POST", "/predict", json.dumps({"area": area}), {"Content-Type": "application/json"}
        )
        response = conn.getresponse()
        body = json.loads(response.read())
        assert response.status == 200, body
        assert response.getheader("X-Servelab-Thread", "").isdigit()
        return body["price"], int(response.getheader("X-Servelab-Pid", "0"))
    finally:
        conn.close()


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "text", ["flask-dev", "gunicorn", "gunicorn:w2", "gunicorn:w2:gthread:t4", "gunicorn:w1:gevent"]
)
def test_server_starts_serves_and_stops_with_its_whole_group(start: Start, text: str) -> None:
    server = start(text)
    spec = server.spec
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.poll() is None
    pids = server.process_pids()
    assert server.pid in pids
    # gunicorn: the master and one process per worker; the dev server: one process.
    assert len(pids) == (spec.workers + 1 if spec.kind == "gunicorn" else 1)
    price, served_by = predict(server)
    assert isinstance(price, int) and price > 0
    assert served_by in pids
    if spec.kind == "gunicorn":
        assert served_by != server.pid
    assert server.log_path == server.log_path.parent / f"{spec.label}.log"
    assert server.log_path.read_text().strip()

    end = server.stop(grace=5.0)

    assert end.stopped_by_lab and not end.forced
    assert end.describe().startswith("stopped by the lab")
    assert server.stop() is end and server.poll() is end
    assert not group_exists(server.pgid)
    assert not [pid for pid in pids if psutil.pid_exists(pid)]


@pytest.mark.timeout(20)
def test_dev_server_killed_from_outside_is_not_blamed_on_the_lab(start: Start) -> None:
    server = start("flask-dev")
    os.kill(server.pid, signal.SIGKILL)
    wait_for(lambda: server.poll() is not None)
    died = server.poll()
    assert died == ServerExit(-9, "SIGKILL", stopped_by_lab=False)
    assert died.describe() == "killed by SIGKILL (not by the lab)"
    assert server.stop() == died
    assert not group_exists(server.pgid)


@pytest.mark.timeout(30)
def test_gunicorn_worker_killed_master_boots_another(start: Start) -> None:
    server = start("gunicorn")
    _, worker = predict(server)
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: predict(server)[1] != worker)
    assert server.poll() is None
    assert "was sent SIGKILL" in server.log_tail(50)
    assert server.stop().stopped_by_lab
    assert not group_exists(server.pgid)


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_gunicorn_master_killed_its_workers_are_stopped_too(start: Start) -> None:
    server = start("gunicorn:w2")
    workers = [pid for pid in server.process_pids() if pid != server.pid]
    os.kill(server.pid, signal.SIGKILL)
    wait_for(lambda: server.poll() is not None)
    end = server.stop(grace=5.0)
    assert end.signal == "SIGKILL" and not end.stopped_by_lab and not end.forced
    assert not group_exists(server.pgid)
    assert not [pid for pid in workers if psutil.pid_exists(pid)]


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("text", "kwargs", "message", "in_log"),
    [
        (
            "flask-dev",
            {"env": {"SERVELAB_WORKLOAD": "nope"}},
            r"Flask dev server \(threaded\) \[dev\] exited with code 2 before it was ready",
            "nope",
        ),
        (
            "gunicorn",
            {"app": "fails_in_server:app"},
            r"gunicorn, 1 sync worker \[prod_w1\] exited with code 3 before it was ready",
            "RuntimeError: model file models/model.joblib is missing",
        ),
        (
            "gunicorn:w2",
            {"env": {"SERVELAB_WORKLOAD": "nope"}},
            # The service's gunicorn config refuses bad settings in the master, before any
            # worker boots: exit 2 and one line that names the value.
            r"gunicorn, 2 sync workers \[prod_w2\] exited with code 2 before it was ready",
            "nope",
        ),
    ],
)
def test_server_that_cannot_start_says_why(
    tmp_path: Path, text: str, kwargs: dict[str, Any], message: str, in_log: str
) -> None:
    if "app" in kwargs:  # imports where it is detected, fails in the server's workers
        kwargs["app"] = AppTarget.load(kwargs["app"], app_dir=APPS)
    with pytest.raises(ServerStartError) as caught:
        launch(ServerSpec.parse(text), run_dir=tmp_path, ready_timeout=20.0, **kwargs)
    assert re.match(message, str(caught.value))
    assert in_log in caught.value.log_tail
    assert str(tmp_path) in str(caught.value)


@pytest.mark.timeout(20)
def test_server_not_ready_in_time_is_stopped(tmp_path: Path) -> None:
    # The prefix never runs the server: a stand-in for one that hangs while starting.
    pidfile = tmp_path / "pid"
    prefix = ["bash", "-c", f"echo $$ > {shlex.quote(str(pidfile))}; sleep 30", "_"]
    t0 = time.monotonic()
    with pytest.raises(ServerStartError, match=r"\[dev\] not ready after 0.5 s"):
        launch(ServerSpec("flask-dev"), run_dir=tmp_path, ready_timeout=0.5, command_prefix=prefix)
    assert time.monotonic() - t0 < 5
    assert not group_exists(int(pidfile.read_text()))


@pytest.mark.timeout(20)
def test_ctrl_c_while_waiting_for_readiness_stops_the_server(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    prefix = ["bash", "-c", f"echo $$ > {shlex.quote(str(pidfile))}; sleep 30", "_"]
    # Python turns SIGINT into KeyboardInterrupt only if SIGINT was not ignored when it
    # started, and a shell ignores it for the jobs it starts in the background (`make test &`):
    # Ctrl-C's own handler, for this test.
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    ctrl_c = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    ctrl_c.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            launch(ServerSpec("flask-dev"), run_dir=tmp_path, command_prefix=prefix)
    finally:
        ctrl_c.cancel()
        signal.signal(signal.SIGINT, before)
    assert not group_exists(int(pidfile.read_text()))


def test_server_command_that_cannot_run_is_a_start_error(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError, match=r"\[dev\] could not be started: .*no-such-wrapper"):
        launch(ServerSpec("flask-dev"), run_dir=tmp_path, command_prefix=["/no-such-wrapper"])


@pytest.mark.timeout(20)
def test_server_that_ignores_sigterm_is_killed_after_the_grace_period(start: Start) -> None:
    # An ignored signal stays ignored across exec, and Python leaves SIGTERM alone.
    server = start("flask-dev", command_prefix=["bash", "-c", 'trap "" TERM; exec "$@"', "_"])
    t0 = time.monotonic()
    end = server.stop(grace=0.5)
    assert 0.5 <= time.monotonic() - t0 < 3
    assert end == ServerExit(-9, "SIGKILL", stopped_by_lab=True, forced=True)
    assert not group_exists(server.pgid)


@pytest.mark.timeout(20)
def test_command_prefix_that_execs_keeps_the_leader_pid(start: Start, tmp_path: Path) -> None:
    # The shape the memory-cap sandbox uses: the shell records its pid, then becomes the server.
    pidfile = tmp_path / "procs"
    prefix = ["bash", "-c", f'echo $$ > {shlex.quote(str(pidfile))} && exec "$@"', "_"]
    server = start("flask-dev", command_prefix=prefix)
    assert int(pidfile.read_text()) == server.pid
    assert predict(server)[1] == server.pid
    assert server.command[: len(prefix)] == tuple(prefix)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_error_inside_with_block_still_stops_the_server(
    tmp_path: Path, error: type[BaseException]
) -> None:
    with (
        pytest.raises(error),
        launch(ServerSpec.parse("gunicorn:w2"), run_dir=tmp_path) as server,
    ):
        pids = server.process_pids()
        raise error()
    assert server.poll() is not None and server.poll() == server.stop()
    assert not group_exists(server.pgid)
    assert not [pid for pid in pids if psutil.pid_exists(pid)]


@pytest.mark.timeout(30)
def test_servers_left_running_are_stopped_at_interpreter_exit(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from servelab.servers import ServerSpec, launch
        server = launch(ServerSpec.parse("gunicorn"), run_dir=Path({str(tmp_path)!r}))
        print(server.pgid, flush=True)
        raise SystemExit(7)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=25, check=False
    )
    assert done.returncode == 7, done.stderr
    assert not group_exists(int(done.stdout))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("text", ["flask-dev", "gunicorn"])
def test_port_taken_before_the_server_binds_is_retried(
    start: Start, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    real_free_port = servers._free_port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = iter([busy])
        monkeypatch.setattr(servers, "_free_port", lambda: next(ports, None) or real_free_port())
        t0 = time.monotonic()
        server = start(text)
        # gunicorn would retry the bind for 5 s; the lab moves on as soon as it says so.
        assert time.monotonic() - t0 < 4
    assert server.port != busy
    assert predict(server)[0] > 0
    assert "in use" in server.log_path.read_text()


# Pure: ServerSpec and ServerExit.


@pytest.mark.parametrize(
    ("text", "spec", "label", "description"),
    [
        ("flask-dev", ServerSpec("flask-dev"), "dev", "Flask dev server (threaded)"),
        ("gunicorn", ServerSpec("gunicorn"), "prod_w1", "gunicorn, 1 sync worker"),
        ("gunicorn:w2", ServerSpec("gunicorn", workers=2), "prod_w2", "gunicorn, 2 sync workers"),
        (
            "gunicorn:w2:gthread:t4",
            ServerSpec("gunicorn", 2, "gthread", 4),
            "prod_w2_gthread_t4",
            "gunicorn, 2 gthread workers x 4 threads",
        ),
        (
            "gunicorn:gthread",
            ServerSpec("gunicorn", worker_class="gthread"),
            "prod_w1_gthread_t1",
            "gunicorn, 1 gthread worker x 1 thread",
        ),
        (
            " gunicorn:w1:gevent ",
            ServerSpec("gunicorn", worker_class="gevent"),
            "prod_w1_gevent",
            "gunicorn, 1 gevent worker",
        ),
        (
            "gunicorn:w3:timeout10",
            ServerSpec("gunicorn", workers=3, timeout=10),
            "prod_w3_timeout10",
            "gunicorn, 3 sync workers, worker timeout 10 s",
        ),
    ],
)
def test_spec_parse_label_describe(
    text: str, spec: ServerSpec, label: str, description: str
) -> None:
    assert ServerSpec.parse(text) == spec
    assert spec.label == label
    assert spec.describe() == description
    assert ServerSpec.from_server(spec.to_server()) == spec
    assert spec.to_server().label == label


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("uwsgi", r"unknown server 'uwsgi': expected flask-dev\[:single\|debug\], gunicorn"),
        ("flask-dev:w2", r"bad server 'flask-dev:w2': flask-dev takes no 'w2'"),
        ("gunicorn:w0", r"bad server 'gunicorn:w0': workers must be a whole number >= 1, not 0"),
        ("gunicorn:w2:w3", r"bad server 'gunicorn:w2:w3': 'w3' repeated"),
        ("gunicorn:x4", r"bad server 'gunicorn:x4': 'x4' not understood"),
        ("gunicorn:w", r"'w' not understood"),
        ("gunicorn:t4", r"threads=4 needs worker_class gthread, not sync"),
        ("gunicorn:gevent:t2", r"threads=2 needs worker_class gthread, not gevent"),
    ],
)
def test_spec_parse_rejects_bad_text_and_names_it(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServerSpec.parse(text)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "uwsgi"}, "server kind must be one of flask-dev, gunicorn"),
        ({"kind": "gunicorn", "worker_class": "eventlet"}, "worker_class must be one of"),
        ({"kind": "gunicorn", "threads": 0}, "threads must be a whole number >= 1"),
        ({"kind": "gunicorn", "workers": True}, "workers must be a whole number"),
        ({"kind": "gunicorn", "timeout": 2.5}, "timeout must be whole seconds >= 0"),
        ({"kind": "gunicorn", "timeout": -1}, "timeout must be whole seconds >= 0"),
        ({"kind": "flask-dev", "workers": 2}, "flask-dev takes no gunicorn settings, got workers"),
        ({"kind": "flask-dev", "timeout": 5}, "flask-dev takes no gunicorn settings, got timeout"),
    ],
)
def test_spec_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServerSpec(**kwargs)


def test_spec_from_a_results_file_rejects_what_it_does_not_know() -> None:
    with pytest.raises(ConfigError, match="server kind must be one of"):
        ServerSpec.from_server(Server(kind="uwsgi"))
    with pytest.raises(ConfigError, match="worker_class must be one of"):
        ServerSpec.from_server(Server(kind="gunicorn", worker_class="eventlet"))
    with pytest.raises(ConfigError, match="flask-dev takes no gunicorn settings"):
        ServerSpec.from_server(Server(kind="flask-dev", workers=2))


@pytest.mark.parametrize(
    ("text", "concurrency", "expected"),
    [
        ("gunicorn", 10, 1),  # one sync worker serves them one after another
        ("gunicorn:w4", 10, 4),
        ("gunicorn:w16", 10, 10),  # more workers than requests
        ("gunicorn:w2:gthread:t4", 10, 8),
        ("gunicorn:w4:gthread:t4", 10, 10),
        ("gunicorn:w1:gevent", 10, 10),
        ("gunicorn:w3:gevent", 10, 10),
        ("flask-dev", 10, 10),  # a thread per request
        ("flask-dev", 1, 1),
    ],
)
def test_requests_in_memory_at_once(text: str, concurrency: int, expected: int) -> None:
    assert ServerSpec.parse(text).in_memory_at_once(concurrency) == expected


@pytest.mark.parametrize("text", ["gunicorn", "flask-dev"])
def test_in_memory_at_once_needs_a_concurrency(text: str) -> None:
    with pytest.raises(ConfigError, match="concurrency"):
        ServerSpec.parse(text).in_memory_at_once(0)


def test_the_kind_table_says_which_processes_must_answer() -> None:
    assert ServerSpec.parse("flask-dev").answering_processes == 1
    assert ServerSpec.parse("gunicorn:w3").answering_processes == 3
    assert ServerSpec.parse("gunicorn:w3").worker_processes == 3
    assert ServerSpec.parse("gunicorn:w2").command_line(8000)[-1] == "servelab.service:app"


def test_launch_rejects_a_name_that_is_not_a_file_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="plain file name"):
        launch(ServerSpec("flask-dev"), run_dir=tmp_path, name="../x")


@pytest.mark.parametrize(
    ("end", "text"),
    [
        (
            ServerExit.from_returncode(-9, stopped_by_lab=False),
            "killed by SIGKILL (not by the lab)",
        ),
        (ServerExit.from_returncode(3, stopped_by_lab=False), "exited with code 3"),
        (ServerExit.from_returncode(-15, stopped_by_lab=True), "stopped by the lab (SIGTERM)"),
        (
            ServerExit.from_returncode(0, stopped_by_lab=True),
            "stopped by the lab (exited with code 0)",
        ),
        (
            ServerExit.from_returncode(-9, stopped_by_lab=True, forced=True),
            "stopped by the lab (SIGKILL); the group needed SIGKILL after the grace period",
        ),
    ],
)
def test_exit_describe(end: ServerExit, text: str) -> None:
    assert end.describe() == text
    assert end.to_end() == ServerEnd(end.returncode, end.signal, end.stopped_by_lab, end.forced)


class _Foreign(http.server.BaseHTTPRequestHandler):
    """Another program's server: answers every GET 200, says nothing about its process."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def foreign_port() -> Iterator[int]:
    """A loopback port on which a foreign HTTP server answers /health with 200."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Foreign)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("text", ["flask-dev", "gunicorn"])
def test_a_foreign_server_on_the_port_is_not_taken_for_ours(
    start: Start, monkeypatch: pytest.MonkeyPatch, foreign_port: int, text: str
) -> None:
    real_free_port = servers._free_port
    ports = iter([foreign_port])
    monkeypatch.setattr(servers, "_free_port", lambda: next(ports, None) or real_free_port())
    server = start(text)
    assert server.port != foreign_port
    assert predict(server)[1] in server.process_pids()


@pytest.mark.timeout(30)
def test_a_port_always_held_by_a_foreign_server_is_a_clear_start_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, foreign_port: int
) -> None:
    monkeypatch.setattr(servers, "_free_port", lambda: foreign_port)
    with pytest.raises(ServerStartError, match=r"port taken 3 times \(another process"):
        launch(ServerSpec("flask-dev"), run_dir=tmp_path, ready_timeout=10)
