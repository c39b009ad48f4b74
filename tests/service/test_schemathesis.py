"""Schemathesis against /openapi.json of real servers: the document and the service agree.

Each test starts a real server, and runs the ``schemathesis run`` command against the URL of
its document: every generated request goes over a socket, so the server's own HTTP handling
is part of what is checked. Schemathesis runs all its phases (the document's examples; the
coverage phase's boundary values, wrong types, missing and repeated parameters, undeclared
methods and content types; random fuzzing, bounded by ``MAX_EXAMPLES`` per operation and a
fixed seed so that a run is repeatable) and all its checks: no 5xx, only documented
statuses, content types and headers, bodies matching their schemas, invalid data refused,
valid data accepted, 405 with Allow, and with a token set, /predict refusing requests
without it.

Why the command and not the pytest plugin: with pytest 9 the plugin's lazy loader
(``schemathesis.pytest.from_fixture``, the only way to use a server started by a fixture)
fails with ``'Function' object has no attribute '_nodeid'``.

One rule is written in the document in words only, as JSON Schema cannot compare two fields:
a floor above floors_count is refused with 400. ``filter_body`` below (loaded by the command
as its hooks module) keeps such bodies out of the random phase; the coverage phase does not
run hooks, so there, and only there, a 400 counts as an accepted outcome for valid data.
tests/test_contract.py checks that rule, and that valid bodies get 200, one by one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import schemathesis

from servelab.servers import RunningServer, ServerSpec, launch
from servelab.service import ServiceConfig

# No import from tests/: the command loads this file on its own, as its hooks module.
pytestmark = pytest.mark.slow  # each run sends a few hundred requests, over 3 s here
MAX_EXAMPLES = 50
SEED = 20240917
TOKEN = "schemathesis-token"
# io with no delay keeps every prediction instant; a small max_n keeps cpu and numpy cheap.
CONFIG = ServiceConfig(workload="io", io_delay=0.0, n=100, max_n=20_000)
# Large enough that no request of the run is refused for memory: the guard's 413 is checked
# in test_contract.py; here it only puts its statuses into the document.
BUDGET = 64 * 2**20
RUN_TIMEOUT = 120.0


@schemathesis.hook
def filter_body(context: Any, body: Any) -> bool:
    """Keep out of the random phase a body whose floor is above its floors_count."""
    if not isinstance(body, dict):
        return True
    floor, floors_count = body.get("floor"), body.get("floors_count")
    if type(floor) is int and type(floors_count) is int:
        return floor <= floors_count
    return True


def _config(token: str | None) -> str:
    lines = [
        f"seed = {SEED}",
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        "[phases.coverage]",
        "generate-duplicate-query-parameters = true",
        "[phases.coverage.checks.positive_data_acceptance]",
        'expected-statuses = ["2xx", "400"]',
    ]
    if token is not None:
        lines += ["[auth.openapi.bearerAuth]", f"bearer = {json.dumps(token)}"]
    return "\n".join(lines) + "\n"


def _schemathesis(server: RunningServer, tmp: Path, token: str | None = None) -> str:
    config = tmp / "schemathesis.toml"
    config.write_text(_config(token))
    command = [
        sys.executable, "-m", "schemathesis.cli",
        "--config-file", str(config),
        "run", f"{server.url}/openapi.json",
        "--checks", "all",
        "--workers", "1",
        "--request-timeout", "10",
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": __file__, "NO_COLOR": "1", "COLUMNS": "120"}
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp, env=env, timeout=RUN_TIMEOUT, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


@pytest.fixture(scope="module")
def flask_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    run_dir = tmp_path_factory.mktemp("flask-dev")
    with launch(ServerSpec.parse("flask-dev"), run_dir=run_dir, env=CONFIG.to_env()) as server:
        yield server


@pytest.fixture(scope="module")
def gunicorn_guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = replace(CONFIG, token=TOKEN, memory_budget=BUDGET)
    run_dir = tmp_path_factory.mktemp("gunicorn")
    with launch(ServerSpec.parse("gunicorn:w1"), run_dir=run_dir, env=config.to_env()) as server:
        yield server


def _assert_all_tested(output: str, server: RunningServer) -> None:
    # Schemathesis leaves out the document's own route; every other one must have been run.
    operations = len(json.loads(_fetch(server, "/openapi.json"))["paths"]) - 1
    tested = re.search(r"Tested:\s+(\d+)", output)
    cases = re.search(r"(\d+) generated", output)
    assert tested and int(tested.group(1)) == operations, output
    assert cases and int(cases.group(1)) >= MAX_EXAMPLES, output


def test_flask_dev_does_what_its_document_says(flask_dev: RunningServer, tmp_path: Path) -> None:
    _assert_all_tested(_schemathesis(flask_dev, tmp_path), flask_dev)


def test_gunicorn_with_token_and_guard_does_what_its_document_says(
    gunicorn_guarded: RunningServer, tmp_path: Path
) -> None:
    document = json.loads(_fetch(gunicorn_guarded, "/openapi.json"))
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert {"401", "413", "503"} <= set(document["paths"]["/predict"]["post"]["responses"])
    _assert_all_tested(_schemathesis(gunicorn_guarded, tmp_path, TOKEN), gunicorn_guarded)


def _fetch(server: RunningServer, path: str) -> str:
    with urllib.request.urlopen(server.url + path, timeout=10) as response:
        text: str = response.read().decode()
        return text
