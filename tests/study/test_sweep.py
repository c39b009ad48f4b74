"""``servelab sweep``, end to end: real servers, a real rate search, a recommendation that
follows from what was measured, and a folder that survives an interruption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from servelab.results_sweep import CELL_FILE, CELLS_DIR, read_sweep
from tests.helpers import process_group, servelab_cli, wait_for

APPS = Path(__file__).parent / "apps"
# gunicorn sync workers on the io workload hold about w / delay requests/s: 20 and 40 here.
FAST = (
    "--servers", "gunicorn:w{1,2}", "--workloads", "io", "--io-delay", "0.05",
    "--slo", "p99<250ms", "--window", "1.5s", "--warmup", "0.5s", "--memory", "1GiB",
    "--prime", "0.5s",
)  # fmt: skip


@pytest.mark.slow
@pytest.mark.cgroup
def test_an_interrupted_sweep_keeps_its_cells_and_resumes_without_rerunning_them(
    tmp_path: Path,
) -> None:
    out = tmp_path / "sweep"
    command = [sys.executable, "-m", "servelab", "sweep", *FAST, "--out", str(out)]
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    first = out / CELLS_DIR / "io_prod_w1" / CELL_FILE
    with process_group(command, cwd=tmp_path, env=env) as lab:
        wait_for(lambda: first.is_file() or lab.poll() is not None, "the first cell", 120)
        assert lab.poll() is None, "the sweep ended before it could be interrupted"
        lab.send_signal(signal.SIGINT)
        assert lab.wait(timeout=60) == 130
    interrupted = read_sweep(out)
    assert not interrupted.complete
    assert [c.name for c in interrupted.cells] == ["io_prod_w1"]
    kept = first.stat().st_mtime_ns
    result = servelab_cli("sweep", *FAST, "--out", str(out), "--lang", "all", timeout=240)
    assert result.returncode == 0, result.stderr
    resumed = read_sweep(out)
    assert resumed.complete and [c.name for c in resumed.cells] == ["io_prod_w1", "io_prod_w2"]
    assert first.stat().st_mtime_ns == kept  # measured once
    assert "1 of 2 cells already measured" in result.stderr
    _recommends_the_configuration_that_holds_more_and_says_why(out, result)


def _recommends_the_configuration_that_holds_more_and_says_why(
    out: Path, result: subprocess.CompletedProcess[str]
) -> None:
    """What a user of the FAST sweep sees: measurements, the recommendation they imply,
    said at the end and at the top of the report in both languages."""
    sweep = read_sweep(out)
    assert sweep.complete and [c.name for c in sweep.cells] == ["io_prod_w1", "io_prod_w2"]
    w1, w2 = (sweep.cell(name) for name in ("io_prod_w1", "io_prod_w2"))
    for cell, workers in ((w1, 1), (w2, 2)):
        assert cell.status == "done" and cell.capacity is not None and cell.oom_kills == 0
        assert cell.capacity.capacity is not None and not cell.capacity.client_bound
        # Memory was read per process: one master, `workers` workers, idle and under load.
        assert cell.memory_load is not None and len(cell.memory_load.workers) == workers
        assert cell.memory_idle is not None and cell.memory_idle.master is not None
        assert cell.workers_fit is not None and cell.workers_fit > workers
    assert w1.capacity and w2.capacity and w1.capacity.capacity and w2.capacity.capacity
    # Sync workers on a 0.05 s sleep hold about w / 0.05 requests/s: 20 and 40.
    assert 14 < w1.capacity.capacity < 26 and 28 < w2.capacity.capacity < 52
    # The recommendation follows: w2 holds the SLO to about twice the rate, within budget.
    (choice,) = sweep.recommendations
    assert choice.best == "io_prod_w2"
    assert [(r.name, r.loss) for r in choice.ranking] == [
        ("io_prod_w2", None),
        ("io_prod_w1", "lower-capacity"),
    ]
    assert choice.memory_headroom is not None and choice.memory_headroom > 0.5
    # Printed at the end, and at the top of the report in both languages.
    assert "run gunicorn, 2 sync workers (`io_prod_w2`)" in result.stderr
    assert "`io_prod_w1` holds p99<250ms only to" in result.stderr
    report = (out / "report.md").read_text()
    assert report.index("run **gunicorn, 2 sync workers") < report.index("| cell |")
    assert "each server ran 0.50 s of the same full load, not measured" in report
    russian = (out / "report.ru.md").read_text()
    assert "разверните **gunicorn, 2 sync воркера" in russian
    assert (out / "report.html").is_file() and (out / "report.ru.html").is_file()
    # Each step of each search was written as it was measured.
    steps = (out / CELLS_DIR / "io_prod_w1" / "capacity-steps.jsonl").read_text().splitlines()
    assert len(steps) == len(w1.capacity.steps) >= 3
    # The report is rebuilt from the files alone.
    before = report
    (out / "report.md").unlink()
    assert servelab_cli("report", str(out), timeout=60).returncode == 0
    assert (out / "report.md").read_text() == before


@pytest.mark.slow
def test_a_time_budget_leaves_cells_out_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = ("sweep", "--servers", "gunicorn:w{1,2,4}", "--workloads", "io", "--io-delay",
            "0.05", "--slo", "p99<250ms", "--window", "1s", "--warmup", "0.5s", "--prime", "0s",
            "--budget", "15s", "--out", str(out))  # fmt: skip
    result = servelab_cli(*args, timeout=240)
    assert result.returncode == 0, result.stderr
    sweep = read_sweep(out)
    statuses = [cell.status for cell in sweep.cells]
    assert statuses[0] == "done" and "left-out" in statuses, statuses
    assert not sweep.complete
    report = (out / "report.md").read_text()
    assert "This sweep is unfinished" in report
    assert "was not measured (the time budget ran out)" in report


def test_a_budget_without_room_for_a_critical_search_starts_no_cell(tmp_path: Path) -> None:
    # A critical-size search takes no deadline (once started it runs to its end, up to a
    # minute here), so a cell starts only when the budget has room for it.
    out = tmp_path / "sweep"
    args = ("sweep", "--servers", "gunicorn:w1", "--workloads", "cpu", "--slo", "p99<1s",
            "--memory", "256MiB", "--critical", "--budget", "40s", "--out", str(out))  # fmt: skip
    result = servelab_cli(*args, timeout=60)
    assert result.returncode == 0, result.stderr
    sweep = read_sweep(out)
    assert [cell.status for cell in sweep.cells] == ["left-out"]
    assert not (out / CELLS_DIR / "cpu_prod_w1").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--servers", "gunicorn:w{1,2"), "is not closed"),
        (("--servers", "uvicorn:w{1,2}:preload"), "uvicorn takes no"),
        (("--slo", "p99<fast"), "cannot read SLO"),
        (("--workloads", "io,gpu"), "--workloads must name some of"),
        (("--memory", "1KiB"), "a memory cap must be at least"),
        (("--app", "sized_app:app", "--app-dir", str(APPS), "--n", "5"), "--n belong to"),
    ],
)
def test_sweep_mistakes_are_one_line_before_anything_starts(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = servelab_cli("sweep", *args, "--out", str(tmp_path / "sweep"), timeout=60)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "sweep" / "sweep.json").exists()


def test_a_folder_holding_another_sweep_is_refused_and_kept(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    plan = tmp_path / "sweep.toml"
    plan.write_text('servers = "gunicorn:w1"\nworkloads = ["io"]\nwindow = "1s"\n')
    result = servelab_cli("sweep", "--plan", str(plan), "--budget", "0.1s", "--out", str(out))
    assert result.returncode == 0, result.stderr
    before = (out / "sweep.json").read_text()
    assert read_sweep(out).settings.window == 1.0  # from the plan file
    other = servelab_cli("sweep", "--plan", str(plan), "--window", "2s", "--out", str(out))
    lines = other.stderr.strip().splitlines()
    assert other.returncode != 0 and len(lines) == 1, other.stderr
    assert "holds a sweep with other settings (window)" in lines[0]
    assert (out / "sweep.json").read_text() == before


def test_the_example_plan_file_is_a_valid_plan(tmp_path: Path) -> None:
    # --budget 0.1s: read and check every setting of the example, measure no cell.
    out = tmp_path / "sweep"
    example = Path(__file__).parents[2] / "examples" / "sweep.toml"
    result = servelab_cli(
        "sweep", "--plan", str(example), "--budget", "0.1s", "--out", str(out), timeout=60
    )
    assert result.returncode == 0, result.stderr
    sweep = read_sweep(out)
    assert len(sweep.planned) == 12 and all(c.status == "left-out" for c in sweep.cells)
    assert sweep.settings.slos == ("p99<500ms", "errors<1%")
    assert sweep.settings.memory_bytes == 2 << 30 and sweep.settings.window == 3.0


@pytest.mark.slow
@pytest.mark.cgroup
def test_a_cell_whose_critical_size_is_below_the_need_is_not_recommended(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = ("sweep", "--servers", "gunicorn:w1", "--workloads", "numpy", "--n", "100000",
            "--slo", "p99<1s", "--window", "1s", "--warmup", "0.5s", "--prime", "0s",
            "--memory", "256MiB",
            "--critical", "--need-size", "900000000", "--out", str(out))  # fmt: skip
    result = servelab_cli(*args, timeout=400)
    assert result.returncode == 0, result.stderr
    sweep = read_sweep(out)
    cell = sweep.cell("numpy_prod_w1")
    # One sync worker under 256 MiB dies of memory around 25 million numpy elements.
    assert cell.critical_n is not None and 5_000_000 < cell.critical_n < 40_000_000
    assert cell.critical_folder is not None
    assert (out / cell.critical_folder / "search.json").is_file()
    (choice,) = sweep.recommendations
    assert choice.best is None
    assert [(r.name, r.loss) for r in choice.ranking] == [("numpy_prod_w1", "dies-below-size")]
    assert "dies of memory below the size asked for" in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_sweep_of_a_users_own_app_in_its_environment(tmp_path: Path) -> None:
    # The stdlib-only app of the app tests: its memory grows with {"kib": size}.
    out = tmp_path / "sweep"
    args = ("sweep", "--app", "sized_app:app", "--app-dir", str(APPS),
            "--body", '{"kib": {size}}', "--size", "64", "--servers", "gunicorn:w1",
            "--slo", "p99<250ms", "--window", "1s", "--warmup", "0.5s", "--prime", "0s",
            "--out", str(out))  # fmt: skip
    result = servelab_cli(*args, timeout=240)
    assert result.returncode == 0, result.stderr
    sweep = read_sweep(out)
    assert sweep.settings.app is not None and sweep.settings.app.ref == "sized_app:app"
    assert sweep.settings.workloads == ("app",) and sweep.settings.n == 64
    assert [c.name for c in sweep.cells] == ["app_prod_w1"]
    for cell in sweep.cells:
        assert cell.status == "done" and cell.capacity is not None, cell
        assert cell.capacity.capacity is not None and cell.capacity.capacity > 20
    (choice,) = sweep.recommendations
    assert choice.best == "app_prod_w1"
    assert "For your app, run" in result.stderr
