"""A repeated study (``servelab study --repeat K``) as files: K study folders and an index.

    <out>/repeats.json       the index: how many repeats were planned, their folders, which
                             finished, when it started and how long it took
    <out>/repeat-01/ ...     each a whole study folder (study.json, logs, records, its own
                             report), made by the same plan with fresh servers
    <out>/report.md          built from the repeats alone: every figure as a median and a
                             spread, and which ones are stable

The index is rewritten atomically after every repeat, so an interrupted series keeps every
repeat it finished and says so. Like ``results``, this module runs nothing: the report
reads repeated studies through it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ._io import atomic_write_json
from .errors import ResultsError
from .results import REPEATS_FILE, SCHEMA_VERSION, JsonObject, Study, read_study

__all__ = [
    "REPEATS_FILE",
    "Repeats",
    "is_repeated",
    "read_repeated",
    "repeat_folder",
    "write_repeats",
]


def repeat_folder(index: int) -> str:
    """The folder of the ``index``-th repeat (from 1): ``repeat-01``."""
    return f"repeat-{index:02d}"


@dataclass(frozen=True)
class Repeats:
    """The index of a repeated study: ``count`` repeats planned, ``finished`` of them done
    (each in ``repeat_folder(i)``), ``created`` when the series began, ``wall_seconds``
    how long it has taken so far."""

    count: int
    created: str
    finished: int = 0
    wall_seconds: float | None = None

    @property
    def folders(self) -> tuple[str, ...]:
        """The folders of the finished repeats, in order."""
        return tuple(repeat_folder(i) for i in range(1, self.finished + 1))

    @property
    def complete(self) -> bool:
        return self.finished >= self.count

    def to_json(self) -> JsonObject:
        return {
            "schema": SCHEMA_VERSION,
            "count": self.count,
            "created": self.created,
            "finished": self.finished,
            "folders": list(self.folders),
            "wall_seconds": self.wall_seconds,
        }

    @classmethod
    def from_json(cls, data: object, where: Path) -> Repeats:
        if not isinstance(data, dict):
            raise ResultsError(f"{where}: not a JSON object")
        try:
            count, finished = data["count"], data["finished"]
            created, wall = data["created"], data.get("wall_seconds")
        except KeyError as error:
            raise ResultsError(f"{where}: no field {error.args[0]!r}") from None
        wholes = (count, finished)
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in wholes):
            raise ResultsError(f"{where}: count and finished must be whole numbers >= 0")
        if not isinstance(created, str) or not (
            wall is None or (isinstance(wall, int | float) and not isinstance(wall, bool))
        ):
            raise ResultsError(f"{where}: created must be text and wall_seconds a number")
        return cls(count, created, min(finished, count), None if wall is None else float(wall))


def write_repeats(folder: Path, repeats: Repeats) -> Path:
    """Save the index as ``folder/repeats.json`` atomically; returns the path."""
    path = folder / REPEATS_FILE
    atomic_write_json(path, repeats.to_json())
    return path


def is_repeated(folder: Path) -> bool:
    """Whether ``folder`` holds a repeated study (its index) rather than one study."""
    return (folder / REPEATS_FILE).is_file()


def read_repeated(folder: Path) -> tuple[Repeats, tuple[Study, ...]]:
    """The index and the study of every finished repeat, in order; a ``ResultsError`` of
    one line when the index or a repeat's study.json cannot be read."""
    path = folder / REPEATS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{folder} is not a repeated study: no {REPEATS_FILE}") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ResultsError(f"cannot read {path}: {error}") from None
    repeats = Repeats.from_json(data, path)
    return repeats, tuple(read_study(folder / name) for name in repeats.folders)
