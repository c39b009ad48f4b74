"""The report's figures: each one draws what the files say, headless, reproducibly.

No server runs here: records, samples and searches are built in the shape the lab
writes them, and a results folder is assembled in tmp_path.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from PIL import Image

from servelab.errors import ResultsError
from servelab.load.records import RequestRecord
from servelab.report import plots
from servelab.report import rows as report_rows
from servelab.report.lang import CATALOGS
from servelab.report.plots import (
    Words,
    plot_critical,
    plot_memory,
    plot_runs_overview,
    plot_timeline,
    probe_to_show,
    render_plots,
    timeline_segments,
)
from servelab.report.rows import Record, Sample
from servelab.results import RunEntry, Study

from . import folders
from .folders import DEV, PROD

T0 = 1_800_000_000.0
MIB = 2**20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- data shaped like the lab's files ---------------------------------------------------


def _record(
    index: int,
    start: float,
    *,
    handler_start: float | None = None,
    duration: float | None = None,
    pid: int | None = None,
    thread: int | None = None,
    end: float | None = None,
    error_class: str | None = None,
) -> dict[str, Any]:
    ok = error_class is None
    if end is None:
        assert handler_start is not None and duration is not None
        end = handler_start + duration + 0.002
    return RequestRecord(
        index=index,
        area=10.0 * (index + 1),
        intended_start=T0,
        start=start,
        end=end,
        latency=end - start,
        status=200 if ok else None,
        ok=ok,
        error_class=error_class,
        error=None if ok else "RemoteDisconnected: Remote end closed connection",
        body='{"price":1}' if ok else None,
        served_pid=pid,
        served_thread=thread,
        handler_start=handler_start,
        handler_duration=duration,
    ).to_dict()


def staircase(n: int = 5, service: float = 0.2, pid: int = 4242) -> list[dict[str, Any]]:
    """One sync worker: every request waits for the one before it (gunicorn)."""
    rows = [
        _record(
            i,
            T0 + 0.001 * i,
            handler_start=T0 + 0.01 + service * i,
            duration=service,
            pid=pid,
            thread=pid,
        )
        for i in range(n)
    ]
    return list(reversed(rows))  # the file is in completion order, not send order


def overlapping(n: int = 5, service: float = 0.2, pid: int = 4343) -> list[dict[str, Any]]:
    """A thread per request, all served at once (the threaded dev server)."""
    return [
        _record(
            i,
            T0 + 0.001 * i,
            handler_start=T0 + 0.001 * i + 0.004,
            duration=service,
            pid=pid,
            thread=5000 + i,
        )
        for i in range(n)
    ]


def with_failures() -> list[dict[str, Any]]:
    rows = staircase(3)
    rows.append(_record(3, T0 + 0.003, end=T0 + 0.65, error_class="disconnected"))
    rows.append(_record(4, T0 + 0.004, end=T0 + 0.66, error_class="reset"))
    return rows


def samples(
    *, cap: bool = True, kills_at: tuple[int, ...] = (), oom_column: bool = True, count: int = 30
) -> list[dict[str, Any]]:
    """20 Hz samples of a gunicorn tree; a kill at sample i reboots the worker there."""
    rows = []
    kills = 0
    worker = 101
    for i in range(count):
        if i in kills_at:
            kills += 1
            worker += 1
        usage = (40 + 5 * (i % 10)) * MIB
        row: dict[str, Any] = {
            "t": T0 + 0.05 * i,
            "rss_bytes": usage + 30 * MIB,
            "processes": 2,
            "pids": [100, worker],
            "cpu_seconds": 0.01 * i,
            "root_alive": True,
            "cgroup_bytes": usage if cap else None,
        }
        if oom_column:
            row["oom_kills"] = kills if cap else None
        rows.append(row)
    return rows


def typed_records(rows: list[dict[str, Any]]) -> list[Record]:
    """File rows as the report reads them."""
    return [report_rows.record(row) for row in rows]


def typed_samples(rows: list[dict[str, Any]]) -> list[Sample]:
    return [report_rows.sample(row) for row in rows]


def _study(*runs: RunEntry) -> Study:
    return folders.study(runs)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A small results folder: two runs, one search with its probes' files, one failed search."""
    study = folders.small_study()
    (entry, _failed) = study.critical
    return folders.write_folder(
        tmp_path / "results",
        study,
        records={"io_bounded_dev": overlapping(), "io_bounded_prod_w1": staircase()},
        samples={
            "io_bounded_dev": samples(cap=False),
            "io_bounded_prod_w1": samples(cap=False),
            **{t.name: samples(kills_at=(10, 20) if t.failed else ()) for t in entry.trials},
        },
    )


