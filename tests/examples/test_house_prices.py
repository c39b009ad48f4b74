"""The house-price example (examples/house_prices): one model, one contract, Flask and FastAPI.

The Flask app is driven through Flask's test client; the FastAPI app through a real uvicorn
in a subprocess, served from the example's own folder (``--app-dir``) as servelab will serve
it. Both get the same token and row limit, and must answer every case alike. One slow test
serves both from a fresh venv made from requirements.txt alone, where servelab is absent.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from examples.house_prices import contract, flask_app, model, payload
from flask.testing import FlaskClient

from ..helpers import REPO, free_port, http_request, process_group, wait_for

EXAMPLE = REPO / "examples" / "house_prices"
TOKEN = "house-T0ken_for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIMIT = 100
APPS = ["flask", "fastapi"]

# (status, parsed JSON body) for a POST /predict with this body and these headers
Post = Callable[[bytes, Mapping[str, str]], tuple[int, object]]


def app_env(**settings: str) -> dict[str, str]:
    """The test's environment without the example's settings, then ``settings``."""
    env = {k: v for k, v in os.environ.items() if k not in ("API_TOKEN", "MAX_ROWS")}
    return env | settings


@contextlib.contextmanager
def serving(command: list[str], port: int, tmp: Path, env: Mapping[str, str]) -> Iterator[int]:
    """``command``, a server of an example on ``port``; yields the port once /health answers."""
    with (
        (tmp / "server.log").open("wb") as log,
        process_group(command, cwd=tmp, env=env, stdout=log) as server,
    ):

        def healthy() -> bool:
            assert server.poll() is None, (tmp / "server.log").read_text()
            try:
                return http_request(port, "GET", "/health", timeout=2).status == 200
            except OSError:
                return False

        wait_for(healthy, f"{command[2]} serving the example", timeout=60)
        yield port


def uvicorn(
    tmp: Path, env: Mapping[str, str], python: str = sys.executable
) -> contextlib.AbstractContextManager[int]:
    """The FastAPI example on a real uvicorn, served from its folder as servelab serves it."""
    port = free_port()
    command = [python, "-m", "uvicorn", "--app-dir", str(EXAMPLE), "fastapi_app:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return serving(command, port, tmp, env)


def gunicorn(
    tmp: Path, env: Mapping[str, str], python: str, *options: str, app: str = "flask_app:app"
) -> contextlib.AbstractContextManager[int]:
    """An example on gunicorn, one worker (sync unless ``options`` say otherwise)."""
    port = free_port()
    command = [python, "-m", "gunicorn", "--chdir", str(EXAMPLE), app, "-w", "1", *options]
    command += ["-b", f"127.0.0.1:{port}", "--no-control-socket", "--log-level", "warning"]
    return serving(command, port, tmp, env)


@pytest.fixture(scope="module")
def fastapi_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    env = app_env(API_TOKEN=TOKEN, MAX_ROWS=str(LIMIT))
    with uvicorn(tmp_path_factory.mktemp("fastapi"), env) as port:
        yield port


@pytest.fixture(scope="module")
def flask_client() -> Iterator[FlaskClient]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("API_TOKEN", TOKEN)
        patch.setenv("MAX_ROWS", str(LIMIT))
        yield flask_app.create_app().test_client()


def flask_post(client: FlaskClient) -> Post:
    def post(body: bytes, headers: Mapping[str, str]) -> tuple[int, object]:
        reply = client.post("/predict", data=body, headers=dict(headers))
        return reply.status_code, json.loads(reply.get_data())

    return post


def http_post(port: int) -> Post:
    def post(body: bytes, headers: Mapping[str, str]) -> tuple[int, object]:
        headers = {"Content-Type": "application/json"} | dict(headers)
        reply = http_request(port, "POST", "/predict", body=body, headers=headers)
        return reply.status, reply.json()

    return post


@pytest.fixture(params=APPS)
def post(request: pytest.FixtureRequest) -> Post:
    if request.param == "flask":
        return flask_post(request.getfixturevalue("flask_client"))
    return http_post(request.getfixturevalue("fastapi_port"))


def rows_body(rows: object) -> bytes:
    return json.dumps({"rows": rows}).encode()


# --- predictions ------------------------------------------------------------------------------


def test_a_batch_gets_one_price_per_row_and_both_apps_agree(
    flask_client: FlaskClient, fastapi_port: int
) -> None:
    body = payload.make_body(50)
    answers = [flask_post(flask_client)(body, AUTH), http_post(fastapi_port)(body, AUTH)]
    for status, reply in answers:
        assert status == 200, reply
        assert isinstance(reply, dict) and reply["rows"] == 50
        prices = reply["prices"]
        assert len(prices) == 50
        # Plausible flats get plausible prices: whole roubles, 1-100 million.
        assert all(type(price) is int and 1e6 < price < 1e8 for price in prices), prices
    assert answers[0] == answers[1]


def test_a_bigger_flat_costs_more(post: Post) -> None:
    small, big = [35.0, 1, 5, 20, 1.0], [120.0, 4, 5, 20, 1.0]
    status, reply = post(rows_body([small, big]), AUTH)
    assert status == 200
    assert isinstance(reply, dict)
    assert reply["prices"][0] < reply["prices"][1]


def test_health_answers_without_the_token(flask_client: FlaskClient, fastapi_port: int) -> None:
    assert flask_client.get("/health").get_json()["status"] == "ok"
    reply = http_request(fastapi_port, "GET", "/health")
    assert reply.status == 200 and reply.json()["status"] == "ok"


# --- what both apps refuse --------------------------------------------------------------------


BAD_BODIES = {
    "not JSON": b"rows=1,2,3",
    "not an object": b"[[50, 2, 3, 10, 1]]",
    "no rows": b'{"flats": [[50, 2, 3, 10, 1]]}',
    "empty batch": rows_body([]),
    "short row": rows_body([[50, 2, 3, 10]]),
    "long row": rows_body([[50, 2, 3, 10, 1, 0]]),
    "row not a list": rows_body([50, 2, 3, 10, 1]),
    "number as text": rows_body([[50, 2, "3", 10, 1]]),
    "boolean": rows_body([[50, 2, True, 10, 1]]),
    "null": rows_body([[50, 2, None, 10, 1]]),
    "NaN": b'{"rows": [[50, 2, NaN, 10, 1]]}',
    "Infinity": b'{"rows": [[Infinity, 2, 3, 10, 1]]}',
    "over MAX_ROWS": rows_body([[50, 2, 3, 10, 1]] * (LIMIT + 1)),
}


@pytest.mark.parametrize("case", BAD_BODIES)
def test_a_bad_batch_is_a_400_with_a_message(post: Post, case: str) -> None:
    status, reply = post(BAD_BODIES[case], AUTH)
    assert status == 400, reply
    assert isinstance(reply, dict) and isinstance(reply["error"], str) and reply["error"]


def test_max_rows_itself_is_accepted(post: Post) -> None:
    status, reply = post(rows_body([[50, 2, 3, 10, 1]] * LIMIT), AUTH)
    assert status == 200, reply


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Bearer"}],
    ids=["none", "wrong token", "no scheme", "no token"],
)
def test_predict_without_the_token_is_a_401(post: Post, headers: dict[str, str]) -> None:
    status, reply = post(payload.make_body(3), headers)
    assert status == 401
    assert isinstance(reply, dict) and "Bearer" in reply["error"]


def test_the_token_is_checked_before_the_batch(post: Post) -> None:
    status, _ = post(BAD_BODIES["short row"], {})
    assert status == 401


# --- settings ---------------------------------------------------------------------------------


def test_without_api_token_auth_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_TOKEN", raising=False)
    client = flask_app.create_app().test_client()
    assert client.post("/predict", data=payload.make_body(2)).status_code == 200


@pytest.mark.slow
def test_fastapi_without_api_token_auth_is_off(tmp_path: Path) -> None:
    with uvicorn(tmp_path, app_env(API_TOKEN="")) as port:
        assert http_post(port)(payload.make_body(2), {})[0] == 200


@pytest.mark.parametrize("value", ["lots", "0", "-5", "1e6"])
def test_a_bad_max_rows_stops_the_app_at_start_up(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MAX_ROWS", value)
    with pytest.raises(SystemExit, match="MAX_ROWS must be a positive whole number"):
        flask_app.create_app()


def test_the_apps_run_from_their_folder_without_servelab() -> None:
    # As servelab serves them from the app's own environment: the folder is the import path,
    # and servelab is not installed there (None in sys.modules makes importing it fail).
    script = (
        "import sys; sys.modules['servelab'] = None\n"
        "import fastapi_app, flask_app, payload\n"
        "reply = flask_app.app.test_client().post('/predict', data=payload.make_body(2))\n"
        "print(reply.status_code, type(fastapi_app.app).__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=EXAMPLE,
        env=app_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200", "FastAPI"]


def test_a_missing_model_file_is_trained_and_saved(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    fitted = model.load(path)
    assert path.stat().st_mode & 0o777 == 0o644
    rows = contract.finite_matrix(payload.make_rows(5))
    assert model.predict_prices(fitted, rows) == model.predict_prices(model.load(path), rows)
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]  # no temporary left


# --- the payload hook -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 7, 1000])
def test_make_body_holds_size_rows_of_five_numbers(size: int) -> None:
    rows = json.loads(payload.make_body(size))["rows"]
    assert len(rows) == size
    assert all(len(row) == 5 and all(type(v) in (int, float) for v in row) for row in rows)


def test_make_body_is_deterministic_and_grows_by_appending() -> None:
    assert payload.make_body(200) == payload.make_body(200)
    assert json.loads(payload.make_body(200))["rows"][:50] == payload.make_rows(50)


def test_make_body_refuses_a_negative_size() -> None:
    with pytest.raises(ValueError, match="size"):
        payload.make_body(-1)


# --- the measurement script ---------------------------------------------------------------------


@pytest.mark.slow
def test_measure_prints_bytes_per_row() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "measure.py"), "1000", "4000"],
        env=app_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "bytes per row" in done.stdout


# --- in an environment of their own -------------------------------------------------------------


@pytest.mark.slow
def test_both_apps_serve_from_their_own_environment(
    house_python: Path, flask_client: FlaskClient, tmp_path: Path
) -> None:
    own_python = str(house_python)
    found = subprocess.run(
        [own_python, "-c", "import servelab"], capture_output=True, text=True, timeout=60
    )
    assert "No module named 'servelab'" in found.stderr
    env = app_env(API_TOKEN=TOKEN)
    body = payload.make_body(20)
    expected = flask_post(flask_client)(body, AUTH)
    assert expected[0] == 200
    for name in ("gunicorn", "uvicorn", "gunicorn-uvicorn"):
        (tmp_path / name).mkdir()
    with (
        gunicorn(tmp_path / "gunicorn", env, own_python) as flask_port,
        uvicorn(tmp_path / "uvicorn", env, own_python) as fastapi_port,
        gunicorn(
            tmp_path / "gunicorn-uvicorn",
            env,
            own_python,
            "-k",
            "uvicorn_worker.UvicornWorker",
            app="fastapi_app:app",
        ) as worker_port,
    ):
        for port in (flask_port, fastapi_port, worker_port):
            assert http_post(port)(body, AUTH) == expected
            assert http_post(port)(body, {})[0] == 401
