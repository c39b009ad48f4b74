"""`servelab study` end to end on a small configuration, and the report built from its files."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from servelab._io import read_jsonl
from servelab.cli.critical import _servers
from servelab.errors import ConfigError
from servelab.load import RequestRecord
from servelab.load.summary import summarize
from servelab.report import build_report
from servelab.report.comments import cpu_split
from servelab.report.i18n import Lang
from servelab.results import (
    GuardSettings,
    Study,
    read_guarded,
    read_search,
    read_study,
    write_study,
)
from servelab.servers import ServerSpec
from servelab.study.critical_run import GUARD_MARGIN, derived_budget

from ..helpers import servelab_cli

SEED_LOGS = [
    "io_bounded_dev",
    "cpu_bounded_dev",
    "cpu_multithread_dev",
    "io_bounded_prod_w1",
    "cpu_bounded_prod_w1",
    "cpu_multithread_prod_w1",
]
pytestmark = [pytest.mark.timeout(400), pytest.mark.slow, pytest.mark.cgroup]  # one capped study
seconds = Lang("en").seconds
SEED_LINE = re.compile(r'^Waited \d+\.\d\d sec \{"price": \d+\}$')
DELAY = 0.1
CAP = "200MiB"


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("study")
    result = servelab_cli(
        "study",
        "--out",
        str(out),
        "--io-delay",
        str(DELAY),
        "--n",
        "100000",
        "--memory",
        CAP,
        "--repeats",
        "1",
        "--memory-budget",
        "auto",  # the guarded probe after each search, with a budget derived from it
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def study(study_dir: Path) -> Study:
    return read_study(study_dir)


def test_the_six_seed_logs_are_written_in_the_seed_format(study_dir: Path) -> None:
    for name in SEED_LOGS:
        lines = (study_dir / "log" / f"{name}.txt").read_text().splitlines()
        assert len(lines) == 10, name
        assert all(SEED_LINE.match(line) for line in lines), lines


def test_every_run_has_its_records_and_the_summary_is_theirs(study_dir: Path, study: Study) -> None:
    assert study.complete and study.missing() == []
    assert [run.name for run in study.runs] == SEED_LOGS
    for run in study.runs:
        assert run.status == "done" and run.summary is not None
        rows = read_jsonl(study_dir / run.files["records"])
        assert len(rows) == 10
        recomputed = summarize(RequestRecord.from_dict(row) for row in rows)
        # The client's CPU is the burst's own count: no record holds it.
        cpu = run.summary.client_cpu_seconds
        assert cpu is not None and cpu > 0
        assert replace(run.summary, url="", parameters={}, client_cpu_seconds=None) == recomputed
        assert run.server_end is not None and run.server_end.stopped_by_lab
        assert run.verdict is not None and run.verdict.outcome == "ok"


def test_the_study_shows_what_the_seminar_is_about(study: Study) -> None:
    runs = {run.name: run.summary for run in study.runs}
    dev, prod = runs["io_bounded_dev"], runs["io_bounded_prod_w1"]
    assert dev is not None and dev.handlers is not None and dev.makespan is not None
    assert prod is not None and prod.handlers is not None and prod.makespan is not None
    # the threaded dev server overlaps the sleeps; one sync worker serves them in turn
    assert (dev.handlers.max_concurrent or 0) >= 5
    assert dev.makespan < 5 * DELAY
    assert prod.handlers.max_concurrent == 1
    assert prod.makespan > 8 * DELAY


def test_the_study_searches_the_critical_n_of_each_server_and_workload(
    study_dir: Path, study: Study
) -> None:
    searches = {search.name: search for search in study.critical}
    assert sorted(searches) == [
        "cpu_bounded_dev",
        "cpu_bounded_prod_w1",
        "cpu_multithread_dev",
        "cpu_multithread_prod_w1",
    ]
    for search in searches.values():
        assert search.complete and search.converged, search.stop
        assert search.error is None and search.stop is not None
        assert search.cap is not None and search.cap.mechanism == "cgroup-v1"
        low, high = search.max_passing_n, search.min_failing_n
        assert low is not None and high is not None and low < high
        assert search.oom_kills >= 1
        assert {t.outcome for t in search.trials if t.n == high} == {"oom"}
        # search.json is the same search as study.json keeps
        assert read_search(study_dir / search.folder) == search
    # numpy keeps 8 bytes per element, the Python list about 40: numpy survives a larger n
    for server in ("dev", "prod_w1"):
        numpy, cpu = searches[f"cpu_multithread_{server}"], searches[f"cpu_bounded_{server}"]
        assert numpy.bytes_per_element and cpu.bytes_per_element
        assert numpy.bytes_per_element < cpu.bytes_per_element / 3
        assert numpy.max_passing_n and cpu.max_passing_n
        assert numpy.max_passing_n > 2 * cpu.max_passing_n
    # one sync worker holds one request in memory; the threaded dev server holds several
    prod_n, dev_n = (
        searches["cpu_bounded_prod_w1"].max_passing_n,
        searches["cpu_bounded_dev"].max_passing_n,
    )
    assert prod_n and dev_n and prod_n > dev_n
    evidence = searches["cpu_multithread_prod_w1"].first_failure
    assert evidence is not None
    assert any("Perhaps out of memory?" in line for line in evidence.verdict.server_lines)


def test_the_report_shows_the_critical_n_table_and_the_failure_logs(
    study_dir: Path, study: Study
) -> None:
    report = (study_dir / "report.md").read_text()
    assert "## Critical n" in report
    for search in study.critical:
        server = ServerSpec.from_server(search.server).describe()
        row = next(
            line
            for line in report.splitlines()
            if line.startswith(f"| {server} | `{search.workload}` |")
        )
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[2:5] == [
            f"{search.predicted_n:,}",
            f"{search.max_passing_n:,}",
            f"{search.min_failing_n:,}",
        ]
        assert cells[8] == str(search.oom_kills)
    assert report.count("#### Logs at failure") == 2
    assert "was sent SIGKILL! Perhaps out of memory?" in report


def _table_row(report: str, name: str) -> list[str]:
    # A run taken on a busy machine carries the report's mark after its name.
    row = next(
        line
        for line in report.splitlines()
        if line.startswith(f"| {name} |") or line.startswith(f"| {name} ⚠ |")
    )
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_the_guard_keeps_every_server_alive_where_the_search_saw_it_oom_killed(
    study_dir: Path, study: Study
) -> None:
    assert study.guard == GuardSettings(memory_budget=None, compare=True, margin=GUARD_MARGIN)
    assert all(run.guard is None for run in study.runs)  # 'auto' leaves the runs unguarded
    for search in study.critical:
        guarded = search.guarded
        assert guarded is not None and search.idle_bytes is not None
        assert read_guarded(study_dir / search.folder) == guarded
        assert guarded.n == search.min_failing_n
        assert guarded.budget_source == "derived"
        assert guarded.budget_bytes == derived_budget(search.limit_bytes, search.idle_bytes)
        off, on = guarded.without_guard, guarded.with_guard
        assert off.outcome == "oom" and off.verdict.oom_kills >= 1
        assert on.verdict.oom_kills == 0 and not on.verdict.server_died, on.verdict
        assert on.outcome in ("rejected", "ok") and on.failed_requests == 0, on.verdict
        assert on.ok_requests + on.rejected == on.requests == 10
        assert on.prices is not None
        assert on.prices.correct == on.ok_requests and on.prices.wrong == 0
        records = read_jsonl(study_dir / search.folder / on.files["records"])
        assert sum(1 for record in records if record["status"] in (413, 503)) == on.rejected
        # one sync worker holds one array: one request needs more than the whole budget
        if search.server.kind == "gunicorn":
            assert on.verdict.rejected_by_status == {413: 10}
    report = (study_dir / "report.md").read_text()
    assert "#### With and without the memory guard" in report
    lang = Lang("en")
    rows = [line for line in report.splitlines() if line.count("|") == 11 and "per process" in line]
    off_rows = [line for line in report.splitlines() if line.count("|") == 11 and "| off |" in line]
    assert len(rows) == len(off_rows) == len(study.critical)
    for search, on_row, off_row in zip(study.critical, rows, off_rows, strict=True):
        guarded = search.guarded
        assert guarded is not None
        for row, side, guard in (
            (off_row, guarded.without_guard, "off"),
            (on_row, guarded.with_guard, f"{lang.mib(guarded.budget_bytes)} per process"),
        ):
            cells = [cell.strip() for cell in row.strip("|").split("|")]
            by_status = side.verdict.rejected_by_status
            prices = side.prices
            assert prices is not None
            assert cells == [
                ServerSpec.from_server(search.server).describe(),
                f"`{search.workload}`",
                f"{guarded.n:,}",
                guard,
                f"{side.ok_requests}/{side.requests}",
                f"{by_status.get(413, 0)} / {by_status.get(503, 0)}",
                str(side.failed_requests),
                str(side.verdict.oom_kills),
                f"{prices.correct}/{prices.correct + prices.wrong}",
                side.outcome,
            ]


def test_the_report_numbers_are_the_records_numbers(study_dir: Path, study: Study) -> None:
    report = (study_dir / "report.md").read_text()
    for run in study.runs:
        s = run.summary
        assert s is not None and s.handlers is not None
        assert s.makespan is not None and s.latency.min is not None
        assert s.latency.mean is not None and s.latency.max is not None
        cells = _table_row(report, run.name)
        assert cells[3] == f"{s.ok}/{s.requests}"
        assert cells[4] == seconds(s.makespan)
        assert cells[5] == " / ".join(
            seconds(value) for value in (s.latency.min, s.latency.mean, s.latency.max)
        )
        assert cells[6] == str(s.handlers.max_concurrent)
        assert f"[log]({run.files['log']})" in cells[8]
        # Beside the server's CPU, what the load client took from the machine (issue 17).
        cpu = cpu_split(run, study.machine.cores, Lang("en"))
        assert cpu is not None and f"- {cpu}" in report
    prod = next(run.summary for run in study.runs if run.name == "io_bounded_prod_w1")
    assert prod is not None and prod.latency.min is not None
    assert (
        f"served the requests one after another, the fastest response after "
        f"{seconds(prod.latency.min)} s" in report
    )


def test_every_link_in_the_report_resolves(study_dir: Path) -> None:
    report = (study_dir / "report.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", report)
    assert len(links) >= 12
    for link in links:
        assert (study_dir / link).is_file(), link


def test_servelab_report_rebuilds_the_same_page_from_the_folder(study_dir: Path) -> None:
    before = (study_dir / "report.md").read_text()
    (study_dir / "report.md").unlink()
    result = servelab_cli("report", str(study_dir))
    assert result.returncode == 0, result.stderr
    assert (study_dir / "report.md").read_text() == before


def test_an_interrupted_study_still_reports_what_it_measured(
    study_dir: Path, study: Study, tmp_path: Path
) -> None:
    partial = replace(study, runs=study.runs[:2], critical=study.critical[:1], complete=False)
    write_study(tmp_path, partial)
    for sub in ("log", "records", "server"):
        (tmp_path / sub).symlink_to(study_dir / sub)
    report = build_report(tmp_path)[0].read_text()
    assert "| io_bounded_dev |" in report
    assert "**Missing** (planned" in report
    # the copy has no samples folder: those pictures are marked missing, the rest render
    assert "*Missing from this folder: Server memory during io_bounded_dev" in report
    assert "![Request timeline of io_bounded_dev](plots/timeline--io_bounded_dev.png)" in report
    assert "cpu_multithread_prod_w1, critical n of cpu_multithread_dev" in report


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("study", "--servers", "apache"), "apache"),
        (("study", "--workloads", "gpu"), "gpu"),
        (("study", "--requests", "0"), "--requests"),
        (("study", "--servers", "gunicorn:w0"), "workers must be a whole number >= 1"),
        (("study", "--memory", "512KiB"), "a memory cap must be at least 1 MiB"),
        (("study", "--repeats", "0"), "repeats"),
        (("study", "--n", "0"), "--n"),
        (("report", "/nonexistent/results"), "not a servelab results folder"),
        (("load", "ftp://example/predict"), "http"),
        (
            (
                "critical-n",
                "--server",
                "gunicorn",
                "--workers",
                "0",
                "--workload",
                "cpu",
                "--memory",
                "1GiB",
            ),
            "workers must be a whole number >= 1, not 0",
        ),
        (
            ("critical-n", "--server", "flask-dev", "--workload", "cpu", "--memory", "12MiB"),
            "cannot hold Flask dev server (threaded) even idle",
        ),
    ],
)
def test_user_mistakes_get_one_line_and_a_non_zero_exit(
    args: tuple[str, ...], message: str
) -> None:
    result = servelab_cli(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3


def test_critical_n_command_prints_one_json_object(tmp_path: Path) -> None:
    result = servelab_cli(
        "critical-n", "--server", "gunicorn:w1", "--workload", "numpy", "--memory", "200MiB",
        "--repeats", "2", "--json", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    for key in (
        "predicted_n",
        "max_passing_n",
        "min_failing_n",
        "per_n",
        "trials",
        "bytes_per_element",
        "idle_bytes",
        "peak_bytes",
        "oom_kills",
        "cap",
        "stop",
    ):
        assert found[key] is not None, key
    assert found["cap"]["mechanism"] == "cgroup-v1"
    assert found["stop"]["code"] in ("within-tolerance", "whole-numbers", "band-resolved")
    low, high = found["max_passing_n"], found["min_failing_n"]
    assert low < high
    if found["stop"]["code"] == "band-resolved":
        # Results between the two confirmed ends (mixed, or single trials): the breaking
        # point is a band, which may be wider than the tolerance (seen once in fresh-check:
        # 20,000,001 held, 22,000,000 failed, with trials between them).
        assert [t for t in found["per_n"] if low < t["n"] < high], found["per_n"]
    else:
        assert high / low - 1 <= 0.05 + 1e-9
    # one sync worker holds one array at a time: the model's prediction holds within 10%
    middle = (found["max_passing_n"] * found["min_failing_n"]) ** 0.5
    assert abs(middle / found["predicted_n"] - 1) <= 0.10
    failing = [t for t in found["trials"] if t["n"] == found["min_failing_n"]]
    assert {t["verdict"]["outcome"] for t in failing} == {"oom"}
    assert read_search(tmp_path / "cpu_multithread_prod_w1").min_failing_n == found["min_failing_n"]
    # the machine was checked before the search, and the check is kept with it
    noise = read_search(tmp_path / "cpu_multithread_prod_w1").noise_at_start
    assert noise is not None and noise.duration > 0 and noise.cores >= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--server", "apache", "--memory", "1GiB"), "unknown server 'apache'"),
        (("--server", "gunicorn:w0", "--memory", "1GiB"), "workers must be"),
        (("--server", "gunicorn:w2", "--workers", "3", "--memory", "1GiB"), "one bare --server"),
        (("--server", "gunicorn", "--server", "gunicorn:w1", "--memory", "1GiB"), "share a name"),
        (("--server", "flask-dev", "--memory", "lots"), "lots"),
        (("--server", "flask-dev", "--memory", "512KiB"), "at least 1 MiB"),
        (("--server", "flask-dev", "--memory", "1GiB", "--repeats", "0"), "repeats"),
        (("--server", "flask-dev", "--memory", "1GiB", "--tolerance", "2"), "tolerance"),
        (("--server", "flask-dev", "--memory", "1GiB", "--concurrency", "0"), "--concurrency"),
        (("--server", "flask-dev", "--memory", "1GiB", "--requests", "0"), "--requests"),
    ],
)
def test_critical_n_checks_the_whole_plan_before_a_server_starts(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    # the second server is fine: nothing may start before every value is checked
    result = servelab_cli(
        "critical-n", "--server", "gunicorn:w2", *args, "--workload", "cpu", "--out", str(tmp_path)
    )
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert list(tmp_path.iterdir()) == []  # no search folder: no server was started


def test_critical_n_keeps_the_older_server_flags() -> None:
    assert _servers(("gunicorn",), 2, "gthread", 4) == (ServerSpec.parse("gunicorn:w2:gthread:t4"),)
    assert _servers(("flask-dev", "gunicorn:w1"), None, None, None) == (
        ServerSpec("flask-dev"),
        ServerSpec("gunicorn"),
    )
    with pytest.raises(ConfigError, match="flask-dev takes no --workers"):
        _servers(("flask-dev",), None, None, 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--memory", "10MiB"), "cannot hold Flask dev server (threaded) even idle"),
    ],
)
def test_critical_n_mistakes_are_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = servelab_cli(
        "critical-n", "--server", "flask-dev", "--workload", "cpu", *args, "--out", str(tmp_path)
    )
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # refused before a server started


def test_the_report_comes_in_russian_with_the_seminars_headings(
    study_dir: Path, study: Study
) -> None:
    result = servelab_cli("report", str(study_dir), "--lang", "all")
    assert result.returncode == 0, result.stderr
    for name in ("report.md", "report.html", "report.ru.md", "report.ru.html"):
        assert (study_dir / name).is_file(), name
    ru = (study_dir / "report.ru.md").read_text(encoding="utf-8")
    for heading in (
        "# Отчёт по семинару № 3",
        "### Введение",
        "### Метод исследования",
        "### Результат и обсуждение",
        "##### Логи при падении",
        "##### [predict_cpu_multithread](log/cpu_multithread_dev.txt)",
    ):
        assert heading in ru, heading
    lang = Lang("ru")
    for search in study.critical:
        assert search.max_passing_n is not None and search.min_failing_n is not None
        line = (
            f"Критическое n (лимит {lang.size(search.limit_bytes)}): между "
            f"{lang.count(search.max_passing_n)} (ни разу не упал) и "
            f"{lang.count(search.min_failing_n)} (падал всегда)"
        )
        assert line in ru
    for run in study.runs:
        assert run.summary is not None and run.summary.makespan is not None
        assert f"Общее время {lang.seconds(run.summary.makespan)} с" in ru
    # Its figures are drawn in Russian, beside the English ones.
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", ru)
    assert pictures and all(picture.startswith("plots/ru/") for picture in pictures)
    for picture in pictures:
        assert (study_dir / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", picture


def test_every_picture_the_report_shows_exists(study_dir: Path, study: Study) -> None:
    report = (study_dir / "report.md").read_text()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    for picture in pictures:
        assert (study_dir / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", picture
    for run in study.runs:
        assert f"plots/timeline--{run.name}.png" in pictures
        assert f"plots/memory--{run.name}.png" in pictures
    for search in study.critical:
        assert f"plots/critical--{search.name}.png" in pictures
    total = sum((study_dir / picture).stat().st_size for picture in set(pictures))
    assert total < 2 * 2**20
