"""``servelab study --app`` and ``critical-n --app``: a user's own app, end to end.

The app (``apps/sized_app.py``) is stdlib-only WSGI, imported from its own directory, and
knows nothing of servelab: who served each request comes from the lab's served-by shim.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servelab.results import read_study
from tests.helpers import servelab_cli

APPS = Path(__file__).parent / "apps"
APP = ("--app", "sized_app:app", "--app-dir", str(APPS))
BODY = ("--body", '{"kib": {size}}')


@pytest.mark.slow
def test_a_study_of_a_users_app_runs_every_server_and_reports_the_app(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = servelab_cli(
        "study", *APP, *BODY, "--size", "64", "--token", "s3cret-value",
        "--servers", "flask-dev,gunicorn:w1", "--no-critical",
        "--requests", "4", "--concurrency", "4", "--out", str(out),
        timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    study = read_study(out)
    assert study.plan.app is not None and study.plan.request is not None
    assert (study.plan.app.ref, study.plan.app.interface) == ("sized_app:app", "wsgi")
    assert study.plan.request.size == 64 and study.plan.request.body == '{"kib": {size}}'
    assert study.plan.request.header_names == ("Authorization",)
    assert [run.name for run in study.runs] == ["app_dev", "app_prod_w1"]
    for run in study.runs:
        assert run.done and run.summary is not None, run
        assert run.summary.ok == 4, run.summary
        # The app sends no served-by headers of its own: the shim added them to every answer.
        handlers = run.summary.handlers
        assert handlers is not None and handlers.served == 4
        assert handlers.distinct_pids == 1
    # A token is sent, never kept: not in study.json, the records or the report.
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".md", ".html", ".txt"):
            assert "s3cret-value" not in path.read_text(errors="replace"), path
    report = (out / "report.md").read_text()
    assert "`sized_app:app`" in report
    assert "`POST /predict`" in report and '`{"kib": {size}}`' in report
    assert "Seminar" not in report


@pytest.mark.slow
@pytest.mark.cgroup
def test_the_critical_size_of_an_app_is_predicted_then_found_by_real_oom_kills(
    tmp_path: Path,
) -> None:
    result = servelab_cli(
        "critical-n", *APP, *BODY, "--size", "512", "--server", "gunicorn:w1",
        "--memory", "160MiB", "--concurrency", "2", "--repeats", "2",
        "--out", str(tmp_path), "--json",
        timeout=400,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout.splitlines()[-1])
    assert entry["error"] is None, entry
    points = entry["calibration_points"]
    assert len(points) >= 2 and len({p["n"] for p in points}) == len(points)
    # The app builds 1 KiB per unit of size: the fit must see about that much.
    assert 900 < entry["bytes_per_element"] < 1500, entry["bytes_per_element"]
    passing, failing = entry["max_passing_n"], entry["min_failing_n"]
    assert passing is not None and failing is not None and passing < failing
    # One sync worker holds one request at a time: the model is close to the measured edge.
    assert abs(entry["predicted_n"] - failing) / failing < 0.25, entry
    first_failure = next(t for t in entry["trials"] if t["n"] == failing)
    assert first_failure["verdict"]["outcome"] == "oom"
    # The breaking point as a probability: a sharp boundary puts the 50% point between
    # the ends, with every trial of the search behind it.
    curve = entry["breaking"]
    assert curve is not None and curve["trials"] == len(entry["trials"])
    assert [p["p"] for p in curve["points"]] == [0.05, 0.5, 0.95]
    middle = curve["points"][1]
    assert passing <= middle["n"] <= failing and middle["low"] <= middle["n"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("study", *BODY), "only apply to an app of your own"),
        (("study", "--size", "5"), "only apply to an app of your own"),
        (("study", *APP, "--n", "5"), "--n belong to servelab's own service"),
        (("study", *APP, "--size", "0"), "--size must be a whole number >= 1"),
        (("study", *APP, "--memory", "64MiB"), "has none: put {size} in --body"),
        (
            ("critical-n", *APP, *BODY, "--server", "gunicorn:w1", "--memory", "64MiB",
             "--workload", "cpu"),
            "--workload is servelab's own service's",
        ),
    ],
)  # fmt: skip
def test_app_mistakes_are_one_line_before_anything_starts(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = servelab_cli(*args, "--out", str(tmp_path / "out"), timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
