"""``servelab study`` checks the machine before its first run: a busy machine gets one
warning line and the study still runs, keeping the check and each run's noise."""

from __future__ import annotations

from pathlib import Path

import pytest

from servelab.results import read_study

from ..helpers import cpu_spinner, servelab_cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(200)]
TINY = (
    "--servers",
    "gunicorn:w1",
    "--workloads",
    "io",
    "--no-critical",
    "--requests",
    "2",
    "--concurrency",
    "2",
    "--io-delay",
    "0.1",
)


def test_a_study_on_a_busy_machine_warns_and_still_runs(tmp_path: Path) -> None:
    with cpu_spinner(120):
        result = servelab_cli("study", "--out", str(tmp_path), *TINY, timeout=150)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "machine is busy" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: the machine is busy: ")
    assert "cores used by other processes" in warnings[0]
    study = read_study(tmp_path)
    assert study.noise_at_start is not None and study.noise_at_start.busy
    (run,) = study.runs
    assert run.noise is not None and run.noise.server_cores is not None
    assert "Before the first run the machine was **busy**" in (tmp_path / "report.md").read_text(
        encoding="utf-8"
    )
