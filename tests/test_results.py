"""servelab.results: the typed, versioned contract between a study and its report."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from servelab.errors import ResultsError
from servelab.results import (
    SCHEMA_VERSION,
    SEARCH_FILE,
    STUDY_FILE,
    ServerEnd,
    StopReason,
    Verdict,
    read_guarded,
    read_search,
    read_study,
    write_guarded,
    write_search,
    write_study,
)

# The reference study as committed before the schema (version 1), and the one committed now.
REFERENCE = Path(__file__).resolve().parent / "data" / "study-v1"
CURRENT = Path(__file__).resolve().parents[1] / "docs" / "reference-study"


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(REFERENCE / STUDY_FILE, folder / STUDY_FILE)
    return folder


def _edit(folder: Path, change: object) -> None:
    path = folder / STUDY_FILE
    data = json.loads(path.read_text())
    change(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))


def test_a_folder_written_before_the_schema_reads_with_every_number_kept() -> None:
    study = read_study(REFERENCE)
    raw = json.loads((REFERENCE / STUDY_FILE).read_text())
    assert "schema" not in raw  # version 1: the committed reference study
    assert study.schema == SCHEMA_VERSION
    assert [run.name for run in study.runs] == [run["name"] for run in raw["runs"]]
    for run, old in zip(study.runs, raw["runs"], strict=True):
        assert run.summary is not None and run.summary.handlers is not None
        assert run.summary.makespan == old["summary"]["makespan"]
        assert run.summary.latency.p50 == old["summary"]["latency_p50"]
        assert run.summary.handlers.max_concurrent == old["summary"]["max_concurrent"]
    search, old_search = study.critical[0], raw["critical"][0]
    assert (search.max_passing_n, search.min_failing_n) == (
        old_search["max_passing_n"],
        old_search["min_failing_n"],
    )
    # the English reason becomes a code and its numbers
    assert search.stop is not None and search.stop.code == "band-resolved"
    assert (search.stop.low, search.stop.high) == (search.max_passing_n, search.min_failing_n)
    assert search.guarded is not None
    assert search.guarded.with_guard.verdict.rejected_by_status == {503: 5}


def test_what_is_written_reads_back_equal(tmp_path: Path) -> None:
    study = read_study(REFERENCE)
    write_study(tmp_path, study)
    written = json.loads((tmp_path / STUDY_FILE).read_text())
    assert written["schema"] == SCHEMA_VERSION
    assert read_study(tmp_path) == study


def test_a_damaged_field_is_named_in_one_line(reference: Path) -> None:
    _edit(reference, lambda d: d["runs"][2]["summary"].update(ok="ten"))
    with pytest.raises(ResultsError) as error:
        read_study(reference)
    message = str(error.value)
    assert "\n" not in message and STUDY_FILE in message and "runs[2]" in message


def test_a_missing_field_is_named(reference: Path) -> None:
    _edit(reference, lambda d: d["critical"][1]["trials"][0].pop("n"))
    with pytest.raises(ResultsError, match=r"critical\[1\]\.trials\[0\]\.n is missing"):
        read_study(reference)


def test_a_newer_schema_is_refused_with_what_to_do(reference: Path) -> None:
    _edit(reference, lambda d: d.update(schema=SCHEMA_VERSION + 1))
    with pytest.raises(ResultsError, match="upgrade servelab"):
        read_study(reference)


@pytest.mark.parametrize("text", ["", "{", "[]", '{"runs": []}'])
def test_a_file_that_is_no_study_says_so(tmp_path: Path, text: str) -> None:
    (tmp_path / STUDY_FILE).write_text(text)
    with pytest.raises(ResultsError):
        read_study(tmp_path)


def test_a_folder_without_a_study_says_so(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="not a servelab results folder"):
        read_study(tmp_path)


def test_a_run_keeps_its_verdict_through_the_file(tmp_path: Path) -> None:
    study = read_study(REFERENCE)
    assert all(run.verdict is None for run in study.runs)  # version 1 judged no run
    verdict = Verdict(
        outcome="rejected",
        rejected_by_status={413: 10},
        server_end=ServerEnd(returncode=-9, signal="SIGKILL", stopped_by_lab=False),
        client_errors=("memory guard: too big",),
    )
    judged = replace(study, runs=(replace(study.runs[0], verdict=verdict), *study.runs[1:]))
    write_study(tmp_path, judged)
    back = read_study(tmp_path)
    assert back.runs[0].verdict == verdict and back == judged


def test_the_committed_reference_study_reads_and_writes_back_unchanged(tmp_path: Path) -> None:
    raw = json.loads((CURRENT / STUDY_FILE).read_text())
    assert raw["schema"] == SCHEMA_VERSION
    study = read_study(CURRENT)
    assert study.complete and len(study.runs) == 6 and len(study.critical) == 4
    write_study(tmp_path, study)
    assert read_study(tmp_path) == study
    assert json.loads((tmp_path / STUDY_FILE).read_text()) == raw


def test_a_search_and_its_guard_comparison_read_back_from_their_own_files(tmp_path: Path) -> None:
    search = read_study(REFERENCE).critical[0]
    assert search.guarded is not None
    write_search(tmp_path, search)
    write_guarded(tmp_path, search.guarded)
    assert json.loads((tmp_path / SEARCH_FILE).read_text())["schema"] == SCHEMA_VERSION
    assert read_search(tmp_path) == search
    assert read_guarded(tmp_path) == search.guarded


def test_a_search_written_before_the_schema_reads_with_its_numbers() -> None:
    folder = REFERENCE / "critical" / "cpu_bounded_prod_w1"
    raw = json.loads((folder / SEARCH_FILE).read_text())
    search = read_search(folder)
    assert (search.max_passing_n, search.min_failing_n) == (
        raw["max_passing_n"],
        raw["min_failing_n"],
    )
    assert search.stop == StopReason("within-tolerance", tolerance=0.05)
    assert [t.n for t in search.trials] == [t["n"] for t in raw["trials"]]
    guarded = read_guarded(folder)
    assert guarded.n == search.min_failing_n
    assert guarded.with_guard.verdict.rejected_by_status == {413: 10}


def test_a_damaged_search_file_is_named(tmp_path: Path) -> None:
    search = read_study(REFERENCE).critical[0]
    write_search(tmp_path, search)
    data = json.loads((tmp_path / SEARCH_FILE).read_text())
    data["trials"][1]["verdict"]["outcome"] = "exploded"
    (tmp_path / SEARCH_FILE).write_text(json.dumps(data))
    with pytest.raises(ResultsError, match=r"search\.json: field trials\[1\]\.verdict\.outcome"):
        read_search(tmp_path)
    data["schema"] = SCHEMA_VERSION + 1
    (tmp_path / SEARCH_FILE).write_text(json.dumps(data))
    with pytest.raises(ResultsError, match="upgrade servelab"):
        read_search(tmp_path)
    with pytest.raises(ResultsError, match=r"no guarded\.json"):
        read_guarded(tmp_path)
