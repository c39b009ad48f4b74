"""Build the reports from a results folder, reading its files and nothing else.

This package never imports the engine, the servers or the caps: a report can be
rebuilt anywhere from the folder alone (``servelab report RESULTS_DIR``). It writes
``report.md`` (English) or ``report.<lang>.md``, and the plots they show under ``plots/``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from .._io import atomic_write_text, read_jsonl
from ..errors import ConfigError
from . import comments
from .files import load_study
from .html import build_html
from .i18n import LANGUAGES, PROSE, Lang
from .plots import render_plots

# The seed's headings: the servers by their seminar names.
SERVER_HEADINGS = {"flask-dev": "dev", "gunicorn": "prod"}
# What the report names in its machine line, in this order.
SHOWN_PACKAGES = ("flask", "werkzeug", "gunicorn", "numpy")


def report_name(lang: str, suffix: str = "md") -> str:
    """``report.md`` for English, ``report.ru.md`` for Russian (likewise for html)."""
    return f"report.{suffix}" if lang == "en" else f"report.{lang}.{suffix}"


def _first_errors(results: Path, run: dict[str, Any], limit: int = 3) -> list[str]:
    """The first distinct client-side error texts of a run, from its records."""
    path = results / run["files"]["records"]
    if not path.is_file():
        return []
    seen: list[str] = []
    for row in read_jsonl(path):
        text = row.get("error")
        if text and text not in seen:
            seen.append(text)
        if len(seen) == limit:
            break
    return seen


def _server_key(server: dict[str, Any]) -> str:
    settings = {k: v for k, v in server.items() if k not in ("label", "description")}
    return json.dumps(settings, sort_keys=True)


def _sections(
    study: dict[str, Any], results: Path, critical: list[dict[str, Any]], lang: Lang
) -> list[dict[str, Any]]:
    """Runs grouped by server, in plan order, each with its comment, critical n and files."""
    sections: dict[str, dict[str, Any]] = {}
    for run in study["runs"]:
        section = sections.setdefault(
            _server_key(run["server"]),
            {
                "heading": SERVER_HEADINGS.get(run["server"]["kind"], run["server"]["kind"]),
                "server": run["server"],
                "runs": [],
                "failure": None,
            },
        )
        section["runs"].append(
            {
                **run,
                "function": run.get("function", run["workload"]),
                "comment": comments.comment(run, study, lang),
                "log_exists": (results / run["files"]["log"]).is_file(),
                "errors": _first_errors(results, run),
            }
        )
    for search in critical:
        owner = sections.get(_server_key(search["server"])) if "server" in search else None
        if owner is None:
            continue
        for run in owner["runs"]:
            if run["workload"] == search["workload"]:
                run["critical"] = search
        if owner["failure"] is None and search.get("failure_evidence"):
            owner["failure"] = search["failure_evidence"]
    return list(sections.values())


def _missing(study: dict[str, Any]) -> list[str]:
    runs = {run["name"] for run in study["runs"]}
    searches = {search["name"] for search in study.get("critical", [])}
    missing = [run["name"] for run in study["plan"]["runs"] if run["name"] not in runs]
    missing += [
        f"critical n of {search['name']}"
        for search in study["plan"].get("critical", [])
        if search["name"] not in searches
    ]
    return missing


def _packages(machine: dict[str, Any]) -> str:
    versions = machine.get("packages") or {}
    shown = [f"{name} {versions[name]}" for name in SHOWN_PACKAGES if versions.get(name)]
    return (", " + ", ".join(shown)) if shown else ""


def render_markdown(
    results: Path,
    lang: str = "en",
    plots: dict[str, str] | None = None,
    skipped: dict[str, str] | None = None,
) -> str:
    """The report in ``lang``; ``plots`` maps figure keys to files, ``skipped`` to reasons."""
    if lang not in LANGUAGES:
        raise ConfigError(f"language must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    study = load_study(results)
    language = Lang(lang)
    prose = PROSE[lang]
    shown, missing_plots = plots or {}, skipped or {}

    def tr(key: str, **params: Any) -> str:
        return prose[key].format(**params)

    def image(key: str, alt: str) -> str:
        if key in shown:
            return f"![{alt}]({shown[key]})"
        if key in missing_plots:
            return tr("missing_file", what=f"{alt} ({missing_plots[key]})")
        return ""

    critical = [
        {
            **search,
            "comment": comments.critical_model(search, language),
            "guard_comment": comments.guard_comparison(search, language),
        }
        for search in study.get("critical", [])
    ]
    env = Environment(
        loader=PackageLoader("servelab.report", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    machine = study.get("machine", {})
    text = env.get_template("report.md.j2").render(
        study=study,
        plan=study["plan"],
        machine=machine,
        packages=_packages(machine),
        sections=_sections(study, results, critical, language),
        missing=_missing(study),
        critical=critical,
        guarded=[search for search in critical if search.get("guarded")],
        guard=study.get("guard") or {},
        correct_prices=lambda side: comments.correct_prices(side, language),
        critical_comparisons=comments.critical_comparisons(study.get("critical", []), language),
        done_count=len(study["runs"]) + len(study.get("critical", [])),
        L=language,
        tr=tr,
        image=image,
    )
    # An image that could not be drawn and was never planned leaves an empty line behind.
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def build_report(results: Path, langs: Sequence[str] = ("en",)) -> list[Path]:
    """Draw the plots and write report.md and the self-contained report.html in every
    language of ``langs``, each with its figures in its language. Returns the files
    written."""
    load_study(results)  # fail early, with a clear message, on a folder that is not a study
    unknown = [lang for lang in langs if lang not in LANGUAGES]
    if unknown:  # before any drawing: a bad language must not leave half a report
        raise ConfigError(f"language must be one of {', '.join(LANGUAGES)}, not {unknown[0]!r}")
    written = []
    for lang in langs:
        plots, skipped = _draw(results, lang)
        text = render_markdown(results, lang, plots, skipped)
        path = results / report_name(lang)
        atomic_write_text(path, text)
        html = build_html(results, text, lang=lang, out_name=report_name(lang, "html"))
        written += [path, html]
    return written


def _draw(results: Path, lang: str) -> tuple[dict[str, str], dict[str, str]]:
    """Every plot the folder's files allow, in ``lang``, and why the others could not be drawn."""
    drawn = render_plots(results, lang)
    return dict(drawn), dict(drawn.skipped)
