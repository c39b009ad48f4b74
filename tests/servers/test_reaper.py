"""Servers and caps die with the lab: SIGKILL of the lab, a closed terminal (SIGHUP)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from servelab.servers.cap import available_mechanism

from ..helpers import REPO, http_request, lab_process, running, wait_for

needs_cgroup = pytest.mark.skipif(
    available_mechanism() not in ("cgroup-v1", "cgroup-v2"),
    reason="no memory cgroup can be made here",
)

# A lab that starts gunicorn with two workers (and, with CAP set, the dev server in a cgroup
# cap), says what it started, and waits to be killed.
LAB = """
import json, sys, time
from pathlib import Path
from servelab.servers import ServerSpec, launch, open_cap
from servelab.service import ServiceConfig

run_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "{run_dir}")
env = ServiceConfig(workload="io").to_env()
pids, cgroup = [], None
server = launch(ServerSpec.parse("gunicorn:w2"), run_dir=run_dir, env=env)
pids += server.process_pids()
if {capped}:
    cap = open_cap(256 << 20, mechanism="cgroup", label="reaper-test")
    capped = launch(
        ServerSpec.parse("flask-dev"), run_dir=run_dir, env=env,
        command_prefix=cap.command_prefix(), name="capped",
    )
    pids += capped.process_pids()
    cgroup = str(cap.path)
print(json.dumps({{"pids": pids, "cgroup": cgroup}}), flush=True)
time.sleep(60)
"""


def _lab(tmp_path: Path, capped: bool) -> str:
    return textwrap.dedent(LAB.format(run_dir=tmp_path, capped=capped))


@pytest.mark.timeout(60)
def test_servers_of_a_lab_killed_with_sigkill_are_gone_within_seconds(tmp_path: Path) -> None:
    with lab_process(_lab(tmp_path, capped=False), cwd=tmp_path) as (lab, started):
        pids = started["pids"]
        assert len(pids) == 3 and all(running(pid) for pid in pids)
        lab.send_signal(signal.SIGKILL)
        lab.wait(10)
        wait_for(lambda: not any(running(pid) for pid in pids), "the servers to die", 5)


@pytest.mark.cgroup
@needs_cgroup
@pytest.mark.timeout(60)
def test_a_capped_server_and_its_cgroup_go_when_the_lab_is_killed(tmp_path: Path) -> None:
    with lab_process(_lab(tmp_path, capped=True), cwd=tmp_path) as (lab, started):
        pids, cgroup = started["pids"], Path(started["cgroup"])
        assert cgroup.is_dir() and len(pids) == 4
        lab.send_signal(signal.SIGKILL)
        lab.wait(10)
        wait_for(lambda: not any(running(pid) for pid in pids), "the servers to die", 5)
        wait_for(lambda: not cgroup.exists(), f"{cgroup} to be removed", 5)


@pytest.mark.timeout(60)
def test_servelab_serve_stops_its_server_when_its_terminal_closes(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "servelab", "serve", "--server", "gunicorn:w2"]
    command += ["--workload", "io", "--run-dir", str(tmp_path)]
    with subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as cli:
        try:
            assert cli.stderr is not None
            line = cli.stderr.readline()  # printed once the server is ready
            assert "http://127.0.0.1:" in line, line + cli.stderr.read()
            port = int(line.split("http://127.0.0.1:")[1].split()[0].rstrip(")"))
            assert http_request(port, "GET", "/health").status == 200
            pids = [p.pid for p in psutil.Process(cli.pid).children(recursive=True)]
            assert len(pids) == 3
            cli.send_signal(signal.SIGHUP)  # what a closed terminal sends its shell's jobs
            # Stopped like Ctrl-C: by the lab itself, not only by its reaper afterwards.
            assert cli.wait(15) == 130
            assert "every server started was stopped" in cli.stderr.read()
            wait_for(lambda: not any(running(pid) for pid in pids), "the servers to die", 5)
        finally:
            if cli.poll() is None:
                cli.kill()
            cli.communicate(timeout=10)
