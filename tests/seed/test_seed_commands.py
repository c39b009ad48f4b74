"""The seminar's own commands work as written: predict_app under both servers, and utils."""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from servelab.servers import HOST

from ..helpers import REPO, free_port, http_request, process_group, wait_for

BIN = Path(sys.executable).parent


def _post(port: int, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    headers = {"Content-Type": "application/json"}
    reply = http_request(port, "POST", "/predict", body=json.dumps(body).encode(), headers=headers)
    return reply.status, reply.json()


@contextlib.contextmanager
def _seed_server(command: list[str], port: int, env: dict[str, str]) -> Iterator[None]:
    """Run a seed command from the repository root until /health answers; stop its group."""
    with process_group(
        command, cwd=REPO, env={**os.environ, **env}, stderr=subprocess.PIPE
    ) as process:

        def healthy() -> bool:
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"{command} exited with {process.returncode}: {stderr}")
            try:
                return http_request(port, "GET", "/health", timeout=1).status == 200
            except (OSError, http.client.HTTPException):
                return False

        wait_for(healthy, f"{command} to answer /health on {HOST}:{port}", timeout=20, interval=0.1)
        yield


def test_python_src_predict_app_runs_the_dev_server() -> None:
    port = free_port()
    env = {"SERVELAB_PORT": str(port), "SERVELAB_WORKLOAD": "io", "SERVELAB_IO_DELAY": "0.01"}
    with _seed_server([sys.executable, "src/predict_app.py"], port, env):
        assert _post(port, {"area": 42}) == (200, {"price": 8_400_000})
        assert _post(port, {"area": -1})[0] == 400


def test_gunicorn_src_predict_app_app() -> None:
    port = free_port()
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