def _assert_png(path: Path, *, min_bytes: int = 5_000, max_bytes: int = 200_000) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert min_bytes < len(data) < max_bytes, f"{path.name}: {len(data)} bytes"
    with Image.open(path) as image:
        width, height = image.size
    # About 1000 px wide: a laptop screen, and legible on a phone.
    assert 800 <= width <= 1200 and 300 <= height <= 1200


def _axes(figure: Figure) -> Axes:
    return figure.axes[0]


def _bars(ax: Axes, label: str) -> list[tuple[float, float, float]]:
    """(row, left, width) of each bar of the container with this label."""
    (container,) = [c for c in ax.containers if c.get_label() == label]
    assert isinstance(container, BarContainer)
    return [(p.get_y() + p.get_height() / 2, p.get_x(), p.get_width()) for p in container]


def _by_gid(ax: Axes, gid: str) -> list[Any]:
    return [a for a in ax.get_children() if a.get_gid() == gid]


# --- each figure writes a PNG -------------------------------------------------------------


def test_each_plot_function_writes_a_png_on_an_agg_canvas(tmp_path: Path) -> None:
    study = _study(
        folders.run("io_bounded_dev", DEV, "io", 0.2), folders.run("io_prod", PROD, "io", 1.0)
    )
    figures = {
        "timeline": plot_timeline(
            typed_records(with_failures()), title="t", path=tmp_path / "timeline.png"
        ),
        "overview": plot_runs_overview(study, path=tmp_path / "overview.png"),
        "memory": plot_memory(
            typed_samples(samples(kills_at=(10,))),
            title="m",
            path=tmp_path / "memory.png",
            limit_bytes=MIB * 90,
        ),
        "critical": plot_critical(folders.search(), path=tmp_path / "critical.png"),
    }
    for name, figure in figures.items():
        assert isinstance(figure.canvas, FigureCanvasAgg), name
        _assert_png(tmp_path / f"{name}.png")
    assert "matplotlib.pyplot" not in sys.modules


