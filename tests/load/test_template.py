"""The request for any app: RequestTemplate's checks, bodies, hook and token, on real servers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from servelab.errors import LoadError
from servelab.load import RequestTemplate, run_burst, summarize
from servelab.load.loops import run_closed
from servelab.load.records import RequestRecord
from servelab.load.request import RequestSpec

from ..helpers import servelab_cli
from .foreign import foreign_app

TOKEN = "s3cret-t0ken-value"


def _lines(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# --- checked up front ------------------------------------------------------------------------


def _bad_cases(tmp_path: Path) -> list[tuple[dict[str, object], str]]:
    empty = _lines(tmp_path / "empty.jsonl", "", "   ")
    broken = _lines(tmp_path / "broken.jsonl", '{"a": 1}', "[1, 2]", '{"rows": 3,', "4")
    return [
        ({"method": "GE T"}, "not a valid HTTP method"),
        ({"path": "predict"}, "starts with '/'"),
        ({"path": "/pre dict"}, "percent-encode"),
        ({"headers": ["no colon"]}, "Name: value"),
        ({"headers": ["Content-Length: 5"]}, "set by the load engine"),
        ({"body": "{}", "payload": "mod:fn"}, "at most one of a body, a payload hook"),
        ({"body": "{}", "body_file": empty}, "at most one of a body, a body file"),
        ({"body_file": tmp_path / "missing.jsonl"}, "cannot read the body file"),
        ({"body_file": tmp_path}, "is a directory"),
        ({"body_file": empty}, "is empty"),
        ({"body_file": broken}, "not JSON: line 3"),
        ({"payload": "mod.make_body"}, "'module:function'"),
        ({"payload": "mod:fn:x"}, "'module:function'"),
        ({"token": "env:NO_SUCH_TOKEN_VAR"}, "NO_SUCH_TOKEN_VAR is set neither"),
        ({"token": "env:"}, "needs a NAME"),
        ({"token": "   "}, "the token is empty"),
        ({"token": TOKEN, "headers": ["Authorization: Basic x"]}, "not both"),
    ]


def test_every_mistake_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    for kwargs, message in _bad_cases(tmp_path):
        with pytest.raises(LoadError) as caught:
            RequestTemplate.build(**kwargs)  # type: ignore[arg-type]
        text = str(caught.value)
        assert message in text, (kwargs, text)
        assert "\n" not in text and TOKEN not in text


def test_size_fills_a_json_body_as_plain_text() -> None:
    template = RequestTemplate.build(body='{"rows": {size}, "opts": {"k": "{x}"}}')
    assert template.uses_size()
    assert template.bodies(1000) == [b'{"rows": 1000, "opts": {"k": "{x}"}}']
    with pytest.raises(LoadError, match="give --size"):
        template.bodies(None)
    fixed = RequestTemplate.build(body='{"a": {"b": 1}}')
    assert not fixed.uses_size() and fixed.bodies(None) == [b'{"a": {"b": 1}}']


def test_no_body_without_a_template() -> None:
    get = RequestTemplate.build(method="GET", path="/health?deep=1")
    assert not get.has_body() and not get.uses_size() and get.bodies(None) == [None]
    assert get.describe() == "GET /health?deep=1"


def test_describe_names_headers_never_their_values(tmp_path: Path) -> None:
    template = RequestTemplate.build(
        headers=["X-Api-Key: k3y-value"], token=TOKEN, body='{"rows": {size}}'
    )
    assert (
        template.describe()
        == 'POST /predict, headers X-Api-Key, Authorization, body {"rows": {size}}'
    )
    assert template.headers["Authorization"] == f"Bearer {TOKEN}"
    bodies = RequestTemplate.build(body_file=_lines(tmp_path / "b.jsonl", "1"))
    assert bodies.describe() == f"POST /predict, bodies from {tmp_path / 'b.jsonl'}"
    assert (
        RequestTemplate.build(payload="mod:fn").describe()
        == "POST /predict, body from mod:fn(size)"
    )


def test_a_token_env_name_is_read_from_the_env_file_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_TOKEN", "from-environ")
    from_file = RequestTemplate.build(token="env:APP_TOKEN", env={"APP_TOKEN": TOKEN})
    assert from_file.headers == {"Authorization": f"Bearer {TOKEN}"}
    from_environ = RequestTemplate.build(token="env:APP_TOKEN", env={"OTHER": "x"})
    assert from_environ.headers == {"Authorization": "Bearer from-environ"}
    assert TOKEN not in from_file.describe() and TOKEN not in repr(from_file.describe())


# --- sent for real ---------------------------------------------------------------------------


def test_a_body_file_is_sent_line_by_line_in_turn(tmp_path: Path) -> None:
    lines = ('{"rows": [[1, 2]]}', '"just text"', "[1, 2, 3]")
    template = RequestTemplate.build(
        body_file=_lines(tmp_path / "r.jsonl", lines[0], "", *lines[1:])
    )
    with foreign_app(tmp_path) as url:
        records = run_burst(
            f"{url}/predict", requests=7, concurrency=1, bodies=template.bodies(None), timeout=10
        )
    assert sorted(r.index for r in records) == list(range(7))
    for record in records:
        assert record.ok and record.area == 0 and record.body is not None
        assert json.loads(record.body)["body"] == lines[record.index % 3]


def test_a_closed_loop_cycles_the_bodies_too(tmp_path: Path) -> None:
    bodies = [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']
    path = tmp_path / "records.jsonl"
    with foreign_app(tmp_path) as url:
        summary = run_closed(
            f"{url}/predict",
            concurrency=1,
            requests=5,
            request=RequestSpec(bodies=bodies),
            timeout=10,
            keep_alive=False,
            records_path=path,
        )
    assert summary.ok == 5
    records = [RequestRecord.from_dict(json.loads(line)) for line in path.read_text().splitlines()]
    for record in records:
        assert record.area == 0 and record.body is not None
        assert json.loads(record.body)["body"].encode() == bodies[record.index % 3]


def test_the_burst_lets_a_body_of_ones_own_say_its_content_type(tmp_path: Path) -> None:
    with foreign_app(tmp_path) as url:
        (record,) = run_burst(
            f"{url}/predict",
            requests=1,
            bodies=[b"a,b\n1,2\n"],
            headers={"Content-Type": "text/csv"},
            timeout=10,
        )
    assert record.ok and record.body is not None
    assert json.loads(record.body)["body"] == "a,b\n1,2\n"
    with pytest.raises(LoadError, match="set by the load engine"):
        run_burst(f"{url}/predict", requests=1, headers={"Content-Type": "text/csv"})


# --- the payload hook, in the app's own interpreter ------------------------------------------

_HOOK = """
import sys
import rows_dep  # the app's own dependency: importable from the app's directory only


