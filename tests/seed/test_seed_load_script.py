"""The seed's command, ``python test/test_parallel.py > log/x.txt``, run as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from collections.abc import Iterator

import pytest

from servelab.service import ServiceConfig

from ..helpers import REPO, free_port, launch_service

SCRIPT = REPO / "test" / "test_parallel.py"
SEED_OK = re.compile(r'^Waited (\d+\.\d{2}) sec (\{"price": \d+\})$')
REFUSED = re.compile(r"^Waited \d+\.\d{2} sec ConnectionRefusedError: \[Errno 111\] .+$")
D = 0.1


@pytest.fixture(scope="module")
def flask_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = ServiceConfig(workload="io", io_delay=D)
    with launch_service("flask-dev", tmp_path_factory.mktemp("servers"), config) as server:
        yield server.url


def _closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/predict"


def _run(
    *args: str, env: dict[str, str] | None = None, python: tuple[str, ...] = (sys.executable,)
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("SERVELAB_URL", "PYTHONPATH")}
    return subprocess.run(
        [*python, str(SCRIPT), *args],
        env={**base, **(env or {})},
        cwd=REPO.parent,  # not the checkout: the script must find its own way
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_prints_ten_seed_lines_against_a_real_server(flask_dev: str) -> None:
    result = _run(f"{flask_dev}/predict?workload=io")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 10
    prices = []
    for line in lines:
        match = SEED_OK.match(line)
        assert match, line
        assert float(match.group(1)) < 1.0  # the dev server ran them at once
        prices.append(json.loads(match.group(2))["price"])
    assert sorted(prices) == [area * 200_000 for area in range(10, 101, 10)]


def test_failed_requests_are_logged_and_exit_zero() -> None:
    # The URL from the environment; no server there: ten failure lines, like the seed's log.
    result = _run(env={"SERVELAB_URL": _closed_port_url()})

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 10
    assert all(REFUSED.match(line) for line in lines), lines


def test_runs_from_a_fresh_checkout_without_the_installed_package() -> None:
    # -S skips site-packages' .pth files, so the editable install is invisible; the
    # dependencies stay reachable through PYTHONPATH. The script must add src/ itself.
    deps = sysconfig.get_paths()["purelib"]
    result = _run(
        env={"SERVELAB_URL": _closed_port_url(), "PYTHONPATH": deps},
        python=(sys.executable, "-S"),
    )

    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 10


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/predict", "127.0.0.1:5000/predict", "http://:5000/predict"]
)
def test_a_bad_url_is_one_line_on_stderr_and_exit_2(url: str) -> None:
    result = _run(url)

    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("test_parallel.py: error: URL")


def test_help_explains_the_url_and_the_exit_status() -> None:
    result = _run("--help")

    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps lines
    assert "SERVELAB_URL" in text
    assert "Exit status: 0" in text and "even when some failed" in text
