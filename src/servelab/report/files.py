"""Reading a results folder's index, ``study.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ResultsError

STUDY_FILE = "study.json"


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
