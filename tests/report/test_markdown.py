"""report.md from a typed study: what a reader sees when a study went well, partly, or badly."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from servelab.report.build import build_report
from servelab.report.i18n import Lang
from servelab.results import Failure, Server, Study

from . import folders
from .folders import DEV, PROD


def _build(tmp_path: Path, study: Study, lang: str = "en") -> str:
    folder = folders.write_folder(tmp_path / "results", study)
    build_report(folder, (lang,))
    name = "report.md" if lang == "en" else f"report.{lang}.md"
    return (folder / name).read_text(encoding="utf-8")


def _row(report: str, first_cell: str) -> list[str]:
    line = next(line for line in report.splitlines() if line.startswith(f"| {first_cell} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


# The command, in a fresh interpreter, with every open() of a study.json counted.
_COUNT_READS = """
import sys
from servelab.cli import main

opened = []

def hook(event, args):
    if event == "open" and str(args[0]).endswith("study.json") and (args[1] or "r")[0] == "r":
        opened.append(str(args[0]))

sys.addaudithook(hook)
try:
    main()  # reads sys.argv[1:]: the command line after -c
finally:
    print("READS", len(opened), file=sys.stderr)
"""


@pytest.mark.parametrize("lang", ["all", "ru"])
def test_servelab_report_reads_study_json_once_whatever_the_language(
    tmp_path: Path, lang: str
) -> None:
    folder = folders.write_folder(tmp_path / "results", folders.small_study())
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_READS, "report", str(folder), "--lang", lang],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert re.findall(r"READS (\d+)", done.stderr) == ["1"]
    written = {"report.md", "report.html"} if lang == "all" else set()
    written |= {"report.ru.md", "report.ru.html"}
    assert written <= {path.name for path in folder.iterdir()}


def test_each_run_sets_what_its_load_client_took_beside_the_server(tmp_path: Path) -> None:
    """Client and server share the machine, so a run says, in one line, what each took of it
    and per request (issue 17); a run recorded before the client's CPU was says nothing."""
    busy = folders.run("cpu_bounded_dev", DEV, "cpu", 2.0)
    short = folders.run("io_bounded_dev", DEV, "io", 0.21)
    runs = [
        folders.with_cpu(busy, server=3.2, client=0.06),
        folders.with_cpu(short, server=0.01, client=0.004),
        folders.run("io_bounded_prod_w1", PROD, "io", 1.0),
    ]
    report = _build(tmp_path, folders.study(runs))
    client = "the load client (the lab's process, its monitor included)"
    # Five requests in 2 s on 2 cores: 3.2 s is 80% of the machine and 640 ms a request.
    assert (
        f"- CPU over the burst: the server 80% of the machine, 640 ms per request; {client} "
        "1.5%, 12 ms per request." in report
    )
    # A share over 0.21 s means little (CPU is counted in 10 ms ticks): per request only.
    assert (
        f"- CPU over the burst: the server 2.0 ms per request; {client} 0.80 ms per request."
        in report
    )
    assert report.count("CPU over the burst") == 2
    russian = _build(tmp_path / "ru", folders.study(runs), "ru")
    assert (
        "- Процессор за время нагрузки: сервер — 80% машины, 640 мс на запрос; клиент нагрузки "
        "(процесс лаборатории вместе с монитором) — 1,5%, 12 мс на запрос." in russian
    )


def test_a_failed_search_is_a_row_that_says_why_and_the_rest_is_reported(tmp_path: Path) -> None:
    study = folders.study(
        [folders.run("cpu_bounded_prod_w1", PROD, "cpu", 1.5)], [folders.failed_search()]
    )
    report = _build(tmp_path, study)
    cells = _row(report, "cpu_bounded_prod_w1")
    assert cells[:3] == ["cpu_bounded_prod_w1", "gunicorn, 1 sync worker", "`predict_cpu_bounded`"]
    assert "failed: this cap cannot measure memory (no cgroup)" in report
    assert "Critical n (cap" not in report  # no bracket to state for the failed search
    assert "(cgroup v1" not in report and "memory cap of 512.0 MiB (n/a)" in report
    russian = _build(tmp_path / "ru", study, "ru")
    assert "ошибка: это ограничение не измеряет память (нет cgroup)" in russian


