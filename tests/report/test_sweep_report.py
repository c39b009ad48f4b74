"""A sweep's report and its figures, from a synthetic ``sweep.json``: no server runs.

The figures say what the cells measured (a star for the recommendation, hollow for a cell
over the budget, an arrow for a client-bound capacity, a panel per cell of its steps), in the
report's language, and a sweep that measured nothing still gets its page, saying why.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.text import Annotation, Text

from servelab.report.build import build_report
from servelab.report.i18n import Lang
from servelab.report.plots import Words
from servelab.report.plots.sweep import (
    SWEEP_FIGURES,
    FrontPoint,
    family_name,
    pareto_front,
    plot_sweep_latency,
    plot_sweep_memory,
    plot_sweep_pareto,
    render_sweep_plots,
)
from servelab.report.sweep import recommendation_lines, render_sweep
from servelab.results import Noise, Server
from servelab.results_sweep import SweepCell

from ..helpers import servelab_cli
from . import sweeps
from .sweeps import MIB

PNG = b"\x89PNG\r\n\x1a\n"
RU = Words("ru")


def _texts(figure: Figure) -> list[str]:
    return [t.get_text() for t in figure.findobj(Text) if t.get_text().strip()]


def _axes(figure: Figure) -> list[Axes]:
    return [ax for ax in figure.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def _gids(ax: Axes, prefix: str) -> list[Any]:
    return [a for a in ax.get_children() if (a.get_gid() or "").startswith(prefix)]


def _cells(ax: Axes) -> dict[str, Any]:
    """The points of a panel by the cell each one is (its label), oom crosses aside."""
    return {
        str(c.get_label()): c
        for c in ax.collections
        if isinstance(c, PathCollection) and c.get_gid() != "oom"
    }


def _at(points: Any) -> list[float]:
    """Where the first point of a scatter is."""
    return [float(v) for v in np.asarray(points.get_offsets())[0]]


# --- the Pareto front, a pure function -------------------------------------------------------


def test_the_front_keeps_every_trade_off_of_capacity_p99_and_memory() -> None:
    points = [
        FrontPoint("fast", capacity=40, p99=0.10, memory_bytes=100 * MIB),
        FrontPoint("slower_same", capacity=40, p99=0.20, memory_bytes=100 * MIB),  # beaten: fast
        FrontPoint("quick", capacity=30, p99=0.05, memory_bytes=200 * MIB),  # the lowest p99
        FrontPoint("lean", capacity=20, p99=0.15, memory_bytes=50 * MIB),  # the least memory
        FrontPoint("unknown", capacity=20, p99=0.15),  # lean's numbers, memory not measured
        FrontPoint("twin", capacity=40, p99=0.10, memory_bytes=100 * MIB),  # equal to fast
        FrontPoint("worse", capacity=10, p99=0.30, memory_bytes=300 * MIB),
    ]
    assert pareto_front(points) == ("fast", "quick", "lean", "twin")
    # Memory decides alone: the same capacity and p99 with less memory beats.
    lighter = FrontPoint("lighter", capacity=40, p99=0.10, memory_bytes=90 * MIB)
    assert "fast" not in pareto_front([*points, lighter])
    assert pareto_front([]) == ()
    assert pareto_front([FrontPoint("alone", 1.0, 1.0)]) == ("alone",)


# --- the report: every figure in both languages, linked and embedded ---------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = sweeps.write_folder(
        tmp_path_factory.mktemp("sweep") / "sweep", sweeps.sweep(sweeps.small_grid())
    )
    build_report(folder, ("en", "ru"))
    return folder


def test_every_figure_is_drawn_in_each_language_linked_and_embedded(built: Path) -> None:
    for lang, folder, md, html in (
        ("en", "plots", "report.md", "report.html"),
        ("ru", "plots/ru", "report.ru.md", "report.ru.html"),
    ):
        text = (built / md).read_text(encoding="utf-8")
        page = (built / html).read_text(encoding="utf-8")
        for key in SWEEP_FIGURES:
            png = built / folder / f"{key}.png"
            assert png.read_bytes()[:8] == PNG, png
            assert f"]({folder}/{key}.png)" in text, (lang, key)
        # Each figure comes after the table and before the method, with its caption.
        assert (
            text.index("| `io_prod_w1` |")
            < text.index("sweep-pareto.png")
            < text.index("sweep-latency.png")
        )
        assert page.count('src="data:image/png;base64,') == len(SWEEP_FIGURES), lang
        assert f'src="{folder}/' not in page
    assert "Each point is a configuration" in (built / "report.md").read_text(encoding="utf-8")
    assert "Каждая точка" in (built / "report.ru.md").read_text(encoding="utf-8")
    for key in SWEEP_FIGURES:  # the Russian figures are drawn anew, not copied
        assert (built / "plots" / f"{key}.png").read_bytes() != (
            built / "plots" / "ru" / f"{key}.png"
        ).read_bytes()


@pytest.mark.slow
def test_servelab_report_rebuilds_the_sweeps_page_and_figures(built: Path) -> None:
    before = {key: (built / "plots/ru" / f"{key}.png").read_bytes() for key in SWEEP_FIGURES}
    for path in built.glob("plots/**/*.png"):
        path.unlink()
    done = servelab_cli("report", str(built), "--lang", "all", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "report.ru.html" in done.stdout
    for key in SWEEP_FIGURES:
        assert (built / "plots" / f"{key}.png").is_file()
        assert (built / "plots/ru" / f"{key}.png").read_bytes() == before[key]  # same bytes


# --- what each figure shows -----------------------------------------------------------------


def test_the_pareto_figure_marks_the_winner_the_budget_the_client_bound_and_the_front(
    tmp_path: Path,
) -> None:
    sweep = sweeps.sweep(sweeps.small_grid())
    figure = plot_sweep_pareto(sweep, tmp_path / "p.png")
    (ax,) = _axes(figure)
    cells = _cells(ax)
    assert set(cells) >= {"io_prod_w1", "io_prod_w2", "io_prod_w4", "io_prod_w2_preload"}
    assert "io_prod_w3_gevent" not in cells  # it did not run: named under the figure instead
    assert _at(cells["io_prod_w2"]) == pytest.approx([150.0, 39.0])  # p99 in ms, capacity
    assert cells["io_prod_w2"].get_gid().startswith("best")  # the recommendation: a star
    # Over the budget: hollow, and never on the front however fast it is.
    assert cells["io_prod_w4"].get_facecolors().size == 0
    assert "front" not in cells["io_prod_w4"].get_gid()
    # The preloaded cell beats w2 on every measure (at least: it is client-bound) and w1
    # has the least memory: those two are the front, w2 is not.
    front = sorted(n for n, c in cells.items() if "front" in (c.get_gid() or ""))
    assert front == ["io_prod_w1", "io_prod_w2_preload"]
    arrows = _gids(ax, "client-bound")
    assert len(arrows) == 1 and isinstance(arrows[0], Annotation)
    assert arrows[0].xy == pytest.approx((100.0, 90.0))
    labels = [t.get_text() for t in ax.texts]
    assert "≥ prod_w2_preload" in labels and "prod_w4" in labels
    (slo,) = _gids(ax, "slo")
    assert slo.get_xdata()[0] == pytest.approx(250.0)
    assert any("io_prod_w3_gevent (did not run)" in t for t in _texts(figure))
    (colourbar,) = [a for a in figure.axes if a.get_label() == "<colorbar>"]
    (budget,) = _gids(colourbar, "budget")
    assert budget.get_ydata()[0] == pytest.approx(2048.0)


def test_an_oom_killed_cell_is_crossed_and_off_the_front(tmp_path: Path) -> None:
    sweep = sweeps.sweep(sweeps.twelve())
    figure = plot_sweep_pareto(sweep, tmp_path / "p.png")
    numpy = next(ax for ax in _axes(figure) if "numpy" in ax.get_title())
    (cross,) = _gids(numpy, "oom")
    assert _at(cross) == pytest.approx([75.0, 225.0])
    assert "front" not in _cells(numpy)["numpy_prod_w4"].get_gid()
    assert [ax.get_title() for ax in _axes(figure)] == [
        "io workload",
        "cpu workload",
        "numpy workload",
    ]


def test_the_memory_figure_draws_a_line_per_family_against_the_budget(tmp_path: Path) -> None:
    sweep = sweeps.sweep(sweeps.small_grid())
    figure = plot_sweep_memory(sweep, tmp_path / "m.png")
    total, uss = _axes(figure)
    lines = {(line.get_linestyle(), tuple(line.get_xdata())) for line in _gids(total, "total")}
    # The sync family over 1, 2 and 4 workers; the preloaded one dashed, at 2 alone.
    assert lines == {("-", (1, 2, 4)), ("--", (2,))}
    (sync,) = [line for line in _gids(uss, "uss") if line.get_linestyle() == "-"]
    assert list(sync.get_ydata()) == pytest.approx([40.0, 45.0, 600.0])  # USS per worker, MiB
    (budget,) = _gids(total, "budget")
    assert budget.get_ydata()[0] == pytest.approx(2048.0)
    texts = _texts(figure)
    assert "gunicorn sync, --preload" in texts and "gunicorn sync" in texts
    assert any("io_prod_w3_gevent (did not run)" in t for t in texts)


def test_the_latency_figure_has_a_panel_per_cell_with_its_steps(tmp_path: Path) -> None:
    sweep = sweeps.sweep(sweeps.small_grid())
    figure = plot_sweep_latency(sweep, tmp_path / "l.png")
    panels = {ax.get_title().split("\n")[0]: ax for ax in _axes(figure)}
    assert list(panels) == ["io_prod_w1", "io_prod_w2", "io_prod_w4", "io_prod_w2_preload"]
    w1 = panels["io_prod_w1"]
    (held,) = _gids(w1, "p99-held")
    (failed,) = _gids(w1, "p99-failed")
    assert sorted(x for x, _ in held.get_offsets()) == pytest.approx([10.25, 18.45, 20.5])
    assert len(failed.get_offsets()) == 1
    assert _at(failed) == pytest.approx([25.625, 360.0])  # 3x p99, in ms
    (capacity,) = _gids(w1, "capacity")
    assert capacity.get_xdata()[0] == pytest.approx(20.5)
    (slo,) = _gids(w1, "slo")
    assert slo.get_ydata()[0] == pytest.approx(250.0)
    preload = panels["io_prod_w2_preload"]
    (bound,) = _gids(preload, "p99-client-bound")
    assert len(bound.get_offsets()) == 1
    assert preload.get_title().endswith("holds at least 90 requests/s")
    assert w1.get_title().endswith("holds up to 20.5 requests/s")


def test_twelve_cells_are_a_grid_of_a_row_per_workload(tmp_path: Path) -> None:
    sweep = sweeps.sweep(sweeps.twelve())
    figure = plot_sweep_latency(sweep, tmp_path / "l.png")
    titles = [ax.get_title().split("\n") for ax in _axes(figure)]
    assert [name for name, _ in titles] == list(sweep.planned)
    assert titles[7] == ["cpu_prod_w2_gthread_t4_preload", "held at no rate"]
    rows = {round(ax.get_position().y0, 2) for ax in _axes(figure)}
    assert len(rows) == 3


# --- the figures speak the report's language --------------------------------------------------

_ENGLISH = re.compile(
    r"\b(capacity|memory|workers?|budget|latency|rate|requests?|held|failed|client|"
    r"recommended|front|workload|not drawn|total|asked|step)\b",
    re.IGNORECASE,
)


def test_a_russian_figure_is_russian_with_decimal_commas(tmp_path: Path) -> None:
    sweep = sweeps.sweep(sweeps.small_grid())
    drawn = {
        "pareto": plot_sweep_pareto(sweep, tmp_path / "p.png", RU),
        "memory": plot_sweep_memory(sweep, tmp_path / "m.png", RU),
        "latency": plot_sweep_latency(sweep, tmp_path / "l.png", RU),
    }
    for name, figure in drawn.items():
        texts = _texts(figure)
        assert any(re.search("[а-яА-Я]", text) for text in texts), name
        assert [text for text in texts if _ENGLISH.search(text)] == [], name
    latency = _texts(drawn["latency"])
    assert "io_prod_w1\nвыдерживает до 20,5 запросов/с" in latency
    assert any("бюджет памяти 2,0 ГиБ" in text for text in _texts(drawn["memory"]))
    # The same figures in English do say those words: the check above can fail.
    english = _texts(plot_sweep_latency(sweep, tmp_path / "l-en.png"))
    assert any(_ENGLISH.search(text) for text in english)
    assert "io_prod_w1\nholds up to 20.5 requests/s" in english


def test_a_family_is_named_without_its_workers() -> None:
    gthread = Server("gunicorn", workers=4, worker_class="gthread", threads=4, preload=True)
    assert family_name(gthread, Words()) == "gunicorn gthread, 4 threads, --preload"
    assert family_name(gthread, RU) == "gunicorn gthread, 4 потока, --preload"
    assert family_name(Server("uvicorn", workers=2), Words()) == "uvicorn"


# --- nothing, or little, to draw -------------------------------------------------------------


def test_a_sweep_that_measured_nothing_still_gets_its_page_and_says_why(tmp_path: Path) -> None:
    left_out = SweepCell("io_prod_w2", "io", Server("gunicorn", workers=2), "left-out")
    sweep = sweeps.sweep([sweeps.failed("io", 1), left_out])
    folder = sweeps.write_folder(tmp_path / "sweep", sweep)
    build_report(folder, ("en", "ru"))
    assert not list(folder.glob("plots/**/*.png"))
    text = (folder / "report.md").read_text(encoding="utf-8")
    assert "plots/" not in text
    assert (
        "*Missing from this folder: Capacity against p99, memory as colour (no cell has a" in text
    )
    assert "(no cell has its memory measured at load)" in text
    assert "(no cell has a rate step)" in text
    russian = (folder / "report.ru.md").read_text(encoding="utf-8")
    assert "ни у одной конфигурации нет шага по частоте" in russian
    assert (folder / "report.ru.html").is_file()
    assert render_sweep_plots(folder).skipped.keys() == set(SWEEP_FIGURES)


def test_a_single_cell_without_memory_draws_what_it_can(tmp_path: Path) -> None:
    sweep = sweeps.sweep([sweeps.cell("io", 2, 30.0, memory=False)], budget=None)
    folder = sweeps.write_folder(tmp_path / "sweep", sweep)
    plots = render_sweep_plots(folder, "ru")
    assert set(plots) == {"sweep-pareto", "sweep-latency"}
    assert plots["sweep-pareto"] == "plots/ru/sweep-pareto.png"
    assert plots.skipped == {
        "sweep-memory": "ни у одной конфигурации не измерена память под нагрузкой"
    }
    text = render_sweep(sweep, "ru", plots)
    assert "](plots/ru/sweep-latency.png)" in text
    assert "*Нет в этой папке: Память под нагрузкой" in text


def test_the_page_without_figures_is_the_page_it_was(tmp_path: Path) -> None:
    """The terminal and older callers render without figures: no figure section at all."""
    sweep = sweeps.sweep(sweeps.small_grid())
    assert "## Figures" not in render_sweep(sweep, "en")
    plots = render_sweep_plots(sweeps.write_folder(tmp_path / "s", sweep))
    assert "## Figures" in render_sweep(sweep, "en", plots)


def test_cells_measured_on_a_busy_machine_are_marked_and_the_ranking_says_so() -> None:
    cells = sweeps.small_grid()
    stolen = Noise(40.0, 2, other_cores=0.02, lab_cores=0.05, steal=0.19,
                   min_available_bytes=20 << 30, memory_bytes=24 << 30)  # fmt: skip
    quiet = replace(stolen, steal=0.001)
    cells[0] = replace(cells[0], noise=stolen)  # io_prod_w1, beaten on capacity
    cells[1] = replace(cells[1], noise=quiet)  # io_prod_w2, the winner
    sweep = sweeps.sweep(cells)
    page = render_sweep(sweep, "en")
    assert "| `io_prod_w1` ⚠ |" in page and "| `io_prod_w2` |" in page
    assert "⚠: measured while the machine was busy" in page
    # Beside the recommendation (which the command prints too): which cells, and how busy.
    (line,) = [ln for ln in page.splitlines() if "Measured while the machine was busy" in ln]
    assert line.startswith("  - ⚠") and "`io_prod_w1` (the busiest: " in line
    assert "steal 19" in line and "`io_prod_w2`" not in line
    russian = render_sweep(sweep, "ru")
    assert "Измерено на занятой машине: `io_prod_w1`" in russian
    # A sweep on a quiet machine says nothing of it.
    assert "⚠" not in render_sweep(sweeps.sweep(sweeps.small_grid()), "en")


def test_names_of_cells_measured_at_the_same_place_do_not_print_over_each_other(
    tmp_path: Path,
) -> None:
    # Two servers that hold the same rate at the same p99 (4 sync workers and waitress t4 on
    # a sleep): the second name goes a line below the first, a third cell far away stays.
    cells = [
        sweeps.cell("io", 4, 41.6, 0.33),
        sweeps.cell("io", 2, 41.8, 0.34, threads=4),
        sweeps.cell("io", 1, 10.7, 0.45),
    ]
    figure = plot_sweep_pareto(sweeps.sweep(cells), tmp_path / "p.png")
    (ax,) = _axes(figure)
    offsets = {t.get_text(): t.xyann[1] for t in ax.texts if isinstance(t, Annotation)}
    assert offsets["prod_w2_gthread_t4"] == -12  # the higher one keeps its place
    assert offsets["prod_w4"] < offsets["prod_w2_gthread_t4"] - 5
    assert offsets["prod_w1"] == -12


def test_the_table_gives_the_servers_cpu_per_request_at_capacity() -> None:
    """A CPU-bound capacity is about the server's cores over its CPU per request: the column
    shows whether a re-measured cell moved because its server got slower."""
    cells = sweeps.small_grid()
    first = cells[0]
    assert first.capacity is not None and first.capacity.capacity is not None
    at = first.capacity.capacity
    steps = tuple(
        replace(s, server_cores=1.9, served_rate=47.5) if s.rate == at else s
        for s in first.capacity.steps
    )
    cells[0] = replace(first, capacity=replace(first.capacity, steps=steps))
    page = render_sweep(sweeps.sweep(cells), "en")
    header = next(ln for ln in page.splitlines() if ln.startswith("| cell |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    row = next(ln for ln in page.splitlines() if ln.startswith(f"| `{first.name}`"))
    values = [c.strip() for c in row.strip("|").split("|")]
    assert len(values) == len(columns)
    at_column = dict(zip(columns, values, strict=True))
    assert at_column["server CPU, cores"] == "1.90"
    assert at_column["server CPU per request, ms"] == "40"  # 1.9 cores / 47.5 per s
    russian = render_sweep(sweeps.sweep(cells), "ru")
    assert "процессор сервера на запрос, мс" in russian


def _columns(page: str, name: str) -> dict[str, str]:
    """A cell's row of the page's table, by column header."""
    header = next(ln for ln in page.splitlines() if ln.startswith("| ") and "|---" not in ln)
    columns = [c.strip() for c in header.strip("|").split("|")]
    row = next(ln for ln in page.splitlines() if ln.startswith(f"| `{name}`"))
    values = [c.strip() for c in row.strip("|").split("|")]
    assert len(values) == len(columns)
    return dict(zip(columns, values, strict=True))


def test_the_client_s_cost_at_capacity_is_beside_the_server_s() -> None:
    """Client and server share the machine, so what the load client took the server did not
    get: its CPU per request sits beside the server's in the table, and the recommendation
    says how much of the machine each took at the winner's rate (issue 17)."""
    cells = sweeps.small_grid()
    winner = cells[1]
    assert winner.capacity is not None and winner.capacity.capacity == 39.0
    steps = tuple(
        replace(s, server_cores=1.5, client_cores=0.3, client_total_cores=0.3,
                client_cpu_per_request=0.3 / 39.0)
        if s.rate == 39.0 else s
        for s in winner.capacity.steps
    )  # fmt: skip
    cells[1] = replace(winner, capacity=replace(winner.capacity, steps=steps))
    sweep = sweeps.sweep(cells)
    page = render_sweep(sweep, "en")
    assert _columns(page, winner.name)["client CPU, cores"] == "0.30"
    assert _columns(page, winner.name)["client CPU per request, ms"] == "7.7"  # 0.3 / 39 per s
    assert _columns(page, cells[0].name)["client CPU per request, ms"] == "9.8"  # 0.2 / 20.5
    assert (
        "At that rate the server used 75% of the machine's CPU (1.50 cores of 2) and the load "
        "client 15% (0.30 cores)." in page
    )
    assert "the load client 15%" in " ".join(recommendation_lines(sweep, Lang("en")))
    russian = render_sweep(sweep, "ru")
    assert _columns(russian, winner.name)["процессор клиента на запрос, мс"] == "7,7"
    assert (
        "На этой частоте сервер занимал 75% процессора машины (1,50 ядра из 2), а клиент "
        "нагрузки — 15% (0,30 ядра)." in russian
    )


