"""The servers people deploy in the one spec grammar: parsed, labelled, described, stored,
started (argv) and modelled (what they hold at once). Pure: nothing starts here."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from servelab.errors import ConfigError
from servelab.report.i18n import Lang
from servelab.results import read_study, write_study
from servelab.servers import ServerSpec
from servelab.servers.spec import SHIM_APP

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference-study"


@pytest.mark.parametrize(
    ("text", "spec", "label", "description"),
    [
        ("flask-dev:single", ServerSpec("flask-dev", mode="single"), "dev_single",
         "Flask dev server (one request at a time)"),
        ("flask-dev:debug", ServerSpec("flask-dev", mode="debug"), "dev_debug",
         "Flask dev server (debug, with the reloader)"),
        ("gunicorn:w2:uvicorn", ServerSpec("gunicorn", 2, "uvicorn"), "prod_w2_uvicorn",
         "gunicorn, 2 uvicorn workers"),
        ("uvicorn", ServerSpec("uvicorn"), "uvicorn_w1", "uvicorn, 1 worker"),
        ("uvicorn:w2", ServerSpec("uvicorn", workers=2), "uvicorn_w2", "uvicorn, 2 workers"),
        ("waitress", ServerSpec("waitress", threads=4), "waitress_t4", "waitress, 4 threads"),
        ("waitress:t1", ServerSpec("waitress"), "waitress_t1", "waitress, 1 thread"),
        ("granian", ServerSpec("granian"), "granian_w1_t1", "granian, 1 worker x 1 thread"),
        ("granian:w1:t2", ServerSpec("granian", threads=2), "granian_w1_t2",
         "granian, 1 worker x 2 threads"),
        ("granian:w2:rss512", ServerSpec("granian", workers=2, max_rss=512),
         "granian_w2_t1_rss512", "granian, 2 workers x 1 thread, a worker restarted above 512 MiB"),
        ("gunicorn:w2:preload", ServerSpec("gunicorn", 2, preload=True), "prod_w2_preload",
         "gunicorn, 2 sync workers, preloaded app"),
        # Any position among the options, like the others.
        ("gunicorn:preload:gthread:timeout60:w3:t2",
         ServerSpec("gunicorn", 3, "gthread", 2, timeout=60, preload=True),
         "prod_w3_gthread_t2_timeout60_preload",
         "gunicorn, 3 gthread workers x 2 threads, worker timeout 60 s, preloaded app"),
    ],
)  # fmt: skip
def test_new_kinds_parse_label_describe_and_store(
    text: str, spec: ServerSpec, label: str, description: str
) -> None:
    assert ServerSpec.parse(text) == spec
    assert spec.label == label
    assert spec.describe() == description
    assert ServerSpec.from_server(spec.to_server()) == spec
    assert Lang("ru").server(spec.to_server()) != spec.label  # words in Russian too


def test_new_servers_are_written_and_read_back_by_the_results_contract(tmp_path: Path) -> None:
    study = read_study(REFERENCE)
    servers = [ServerSpec.parse(t).to_server() for t in ("flask-dev:debug", "granian:rss64")]
    runs = [replace(run, server=server) for run, server in zip(study.runs, servers, strict=False)]
    write_study(tmp_path, replace(study, runs=(*runs, *study.runs[2:])))
    assert [run.server for run in read_study(tmp_path).runs[:2]] == servers


def test_old_servers_store_as_before_and_new_settings_tell_servers_apart() -> None:
    assert "mode" not in ServerSpec("flask-dev").to_server().to_json()
    assert "max_rss" not in ServerSpec("granian").to_server().to_json()
    keys = {ServerSpec.parse(t).to_server().key for t in ("flask-dev", "flask-dev:debug")}
    assert len(keys) == 2
    keys = {ServerSpec.parse(t).to_server().key for t in ("granian", "granian:rss100")}
    assert len(keys) == 2
    assert "preload" not in ServerSpec("gunicorn").to_server().to_json()
    assert ServerSpec("gunicorn", preload=True).to_server().to_json()["preload"] is True
    keys = {ServerSpec.parse(t).to_server().key for t in ("gunicorn:w2", "gunicorn:w2:preload")}
    assert len(keys) == 2


def test_preload_is_said_in_russian_too() -> None:
    server = ServerSpec.parse("gunicorn:w2:preload").to_server()
    assert Lang("ru").server(server) == (
        "gunicorn, 2 sync воркера, приложение загружено до форка воркеров"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("uvicorn:t2", r"bad server 'uvicorn:t2': uvicorn takes no 't2'; expected uvicorn\[:w"),
        ("waitress:w2", r"waitress takes no 'w2'; expected waitress\[:t<threads>\]"),
        ("flask-dev:single:debug", r"'debug' repeated"),
        ("granian:gthread", r"granian takes no 'gthread'"),
        ("gunicorn:debug", r"gunicorn takes no 'debug'"),
        ("gunicorn:uvicorn:t2", r"threads=2 needs worker_class gthread, not uvicorn"),
        ("uvicorn:preload", r"^bad server 'uvicorn:preload': uvicorn takes no 'preload'; expected"),
        ("granian:w2:preload", r"granian takes no 'preload'; expected granian\["),
        ("flask-dev:preload", r"flask-dev takes no 'preload'"),
        ("gunicorn:preload:preload", r"'preload' repeated"),
        ("gunicorn:preloaded", r"'preloaded' not understood"),
    ],
)
def test_new_kinds_refuse_what_they_do_not_take(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServerSpec.parse(text)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "uvicorn", "threads": 2}, r"uvicorn takes no threads \(its settings: workers\)"),
        ({"kind": "flask-dev", "mode": "fast"}, "mode must be one of single, debug"),
        ({"kind": "granian", "max_rss": -1}, "max_rss must be whole MiB"),
        ({"kind": "waitress", "mode": "debug"}, "waitress takes no mode"),
        ({"kind": "waitress", "preload": True}, r"waitress takes no preload \(its settings"),
        ({"kind": "gunicorn", "preload": 1}, "preload must be true or false, not 1"),
    ],
)
def test_new_settings_are_checked(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServerSpec(**kwargs)


@pytest.mark.parametrize(
    ("text", "interface", "concurrency", "at_once", "per_process"),
    [
        ("flask-dev:single", "wsgi", 10, 1, 1),
        ("flask-dev:debug", "wsgi", 10, 10, 10),
        ("gunicorn:w2:uvicorn", "asgi", 10, 10, 10),
        ("uvicorn:w2", "asgi", 10, 10, 10),
        ("waitress", "wsgi", 10, 4, 4),  # its four threads
        ("waitress:t8", "wsgi", 3, 3, 3),
        ("granian:w2:t3", "wsgi", 10, 6, 3),  # workers x threads; a worker holds its threads'
        ("granian:w2:t3", "wsgi", 4, 4, 3),
        ("granian:w2", "asgi", 10, 10, 10),  # an event loop takes every request
        ("gunicorn:w2", "wsgi", 10, 2, 1),  # as before
    ],
)
def test_requests_held_at_once_by_the_new_kinds(
    text: str, interface: Any, concurrency: int, at_once: int, per_process: int
) -> None:
    spec = ServerSpec.parse(text)
    assert spec.in_memory_at_once(concurrency, interface) == at_once
    assert spec.in_memory_at_once_per_process(concurrency, interface) == per_process


@pytest.mark.parametrize(
    ("text", "answering", "wsgi", "asgi"),
    [
        ("flask-dev:debug", 1, True, False),
        ("gunicorn:w3", 3, True, False),
        ("gunicorn:w3:uvicorn", 3, False, True),
        ("uvicorn:w2", 2, False, True),
        ("waitress:t4", 1, True, False),
        ("granian:w2", 2, True, True),
    ],
)
def test_the_table_says_who_answers_and_what_each_kind_serves(
    text: str, answering: int, wsgi: bool, asgi: bool
) -> None:
    spec = ServerSpec.parse(text)
    assert spec.answering_processes == spec.worker_processes == answering
    assert (spec.serves("wsgi"), spec.serves("asgi")) == (wsgi, asgi)


@pytest.mark.parametrize(
    ("text", "interface", "argv"),
    [
        ("flask-dev:debug", "wsgi", "-m servelab_served_by dev 127.0.0.1 8000 debug"),
        ("gunicorn:w2:uvicorn", "asgi", "--worker-class servelab_served_by.UvicornWorker"),
        ("gunicorn:w2", "wsgi", "--config /dev/null"),
        ("uvicorn:w2", "asgi", "-m uvicorn --host 127.0.0.1 --port 8000 --workers 2"),
        ("waitress:t3", "wsgi", "-m waitress --host=127.0.0.1 --port=8000 --threads=3"),
        ("granian:w2:t3:rss300", "wsgi", "--blocking-threads 3 --workers-max-rss 300"),
        ("granian:w2", "asgi", "--interface asgi --host 127.0.0.1 --port 8000 --workers 2"),
        ("gunicorn:w2:preload", "wsgi", "--config /dev/null --preload servelab_served_by:app"),
    ],
)
def test_argv_runs_the_apps_python_and_serves_the_shim(
    text: str, interface: Any, argv: str
) -> None:
    command = ServerSpec.parse(text).command_line(
        8000, SHIM_APP, python="/env/bin/python", interface=interface
    )
    assert command[0] == "/env/bin/python" and command[-1] == SHIM_APP
    assert argv in " ".join(command)
    if "granian" in text and interface == "asgi":
        assert "--blocking-threads" not in command  # granian refuses it for ASGI


def test_our_own_service_keeps_its_argv() -> None:
    dev = ServerSpec.parse("flask-dev").command_line(8000)
    assert dev[1:] == ["-m", "servelab.service", "--host", "127.0.0.1", "--port", "8000"]
    prod = ServerSpec.parse("gunicorn").command_line(8000)
    assert "python:servelab.service.gunicorn_hooks" in prod
    assert "--preload" not in prod
    preloaded = ServerSpec.parse("gunicorn:w2:preload").command_line(8000)
    assert preloaded[-2:] == ["--preload", "servelab.service:app"]
    assert ServerSpec.parse("waitress").command_line(8000)[-1] == "servelab.service:app"
