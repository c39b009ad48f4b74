"""``servelab study --app`` on the house-price examples, end to end, with real OOM kills.

Each study is what the examples' README tells a user to run, made small: two servers, a
short burst each, and one critical-size search (the batch of rows grows) inside a 192 MiB
memory cgroup. The FastAPI one runs in the example's own venv (servelab is not there).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from servelab.results import SearchEntry, Study, read_study

from ..helpers import servelab_cli
from .conftest import EXAMPLE

TOKEN = "house-study-T0ken_kept-secret"
CAP = "192MiB"


def study_example(tmp_path: Path, *args: str) -> tuple[Study, Path]:
    """A small study of an example with the README's options; its study and folder."""
    env_file = tmp_path / ".env"
    env_file.write_text(f"API_TOKEN={TOKEN}\nMAX_ROWS=5000000\n")
    out = tmp_path / "results"
    result = servelab_cli(
        "study", "--app-dir", str(EXAMPLE), "--payload", "payload:make_body", "--size", "500",
        "--env-file", str(env_file), "--token", "env:API_TOKEN", "--memory", CAP,
        "--requests", "3", "--concurrency", "3", "--repeats", "1", "--out", str(out), *args,
        timeout=420,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return read_study(out), out


def assert_bursts_served(study: Study) -> None:
    """Every burst got its 3 answers (the token from the env file let them in), and the
    lab's middleware said who served each one."""
    for run in study.runs:
        assert run.done and run.summary is not None, run
        assert run.summary.ok == 3, run.summary
        assert run.summary.handlers is not None and run.summary.handlers.served == 3


def assert_found_by_oom(search: SearchEntry) -> tuple[int, int]:
    """The search ended with a band whose failing end was an OOM kill; the band."""
    assert search.error is None, search.error
    passing, failing = search.max_passing_n, search.min_failing_n
    assert passing is not None and failing is not None and passing < failing, search
    assert len(search.calibration_points) >= 2
    outcomes = {t.verdict.outcome for t in search.trials if t.n == failing and t.verdict}
    assert "oom" in outcomes, search.trials
    return passing, failing


def assert_kept_secret(out: Path) -> None:
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".md", ".html", ".txt", ".log"):
            assert TOKEN not in path.read_text(errors="replace"), path


@pytest.mark.slow
@pytest.mark.cgroup
def test_the_flask_example_study_predicts_and_finds_its_critical_batch(tmp_path: Path) -> None:
    study, out = study_example(
        tmp_path, "--app", "flask_app:app",
        "--servers", "flask-dev,gunicorn:w1", "--critical-servers", "gunicorn:w1",
    )  # fmt: skip
    assert study.complete
    assert [run.name for run in study.runs] == ["app_dev", "app_prod_w1"]
    assert_bursts_served(study)
    [search] = study.critical
    passing, failing = assert_found_by_oom(search)
    # The model's bytes per row, from single requests at growing sizes (README: about
    # 1,160 in a process, 1,190 in the cgroup).
    per_row = search.bytes_per_element
    assert per_row is not None and 900 < per_row < 1600, per_row
    # One sync worker holds one batch at a time: the prediction lands near the band.
    assert search.predicted_n is not None
    assert passing * 0.8 < search.predicted_n < failing * 1.2, search
    report = (out / "report.md").read_text()
    assert "`flask_app:app`" in report and "`payload:make_body`" in report
    assert f"between {passing:,} (never failed) and {failing:,}" in report
    assert_kept_secret(out)


@pytest.mark.slow
@pytest.mark.cgroup
def test_the_fastapi_example_is_studied_in_its_own_environment(
    house_python: Path, tmp_path: Path
) -> None:
    study, out = study_example(
        tmp_path, "--app", "fastapi_app:app", "--python", str(house_python),
        "--servers", "uvicorn,gunicorn:w1:uvicorn", "--critical-servers", "uvicorn",
    )  # fmt: skip
    assert study.plan.app is not None
    assert (study.plan.app.interface, study.plan.app.python) == ("asgi", str(house_python))
    assert [run.name for run in study.runs] == ["app_uvicorn_w1", "app_prod_w1_uvicorn"]
    assert_bursts_served(study)
    [search] = study.critical
    assert search.server.kind == "uvicorn"
    assert_found_by_oom(search)
    # FastAPI's pydantic copies the rows once more than Flask does (README: about 1,400).
    per_row = search.bytes_per_element
    assert per_row is not None and 1000 < per_row < 2000, per_row
    assert "`fastapi_app:app`" in (out / "report.md").read_text()
    assert_kept_secret(out)
