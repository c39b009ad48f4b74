"""Build ``report.md`` from a results folder, reading its files and nothing else.

This package never imports the engine, the servers or the sandbox: a report can be
rebuilt anywhere from the folder alone (``servelab report RESULTS_DIR``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from .._io import atomic_write_text, read_jsonl
from ..errors import ResultsError
from . import comments

STUDY_FILE = "study.json"
REPORT_FILE = "report.md"
# The seed's headings: the servers by their seminar names.
SERVER_HEADINGS = {"flask-dev": "dev", "gunicorn": "prod"}


def load_study(results: Path) -> dict[str, Any]:
    """Read ``study.json``; a clear ResultsError when it is missing or damaged."""
    path = results / STUDY_FILE
    if not path.is_file():
        raise ResultsError(f"{results} is not a servelab results folder: no {STUDY_FILE}")
    try:
        study: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ResultsError(f"cannot read {path}: {error}") from None
    if not isinstance(study, dict) or "runs" not in study or "plan" not in study:
        raise ResultsError(f"{path} is not a servelab study (no runs or plan)")
    return study


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


def _sections(
    study: dict[str, Any], results: Path, critical: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Runs grouped by server, in plan order, each with its comment and file links."""
    sections: dict[str, dict[str, Any]] = {}
    for run in study["runs"]:
        key = _server_key(run["server"])
        section = sections.setdefault(
            key,
            {
                "heading": SERVER_HEADINGS.get(run["server"]["kind"], run["server"]["kind"]),
                "description": run["server_description"],
                "runs": [],
                "failure": None,
            },
        )
        log = results / run["files"]["log"]
        section["runs"].append(
            {
                **run,
                "comment": comments.comment(run, study),
                "log_exists": log.is_file(),
                "errors": _first_errors(results, run),
            }
        )
    for search in critical:
        if "server" not in search:
            continue
        owner = sections.get(_server_key(search["server"]))
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


def _critical(study: dict[str, Any]) -> list[dict[str, Any]]:
    """Each finished search with the sentences the report says about it."""
    searches = []
    for search in study.get("critical", []):
        if "error" in search:
            searches.append({**search, "comment": [f"The search failed: {search['error']}."]})
        else:
            searches.append({**search, "comment": comments.critical_model(search)})
    return searches


def _server_key(server: dict[str, Any]) -> str:
    return json.dumps(
        {k: v for k, v in server.items() if k not in ("label", "description")}, sort_keys=True
    )


def render_markdown(results: Path) -> str:
    study = load_study(results)
    env = Environment(
        loader=PackageLoader("servelab.report", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["s"] = comments.seconds
    env.filters["gib"] = lambda b: "n/a" if b is None else f"{b / 2**30:.1f} GiB"
    env.filters["thousands"] = lambda v: "n/a" if v is None else f"{v:,}"
    env.filters["mib"] = comments.mib
    critical = _critical(study)
    return env.get_template("report.md.j2").render(
        study=study,
        plan=study["plan"],
        machine=study.get("machine", {}),
        sections=_sections(study, results, critical),
        missing=_missing(study),
        critical=critical,
        critical_comparisons=comments.critical_comparisons(study.get("critical", [])),
    )


def build_report(results: Path) -> Path:
    """Write ``report.md`` into the results folder; returns its path."""
    path = results / REPORT_FILE
    atomic_write_text(path, render_markdown(results))
    return path
