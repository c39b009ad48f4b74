"""The report on machine noise: a run or probe taken on a busy machine is flagged where its
numbers are shown, and a study without noise readings shows nothing of it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from servelab.noise import idle_check
from servelab.report.build import build_report
from servelab.report.markdown import BUSY_MARK, render_markdown
from servelab.results import Noise, Study, read_study

from ..helpers import cpu_spinner
from . import folders


@pytest.fixture(scope="module")
def busy() -> Noise:
    """A real reading of a machine with a core kept busy by another process."""
    with cpu_spinner(10):
        noise = idle_check(0.5)
    assert noise is not None and noise.busy
    return replace(noise, server_cores=0.5)


def noisy_study(busy: Noise) -> Study:
    """The small study, its prod run and one probe taken on the busy machine; the dev run and
    the other probes on a quiet one."""
    quiet = replace(busy, other_cores=0.01, steal=0.0, min_available_bytes=busy.memory_bytes)
    study = folders.small_study()
    dev, prod = study.runs
    search, failed = study.critical
    trials = tuple(replace(t, noise=busy if t.probe == 2 else quiet) for t in search.trials)
    return replace(
        study,
        runs=(replace(dev, noise=quiet), replace(prod, noise=busy)),
        critical=(replace(search, trials=trials), failed),
        noise_at_start=busy,
    )


def test_a_busy_run_and_probe_are_flagged_where_their_numbers_are(
    tmp_path: Path, busy: Noise
) -> None:
    folder = folders.write_folder(tmp_path, noisy_study(busy))
    text = render_markdown(read_study(folder), folder, "en")
    assert f"| io_bounded_prod_w1 {BUSY_MARK} | " in text
    assert "| io_bounded_dev | " in text  # the quiet run carries no mark
    other = f"{busy.other_cores:.2f} cores used by other processes"
    assert f"{BUSY_MARK}: taken on a busy machine" in text
    assert f"Taken on a busy machine ({other}" in text
    assert text.count("Taken on a busy machine") == 1
    assert f"1 of 6 probes ran on a busy machine (the busiest: {other}" in text
    assert "Before the first run the machine was **busy**" in text
    assert "the lab read /proc" in text
    ru = render_markdown(read_study(folder), folder, "ru")
    assert "Снято на занятой машине" in ru and "Проб на занятой машине: 1 из 6" in ru


def test_a_study_without_noise_readings_says_nothing_of_them(tmp_path: Path) -> None:
    folder = folders.write_folder(tmp_path, folders.small_study())
    for lang in ("en", "ru"):
        text = render_markdown(read_study(folder), folder, lang)
        assert BUSY_MARK not in text and "/proc" not in text


def test_the_html_report_shows_the_flag_too(tmp_path: Path, busy: Noise) -> None:
    folder = folders.write_folder(tmp_path, noisy_study(busy))
    build_report(folder, ("en",))
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert f"io_bounded_prod_w1 {BUSY_MARK}" in page and "Taken on a busy machine" in page
