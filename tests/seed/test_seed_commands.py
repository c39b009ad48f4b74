"""The seminar's own commands work as written: predict_app under both servers, and utils."""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from ..conftest import REPO

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _post(port: int, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/predict", json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@contextlib.contextmanager
def _seed_server(command: list[str], port: int, env: dict[str, str]) -> Iterator[None]:
    """Run a seed command from the repository root until /health answers; stop its group."""
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    break
            time.sleep(0.1)
        else:
            pytest.fail(f"{command} was not ready within 20 s")
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def test_python_src_predict_app_runs_the_dev_server() -> None:
    port = _free_port()
    env = {"SERVELAB_PORT": str(port), "SERVELAB_WORKLOAD": "io", "SERVELAB_IO_DELAY": "0.01"}
    with _seed_server([sys.executable, "src/predict_app.py"], port, env):
        assert _post(port, {"area": 42}) == (200, {"price": 8_400_000})
        assert _post(port, {"area": -1})[0] == 400


def test_gunicorn_src_predict_app_app() -> None:
    port = _free_port()
    env = {
        "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}",
        "SERVELAB_WORKLOAD": "numpy",
        "SERVELAB_N": "1000",
    }
    with _seed_server([str(BIN / "gunicorn"), "src.predict_app:app"], port, env):
        assert _post(port, {"area": 10}) == (200, {"price": int(10 * 499.5)})


def test_a_bad_setting_stops_predict_app_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "src/predict_app.py"],
        cwd=REPO,
        env={**os.environ, "SERVELAB_WORKLOAD": "gpu"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "workload must be one of" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def utils() -> ModuleType:
    spec = importlib.util.spec_from_file_location("seed_utils", REPO / "src" / "utils.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_utils_keeps_the_seed_functions_and_formulas(utils: ModuleType) -> None:
    assert utils.predict_cpu_bounded(42, n=1000) == int(42 * (sum(range(1000)) / 1000))
    assert utils.predict_cpu_multithread(42, n=1000) == int(42 * float(np.mean(np.arange(1000))))
    assert utils.predict_cpu_bounded(3) == utils.predict_cpu_multithread(3) == int(3 * 2_499_999.5)
    began = time.perf_counter()
    assert utils.predict_io_bounded(42) == 8_400_000
    assert time.perf_counter() - began >= 1.0  # the seed's one-second external call
