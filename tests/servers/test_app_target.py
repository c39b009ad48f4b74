"""AppTarget: a user's app checked, detected and served, and what the user reads when
something is wrong (one line, naming the cause and the way out)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from servelab.errors import AppError, ConfigError, ServerStartError
from servelab.results import App
from servelab.servers import AppTarget, RunningServer, ServerSpec, launch

from ..helpers import APPS, http_request


@pytest.fixture
def started() -> Iterator[list[RunningServer]]:
    servers: list[RunningServer] = []
    yield servers
    for server in servers:
        server.stop(grace=2.0)


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A venv with nothing in it (no pip even): no server is installed there. Removed after."""
    root = tmp_path_factory.mktemp("bare") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    try:
        subprocess.run([base, "-m", "venv", "--without-pip", str(root)], check=True, timeout=60)
        yield root / "bin" / "python"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_app_venv_has_the_servers_but_not_servelab(app_venv: Path) -> None:
    code = "import importlib.util as u; print([u.find_spec(m) is not None for m in ('servelab', 'gunicorn', 'granian')])"  # noqa: E501
    out = subprocess.run([app_venv, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[False, True, True]"


def test_load_detects_wsgi_and_asgi_and_reads_both_reference_forms(app_venv: Path) -> None:
    wsgi = AppTarget.load("wsgi_app:app", app_dir=APPS, python=app_venv)
    asgi = AppTarget.load("tests/apps/asgi_app.py:app", app_dir=APPS.parent.parent, python=app_venv)
    assert (wsgi.interface, asgi.interface) == ("wsgi", "asgi")
    assert wsgi.module_ref == "wsgi_app:app" and wsgi.import_dirs == (APPS,)
    # path/to/file.py:attr: the file's directory first on the path, the working directory kept.
    assert asgi.module_ref == "asgi_app:app"
    assert asgi.import_dirs == (APPS, APPS.parent.parent)
    assert asgi.python == app_venv  # not resolved: the venv's symlink keeps its packages
    assert asgi.to_app() == App(
        "tests/apps/asgi_app.py:app", str(APPS.parent.parent), str(app_venv), "asgi", None
    )


def test_defaults_are_this_python_and_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(APPS)
    app = AppTarget.load("wsgi_app:app")
    assert (app.python, app.app_dir, app.interface) == (Path(sys.executable), APPS, "wsgi")


@pytest.mark.parametrize(
    ("ref", "kwargs", "message"),
    [
        ("wsgi_app", {}, r"^app 'wsgi_app' must be MODULE:ATTR or path/to/file\.py:ATTR"),
        ("wsgi-app:app", {}, r"'wsgi-app' is not a module name"),
        ("nowhere.py:app", {}, r"^app 'nowhere\.py:app': no file .*nowhere\.py$"),
        ("wsgi_app:app", {"app_dir": Path("/no/such/dir")}, r"app directory /no/such/dir does"),
        ("wsgi_app:app", {"python": Path("/no/python")}, r"^python /no/python is not an exec"),
        ("wsgi_app:app", {"python": APPS / "wsgi_app.py"}, r"is not an executable file"),
        ("wsgi_app:app", {"ready": "health"}, r"ready path must start with /"),
        ("wsgi_app:app", {"env_file": Path("/no/.env")}, r"^cannot read env file /no/\.env"),
    ],
)
def test_load_refuses_bad_input_in_one_line(
    ref: str, kwargs: dict[str, Path], message: str
) -> None:
    kwargs.setdefault("app_dir", APPS)
    with pytest.raises(ConfigError, match=message) as caught:
        AppTarget.load(ref, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def test_an_app_that_fails_to_import_names_the_exception_and_its_traceback(
    app_venv: Path,
) -> None:
    with pytest.raises(AppError) as caught:
        AppTarget.load("broken_app:app", app_dir=APPS, python=app_venv)
    first, *rest = str(caught.value).splitlines()
    assert first == (
        f"cannot import app 'broken_app:app' with {app_venv}: FileNotFoundError: [Errno 2]"
        " No such file or directory: 'models/no-such-model.joblib'"
    )
    assert "broken_app.py" in caught.value.detail  # the traceback's last lines
    assert "read_bytes" in "\n".join(rest)


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("no_such_module:app", "ModuleNotFoundError: No module named 'no_such_module'"),
        ("wsgi_app:nothing", "AttributeError: module 'wsgi_app' has no attribute 'nothing'"),
        ("wsgi_app:os", "TypeError: 'module' object is not a WSGI or ASGI app: not callable"),
    ],
)
def test_what_is_not_an_app_is_named(ref: str, why: str) -> None:
    with pytest.raises(AppError) as caught:
        AppTarget.load(ref, app_dir=APPS)
    first = str(caught.value).splitlines()[0]
    assert first == f"cannot import app '{ref}' with {sys.executable}: {why}"


@pytest.mark.parametrize(
    ("ref", "spec", "message"),
    [
        (
            "wsgi_app:app",
            "uvicorn",
            r"^uvicorn, 1 worker cannot serve 'wsgi_app:app', a WSGI app: use flask-dev,"
            r" gunicorn, waitress, granian$",
        ),
        (
            "asgi_app:app",
            "gunicorn:w2",
            r"cannot serve 'asgi_app:app', an ASGI app: use gunicorn:w<N>:uvicorn, uvicorn,"
            r" granian$",
        ),
        ("asgi_app:app", "flask-dev", r"^Flask dev server \(threaded\) cannot serve"),
        ("asgi_app:app", "granian:t2", r"^granian runs an ASGI app on one event loop"),
    ],
)
def test_a_server_that_cannot_serve_the_interface_says_what_would(
    app_venv: Path, ref: str, spec: str, message: str
) -> None:
    app = AppTarget.load(ref, app_dir=APPS, python=app_venv)
    with pytest.raises(ConfigError, match=message):
        app.check_server(ServerSpec.parse(spec))


@pytest.mark.parametrize(
    ("spec", "package"),
    [
        ("waitress", "waitress"),
        ("gunicorn:w2", "gunicorn"),
        ("granian", "granian"),
        ("flask-dev", "flask"),
    ],
)
def test_a_server_missing_from_the_apps_env_is_named_with_the_pip_command(
    bare_python: Path, tmp_path: Path, spec: str, package: str
) -> None:
    app = AppTarget.load("wsgi_app:app", app_dir=APPS, python=bare_python)
    with pytest.raises(ConfigError) as caught:
        launch(ServerSpec.parse(spec), run_dir=tmp_path, app=app)
    assert str(caught.value) == (
        f"{spec.split(':')[0]} needs {package}, which is not installed in the app's environment"
        f" ({bare_python}): {bare_python} -m pip install {package}"
    )
    assert not list(tmp_path.iterdir())  # refused before anything started


def test_the_uvicorn_worker_is_asked_for_by_its_package(bare_python: Path) -> None:
    app = AppTarget.load("asgi_app:app", app_dir=APPS, python=bare_python)
    with pytest.raises(ConfigError, match=r"needs gunicorn, which"):
        app.check_server(ServerSpec.parse("gunicorn:uvicorn"))
    with pytest.raises(ConfigError, match=r"^uvicorn needs uvicorn, which .* install uvicorn$"):
        app.check_server(ServerSpec.parse("uvicorn"))


def test_an_app_without_health_is_ready_when_it_answers_slash(
    app_venv: Path, tmp_path: Path, started: list[RunningServer]
) -> None:
    app = AppTarget.load("wsgi_app:app", app_dir=APPS, python=app_venv)
    started.append(launch(ServerSpec.parse("waitress:t1"), run_dir=tmp_path, app=app))
    assert http_request(started[0].port, "GET", "/health").status == 404  # it has none
    assert started[0].app == app


def test_the_ready_path_asked_for_is_the_one_used(
    app_venv: Path, tmp_path: Path, started: list[RunningServer]
) -> None:
    ready = AppTarget.load("wsgi_app:app", app_dir=APPS, python=app_venv, ready="/ready-here")
    started.append(launch(ServerSpec.parse("waitress:t1"), run_dir=tmp_path, app=ready))
    missing = AppTarget.load("wsgi_app:app", app_dir=APPS, python=app_venv, ready="/nope")
    with pytest.raises(ServerStartError) as caught:
        launch(ServerSpec.parse("waitress:t1"), run_dir=tmp_path, app=missing, ready_timeout=1.5)
    first = str(caught.value).splitlines()[0]
    assert "not ready after 1.5 s; tried GET /nope (last: 404)" in first


def test_a_server_that_dies_at_start_shows_what_was_tried_and_its_log(
    app_venv: Path, tmp_path: Path
) -> None:
    app = AppTarget.load("fails_in_server:app", app_dir=APPS, python=app_venv)
    with pytest.raises(ServerStartError) as caught:
        launch(ServerSpec.parse("waitress"), run_dir=tmp_path, app=app)
    first = str(caught.value).splitlines()[0]
    assert "before it was ready; tried GET /health (last: no answer)" in first
    assert "RuntimeError: model file models/model.joblib is missing" in caught.value.log_tail


def test_the_env_file_reaches_the_app_and_the_shell_wins(
    app_venv: Path, tmp_path: Path, started: list[RunningServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text('export MODEL_TOKEN="s3cret value"\nOVERRIDDEN=from-file\n')
    monkeypatch.setenv("OVERRIDDEN", "from-shell")
    app = AppTarget.load("wsgi_app:app", app_dir=APPS, python=app_venv, env_file=env_file)
    assert dict(app.env) == {"MODEL_TOKEN": "s3cret value", "OVERRIDDEN": "from-file"}
    server = launch(ServerSpec.parse("flask-dev"), run_dir=tmp_path, app=app)
    started.append(server)
    assert http_request(server.port, "GET", "/env?name=MODEL_TOKEN").body == b"s3cret value"
    # As python-dotenv and the servers' --env-file do: the real environment wins.
    assert http_request(server.port, "GET", "/env?name=OVERRIDDEN").body == b"from-shell"


def test_the_debug_dev_server_runs_two_processes_and_both_are_stopped(
    app_venv: Path, tmp_path: Path
) -> None:
    app = AppTarget.load("wsgi_app:app", app_dir=APPS, python=app_venv)
    server = launch(ServerSpec.parse("flask-dev:debug"), run_dir=tmp_path, app=app)
    try:
        pids = server.process_pids()
        served_by = int(http_request(server.port, "GET", "/").headers["X-Servelab-Pid"])
        assert len(pids) == 2 and served_by in pids and served_by != server.pid
        procs = [psutil.Process(pid) for pid in pids]
    finally:
        end = server.stop(grace=5.0)
    assert end.stopped_by_lab
    assert not [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert "Debugger is active" in server.log_path.read_text()


@pytest.mark.parametrize("text", ["waitress:t2", "granian:w2:t2", "flask-dev:single"])
def test_servelabs_own_service_runs_on_the_new_wsgi_servers(
    tmp_path: Path, started: list[RunningServer], text: str
) -> None:
    server = launch(ServerSpec.parse(text), run_dir=tmp_path, ready_timeout=30.0)
    started.append(server)
    reply = http_request(
        server.port, "POST", "/predict", body=b'{"area": 42}',
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert reply.status == 200 and reply.json()["price"] > 0
    assert int(reply.headers["X-Servelab-Pid"]) in server.process_pids()


@pytest.mark.parametrize("text", ["uvicorn", "gunicorn:uvicorn"])
def test_our_own_service_is_not_started_on_an_asgi_only_server(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="serves ASGI apps only, and servelab's own service"):
        launch(ServerSpec.parse(text), run_dir=tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.cgroup
def test_an_apps_server_and_all_its_workers_run_inside_the_cap(
    app_venv: Path, tmp_path: Path
) -> None:
    from servelab.errors import SandboxError
    from servelab.servers import open_cap

    app = AppTarget.load("asgi_app:app", app_dir=APPS, python=app_venv)
    try:
        cap = open_cap(256 * 2**20, mechanism="cgroup", label="app")
    except SandboxError as error:
        pytest.skip(f"no cgroup here: {error}")
    with cap:
        assert cap.path is not None
        server = launch(
            ServerSpec.parse("granian:w2"),
            run_dir=tmp_path,
            app=app,
            command_prefix=cap.command_prefix(),
        )
        with server:
            inside = {int(pid) for pid in (cap.path / "cgroup.procs").read_text().split()}
            assert set(server.process_pids()) <= inside
            assert http_request(server.port, "GET", "/health").status == 200


def test_our_service_as_an_app_gets_one_copy_of_each_served_by_header(
    tmp_path: Path, started: list[RunningServer]
) -> None:
    app = AppTarget.load("servelab.service:app", app_dir=tmp_path)
    server = launch(ServerSpec.parse("gunicorn:w1"), run_dir=tmp_path, app=app)
    started.append(server)
    reply = http_request(server.port, "GET", "/health")
    assert reply.status == 200
    for name in ("X-Servelab-Pid", "X-Servelab-Thread", "X-Servelab-Start", "Server-Timing"):
        assert len(reply.headers.get_all(name) or []) == 1, name
