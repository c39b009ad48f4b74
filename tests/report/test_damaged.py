"""``servelab report`` on damaged folders: what it reads, what it skips, and what it says.

A damaged line of a records or samples file is skipped, counted and named (the lines after
it are still read); a damaged ``study.json`` field, or a folder the report cannot write
into, is one line naming the file and the field, and a non-zero exit. A large records file
is read line by line into compact columns, so the report's memory does not grow with it
as it used to (60 MB of records: 4.0 GB and 4.5 minutes before, 0.28 GB and 10 s after).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from servelab._io import SkippedLines, read_jsonl
from servelab.load.records import RequestRecord

from ..helpers import servelab_cli, tmpfs
from . import folders

T0 = 1_800_000_000.0


def _records(count: int, first: int = 0) -> list[bytes]:
    """Lines of a records file as the load engine writes them: one request every ms."""
    lines = []
    for index in range(first, first + count):
        start = T0 + 0.001 * index
        record = RequestRecord(
            index=index,
            area=10.0,
            intended_start=start,
            start=start,
            end=start + 0.2,
            latency=0.2,
            status=200,
            ok=True,
            error_class=None,
            error=None,
            body='{"price":2000000}\n',
            served_pid=4343,
            served_thread=5000 + index % 10,
            handler_start=start + 0.001,
            handler_duration=0.19,
        )
        lines.append(json.dumps(record.to_dict()).encode() + b"\n")
    return lines


@pytest.fixture
def results(tmp_path: Path) -> Path:
    folder = folders.write_folder(tmp_path / "results", folders.small_study())
    for name in ("io_bounded_dev", "io_bounded_prod_w1"):
        (folder / "records").mkdir(exist_ok=True)
        (folder / f"records/{name}.jsonl").write_bytes(b"".join(_records(5)))
    return folder


def test_a_corrupt_middle_line_keeps_every_later_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2, "tor\n\xff\xfe\n[1, 2]\n{"a": 3}\n{"a": 4}\n{"a"')
    skipped = SkippedLines(path)
    assert read_jsonl(path, skipped) == [{"a": 1}, {"a": 3}, {"a": 4}]
    assert (skipped.count, skipped.lines) == (4, [2, 3, 4, 7])


def test_damaged_record_lines_are_skipped_counted_and_named(results: Path) -> None:
    good = _records(6)
    damaged = [
        b'{"index": 99, "tor\n',  # not JSON
        b"\xff\xfe not utf-8\n",
        b"[1, 2, 3]\n",  # JSON, not an object
        b'{"index": 7, "end": 1.0, "ok": true}\n',  # no start
        b'{"index": "eight", "start": 1.0, "end": 2.0, "ok": true}\n',  # a wrong type
    ]
    path = results / "records/io_bounded_dev.jsonl"
    path.write_bytes(b"".join(good[:2] + damaged + good[2:]))

    done = servelab_cli("report", str(results), timeout=120)

    assert done.returncode == 0, done.stderr
    assert f"{path}: 5 damaged lines skipped (lines 3, 4, 5, 6, 7)" in done.stderr
    report = (results / "report.md").read_text(encoding="utf-8")
    assert "#### Damaged lines" in report
    assert "`records/io_bounded_dev.jsonl`: 5 lines skipped (line numbers 3, 4, 5, 6, 7)" in report
    # The six readable requests, before and after the damage, are all in the figure.
    assert "![" in report and "plots/timeline--io_bounded_dev.png" in report
    russian = servelab_cli("report", str(results), "--lang", "ru", timeout=120)
    assert russian.returncode == 0, russian.stderr
    assert "пропущено 5 строк" in (results / "report.ru.md").read_text(encoding="utf-8")


def _set(path: list[Any], value: object) -> Callable[[dict[str, Any]], None]:
    def change(study: dict[str, Any]) -> None:
        target = study
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _drop(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def change(study: dict[str, Any]) -> None:
        target = study
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set(["runs", 1, "summary", "ok"], "many"), "field runs[1].summary.ok: expected a whole"),
        (_drop(["runs", 0, "summary", "requests"]), "field runs[0].summary.requests is missing"),
        (
            _set(["runs", 0, "summary", "latency", "p50"], "fast"),
            "field runs[0].summary.latency.p50: expected a number or null",
        ),
        (_drop(["runs", 0, "server"]), "field runs[0].server is missing"),
        (_set(["runs", 0], [1, 2]), "field runs[0]: expected an object"),
    ],
)
def test_a_damaged_study_field_is_one_line_naming_the_file_and_field(
    results: Path, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    path = results / "study.json"
    study = json.loads(path.read_text(encoding="utf-8"))
    change(study)
    path.write_text(json.dumps(study), encoding="utf-8")

    done = servelab_cli("report", str(results), timeout=60)

    assert done.returncode == 1
    assert done.stderr.strip() == f"Error: {path}: {message}" or (
        done.stderr.startswith(f"Error: {path}: {message}")
        and len(done.stderr.strip().splitlines()) == 1
    ), done.stderr


def test_a_study_json_that_is_not_utf8_or_not_an_object_is_one_line(results: Path) -> None:
    path = results / "study.json"
    for content, message in (
        (b"\xff\xfe" + path.read_bytes(), "cannot read"),
        (b"[1, 2]", "is not a servelab study"),
    ):
        path.write_bytes(content)
        done = servelab_cli("report", str(results), timeout=60)
        assert done.returncode == 1
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert message in done.stderr and str(path) in done.stderr


def test_plots_being_a_file_is_one_line_and_no_report(results: Path) -> None:
    (results / "plots").write_text("not a folder", encoding="utf-8")
    done = servelab_cli("report", str(results), timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"Error: {results / 'plots'} is not a folder: the report draws its figures there"
    )
    assert not (results / "report.md").exists()


_PEAK = """
import resource, sys
from pathlib import Path
from servelab.report.build import build_report
build_report(Path(sys.argv[1]))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _report_peak(folder: Path) -> int:
    """The peak resident memory of building ``folder``'s report, in bytes, in a child
    with a 3 GB address-space cap (the unfixed reader took 4 GB for 60 MB of records)."""
    done = subprocess.run(
        ["prlimit", "--as=3000000000", sys.executable, "-c", _PEAK, str(folder)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1])


@pytest.mark.slow
def test_a_large_records_file_is_read_in_compact_columns(results: Path, tmp_path: Path) -> None:
    small = _report_peak(results)
    path = results / "records/io_bounded_dev.jsonl"
    with path.open("wb") as handle:
        for first in range(0, 40_000, 1000):
            handle.writelines(_records(1000, first))
    size = path.stat().st_size  # about 15 MB
    grown = _report_peak(results) - small
    # Compact columns and one collection of bars: about 2.5 times the file's size (the
    # collection's rectangles). Python objects per request and a matplotlib artist per bar
    # took about 65 times it.
    assert grown < 4 * size, f"{grown / 2**20:.0f} MiB more for {size / 2**20:.0f} MiB of records"


def test_a_read_only_folder_is_one_line_naming_it(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", size="4m") as disk:
        folder = folders.write_folder(disk / "results", folders.small_study())
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True, timeout=10)
        done = servelab_cli("report", str(folder), timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"Error: cannot write the report into {folder}: Read-only file system"
    )
