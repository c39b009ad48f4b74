"""The bench's report and its servelab tools, without running a bench.

``bench.report`` turns a ``results.json`` into the tables of ``results.md``: a matrix run's
(here a made-up one with known ratios) and a one-cell file from before the matrix (a copy of
the 2026-11-25 run, its per-run summaries left out, in ``data/bench-one-cell``). The goals
are servelab's; the pure-Python tool's ratios are shown, never judged. The two servelab
tools must run the loops their names say, asked of their own Python.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from bench import report
from bench.run import _engines, parse_args
from bench.tools import PURE_ENV, Tool, interpreter, probe_engine

ONE_CELL = Path(__file__).resolve().parent / "data" / "bench-one-cell" / "results.json"
PURE = "servelab (pure Python)"

# Per tool: requests/s in rounds 1 and 2, steady client CPU ms per 1000 requests, timing error
# median. servelab ÷ wrk: 0.99 (0.98, 1.00), CPU 1.04; the pure tool: 0.65 (0.60, 0.70), 1.80.
_TOOLS = {
    "servelab": ((980.0, 1000.0), 52.0, 0.30),
    "wrk -t1": ((1000.0, 1000.0), 50.0, 0.25),
    PURE: ((600.0, 700.0), 90.0, 0.70),
}
_CELLS = (("sync", 1, 1.0), ("gthread", 50, 3.0))  # target, connections, rate factor


def _run(tool: str, cell: tuple[str, int, float], round_no: int) -> dict[str, Any]:
    rates, cpu, _ = _TOOLS[tool]
    rps = rates[round_no - 1] * cell[2]
    steady = {
        "served_rps": rps,
        "client_cpu_ms_per_1k": cpu,
        "client_cores": 0.5,
        "server_cores": 1.0,
        "other_cores": 0.0,
    }
    return {
        "round": round_no,
        "target": cell[0],
        "concurrency": cell[1],
        "tool": tool,
        "rps": rps,
        "requests": int(rps * 6),
        "errors": 0,
        "cpu_ms_per_1k": cpu,
        "steady": steady,
        "before_run": {"waited_s": 0.5, "busy_cores": 0.0},
    }


def _timing(tool: str, round_no: int) -> dict[str, Any]:
    error = _TOOLS[tool][2]
    return {
        "round": round_no,
        "tool": tool,
        "timed_requests": 700,
        "errors": 0,
        "error_ms": {"p50": error, "p90": error + 0.2, "p99": error + 0.5},
        "error_source": "every request",
        "server_lateness": {"responses": 700, "late_ms_median": 0.1, "late_ms_p99": 0.5},
        "other_cores": 0.01,
        "before_run": {"waited_s": 0.5, "busy_cores": 0.0},
    }


def _matrix(names: dict[str, str] | None = None) -> dict[str, Any]:
    """A two-round matrix run of servelab, wrk -t1 and the pure tool; ``names`` renames tools
    (to give servelab the pure tool's numbers)."""
    rename = names or {}
    runs = [_run(tool, cell, n) for n in (1, 2) for cell in _CELLS for tool in _TOOLS] + [
        _timing(tool, n) for n in (1, 2) for tool in _TOOLS
    ]
    for run in runs:
        run["tool"] = rename.get(run["tool"], run["tool"])
    meta = {
        "date_utc": "2026-12-07 00:00:00",
        "settings": {
            "duration": 6,
            "rounds": 2,
            "workers": 2,
            "threads": 4,
            "quiet_wait": 5.0,
            "delay_ms": 20.0,
            "timing_concurrency": 5,
            "timing_duration": 3,
        },
        "servelab_version": "servelab, version 0.1.0",
        "servelab_command": [".venv/bin/servelab", "load"],
        "engines": {
            "servelab": {"runs": "C", "built": True, "environment": {PURE_ENV: "0"}},
            PURE: {"runs": "Python", "built": True, "environment": {PURE_ENV: "1"}},
        },
        "cores": 2,
        "steady_window": {"after_start_s": 2.5, "before_end_s": 1.0},
        "versions": {"gunicorn": "gunicorn (version 27.0.1)"},
        "bench_seconds": 100.0,
    }
    return {
        "meta": meta,
        "throughput": [r for r in runs if "target" in r],
        "timing": [r for r in runs if "target" not in r],
    }


def _write(tmp_path: Path, results: dict[str, Any]) -> Path:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    return path


def test_report_regenerates_a_matrix_with_the_pure_tool_beside_servelab(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert report.main([str(_write(tmp_path, _matrix()))]) == 0
    markdown = (tmp_path / "results.md").read_text()
    assert capsys.readouterr().out == markdown
    assert f"{PURE} req/s | {PURE} ÷ wrk -t1 (rounds) | {PURE} CPU ms / 1000 req" in markdown
    # servelab's group, wrk's, then the pure tool's, in each cell.
    assert (
        "| sync | 1 | 990 | 1,000 | 0.99 (0.98, 1.00) | 52.0 | 50.0 | 1.04"
        " | 650 | 0.65 (0.60, 0.70) | 90.0 | 1.80 | 0 |"
    ) in markdown
    assert "| gthread | 50 | 2,970 | 3,000 | 0.99 (0.98, 1.00) |" in markdown
    assert f"| {PURE} | 1400 | 0.700 |" in markdown
    assert "servelab ran the C loop (`SERVELAB_PURE_PYTHON=0`)" in markdown
    assert f"{PURE} ran the Python loop (`SERVELAB_PURE_PYTHON=1`)" in markdown


def test_goals_judge_servelab_only(tmp_path: Path) -> None:
    report.main([str(_write(tmp_path, _matrix()))])
    goals = (tmp_path / "results.md").read_text().split("Goals, as measured here:")[1]
    assert "≥ 0.95 in every cell: met (lowest 0.990" in goals
    assert "≤ 1.1 in every cell: met (highest 1.040" in goals
    assert "median timing error = 0.300 ms (goal ≤ 0.5): met" in goals
    assert "NOT met" not in goals  # the pure tool's 0.65 and 1.80 are information
    assert f"- {PURE} req/s ÷ wrk -t1 req/s: from 0.650 (sync, 1 connection) to 0.650" in goals
    assert f"- {PURE} CPU per request ÷ wrk -t1's: from 1.800" in goals
    assert f"- {PURE} median timing error = 0.700 ms\n" in goals


def test_goals_are_not_met_when_servelab_has_the_slow_numbers(tmp_path: Path) -> None:
    swapped = _matrix({"servelab": PURE, PURE: "servelab"})
    report.main([str(_write(tmp_path, swapped))])
    goals = (tmp_path / "results.md").read_text().split("Goals, as measured here:")[1]
    assert "≥ 0.95 in every cell: NOT met in 2 of 2 cells (lowest 0.650" in goals
    assert "≤ 1.1 in every cell: NOT met in 2 of 2 cells (highest 1.800" in goals
    assert "(goal ≤ 0.5): NOT met" in goals


def test_report_still_reads_a_one_cell_file(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    shutil.copy(ONE_CELL, path)
    assert report.main([str(path), "--out", str(tmp_path / "elsewhere.md")]) == 0
    markdown = (tmp_path / "elsewhere.md").read_text()
    assert (
        "| sync | 50 | 9,339 | 10,286 | 0.91 (0.91, 0.90, 0.92) | 65.3 | 59.7 | 1.09"
        " | 11,350 | 3,860 | 0 |"
    ) in markdown
    assert "pure Python" not in markdown
    assert " ran the " not in markdown  # no engines recorded then, none claimed
    assert not (tmp_path / "results.md").exists()


def test_report_says_why_it_cannot_read_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert report.main([str(tmp_path / "missing.json")]) == 1
    assert "missing.json" in capsys.readouterr().err


def test_the_pure_tool_is_in_quick_runs_and_can_be_left_out() -> None:
    assert parse_args(["--quick"]).pure
    assert not parse_args(["--quick", "--no-pure"]).pure


_PYTHON_SERVELAB = (sys.executable, "-m", "servelab", "load")
_BUILT = importlib.util.find_spec("servelab.load._speedups") is not None


def test_each_servelab_tool_runs_the_loop_its_name_says() -> None:
    c_tool = Tool("servelab", "servelab", prefix=_PYTHON_SERVELAB, environment=((PURE_ENV, "0"),))
    pure = Tool(PURE, "servelab", prefix=_PYTHON_SERVELAB, environment=((PURE_ENV, "1"),))
    assert probe_engine(c_tool).runs == ("C" if _BUILT else "Python")
    assert probe_engine(pure).runs == "Python"
    assert probe_engine(pure).built == _BUILT
    assert set(_engines([c_tool, pure])) == {"servelab", PURE}


@pytest.mark.skipif(not _BUILT, reason="no C loop built here: nothing is expected of it")
def test_a_servelab_tool_that_would_not_run_the_built_c_loop_stops_the_bench() -> None:
    wrong = Tool("servelab", "servelab", prefix=_PYTHON_SERVELAB, environment=((PURE_ENV, "1"),))
    with pytest.raises(SystemExit, match="would run the Python loop, not the C one"):
        _engines([wrong])


@pytest.mark.parametrize(
    ("script", "python"),
    [
        ("#!/x/venv/bin/python3.11\nimport sys\n", "/x/venv/bin/python3.11"),
        # pip's console script when the interpreter's path is too long for a #! line
        (
            "#!/bin/sh\n'''exec' \"/a/long/venv/bin/python\" \"$0\" \"$@\"\n' '''\n",
            "/a/long/venv/bin/python",
        ),
    ],
)
def test_the_python_of_a_console_script(tmp_path: Path, script: str, python: str) -> None:
    (tmp_path / "servelab").write_text(script)
    assert interpreter((str(tmp_path / "servelab"), "load")) == python


def test_a_command_whose_python_is_unknown_is_refused(tmp_path: Path) -> None:
    (tmp_path / "servelab").write_text('#!/bin/sh\nexec servelab "$@"\n')
    with pytest.raises(ValueError, match="PYTHON -m servelab load"):
        interpreter((str(tmp_path / "servelab"), "load"))
