"""``servelab study --repeat K``: K whole studies, and a report of medians and spreads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servelab.repeats import read_repeated
from servelab.report.spread import Figure, cover_of
from servelab.results import BreakingPoint
from tests.helpers import servelab_cli

TINY = (
    "--servers", "gunicorn:w1", "--workloads", "io", "--io-delay", "0.05",
    "--requests", "2", "--concurrency", "2", "--no-critical",
)  # fmt: skip


@pytest.mark.slow
def test_a_repeated_study_keeps_each_repeat_and_reports_medians_and_spreads(
    tmp_path: Path,
) -> None:
    out = tmp_path / "repeated"
    result = servelab_cli("study", *TINY, "--repeat", "2", "--out", str(out), timeout=240)
    assert result.returncode == 0, result.stderr
    repeats, studies = read_repeated(out)
    assert (repeats.count, repeats.finished, repeats.complete) == (2, 2, True)
    assert len(studies) == 2 and all(study.complete for study in studies)
    for folder in ("repeat-01", "repeat-02"):
        assert (out / folder / "report.md").is_file()  # each repeat is a whole study
    report = (out / "report.md").read_text()
    makespans = [
        s.runs[0].summary.makespan
        for s in studies
        if s.runs[0].summary and s.runs[0].summary.makespan is not None
    ]
    assert len(makespans) == 2
    row = next(line for line in report.splitlines() if "`io_bounded_prod_w1` | makespan" in line)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    # The last column lists every repeat's value; the median of two is their mean.
    assert cells[-1] == ", ".join(f"{m:.2f}" for m in makespans)
    assert cells[2] == f"{(makespans[0] + makespans[1]) / 2:.2f}"
    assert "[report](repeat-02/report.md)" in report
    # The report is rebuilt from the files alone, byte for byte.
    before = report
    rebuilt = servelab_cli("report", str(out), timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (out / "report.md").read_text() == before


def test_repeat_mistakes_are_one_line_and_lose_nothing(tmp_path: Path) -> None:
    single = tmp_path / "single"
    single.mkdir()
    (single / "study.json").write_text('{"kept": true}')
    repeated = tmp_path / "repeated"
    repeated.mkdir()
    (repeated / "repeats.json").write_text('{"kept": true}')
    cases = [
        (("--repeat", "0", "--out", str(tmp_path / "new")), "--repeat must be a whole number"),
        (("--repeat", "2", "--out", str(single)), "holds a single study"),
        (("--out", str(repeated)), "holds a repeated study"),
    ]
    for args, message in cases:
        result = servelab_cli("study", *TINY, *args, timeout=60)
        lines = result.stderr.strip().splitlines()
        assert result.returncode != 0 and len(lines) == 1 and message in lines[0], result.stderr
    assert json.loads((single / "study.json").read_text()) == {"kept": True}
    assert json.loads((repeated / "repeats.json").read_text()) == {"kept": True}
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("values", "median", "spread", "stable"),
    [
        ((100.0, 102.0, 101.0), 101.0, 2 / 101, True),
        ((100.0, 110.0, 105.0), 105.0, 10 / 105, False),
        ((100.0, None, 104.0), 102.0, 4 / 102, True),  # a repeat that did not measure it
        ((100.0, None, None), 100.0, None, None),  # one value has no spread
    ],
)
def test_a_figure_is_stable_when_its_range_is_under_5_percent_of_its_median(
    values: tuple[float | None, ...], median: float, spread: float | None, stable: bool | None
) -> None:
    figure = Figure("run", "makespan", "seconds", values)
    assert figure.median == pytest.approx(median)
    assert figure.spread == (None if spread is None else pytest.approx(spread))
    assert figure.stable is stable


def test_narrow_intervals_that_miss_each_other_are_widened_by_the_drift_between_runs() -> None:
    # Three runs whose own intervals (+-2%) do not hold each other's points (3.6 .. 3.9 M):
    # the machine moved between runs more than the trials within one run say.
    points = [
        BreakingPoint(0.5, n, round(n * 0.98), round(n * 1.02))
        for n in (3_600_000, 3_750_000, 3_900_000)
    ]
    cover = cover_of("cpu_bounded_dev", points)
    assert cover.covered == (0, 0, 0) and not cover.all_covered
    assert 0.02 < cover.drift < 0.06
    assert cover.widened == (1, 2, 1)  # the middle run now holds both others
    assert cover.next_low < 3_600_000 and cover.next_high > 3_900_000
    assert cover.next_low * cover.next_high == pytest.approx(3_747_000**2, rel=0.01)


def test_intervals_wide_enough_for_the_spread_leave_no_drift() -> None:
    points = [
        BreakingPoint(0.5, n, round(n * 0.9), round(n * 1.1))
        for n in (3_700_000, 3_750_000, 3_800_000)
    ]
    cover = cover_of("cpu_bounded_dev", points)
    assert cover.all_covered and cover.all_widened
    assert cover.drift == 0.0
