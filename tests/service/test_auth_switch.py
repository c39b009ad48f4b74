"""Turning auth on and off: an empty token is refused, ``SERVELAB_AUTH=off`` is the way out.

An empty ``SERVELAB_TOKEN`` (a secret that did not arrive) used to start the service with
auth off and no word about it. Each entry point must refuse it with one line instead, and
turn auth off only when told so explicitly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from servelab.servers import ServerSpec, launch
from servelab.service import ServiceConfig, ServiceConfigError

from ..helpers import REPO, free_port, http_request

BIN = Path(sys.executable).parent
TOKEN = "switch-test-token"
BLANKS = ["", "   ", "\t"]


def _without_servelab(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVELAB_")}
    return {**env, **extra}


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # A service that wrongly starts keeps running: the timeout turns that into a failure.
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize("blank", BLANKS, ids=["empty", "spaces", "tab"])
@pytest.mark.parametrize(
    "command",
    [[sys.executable, "src/predict_app.py"], [sys.executable, "-m", "servelab.service"]],
    ids=["predict_app", "python-m"],
)
def test_a_blank_token_stops_the_service_with_one_line(command: list[str], blank: str) -> None:
    env = _without_servelab(SERVELAB_TOKEN=blank, SERVELAB_PORT=str(free_port()))
    try:
        result = _run(command, env)
    except subprocess.TimeoutExpired:
        pytest.fail("the service started with an empty SERVELAB_TOKEN")

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SERVELAB_TOKEN" in lines[0] and "SERVELAB_AUTH=off" in lines[0]


def test_a_blank_token_stops_gunicorn_before_it_serves() -> None:
    port = free_port()
    env = _without_servelab(SERVELAB_TOKEN="", GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{port}")
    try:
        result = _run([str(BIN / "gunicorn"), "src.predict_app:app"], env)
    except subprocess.TimeoutExpired:
        pytest.fail("gunicorn served with an empty SERVELAB_TOKEN")

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Booting worker" not in result.stderr
    refusal = [line for line in result.stderr.splitlines() if "SERVELAB_TOKEN" in line]
    assert len(refusal) == 1 and "is set but empty" in refusal[0], result.stderr


def test_auth_off_is_an_explicit_opt_out_that_wins_over_a_token(tmp_path: Path) -> None:
    env = {"SERVELAB_WORKLOAD": "io", "SERVELAB_IO_DELAY": "0", "SERVELAB_AUTH": "off"}
    for token in ("", TOKEN):  # an empty or a real token in the environment: both ignored
        with launch(
            ServerSpec.parse("flask-dev"), run_dir=tmp_path, env={**env, "SERVELAB_TOKEN": token}
        ) as server:
            body = json.dumps({"area": 10}).encode()
            reply = http_request(
                server.port,
                "POST",
                "/predict",
                body=body,
                headers={"Content-Type": "application/json"},
            )
            assert (reply.status, reply.json()) == (200, {"price": 2_000_000})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SERVELAB_AUTH": "on"}, "SERVELAB_AUTH=on needs a token"),
        ({"SERVELAB_AUTH": "maybe", "SERVELAB_TOKEN": TOKEN}, "SERVELAB_AUTH must be on or off"),
        ({"SERVELAB_N": ""}, "SERVELAB_N is set but empty"),
        ({"SERVELAB_MEMORY_BUDGET": " "}, "SERVELAB_MEMORY_BUDGET is set but empty"),
    ],
)
def test_contradictory_or_empty_settings_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ServiceConfigError, match=message):
        ServiceConfig.load(environ=environ)


def test_the_lab_passes_auth_off_so_an_inherited_token_cannot_turn_it_on() -> None:
    env = ServiceConfig(workload="io").to_env()
    inherited = {"SERVELAB_TOKEN": TOKEN, **env}
    assert ServiceConfig.load(environ=inherited).token is None
    locked = ServiceConfig(workload="io", token=TOKEN).to_env()
    assert ServiceConfig.load(environ=locked).token == TOKEN