@pytest.mark.slow
def test_drawing_needs_no_display_and_no_pyplot(results: Path) -> None:
    """An interactive backend in the environment and no DISPLAY must not matter."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["MPLBACKEND"] = "TkAgg"
    code = (
        "import sys; from pathlib import Path\n"
        "from servelab.report.plots import render_plots\n"
        "drawn = render_plots(Path(sys.argv[1]))\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "print(len(drawn))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(results)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 0


# --- the figures speak the report's language ----------------------------------------------

# Words of the English figures that a Russian figure must not show.
_ENGLISH_WORDS = re.compile(
    r"\b(seconds?|requests?|latency|makespan|memory|worker|thread|waiting|failed|passed|"
    r"trials?|peak|cap|model|band|sample[sd]?|usage|mean|workload|predicted|elements?|"
    r"largest|smallest|where|label|process|alive|runs?|first|ok)\b",
    re.IGNORECASE,
)


def _texts(figure: Figure) -> list[str]:
    """Every text a reader sees: titles, axis labels, tick labels, legends, annotations."""
    found = [t.get_text() for t in figure.findobj(Text)]
    return [text for text in found if text.strip()]


def test_a_russian_figure_shows_no_english_words(tmp_path: Path) -> None:
    ru = Words("ru")
    study = _study(
        folders.run("io_bounded_dev", DEV, "io", 0.2), folders.failed_run("io_prod", PROD, "io")
    )
    figures = {
        "timeline": plot_timeline(
            typed_records(with_failures()), title="t", path=tmp_path / "t.png", words=ru
        ),
        "overview": plot_runs_overview(study, path=tmp_path / "o.png", words=ru),
        "memory": plot_memory(
            typed_samples(samples(kills_at=(10,))),
            title="m",
            path=tmp_path / "m.png",
            limit_bytes=MIB * 90,
            words=ru,
        ),
        "critical": plot_critical(folders.search(), path=tmp_path / "c.png", words=ru),
    }
    for name, figure in figures.items():
        texts = _texts(figure)
        assert any(re.search("[а-яА-Я]", text) for text in texts), name
        english = [text for text in texts if _ENGLISH_WORDS.search(text)]
        assert english == [], name
    # The same figures in English do say those words: the check above can fail.
    english = _texts(plot_critical(folders.search(), path=tmp_path / "c-en.png"))
    assert any(_ENGLISH_WORDS.search(text) for text in english)


@pytest.mark.slow
def test_render_plots_draws_each_language_into_its_own_folder(results: Path) -> None:
    english, russian = render_plots(results), render_plots(results, "ru")
    assert set(english) == set(russian)
    for key, relative in russian.items():
        assert relative == english[key].replace("plots/", "plots/ru/", 1)
        _assert_png(results / relative)
        assert (results / relative).read_bytes() != (results / english[key]).read_bytes()
    assert set(russian.skipped) == set(english.skipped)


def test_every_figure_text_has_both_languages() -> None:
    figure_keys = {lang: {k for k in CATALOGS[lang] if k.startswith("fig.")} for lang in CATALOGS}
    assert figure_keys["ru"] == figure_keys["en"] != set()
    ru = Words("ru")
    assert (ru.seconds(12.34), ru.seconds(0.5), ru.seconds(0.012)) == ("12,3 с", "0,50 с", "12 мс")
    assert (ru.count(2_350_000), ru.count(950_000), ru.mib(3 * MIB)) == (
        "2,35 млн",
        "950 тыс.",
        "3 МиБ",
    )
    with pytest.raises(ValueError, match="de"):
        Words("de")


# --- the timeline draws the records -------------------------------------------------------


def test_the_timeline_bars_are_the_waiting_and_served_times_of_the_records(
    tmp_path: Path,
) -> None:
    records = staircase(n=4, service=0.25)
    ax = _axes(plot_timeline(typed_records(records), title="staircase", path=tmp_path / "t.png"))
    by_send = sorted(records, key=lambda r: r["start"])
    origin = by_send[0]["start"]
    waiting = _bars(ax, "waiting")
    served = _bars(ax, "served")
    assert len(waiting) == len(served) == 4
    for row, record in enumerate(by_send):
        wait = record["handler_start"] - record["start"]
        assert waiting[row] == pytest.approx((row, record["start"] - origin, wait))
        assert served[row] == pytest.approx(
            (row, record["handler_start"] - origin, record["handler_duration"])
        )


def test_the_timeline_shows_gunicorns_staircase_and_the_dev_servers_overlap(
    tmp_path: Path,
) -> None:
    stairs = _bars(
        _axes(plot_timeline(typed_records(staircase()), title="s", path=tmp_path / "s.png")),
        "served",
    )
    # One worker: each request is served after the one before it ends.
    for (_, left, width), (_, next_left, _) in itertools.pairwise(stairs):
        assert next_left >= left + width - 1e-6  # epoch floats: about 0.2 us of precision
    overlap = _bars(
        _axes(plot_timeline(typed_records(overlapping()), title="o", path=tmp_path / "o.png")),
        "served",
    )
    # Threads: every request is being served at the moment the first one is.
    first_end = overlap[0][1] + overlap[0][2]
    assert all(left < first_end for _, left, _ in overlap)


def test_the_timeline_colours_and_names_each_worker(tmp_path: Path) -> None:
    segments, workers = timeline_segments(typed_records(overlapping(n=3)))
    assert [w.number for w in workers] == [1, 2, 3]
    assert {(w.pid, w.thread) for w in workers} == {(4343, 5000), (4343, 5001), (4343, 5002)}
    ax = _axes(plot_timeline(typed_records(overlapping(n=3)), title="o", path=tmp_path / "o.png"))
    (container,) = [c for c in ax.containers if c.get_label() == "served"]
    assert len({tuple(p.get_facecolor()) for p in container}) == 3
    legend = ax.get_legend()
    assert legend is not None
    texts = [t.get_text() for t in legend.get_texts()]
    assert "worker 1 (pid 4343, thread 5000)" in texts
    assert "waiting for a handler" in texts
    assert len([s for s in segments if s.kind == "served"]) == 3


def test_failed_requests_are_drawn_from_send_to_failure_with_their_error_class(
    tmp_path: Path,
) -> None:
    records = with_failures()
    ax = _axes(plot_timeline(typed_records(records), title="f", path=tmp_path / "f.png"))
    failed = _bars(ax, "failed")
    origin = min(r["start"] for r in records)
    expected = sorted((r["start"] - origin, r["end"] - r["start"]) for r in records if not r["ok"])
    drawn = sorted((left, width) for _, left, width in failed)
    assert [v for pair in drawn for v in pair] == pytest.approx([v for p in expected for v in p])
    (container,) = [c for c in ax.containers if c.get_label() == "failed"]
    assert all(p.get_hatch() for p in container)
    labels = {t.get_text() for t in ax.texts}
    assert {"disconnected", "reset"} <= labels


# --- memory, critical, overview -----------------------------------------------------------


def test_memory_marks_each_oom_kill_where_the_counter_steps_up(tmp_path: Path) -> None:
    rows = samples(kills_at=(10, 20))
    ax = _axes(
        plot_memory(typed_samples(rows), title="m", path=tmp_path / "m.png", limit_bytes=100 * MIB)
    )
    kills = sorted(line.get_xdata()[0] for line in _by_gid(ax, "oom-kill"))
    assert kills == pytest.approx([0.5, 1.0])
    (cap,) = _by_gid(ax, "cap")
    assert cap.get_ydata()[0] == pytest.approx(100)
    (memory,) = _by_gid(ax, "memory")
    assert list(memory.get_ydata()) == pytest.approx([r["cgroup_bytes"] / MIB for r in rows])
    (born,) = _by_gid(ax, "new-process")
    assert list(born.get_xdata()) == pytest.approx([0.5, 1.0])


def test_memory_without_a_cap_or_an_oom_column_draws_rss_and_no_kills(tmp_path: Path) -> None:
    rows = samples(cap=False, oom_column=False)
    ax = _axes(plot_memory(typed_samples(rows), title="m", path=tmp_path / "m.png"))
    assert not _by_gid(ax, "oom-kill") and not _by_gid(ax, "cap")
    (memory,) = _by_gid(ax, "memory")
    assert list(memory.get_ydata()) == pytest.approx([r["rss_bytes"] / MIB for r in rows])
    _assert_png(tmp_path / "m.png")


def test_the_critical_figure_draws_rates_band_prediction_peaks_and_the_model(
    tmp_path: Path,
) -> None:
    entry = folders.search()
    figure = plot_critical(entry, path=tmp_path / "c.png")
    rate_ax, memory_ax = figure.axes
    rates = _by_gid(rate_ax, "rate")
    assert sorted(tuple(c.get_offsets()[0]) for c in rates) == [(p.n, p.rate) for p in entry.per_n]
    (predicted,) = _by_gid(rate_ax, "predicted")
    assert predicted.get_xdata()[0] == entry.predicted_n
    (band,) = _by_gid(rate_ax, "band")
    assert isinstance(band, Rectangle)
    assert (band.get_x(), band.get_x() + band.get_width()) == pytest.approx(
        (entry.max_passing_n, entry.min_failing_n)
    )
    for outcome in ("ok", "oom"):
        (dots,) = _by_gid(memory_ax, f"trials-{outcome}")
        assert isinstance(dots, PathCollection)
        drawn = sorted(tuple(xy) for xy in np.asarray(dots.get_offsets(), dtype=float).tolist())
        want = sorted(
            (t.n, (t.peak_bytes or 0) / MIB) for t in entry.trials if t.outcome == outcome
        )
        assert drawn == want  # MiB is a power of two: the division is exact
    (cap,) = _by_gid(memory_ax, "cap")
    assert cap.get_ydata()[0] == pytest.approx(512)
    (model,) = _by_gid(memory_ax, "model")
    assert isinstance(model, Line2D)
    xs = np.asarray(model.get_xdata(), dtype=float).tolist()
    ys = np.asarray(model.get_ydata(), dtype=float).tolist()
    for x, y in zip(xs, ys, strict=True):
        assert y * MIB == pytest.approx(30 * MIB + 40.0 * 10 * x)


def test_the_overview_has_a_bar_per_run_coloured_by_server(tmp_path: Path) -> None:
    study = _study(
        folders.run("io_dev", DEV, "io", 1.0),
        folders.run("io_prod", PROD, "io", 10.0),
        folders.run("cpu_dev", DEV, "cpu", 1.5),
        folders.run("cpu_prod", PROD, "cpu", 1.7),
        folders.failed_run("numpy_dev", DEV, "numpy"),
    )
    figure = plot_runs_overview(study, path=tmp_path / "o.png")
    makespan_axes = [
        ax for ax in figure.axes if any(c.get_label() == "makespan" for c in ax.containers)
    ]
    assert len(makespan_axes) == 2  # io and cpu; the failed run's workload has no panel
    heights = []
    colours = []
    for ax in makespan_axes:
        (container,) = [c for c in ax.containers if c.get_label() == "makespan"]
        heights += [p.get_height() for p in container]
        colours += [tuple(p.get_facecolor()) for p in container]
    assert heights == pytest.approx([1.0, 10.0, 1.5, 1.7])
    assert colours[0] == colours[2] != colours[1] == colours[3]
    assert "numpy_dev" in (figure.get_supxlabel() or "")


# --- a results folder ---------------------------------------------------------------------


def test_render_plots_draws_every_figure_of_a_results_folder(results: Path) -> None:
    drawn = render_plots(results)
    assert set(drawn) == {
        "overview",
        "timeline/io_bounded_dev",
        "timeline/io_bounded_prod_w1",
        "memory/io_bounded_dev",
        "memory/io_bounded_prod_w1",
        "critical/cpu_bounded_dev",
        "critical-memory/cpu_bounded_dev/pass",
        "critical-memory/cpu_bounded_dev/fail",
    }
    for relative in drawn.values():
        assert relative.startswith("plots/") and relative.endswith(".png")
        _assert_png(results / relative)
    assert set(drawn.skipped) == {
        "critical/cpu_bounded_prod_w1",
        "critical-memory/cpu_bounded_prod_w1/pass",
        "critical-memory/cpu_bounded_prod_w1/fail",
    }
    assert "no-memory-measure" in drawn.skipped["critical/cpu_bounded_prod_w1"]


def test_the_probe_figures_are_the_closest_pass_and_the_first_failure() -> None:
    entry = folders.search()
    # Probe 5 (470 MiB) came closer to the cap than probe 3 at the same n.
    chosen = probe_to_show(entry, "pass")
    assert chosen is not None and chosen.probe == 5
    # Probes 4 and 6 failed at min_failing_n; 4 was first.
    chosen = probe_to_show(entry, "fail")
    assert chosen is not None and chosen.probe == 4
    assert probe_to_show(replace(entry, min_failing_n=None), "fail") is None


def test_a_missing_samples_file_is_reported_and_the_rest_still_drawn(results: Path) -> None:
    (results / "samples/io_bounded_dev.jsonl").unlink()
    (results / "records/io_bounded_prod_w1.jsonl").write_text("", encoding="utf-8")
    drawn = render_plots(results)
    assert "memory/io_bounded_dev" not in drawn
    assert "samples/io_bounded_dev.jsonl is missing" in drawn.skipped["memory/io_bounded_dev"]
    assert "empty" in drawn.skipped["timeline/io_bounded_prod_w1"]
    assert {"overview", "timeline/io_bounded_dev", "memory/io_bounded_prod_w1"} <= set(drawn)
    assert "critical/cpu_bounded_dev" in drawn


def test_damaged_rows_are_skipped_and_the_rest_drawn(results: Path) -> None:
    path = results / "samples/io_bounded_dev.jsonl"
    good = path.read_bytes().splitlines(keepends=True)
    # A missing column, then a row of the wrong type, between readable rows.
    damaged = [good[0], b'{"rss_bytes": 1}\n', good[1], b'{"t": "x"}\n', *good[2:]]
    path.write_bytes(b"".join(damaged))
    drawn = render_plots(results)
    assert "memory/io_bounded_dev" in drawn
    skipped = drawn.damaged["samples/io_bounded_dev.jsonl"]
    assert (skipped.count, skipped.lines) == (2, [2, 4])


def test_a_file_with_only_damaged_rows_skips_its_figure(results: Path) -> None:
    folders.write_jsonl(results / "samples/io_bounded_dev.jsonl", [{"rss_bytes": 1}])
    drawn = render_plots(results)
    assert drawn.skipped["memory/io_bounded_dev"] == (
        "the samples file samples/io_bounded_dev.jsonl has no readable line"
    )
    assert "timeline/io_bounded_dev" in drawn


@pytest.mark.slow
def test_rebuilding_gives_the_same_bytes(results: Path) -> None:
    first = {key: (results / path).read_bytes() for key, path in render_plots(results).items()}
    second = {key: (results / path).read_bytes() for key, path in render_plots(results).items()}
    assert first == second
    for data in first.values():
        assert b"tEXt" not in data and b"tIME" not in data


def test_a_folder_without_study_json_is_a_results_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"no study\.json"):
        render_plots(tmp_path)


def test_all_is_sorted_and_public() -> None:
    assert plots.__all__ == sorted(plots.__all__)
    assert all(hasattr(plots, name) for name in plots.__all__)


def test_the_n_axis_labels_say_the_tick_values(tmp_path: Path) -> None:
    """Ticks 2.5 M apart around 130 M must not read '132 M' and '138 M' (rounded)."""
    entry = folders.search()
    # The n of a real gunicorn numpy search: the axis ticks fall on half millions.
    moved = {1_000_000: 129_000_000, 1_500_000: 133_000_000, 1_700_000: 138_000_000}
    moved[2_000_000] = 148_000_000
    entry = replace(
        entry,
        per_n=tuple(replace(p, n=moved[p.n]) for p in entry.per_n),
        trials=tuple(replace(t, n=moved[t.n]) for t in entry.trials),
        predicted_n=129_100_000,
        max_passing_n=133_000_000,
        min_failing_n=138_000_000,
    )
    figure = plot_critical(entry, path=tmp_path / "c.png")
    ax = figure.axes[1]
    low, high = ax.get_xlim()
    ticks = [
        (tick, label.get_text())
        for tick, label in zip(ax.get_xticks(), ax.get_xticklabels(), strict=True)
        if low <= tick <= high
    ]
    assert any(tick % 1e6 for tick, _ in ticks)  # the case that rounding gets wrong
    for tick, text in ticks:
        assert float(text.removesuffix(" M")) * 1e6 == pytest.approx(tick)
