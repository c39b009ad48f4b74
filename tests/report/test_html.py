"""report.html: one self-contained page, checked as text and in a real headless Chromium."""

from __future__ import annotations

import ast
import base64
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

import servelab.report as servelab_report
from servelab.errors import ConfigError
from servelab.report.html import build_html, render_html
from servelab.results import Machine, write_study

from . import folders

REPORT = Path(servelab_report.__file__).parent

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

MACHINE = Machine(
    cpu="Test CPU 9000",
    cores=2,
    memory_bytes=25_276_510_208,
    os="Linux 6.18.44-test",
    python="3.11.7",
    packages={"flask": "3.1.3", "gunicorn": "27.0.1", "gevent": None},
)
CREATED = "2026-11-25T17:27:35+00:00"
LONG_LOG_LINE = (
    "[2026-11-25 17:38:02 +0000] [1868] [ERROR] Worker (pid:1869) was sent SIGKILL! "
    "Perhaps out of memory? " + "x" * 150
)
WIDE_CELLS = " | ".join(f"cpu_multithread_prod_w{i}" for i in range(11))

# Shaped like report.md: lists right under a paragraph and nested by two spaces (as
# GitHub reads them), a wide pipe table, a fenced server log, plots and log links.
MARKDOWN = f"""# How the Flask dev server and gunicorn behave under load

A servelab study: 6 runs planned.
Three `predict` functions:
- `predict_io_bounded`: an external service.
- `predict_cpu_bounded`: pure Python.
  - nested under cpu
  - a second nested item
- `predict_cpu_multithread`: numpy.

## Results
![Latency per request](plots/latency.png)

![Memory per server](plots/memory.png)

![Not drawn yet](plots/nothere.png)

| run | {" | ".join(f"column {i}" for i in range(11))} | log |
|---|{"---|" * 11}---|
| io_bounded_dev | {WIDE_CELLS} | [log](log/io_bounded_dev.txt) |

#### [predict_io_bounded](log/io_bounded_dev.txt)
- Makespan 0.25 s; server log: [server/io_bounded_dev.log](server/io_bounded_dev.log).

As the server logged it:
```
{LONG_LOG_LINE}
[2026-11-25 17:38:02 +0000] [1883] [INFO] Booting worker with pid: 1883
```

Back to [the top](#how-the-flask-dev-server-and-gunicorn-behave-under-load).
"""
RUSSIAN = """# Как ведут себя сервер разработки Flask и gunicorn под нагрузкой

Каждый запуск поднимает новый сервер: «ёмкость» памяти — 200 МиБ.

| сервер | функция |
|---|---|
| gunicorn, 1 синхронный воркер | `predict_io_bounded` |
"""


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid one-colour PNG, made by hand so the tests need no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A results folder with what report.md points at: study.json, logs and plots."""
    folder = tmp_path / "results"
    (folder / "plots").mkdir(parents=True)
    (folder / "log").mkdir()
    (folder / "server").mkdir()
    study = replace(folders.study([]), created=CREATED, wall_seconds=51.53, machine=MACHINE)
    write_study(folder, study)
    # Wider than a laptop: the page must scale it down, not overflow.
    (folder / "plots" / "latency.png").write_bytes(_png(1800, 700, (30, 110, 200)))
    (folder / "plots" / "memory.png").write_bytes(_png(640, 320, (200, 80, 30)))
    (folder / "log" / "io_bounded_dev.txt").write_text("seed log\n", encoding="utf-8")
    (folder / "server" / "io_bounded_dev.log").write_text("server log\n", encoding="utf-8")
    return folder


class _Page(HTMLParser):
    """Every element with its attributes and the tags enclosing it; and the page's text."""

    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"})

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.elements: list[tuple[str, dict[str, str], list[tuple[str, dict[str, str]]]]] = []
        self.text_parts: list[str] = []
        self._open: list[tuple[str, dict[str, str]]] = []
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.elements.append((tag, attributes, list(self._open)))
        if tag not in self.VOID:
            self._open.append((tag, attributes))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        self.text_parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs, _ in self.elements if name == tag]

    def title(self) -> str:
        parser = _TextOf("title")
        parser.feed(self.source)
        parser.close()
        return parser.found


