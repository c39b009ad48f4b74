"""The results folder of ``servelab study``: one study at a time, no stale report, every file
readable alike, and one line (not a traceback) when the folder cannot be written.

Real studies of one small run (the dev server, the io workload), real file systems (a tmpfs
that fills up, a read-only one) and a real second process for the lock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from servelab.results import read_study, write_study

from ..helpers import servelab_cli, tmpfs, wait_for
from ..report import folders

pytestmark = pytest.mark.timeout(120)
SMALL = (
    "study", "--servers", "flask-dev", "--workloads", "io", "--no-critical",
    "--requests", "2", "--concurrency", "2",
)  # fmt: skip


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, so 0644 is what an ordinary ``open()`` gives (children inherit it)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def slow_study(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A study into ``tmp_path/out`` whose one run takes about 3 s, in its own session."""
    out = tmp_path / "out"
    write_study(out, folders.small_study())  # an old study, with its report and figures
    (out / "report.md").write_text("# the OLD study's report\n", encoding="utf-8")
    (out / "report.ru.html").write_text("<p>OLD</p>\n", encoding="utf-8")
    (out / "plots").mkdir()
    (out / "plots/overview.png").write_bytes(b"OLD")
    command = [sys.executable, "-m", "servelab", *SMALL, "--io-delay", "3", "--out", str(out)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        wait_for(lambda: _plan(out).get("io_delay") == 3, "the study to start", timeout=30)
        yield out, process
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.communicate(timeout=30)


def _plan(out: Path) -> dict[str, object]:
    plan = json.loads((out / "study.json").read_text(encoding="utf-8"))["plan"]
    assert isinstance(plan, dict)
    return plan


@pytest.mark.slow
def test_a_second_study_into_the_same_folder_is_refused(
    slow_study: tuple[Path, subprocess.Popen[str]],
) -> None:
    out, first = slow_study
    second = servelab_cli(*SMALL, "--io-delay", "0", "--out", str(out), timeout=60)
    assert second.returncode == 1
    assert second.stderr.strip().splitlines()[-1] == (
        f"Error: {out} is in use by another servelab study (pid {first.pid}); wait for it "
        "to end or choose another --out"
    )
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stderr
    study = read_study(out)
    assert study.complete and study.plan.io_delay == 3  # the first study's, whole


@pytest.mark.slow
def test_a_new_study_removes_the_old_report_before_its_first_run(
    slow_study: tuple[Path, subprocess.Popen[str]],
) -> None:
    out, first = slow_study
    assert first.poll() is None  # still in its first run
    assert not (out / "report.md").exists() and not (out / "report.ru.html").exists()
    assert not (out / "plots").exists()
    first.communicate(timeout=60)
    assert "OLD" not in (out / "report.md").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.usefixtures("umask_022")
def test_every_file_of_a_study_folder_has_the_same_mode(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = servelab_cli(*SMALL, "--io-delay", "0", "--lang", "all", "--out", str(out))
    assert done.returncode == 0, done.stderr
    modes = {
        str(path.relative_to(out)): oct(path.stat().st_mode & 0o777)
        for path in out.rglob("*")
        if path.is_file()
    }
    assert {"study.json", "report.md", "report.ru.html", "records/io_bounded_dev.jsonl"} <= set(
        modes
    )
    assert {name: mode for name, mode in modes.items() if mode != "0o644"} == {}


def test_an_out_under_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("", encoding="utf-8")
    done = servelab_cli(*SMALL, "--out", str(tmp_path / "afile/sub"), timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"Error: cannot write the results folder {tmp_path / 'afile/sub'}: "
        f"{tmp_path / 'afile'} is a file, not a folder"
    )


def test_a_read_only_out_is_one_line(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", read_only=True) as read_only:
        done = servelab_cli(*SMALL, "--out", str(read_only / "sub"), timeout=60)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: cannot write the results folder {tmp_path / 'ro/sub'}: ")
    assert "Read-only file system" in last and "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_disk_that_fills_mid_study_keeps_what_was_written_and_says_where(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "small", size="64k") as disk:
        out = disk / "out"
        # Three runs; each writes four small files (a 4 KiB page each) and study.json grows.
        done = servelab_cli(
            "study", "--servers", "flask-dev", "--workloads", "io,cpu,numpy", "--no-critical",
            "--requests", "2", "--concurrency", "2", "--n", "1000", "--io-delay", "0.1",
            "--out", str(out), timeout=100,
        )  # fmt: skip
        kept = json.loads((out / "study.json").read_text(encoding="utf-8"))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: cannot write the results folder {out}: ")
    assert "No space left on device; the study stopped at run " in last
    runs = len(kept["runs"])
    assert runs < 3
    assert f"{out / 'study.json'} keeps the {runs} run" in last


def test_a_cap_under_the_servers_idle_memory_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    done = servelab_cli(
        "study", "--servers", "flask-dev", "--workloads", "io", "--memory", "12MiB",
        "--out", str(out), timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "Error: --memory 12 MiB cannot hold Flask dev server (threaded) even idle: it needs "
        "at least 24 MiB (24 MiB per worker process)"
    )
    assert not out.exists()  # nothing was started, not even the folder