def test_an_interrupted_study_names_what_it_did_not_reach(tmp_path: Path) -> None:
    done = folders.run("io_bounded_dev", DEV, "io", 0.2)
    planned = [done, folders.run("io_bounded_prod_w1", PROD, "io", 1.0)]
    study = folders.study(
        [done], planned_runs=planned, planned_searches=[folders.search("cpu_bounded_dev")]
    )
    report = _build(tmp_path, study)
    assert "1 finished" in report.splitlines()[2]
    assert (
        "**Missing** (planned, but the study stopped before them): io_bounded_prod_w1, "
        "critical n of cpu_bounded_dev." in report
    )
    assert "### Critical n" not in report
    russian = _build(tmp_path / "ru", study, "ru")
    assert "io_bounded_prod_w1, критическое n для cpu_bounded_dev." in russian


def test_a_study_with_no_searches_has_no_critical_section(tmp_path: Path) -> None:
    study = folders.study([folders.run("io_bounded_dev", DEV, "io", 0.2)])
    report = _build(tmp_path, study)
    assert "| io_bounded_dev |" in report
    assert "Critical n" not in report and "critical n" not in report.split("\n", 3)[3]
    assert "\n\n\n" not in report


def test_a_run_that_failed_says_so_in_its_row_and_comment(tmp_path: Path) -> None:
    study = folders.study(
        [
            folders.run("io_bounded_dev", DEV, "io", 0.2),
            folders.failed_run("io_bounded_prod_w1", PROD, "io"),
        ]
    )
    report = _build(tmp_path, study)
    assert _row(report, "io_bounded_prod_w1")[3] == "failed"
    assert "This run did not finish: the server did not answer within 10 s." in report


def test_the_russian_report_says_outcomes_in_russian(tmp_path: Path) -> None:
    study = folders.study(
        [folders.run("cpu_bounded_dev", DEV, "cpu", 1.5)], [folders.guarded(folders.search())]
    )
    english = _build(tmp_path, study)
    outcomes = [
        line.rsplit("|", 2)[1].strip() for line in english.splitlines() if "| off |" in line
    ]
    assert outcomes == ["oom"]
    assert re.search(r"\| rejected \|$", english, re.MULTILINE)
    russian = _build(tmp_path / "ru", study, "ru")
    guard_rows = [
        line for line in russian.splitlines() if "| выкл. |" in line or "на процесс |" in line
    ]
    assert [row.rsplit("|", 2)[1].strip() for row in guard_rows] == ["OOM-kill", "отказ"]
    assert not re.search(r"\b(oom|rejected|failed)\b", russian)
    assert "ядро убило по OOM 1 процесс в ограничении памяти" in russian


def test_the_failure_logs_quote_the_first_failing_probe(tmp_path: Path) -> None:
    study = folders.study([folders.run("cpu_bounded_dev", DEV, "cpu", 1.5)], [folders.search()])
    report = _build(tmp_path, study)
    assert (
        "As the client saw it (n = 1,700,000, the kernel OOM-killed 1 process in the memory cap):"
        in report
    )
    assert "- `RemoteDisconnected: Remote end closed connection`" in report


def test_a_server_is_described_as_the_server_spec_describes_it() -> None:
    # Imported here: the report itself never imports servers; this test holds the two together.
    from servelab.servers.spec import ServerSpec

    specs = [
        ServerSpec(kind="flask-dev"),
        ServerSpec(kind="gunicorn"),
        ServerSpec(kind="gunicorn", workers=2, worker_class="gthread", threads=4),
        ServerSpec(kind="gunicorn", workers=2, worker_class="gthread", threads=1),
        ServerSpec(kind="gunicorn", workers=3, worker_class="gevent", timeout=120.0),
        ServerSpec(kind="gunicorn", timeout=0.0),
    ]
    english = Lang("en")
    for spec in specs:
        server = Server(spec.kind, spec.workers, spec.worker_class, spec.threads, spec.timeout)
        assert english.server(server) == spec.describe()
    russian = Lang("ru").server(Server("gunicorn", 2, "gthread", 4, 30.0))
    assert russian == "gunicorn, 2 gthread воркера × 4 потока"


def test_a_search_error_quotes_an_unforeseen_message(tmp_path: Path) -> None:
    failed = replace(folders.failed_search(), error=Failure("error", detail="OSError: disk full"))
    study = folders.study([folders.run("cpu_bounded_prod_w1", PROD, "cpu", 1.5)], [failed])
    assert "| failed: OSError: disk full |" in _build(tmp_path, study)


REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference-study"
# The reference study as committed before the results schema (version 1): its inputs and the
# English report.md it had.
STUDY_V1 = Path(__file__).resolve().parents[1] / "data" / "study-v1"


