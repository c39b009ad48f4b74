"""Build ``report.html``: the Markdown report as one self-contained page.

The page needs nothing but itself: plots are inlined as ``data:`` URIs, the style sheet
is inline, there is no script, and a Content-Security-Policy forbids the browser to load
anything from elsewhere. Links to logs and records stay relative, so they work while
the page sits in its results folder. Like the rest of ``report/`` it reads result files
only; the same inputs give byte-identical output.
"""

from __future__ import annotations

import base64
import html
import re
import xml.etree.ElementTree as etree
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import markdown
from jinja2 import Environment, PackageLoader, StrictUndefined
from markdown.extensions import Extension
from markdown.extensions.toc import slugify_unicode
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

from .._io import atomic_write_text
from ..errors import ConfigError
from ..results import Machine, Study, read_study
from .i18n import Lang
from .lang import CATALOGS

HTML_FILE = "report.html"
# The types a browser shows from a data: URI; anything else becomes a visible note.
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
_LANG = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")
_LIST_ITEM = re.compile(r"( *)(?:[-*+]|\d{1,9}[.)]) ")
_LIST_START = re.compile(r"(?:[-*+]|1[.)]) ")
# A table cell holding one number with an optional unit ("26.7 MiB", "10/10", "4.6x"):
# kept on one line, so a squeezed column never splits a number from its unit.
_NUMBER_CELL = re.compile(r"[-+]?\d[\d,./]*(?: ?[A-Za-zА-Яа-я%]{1,4})?")


class _CommonMarkLists(Preprocessor):
    """Read lists as GitHub does, where Python-Markdown is stricter.

    report.md nests items by two spaces and starts lists right under a paragraph line
    (both fine in CommonMark); Python-Markdown would flatten the nesting and run the items
    into the paragraph. So nested items get four spaces per level and a list start gets
    a blank line before it. Runs after fenced code is stashed: code blocks are untouched.
    """

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        open_items: list[int] = []  # source indents of the list items enclosing this line
        previous_blank = True
        for line in lines:
            match = _LIST_ITEM.match(line)
            if match is None:
                if line.strip() and not line.startswith(" ") and previous_blank:
                    open_items = []  # a new top-level block ends every list
                out.append(line)
            else:
                indent = len(match.group(1))
                if indent and not open_items:
                    out.append(line)  # not inside a list: leave indented code alone
                else:
                    if not open_items and not previous_blank and _LIST_START.match(line):
                        out.append("")
                    while open_items and open_items[-1] >= indent:
                        open_items.pop()
                    out.append(" " * (4 * len(open_items)) + line[indent:])
                    open_items.append(indent)
            previous_blank = not line.strip()
        return out


class _SelfContained(Treeprocessor):
    """Inline images as data: URIs (or mark them) and wrap tables for sideways scrolling."""

    def __init__(self, md: markdown.Markdown, results: Path, labels: dict[str, str]) -> None:
        super().__init__(md)
        self.results = results.resolve()
        self.labels = labels

    def run(self, root: etree.Element) -> None:
        for image in list(root.iter("img")):
            self._inline_image(image)
        for cell in root.iter("td"):
            if _NUMBER_CELL.fullmatch("".join(cell.itertext()).strip()):
                cell.set("class", "num")
        for parent in list(root.iter()):
            for index, child in enumerate(list(parent)):
                if child.tag == "table":
                    wrapper = etree.Element("div", {"class": "table-wrap"})
                    wrapper.tail, child.tail = child.tail, None
                    parent[index] = wrapper
                    wrapper.append(child)

    def _inline_image(self, image: etree.Element) -> None:
        src = image.get("src", "")
        parts = urlsplit(src)
        if parts.scheme == "data":
            return
        if parts.scheme or parts.netloc or src.startswith("/"):
            self._note(image, f"{self.labels['not_embedded']}: {src}")
            return
        path = (self.results / unquote(parts.path)).resolve()
        media_type = IMAGE_TYPES.get(path.suffix.lower())
        if not path.is_relative_to(self.results) or media_type is None:
            self._note(image, f"{self.labels['not_embedded']}: {src}")
        elif not path.is_file():
            self._note(image, f"{self.labels['missing']}: {src}")
        else:
            encoded = base64.b64encode(path.read_bytes()).decode("ascii")
            image.set("src", f"data:{media_type};base64,{encoded}")

    @staticmethod
    def _note(image: etree.Element, text: str) -> None:
        """Turn the <img> into a visible note in place, keeping its alt text."""
        alt = image.get("alt", "")
        tail = image.tail
        image.clear()
        image.tag = "span"
        image.set("class", "missing")
        image.set("role", "note")
        image.text = f"{text} ({alt})" if alt else text
        image.tail = tail