def test_a_sweep_from_before_the_client_s_cost_was_recorded_reads_as_it_did() -> None:
    cells = [
        replace(c, capacity=replace(c.capacity, steps=tuple(
            replace(s, client_total_cores=None, client_cpu_per_request=None)
            for s in c.capacity.steps
        ))) if c.capacity is not None else c
        for c in sweeps.small_grid()
    ]  # fmt: skip
    page = render_sweep(sweeps.sweep(cells), "en")
    assert _columns(page, cells[1].name)["client CPU per request, ms"] == "n/a"
    assert _columns(page, cells[1].name)["client CPU, cores"] == "0.20"
    assert "At that rate" not in page


def _timed(cell: SweepCell, machine: float, cores: float = 1.9) -> SweepCell:
    """``cell`` with the machine's speed timed at ``machine`` s before each of its steps and
    its server using ``cores`` (1.9: CPU-bound)."""
    assert cell.capacity is not None
    steps = tuple(
        replace(s, machine_seconds=machine, server_cores=cores) for s in cell.capacity.steps
    )
    return replace(cell, capacity=replace(cell.capacity, steps=steps))


def test_a_machine_slower_for_some_cells_is_named_and_the_close_ranking_doubted() -> None:
    """The host slowed the guest for one cell: the table's note names it with how much, and
    the recommendation doubts the pair whose capacities differ less than the machine did,
    not the pair whose gap is larger than the drift."""
    cells = [
        _timed(sweeps.cell("cpu", 4, 44.0), 0.0041),  # the winner, on the fast machine
        _timed(sweeps.cell("cpu", 2, 40.0), 0.0060),  # 10% less, on a 46% slower machine
        _timed(sweeps.cell("cpu", 1, 20.0), 0.0060),  # 120% less: not the machine's doing
    ]
    page = render_sweep(sweeps.sweep(cells), "en")
    (note,) = [ln for ln in page.splitlines() if "The machine was slower for some" in ln]
    assert note.startswith("⚠ ") and "took 4.1 ms of CPU in the fastest one" in note
    assert "`cpu_prod_w2` (+46%)" in note and "`cpu_prod_w1` (+46%)" in note
    (doubt,) = [ln for ln in page.splitlines() if "may have ordered" in ln]
    assert doubt.startswith("  - ⚠ `cpu_prod_w2` was measured on a machine 46% slower")
    assert "than `cpu_prod_w4`" in doubt and "(10%)" in doubt
    russian = render_sweep(sweeps.sweep(cells), "ru")
    assert "`cpu_prod_w2` (+46%)" in russian and "46% медленнее" in russian


