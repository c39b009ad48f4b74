"""``servelab serve --app``: the user's app up on a server of its own environment until Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import psutil
import pytest

from ..helpers import REPO, http_request, process_group, wait_for

APPS = REPO / "tests" / "apps"


@pytest.mark.slow
def test_serve_runs_an_asgi_app_in_its_own_venv_on_uvicorn_until_ctrl_c(
    app_venv: Path, tmp_path: Path
) -> None:
    command = [
        sys.executable, "-m", "servelab", "serve", "--app", "asgi_app:app",
        "--app-dir", str(APPS), "--python", str(app_venv), "--run-dir", str(tmp_path / "serve"),
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    out = tmp_path / "out.txt"
    with out.open("wb") as sink, process_group(command, cwd=tmp_path, env=env, stdout=sink) as lab:
        found: list[str] = []

        def announced() -> bool:
            assert lab.poll() is None, out.read_text()
            found[:] = re.findall(r"http://127\.0\.0\.1:(\d+)", out.read_text())
            return bool(found)

        wait_for(announced, "servelab serve to print its URL", timeout=60)
        # An ASGI app without --server gets uvicorn, from the app's venv (no servelab there).
        assert "uvicorn" in out.read_text() and "asgi" in out.read_text()
        reply = http_request(int(found[0]), "GET", "/health")
        assert reply.status == 200
        # The lab's middleware says who served it, without the app knowing.
        pid = int(reply.headers["X-Servelab-Pid"])
        assert str(app_venv.parent.parent) in " ".join(psutil.Process(pid).cmdline())
        lab.send_signal(signal.SIGINT)
        # stop() is bounded by its grace, KILL and reap waits (5 s each); on a machine loaded
        # by other work the lab's own exit adds to that (20 s was once not enough).
        lab.wait(timeout=60)
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