def make_body(size):
    print("debugging output that must not end up in the body")
    try:
        import servelab  # noqa: F401
        has_servelab = True
    except ImportError:
        has_servelab = False
    return {"rows": rows_dep.rows(size), "servelab": has_servelab, "prefix": sys.prefix}


def raw(size):
    return bytes(range(256)) * size


def text(size):
    return "é" * size


def broken(size):
    raise ValueError("size %d is too big" % size)


def slow(size):
    import time
    time.sleep(60)


def wrong(size):
    return 5
"""


@pytest.fixture
def bare_python(tmp_path: Path) -> Iterator[Path]:
    """A second interpreter: a venv without pip, servelab or numpy; removed after the test."""
    venv = tmp_path / "bare-venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        python = venv / "bin" / "python"
        missing = subprocess.run([str(python), "-c", "import servelab"], capture_output=True)
        assert missing.returncode != 0, "the second venv must not see servelab"
        yield python
    finally:
        shutil.rmtree(venv, ignore_errors=True)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "hooks.py").write_text(_HOOK, encoding="utf-8")
    (folder / "rows_dep.py").write_text("def rows(n):\n    return list(range(n))\n")
    return folder


def test_the_hook_runs_in_the_apps_interpreter_and_directory(
    bare_python: Path, app_dir: Path
) -> None:
    template = RequestTemplate.build(payload="hooks:make_body")
    assert template.uses_size()
    (body,) = template.bodies(3, python=bare_python, app_dir=app_dir)
    assert body is not None
    data = json.loads(body)
    assert data == {"rows": [0, 1, 2], "servelab": False, "prefix": str(bare_python.parent.parent)}


def test_relative_paths_are_taken_from_where_servelab_runs(
    bare_python: Path, app_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    template = RequestTemplate.build(payload="hooks:make_body")
    relative = bare_python.relative_to(tmp_path)
    (body,) = template.bodies(1, python=relative, app_dir=app_dir.relative_to(tmp_path))
    assert body is not None
    # The venv's own interpreter ran it (its symlink kept), not the base one it points to.
    assert json.loads(body)["prefix"] == str(bare_python.parent.parent)


def test_the_hooks_bytes_come_back_as_they_are(bare_python: Path, app_dir: Path) -> None:
    raw = RequestTemplate.build(payload="hooks:raw")
    assert raw.bodies(2, python=bare_python, app_dir=app_dir) == [bytes(range(256)) * 2]
    text = RequestTemplate.build(payload="hooks:text")
    assert text.bodies(2, python=bare_python, app_dir=app_dir) == ["éé".encode()]


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("hooks:broken", "payload hook hooks:broken(3) failed: ValueError: size 3 is too big"),
        ("hooks:wrong", "failed: TypeError: returned int, not bytes, str, dict or list"),
        ("hooks:absent", "failed: AttributeError:"),
        ("nomodule:fn", "failed: ModuleNotFoundError: No module named 'nomodule'"),
        ("hooks:slow", "payload hook hooks:slow(3) did not return within 0.5 s"),
    ],
)
def test_a_failing_hook_is_one_line_with_its_exception(
    bare_python: Path, app_dir: Path, ref: str, message: str
) -> None:
    template = RequestTemplate.build(payload=ref)
    with pytest.raises(LoadError) as caught:
        template.bodies(3, python=bare_python, app_dir=app_dir, timeout=0.5)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_hook_needs_a_real_interpreter(tmp_path: Path, app_dir: Path) -> None:
    template = RequestTemplate.build(payload="hooks:raw")
    with pytest.raises(LoadError, match="not an executable file"):
        template.bodies(1, python=tmp_path / "no-python", app_dir=app_dir)


# --- the command line ------------------------------------------------------------------------


def test_cli_sends_the_hooks_body_made_in_the_apps_venv(
    tmp_path: Path, bare_python: Path, app_dir: Path
) -> None:
    out = tmp_path / "out"
    with foreign_app(tmp_path) as url:
        result = servelab_cli(
            "load", f"{url}/predict", "--requests", "2", "--payload", "hooks:make_body",
            "--size", "4", "--python", str(bare_python), "--app-dir", str(app_dir),
            "--out", str(out), "--json", timeout=60,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] == 2
    for line in (out / "records.jsonl").read_text().splitlines():
        sent = json.loads(json.loads(line)["body"])["body"]
        assert json.loads(sent)["rows"] == [0, 1, 2, 3]


def test_cli_token_from_the_env_file_is_sent_and_never_shown(tmp_path: Path) -> None:
    env_file = _lines(tmp_path / ".env", "# the app's settings", f'export API_TOKEN="{TOKEN}"')
    out = tmp_path / "out"
    with foreign_app(tmp_path, token=TOKEN) as url:
        result = servelab_cli(
            "load", f"{url}/predict", "--requests", "3", "--token", "env:API_TOKEN",
            "--env-file", str(env_file), "--body", '{"rows": {size}}', "--size", "2",
            "--out", str(out), timeout=60,
        )  # fmt: skip
        missing = servelab_cli(
            "load", f"{url}/predict", "--token", "env:NOT_THERE", "--env-file", str(env_file)
        )
    assert result.returncode == 0, result.stderr
    written = "".join(p.read_text() for p in out.iterdir())
    assert TOKEN not in result.stdout + result.stderr + written
    bodies = [
        json.loads(json.loads(line)["body"])
        for line in (out / "records.jsonl").read_text().splitlines()
    ]
    assert [b["auth"] for b in bodies] == ["ok"] * 3
    assert {b["body"] for b in bodies} == {'{"rows": 2}'}
    assert missing.returncode == 2 and "NOT_THERE is set neither" in missing.stderr
    assert TOKEN not in missing.stdout + missing.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--body", '{"rows": {size}}'), "give --size"),
        (("--payload", "m:f"), "give --size"),
        (("--size", "3"), "--size fills {size}"),
        (("--size", "lots", "--body", "{size}"), "not a size"),
        (("--python", sys.executable), "are for the --payload hook"),
        (("--body", "{}", "--payload", "m:f", "--size", "1"), "at most one of"),
    ],
)
def test_cli_request_mistakes_exit_2(args: tuple[str, ...], message: str) -> None:
    result = servelab_cli("load", "http://127.0.0.1:1/x", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_burst_summary_of_bodies_keeps_area_zero(tmp_path: Path) -> None:
    with foreign_app(tmp_path) as url:
        records = run_burst(f"{url}/x", requests=2, bodies=[b"1", b"2"], timeout=10)
    assert {r.area for r in records} == {0}
    assert summarize(records).ok == 2