def test_a_steady_machine_is_said_once_and_io_cells_are_not_doubted() -> None:
    steady = [_timed(c, 0.0041) for c in sweeps.small_grid() if c.capacity is not None]
    page = render_sweep(sweeps.sweep(steady), "en")
    assert "The machine ran at one speed for every CPU-bound cell" in page
    assert "took 4.1 ms of CPU in the fastest one" in page and "at most 0% longer" in page
    assert "⚠" not in page
    # An io server uses little CPU: a slower machine does not move its capacity, so a
    # drift between io cells is not named and doubts no ranking.
    io = [_timed(c, 0.0041 if i else 0.0070, cores=0.05) for i, c in enumerate(steady)]
    said = render_sweep(sweeps.sweep(io), "en")
    assert "The machine ran at one speed" not in said and "machine was slower" not in said
    assert "⚠" not in said
    # One slow sample in a cell moves no capacity; a cell measured mostly slow is named.
    spiky = list(steady)
    assert spiky[0].capacity is not None
    spiky[0] = replace(spiky[0], capacity=replace(spiky[0].capacity, steps=tuple(
        replace(s, machine_seconds=0.0070 if i == 0 else 0.0041)
        for i, s in enumerate(spiky[0].capacity.steps)
    )))  # fmt: skip
    assert "⚠" not in render_sweep(sweeps.sweep(spiky), "en")
    slow = [_timed(steady[0], 0.0070), *steady[1:]]
    assert f"`{steady[0].name}` (+71%)" in render_sweep(sweeps.sweep(slow), "en")
    # A sweep written before the machine was timed says nothing of its speed.
    assert "machine's speed" not in render_sweep(sweeps.sweep(sweeps.small_grid()), "en")