class _TextOf(HTMLParser):
    def __init__(self, tag: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tag, self.inside, self.found = tag, False, ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.inside = self.inside or tag == self.tag

    def handle_endtag(self, tag: str) -> None:
        self.inside = self.inside and tag != self.tag

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.found += data


def _page(results: Path, markdown_text: str = MARKDOWN, lang: str = "en") -> _Page:
    return _Page(render_html(results, markdown_text, lang))


def test_images_are_inlined_as_data_uris_of_the_files(results: Path) -> None:
    images = _page(results).all("img")
    assert [image["alt"] for image in images] == ["Latency per request", "Memory per server"]
    for image, name in zip(images, ("latency.png", "memory.png"), strict=True):
        prefix = "data:image/png;base64,"
        assert image["src"].startswith(prefix)
        encoded = image["src"].removeprefix(prefix)
        assert base64.b64decode(encoded) == (results / "plots" / name).read_bytes()


def test_a_missing_image_is_a_visible_note_not_a_broken_image(results: Path) -> None:
    page = _page(results)
    assert "missing: plots/nothere.png (Not drawn yet)" in page.text
    assert all("nothere" not in image["src"] for image in page.all("img"))


def test_images_from_elsewhere_are_never_fetched(results: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.png").write_bytes(_png(2, 2, (0, 0, 0)))
    markdown_text = (
        "# t\n\n![web](https://example.com/a.png) ![up](../secret.png) ![abs](/etc/x.png)\n"
    )
    page = _page(results, markdown_text)
    assert page.all("img") == []
    assert "not embedded: https://example.com/a.png (web)" in page.text
    assert "not embedded: ../secret.png (up)" in page.text
    assert "not embedded: /etc/x.png (abs)" in page.text


def test_the_page_loads_nothing_from_outside_itself(results: Path) -> None:
    page = _page(results)
    references = [
        (tag, name, value)
        for tag, attrs, _ in page.elements
        for name, value in attrs.items()
        if name in ("src", "href", "srcset", "poster", "data", "action")
    ]
    assert references, "the page should have links and images to check"
    for tag, name, value in references:
        parts = urlsplit(value)
        local = parts.scheme == "" and parts.netloc == "" and not value.startswith("/")
        assert value.startswith(("data:", "#")) or local, (tag, name, value[:80])
    assert page.all("script") == []
    styles = page.source.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "@import" not in styles
    assert "url(" not in styles


def test_links_to_logs_stay_relative_and_resolve_in_the_results_folder(results: Path) -> None:
    hrefs = [attrs["href"] for attrs in _page(results).all("a")]
    files = [href for href in hrefs if not href.startswith("#")]
    assert sorted(set(files)) == ["log/io_bounded_dev.txt", "server/io_bounded_dev.log"]
    for href in files:
        assert (results / href).is_file(), href
    anchors = [href[1:] for href in hrefs if href.startswith("#")]
    ids = {attrs.get("id") for _, attrs, _ in _page(results).elements}
    assert anchors
    assert set(anchors) <= ids


def test_head_has_lang_charset_viewport_and_the_first_heading_as_title(results: Path) -> None:
    page = _page(results, lang="ru")
    assert page.all("html") == [{"lang": "ru"}]
    metas = page.all("meta")
    assert {"charset": "utf-8"} in metas
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in metas
    assert page.title() == "How the Flask dev server and gunicorn behave under load"


def test_every_table_sits_in_a_scrolling_wrapper(results: Path) -> None:
    tables = [opened for tag, _, opened in _page(results).elements if tag == "table"]
    assert len(tables) == 1
    for opened in tables:
        tag, attrs = opened[-1]
        assert (tag, attrs.get("class")) == ("div", "table-wrap")


def test_lists_nest_and_start_as_on_github(results: Path) -> None:
    page = _page(results)
    nested = [opened for tag, _, opened in page.elements if tag == "ul" and opened[-1][0] == "li"]
    assert len(nested) == 1
    items = [opened for tag, _, opened in page.elements if tag == "li"]
    assert len(items) >= 6
    assert "Three predict functions: predict_io_bounded" in page.text
    assert "- `predict" not in page.source


def test_machine_section_says_what_and_when_it_ran_on(results: Path) -> None:
    page = _page(results)
    text = page.text
    after = text.split("Machine What the study ran on, and when.", 1)[1]
    for value in ("Test CPU 9000", "Cores 2", "23.5 GiB", "Linux 6.18.44-test", "3.11.7"):
        assert value in after
    assert "flask 3.1.3" in after
    assert "gunicorn 27.0.1" in after
    assert "gevent not installed" in after
    assert "2026-11-25 17:27:35 +0000" in after
    assert "Duration 51.53 s" in after
    assert {"datetime": CREATED} in page.all("time")


def test_machine_section_is_not_added_twice(results: Path) -> None:
    markdown_text = MARKDOWN + "\n## Machine\nAMD EPYC, 2 cores.\n"
    page = _page(results, markdown_text)
    assert page.text.count("Machine") == 1
    assert "What the study ran on" not in page.text


def test_russian_text_survives_as_utf8(results: Path) -> None:
    path = build_html(results, RUSSIAN, lang="ru", out_name="report.ru.html")
    assert path == results / "report.ru.html"
    text = path.read_bytes().decode("utf-8")
    page = _Page(text)
    assert page.title() == "Как ведут себя сервер разработки Flask и gunicorn под нагрузкой"
    assert "«ёмкость» памяти — 200 МиБ" in page.text
    assert "gunicorn, 1 синхронный воркер" in page.text
    assert "Машина На чём и когда шло исследование. Процессор Test CPU 9000" in page.text
    assert page.all("html") == [{"lang": "ru"}]


def test_the_same_inputs_give_the_same_bytes(results: Path) -> None:
    first = build_html(results, MARKDOWN).read_bytes()
    second = build_html(results, MARKDOWN).read_bytes()
    assert first == second
    assert first.decode("utf-8") == render_html(results, MARKDOWN)
    assert sorted(p.name for p in results.iterdir() if p.name.startswith(".")) == []


def test_bad_arguments_are_refused(results: Path) -> None:
    with pytest.raises(ConfigError, match="file name"):
        build_html(results, MARKDOWN, out_name="../report.html")
    with pytest.raises(ConfigError, match="language"):
        render_html(results, MARKDOWN, lang='en" onload="x')


def test_the_report_imports_no_server_cap_study_command_or_load_engine() -> None:
    code = (
        "import sys, servelab.report.build\n"
        "print(' '.join(m for m in sys.modules if m.startswith('servelab.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert "servelab.report.plots.render" in loaded  # the whole report was imported
    forbidden = (
        "servelab.servers",
        "servelab.study",
        "servelab.cli",
        "servelab.service",
        "servelab.load.reactor",
        "servelab.load.burst",
        "servelab.load.loops",
        "servelab.load.http11",
    )
    assert [module for module in loaded if module.startswith(forbidden)] == []


# What the report's own modules may import from the lab: the results contract and the one
# summary type it holds, the table of workloads, and the lab's error and file helpers.
ALLOWED = {
    "servelab.results",
    "servelab.repeats",  # a repeated study's index: results files too, nothing that runs
    "servelab.results_sweep",  # a sweep's files, likewise
    "servelab.results_capacity",  # a sweep cell's capacity search, likewise
    "servelab.load.summary",
    # The SLOs' parser, for a sweep's latency thresholds: it imports only the summary type
    # and the errors, no reactor, connection or schedule.
    "servelab.load.slo",
    "servelab.workloads",
    "servelab._io",
    "servelab.errors",
}


def _lab_imports(path: Path) -> set[str]:
    package = "servelab." + ".".join(path.relative_to(REPORT.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            found.add(f"{base}.{node.module}" if node.module else base)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("servelab.")}


def test_the_report_reads_results_only_through_the_results_contract() -> None:
    sources = sorted(REPORT.rglob("*.py"))
    assert len(sources) > 10
    outside = {
        f"{path.relative_to(REPORT)}: {name}"
        for path in sources
        for name in _lab_imports(path)
        if not name.startswith("servelab.report") and name not in ALLOWED
    }
    assert outside == set()


VIEWPORTS = {"laptop": (1366, 900, False), "phone": (390, 844, True)}
MEASURE = """
const wraps = [...document.querySelectorAll('.table-wrap')];
const outside = [...document.body.querySelectorAll('*')].filter(
  (e) => !e.closest('.table-wrap') && e.getBoundingClientRect().right > window.innerWidth + 1);
return {
  innerWidth: window.innerWidth,
  scrollWidth: document.documentElement.scrollWidth,
  images: [...document.images].map((i) => ({
    complete: i.complete, naturalWidth: i.naturalWidth, width: i.getBoundingClientRect().width})),
  wraps: wraps.map((w) => ({scrollWidth: w.scrollWidth, clientWidth: w.clientWidth})),
  outside: outside.map((e) => e.tagName + '.' + e.className),
};
"""


@pytest.mark.browser
@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_the_page_in_headless_chromium(browser: WebDriver, results: Path, viewport: str) -> None:
    began = time.monotonic()
    width, height, mobile = VIEWPORTS[viewport]
    browser.set_window_size(width, height)
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    path = build_html(results, MARKDOWN)
    browser.get(path.as_uri())
    page: dict[str, Any] = browser.execute_script(MEASURE)

    # The viewport meta works: a phone lays the page out at its own width, not 980 px.
    assert page["innerWidth"] == width
    assert len(page["images"]) == 2
    for image in page["images"]:
        assert image["complete"]
        assert image["naturalWidth"] > 0
        assert image["width"] <= width
    assert page["scrollWidth"] <= page["innerWidth"] + 1, page["outside"]
    assert page["outside"] == []
    # The wide table overflows its own wrapper (which scrolls), never the page.
    assert page["wraps"]
    assert page["wraps"][0]["scrollWidth"] > page["wraps"][0]["clientWidth"]
    log: list[dict[str, Any]] = browser.get_log("browser")  # type: ignore[no-untyped-call]
    errors = [entry for entry in log if entry["level"] == "SEVERE"]
    assert errors == []
    assert time.monotonic() - began < 20
