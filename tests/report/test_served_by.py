"""The report on a run whose server did not say who served: unknown, never 0 (issue 13)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from servelab.load.summary import HandlerStats
from servelab.report.build import build_report
from servelab.results import RunEntry

from . import folders
from .folders import DEV, PROD

UNKNOWN = HandlerStats(None, None, None, None, None, None, None)


def _unwrapped(run: RunEntry) -> RunEntry:
    """The run as a server without servelab's served-by headers would have given it."""
    assert run.summary is not None
    return replace(run, summary=replace(run.summary, handlers=UNKNOWN))


def _report(tmp_path: Path, lang: str) -> str:
    study = folders.study(
        [
            folders.run("io_bounded_dev", DEV, "io", 0.2),
            _unwrapped(folders.run("io_bounded_prod_w1", PROD, "io", 1.0)),
        ]
    )
    folder = folders.write_folder(tmp_path / "results", study)
    build_report(folder, (lang,))
    return (folder / ("report.md" if lang == "en" else f"report.{lang}.md")).read_text("utf-8")


def _row(report: str, first_cell: str) -> list[str]:
    line = next(line for line in report.splitlines() if line.startswith(f"| {first_cell} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_runs_table_says_unknown_where_the_server_did_not_say(tmp_path: Path) -> None:
    report = _report(tmp_path, "en")
    at_once, processes = 6, 7  # the columns "max at once" and "processes"
    assert _row(report, "io_bounded_prod_w1")[at_once : processes + 1] == ["unknown", "unknown"]
    assert _row(report, "io_bounded_dev")[at_once : processes + 1] == ["5", "1"]
    assert (
        "The server does not send servelab's served-by headers: which process served each "
        "request, and how many ran at once, are unknown." in report
    )
    assert "Up to 5 handlers ran at the same time" in report  # the other run keeps its numbers


def test_the_russian_report_says_unknown_in_russian(tmp_path: Path) -> None:
    report = _report(tmp_path, "ru")
    assert _row(report, "io_bounded_prod_w1")[6:8] == ["неизвестно", "неизвестно"]
    assert "Сервер не присылает заголовки servelab" in report