@pytest.mark.slow
def test_the_committed_reference_study_rebuilds_byte_for_byte(tmp_path: Path) -> None:
    folder = tmp_path / "reference"
    shutil.copytree(REFERENCE, folder, ignore=shutil.ignore_patterns("report*", "plots"))
    build_report(folder, ("en", "ru"))
    for name in ("report.md", "report.html", "report.ru.md", "report.ru.html"):
        assert (folder / name).read_bytes() == (REFERENCE / name).read_bytes(), name


EXAMPLE_STUDY = Path(__file__).resolve().parents[2] / "docs" / "example-study"


@pytest.mark.slow
def test_the_committed_example_study_of_a_users_app_rebuilds_byte_for_byte(tmp_path: Path) -> None:
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLE_STUDY, folder, ignore=shutil.ignore_patterns("report*", "plots"))
    build_report(folder, ("en", "ru"))
    for name in ("report.md", "report.html", "report.ru.md", "report.ru.html"):
        assert (folder / name).read_bytes() == (EXAMPLE_STUDY / name).read_bytes(), name
    report = (folder / "report.md").read_text()
    assert "`flask_app:app`" in report and "`payload:make_body`" in report
    assert "scikit-learn" in report  # the versions of the app's own environment


@pytest.mark.slow
def test_a_study_written_before_the_schema_rebuilds_its_english_report(tmp_path: Path) -> None:
    folder = tmp_path / "v1"
    shutil.copytree(STUDY_V1, folder, ignore=shutil.ignore_patterns("report*"))
    build_report(folder, ("en",))
    assert (folder / "report.md").read_bytes() == (STUDY_V1 / "report.md").read_bytes()


@pytest.mark.slow
def test_a_search_with_a_breaking_curve_reports_it_as_a_probability(tmp_path: Path) -> None:
    """The reference study's own trials, fitted as the search now stores them: the curve's
    table and sentences appear, in both languages, with the trials behind each end."""
    from servelab.results import read_study, write_study
    from servelab.study.breaking import breaking_curve

    folder = tmp_path / "reference"
    shutil.copytree(REFERENCE, folder, ignore=shutil.ignore_patterns("report*", "plots"))
    study = read_study(folder)
    curved = tuple(replace(s, breaking=breaking_curve(s.per_n)) for s in study.critical)
    write_study(folder, replace(study, critical=curved))
    build_report(folder, ("en", "ru"))
    english = (folder / "report.md").read_text()
    russian = (folder / "report.ru.md").read_text()
    assert "#### The breaking point as a probability" in english
    assert "#### Точка отказа как вероятность" in russian
    dev_cpu = next(s for s in curved if s.name == "cpu_bounded_dev")
    assert dev_cpu.breaking is not None and not dev_cpu.breaking.separated
    middle = dev_cpu.breaking.at(0.5)
    assert middle is not None
    # The dev server's band: its 50% point lies between the confirmed ends.
    assert dev_cpu.max_passing_n is not None and dev_cpu.min_failing_n is not None
    assert dev_cpu.max_passing_n < middle.n < dev_cpu.min_failing_n
    never = dev_cpu.max_passing_n
    row = next(
        line
        for line in english.splitlines()
        if line.startswith(f"| Flask dev server (threaded) | `cpu` | {never:,} (3)")
    )
    assert f"{dev_cpu.min_failing_n:,} (3)" in row
    assert f"({dev_cpu.breaking.trials} trials)" in english
    # gunicorn's sharp boundary says its width is not measured.
    assert "No n both passed and failed" in english


def test_the_reference_study_sets_the_threaded_prediction_beside_the_measured_point() -> None:
    """The committed `make study`: each dev-server search calibrated its overlap, and the
    report's table gives the predicted band, the fitted 50% point and the error between."""
    from servelab.report.comments import nice, prediction_error
    from servelab.results import read_study

    study = read_study(REFERENCE)
    english = (REFERENCE / "report.md").read_text()
    for search in study.critical:
        overlap = search.overlap
        if search.server.kind != "flask-dev":
            assert overlap is None  # one sync worker: its model is exact, no calibration
            continue
        assert overlap is not None and len(overlap.trials) == 3
        assert all(not trial.failed for trial in overlap.trials)  # the worst case is safe
        low, middle, high = (overlap.at(p) for p in (0.05, 0.5, 0.95))
        assert low is not None and middle is not None and high is not None
        assert overlap.worst_case_n < low < middle < high
        assert search.predicted_n == middle  # the search started from it
        measured = prediction_error(search)
        assert measured is not None
        n50, error = measured
        row = next(line for line in english.splitlines() if f"| {nice(n50):,} | " in line)
        assert row.endswith(f"| {error:+.1%} |") and f"| {nice(middle):,} |" in row