class _ReportExtension(Extension):
    def __init__(self, results: Path, labels: dict[str, str]) -> None:
        super().__init__()
        self.results = results
        self.labels = labels

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        # Priorities: after fenced code (25), before raw HTML (20); after inline (20).
        md.preprocessors.register(_CommonMarkLists(md), "servelab_lists", 22)
        md.treeprocessors.register(
            _SelfContained(md, self.results, self.labels), "servelab_self_contained", 15
        )


def _labels(lang: str) -> dict[str, str]:
    """The page's own labels (``page.*`` in the catalogs); English for an unknown language."""
    words = CATALOGS.get(lang.split("-")[0].lower(), CATALOGS["en"])
    return {
        key.removeprefix("page."): text for key, text in words.items() if key.startswith("page.")
    }


# The toc extension's tokens: nested {"name": ..., "children": [...], ...}.
_Tokens = list[dict[str, object]]


def _headings(tokens: _Tokens) -> list[str]:
    """Heading texts in document order, from the toc extension's tokens."""
    texts: list[str] = []
    for token in tokens:
        texts.append(html.unescape(str(token["name"])))
        children = token["children"]
        texts += _headings(children if isinstance(children, list) else [])
    return texts


def _created(value: str) -> str | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S %z").strip()
    except ValueError:
        return value


def _machine_rows(
    machine: Machine,
    created: str | None,
    wall_seconds: float | None,
    labels: dict[str, str],
    lang: str,
) -> list[tuple[str, str]]:
    """The Machine section as (label, value) rows, each value from the results file."""
    code = lang.split("-")[0].lower()
    numbers = Lang(code if code in CATALOGS else "en")
    unknown = labels["unknown"]
    memory = machine.memory_bytes
    rows = [
        (labels["cpu"], machine.cpu or unknown),
        (labels["cores"], str(machine.cores or unknown)),
        (labels["memory"], numbers.gib(memory) if memory is not None else unknown),
        (labels["os"], machine.os or unknown),
        (labels["python"], machine.python or unknown),
    ]
    when = _created(created) if created else None
    if when:
        rows.append((labels["created"], when))
    if wall_seconds is not None:
        wall = numbers.digits(str(wall_seconds))
        rows.append((labels["wall"], f"{wall} {labels['seconds']}"))
    return rows


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("servelab.report", "templates"),
        undefined=StrictUndefined,
        autoescape=True,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(
    results: Path,
    markdown_text: str,
    lang: str = "en",
    *,
    study: Study | None = None,
    machine: Machine | None = None,
) -> str:
    """The page for ``markdown_text`` with images from ``results``, as one string.

    ``study`` is the folder's study when the caller has read it already; else it is read,
    unless the page is not a study's (a sweep's) and ``machine`` describes what ran it.
    """
    if not _LANG.fullmatch(lang):
        raise ConfigError(f"not a language tag: {lang!r} (use en or ru)")
    labels = _labels(lang)
    if study is None and machine is None:
        study = read_study(results)
    if study is not None:
        machine = study.machine
    assert machine is not None
    created = study.created if study is not None else None
    wall = study.wall_seconds if study is not None else None
    md = markdown.Markdown(
        extensions=[
            "tables",
            "fenced_code",
            "toc",
            _ReportExtension(results, labels),
        ],
        extension_configs={"toc": {"slugify": slugify_unicode}},
        output_format="html",
    )
    body = md.convert(markdown_text)
    headings = _headings(getattr(md, "toc_tokens", []))
    machine_names = {_labels(code)["machine"].casefold() for code in CATALOGS}
    machine_known = any(text.strip().casefold() in machine_names for text in headings)
    packages = machine.packages
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            lang=lang,
            title=headings[0] if headings else labels["untitled"],
            body=Markup(body),
            labels=labels,
            machine=None if machine_known else _machine_rows(machine, created, wall, labels, lang),
            packages=[
                (name, version or labels["not_installed"]) for name, version in packages.items()
            ],
            created=created or None,
        )
    )


def build_html(
    results: Path,
    markdown_text: str,
    *,
    lang: str = "en",
    out_name: str = HTML_FILE,
    study: Study | None = None,
    machine: Machine | None = None,
) -> Path:
    """Write the page into the results folder (where its relative links resolve)."""
    if not out_name or Path(out_name).name != out_name:
        raise ConfigError(f"out_name must be a file name in the results folder: {out_name!r}")
    path = results / out_name
    atomic_write_text(path, render_html(results, markdown_text, lang, study=study, machine=machine))
    return path
