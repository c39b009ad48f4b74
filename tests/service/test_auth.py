"""Bearer-token auth of POST /predict, on real servers, and the lab's clients that send it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from servelab.errors import LoadError
from servelab.load import run_burst
from servelab.servers import RunningServer
from servelab.service import ServiceConfig
from servelab.service.auth import check_authorization

from ..helpers import REPO, Reply, http_request, launch_service, servelab_cli

TOKEN = "s3cret-T0ken_for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SPECS = ["flask-dev", "gunicorn:w2"]
SEED_OK = re.compile(r'^Waited \d+\.\d{2} sec \{"price": \d+\}$')


@pytest.fixture(scope="module", params=SPECS)
def locked(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    config = ServiceConfig(workload="io", io_delay=0.01, token=TOKEN)
    with launch_service(request.param, tmp_path_factory.mktemp("locked"), config) as server:
        yield server


@pytest.fixture(scope="module", params=SPECS)
def open_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    # No token: auth off, also when the environment running the tests has SERVELAB_TOKEN.
    config = ServiceConfig(workload="io", io_delay=0.01)
    with launch_service(request.param, tmp_path_factory.mktemp("open"), config) as server:
        yield server


def _request(
    server: RunningServer,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: object = None,
) -> Reply:
    data = json.dumps(body).encode() if body is not None else None
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return http_request(server.port, method, path, body=data, headers=all_headers)


@pytest.mark.parametrize(
    "authorization",
    [None, "", f"Basic {TOKEN}", f"Token {TOKEN}", "Bearer", "Bearer wrong", f"Bearer {TOKEN}x"],
)
def test_predict_without_the_right_token_is_401_with_a_challenge(
    locked: RunningServer, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    reply = _request(locked, "POST", "/predict", headers, {"area": 10})

    assert reply.status == 401
    assert reply.headers.get_content_type() == "application/json"
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    payload = reply.json()
    assert set(payload) == {"error"} and payload["error"]
    assert TOKEN not in reply.body.decode()


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_predict_with_the_token_returns_the_price(locked: RunningServer, scheme: str) -> None:
    headers = {"Authorization": f"{scheme} {TOKEN}"}
    reply = _request(locked, "POST", "/predict", headers, {"area": 10})

    assert reply.status == 200
    assert reply.json() == {"price": 2_000_000}


def test_auth_comes_before_input_checks(locked: RunningServer) -> None:
    # Without the token, nothing about the request is looked at: not even a broken body.
    assert _request(locked, "POST", "/predict", {}, {"area": -1}).status == 401
    assert _request(locked, "POST", "/predict", AUTH, {"area": -1}).status == 400


@pytest.mark.parametrize("path", ["/", "/health", "/metrics"])
def test_other_routes_stay_open(locked: RunningServer, path: str) -> None:
    assert _request(locked, "GET", path).status == 200


def test_options_preflight_needs_no_token(locked: RunningServer) -> None:
    reply = _request(locked, "OPTIONS", "/predict")
    assert reply.status == 200
    assert "POST" in reply.headers["Allow"]


def test_openapi_is_not_behind_the_token(locked: RunningServer) -> None:
    assert _request(locked, "GET", "/openapi.json").status != 401


def test_run_burst_sends_the_token(locked: RunningServer) -> None:
    records = run_burst(f"{locked.url}/predict", requests=6, concurrency=3, headers=AUTH)

    assert [r.status for r in records] == [200] * 6
    assert all(r.ok for r in records)


def test_run_burst_without_the_token_records_401s(locked: RunningServer) -> None:
    records = run_burst(f"{locked.url}/predict", requests=3, concurrency=3)

    assert [(r.status, r.error_class) for r in records] == [(401, "http-4xx")] * 3
    assert all(r.error and "Authorization" in r.error for r in records)


def test_without_a_token_set_auth_is_off(open_server: RunningServer) -> None:
    for headers in ({}, {"Authorization": "Bearer anything"}, {"Authorization": "Basic x"}):
        reply = _request(open_server, "POST", "/predict", headers, {"area": 10})
        assert (reply.status, reply.json()) == (200, {"price": 2_000_000})
        assert "WWW-Authenticate" not in reply.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"Connection": "keep-alive"},
        {"content-type": "text/plain"},
        {"Bad Name": "x"},
        {"Authorization": "Bearer a\r\nX-Injected: 1"},
    ],
)
def test_run_burst_refuses_headers_it_cannot_send_as_given(headers: dict[str, str]) -> None:
    with pytest.raises(LoadError) as caught:
        run_burst("http://127.0.0.1:1/predict", requests=1, headers=headers)
    assert "X-Injected" not in str(caught.value)  # a secret value is never echoed


def test_token_is_compared_as_the_bytes_sent() -> None:
    token = "pässwörd-€"
    expected = token.encode("utf-8")
    # WSGI servers hand header values over decoded as latin-1.
    as_received = f"Bearer {token}".encode().decode("latin-1")

    assert check_authorization(as_received, expected) is None
    assert check_authorization(f"Bearer {token}", expected) is not None


def test_servelab_load_token_option_and_env(
    locked: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{locked.url}/predict"
    monkeypatch.delenv("SERVELAB_TOKEN", raising=False)
    with_option = servelab_cli("load", url, "--requests", "4", "--json", "--token", TOKEN)
    without = servelab_cli("load", url, "--requests", "4", "--json")
    monkeypatch.setenv("SERVELAB_TOKEN", TOKEN)
    from_env = servelab_cli("load", url, "--requests", "4", "--json")

    for result, ok in ((with_option, 4), (without, 0), (from_env, 4)):
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["ok"] == ok
    assert TOKEN not in with_option.stdout + with_option.stderr


def test_servelab_load_help_names_the_env_variable() -> None:
    result = servelab_cli("load", "--help")
    assert "--token" in result.stdout and "SERVELAB_TOKEN" in result.stdout


def test_seed_script_sends_the_token_from_the_environment(locked: RunningServer) -> None:
    base = {k: v for k, v in os.environ.items() if k not in ("SERVELAB_URL", "SERVELAB_TOKEN")}
    script = [sys.executable, str(REPO / "test" / "test_parallel.py"), f"{locked.url}/predict"]

    def run(env: dict[str, str]) -> list[str]:
        result = subprocess.run(
            script, env=env, capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()

    with_token = run({**base, "SERVELAB_TOKEN": TOKEN})
    without = run(base)

    assert len(with_token) == 10 and all(SEED_OK.match(line) for line in with_token), with_token
    assert len(without) == 10 and all("Authorization" in line for line in without), without
