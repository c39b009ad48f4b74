"""The rows the report reads besides ``study.json``: a run's requests and its memory samples.

``records/<run>.jsonl`` (written by ``servelab.load.records``) and ``samples/<run>.jsonl``
(written by ``servelab.servers.monitor``) are read here into typed rows holding the columns
the report uses; other columns are ignored, so newer files still read. Rows are read one
line at a time (``iter_records``, ``iter_samples``): a damaged line (not UTF-8, not JSON,
not an object, a column missing or of the wrong type) is skipped and counted in a
``SkippedLines``, and the lines after it are still read. The report imports neither
writer: these are the file formats, not their code.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from .._io import SkippedLines, iter_jsonl

__all__ = [
    "Record",
    "RecordColumns",
    "RowError",
    "Sample",
    "SkippedLines",
    "iter_records",
    "iter_samples",
    "read_records",
    "read_samples",
]

_T = TypeVar("_T")


class RowError(ValueError):
    """A row of a records or samples file lacks a column or holds the wrong type."""


class _Row:
    """One JSON object and where it came from, for one-line errors."""

    def __init__(self, value: Mapping[str, object], where: str) -> None:
        self.value, self.where = value, where

    def _get(self, key: str, kinds: tuple[type, ...], expected: str, optional: bool) -> object:
        if key not in self.value:
            if optional:
                return None
            raise RowError(f"{self.where}: field {key} is missing")
        value = self.value[key]
        if value is None and optional:
            return None
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise RowError(f"{self.where}: field {key}: expected {expected}, got {value!r:.40}")
        return value

    def number(self, key: str) -> float:
        value = self._get(key, (int, float), "a number", False)
        assert isinstance(value, int | float)
        return float(value)

    def opt_number(self, key: str) -> float | None:
        value = self._get(key, (int, float), "a number or null", True)
        return None if value is None else float(value)  # type: ignore[arg-type]

    def whole(self, key: str) -> int:
        value = self._get(key, (int,), "a whole number", False)
        assert isinstance(value, int)
        return value

    def opt_whole(self, key: str) -> int | None:
        value = self._get(key, (int,), "a whole number or null", True)
        return value if isinstance(value, int) else None

    def opt_text(self, key: str) -> str | None:
        value = self._get(key, (str,), "text or null", True)
        return value if isinstance(value, str) else None

    def flag(self, key: str) -> bool:
        return self._get(key, (bool,), "true or false", True) is True

    def wholes(self, key: str) -> tuple[int, ...]:
        value = self._get(key, (list,), "a list", True)
        items = value if isinstance(value, list) else []
        if not all(isinstance(item, int) and not isinstance(item, bool) for item in items):
            raise RowError(f"{self.where}: field {key}: expected whole numbers")
        return tuple(items)


@dataclass(frozen=True, slots=True)
class Record:
    """One request (a row of ``records.jsonl``): when it was sent and ended, epoch seconds,
    whether it got a 2xx, and what the server said about the handler that ran it."""

    index: int
    start: float
    end: float
    ok: bool
    error_class: str | None = None
    error: str | None = None
    served_pid: int | None = None
    served_thread: int | None = None
    handler_start: float | None = None
    handler_duration: float | None = None

    @property
    def timed(self) -> bool:
        """The server sent its handler's start and duration."""
        return self.handler_start is not None and self.handler_duration is not None

    @classmethod
    def of(cls, row: _Row) -> Record:
        return cls(
            index=row.whole("index"),
            start=row.number("start"),
            end=row.number("end"),
            ok=row.flag("ok"),
            error_class=row.opt_text("error_class"),
            error=row.opt_text("error"),
            served_pid=row.opt_whole("served_pid"),
            served_thread=row.opt_whole("served_thread"),
            handler_start=row.opt_number("handler_start"),
            handler_duration=row.opt_number("handler_duration"),
        )


@dataclass(frozen=True)
class RecordColumns:
    """Many requests as compact columns (8 bytes a value, not a Python object per request),
    in the order given: what a figure that needs every request of a large file holds.

    A missing handler time is NaN, a missing pid or thread -1; ``error_class`` is an index
    into ``error_classes`` (-1: none)."""

    index: npt.NDArray[np.int64]
    start: npt.NDArray[np.float64]
    end: npt.NDArray[np.float64]
    ok: npt.NDArray[np.bool_]
    served_pid: npt.NDArray[np.int64]
    served_thread: npt.NDArray[np.int64]
    handler_start: npt.NDArray[np.float64]
    handler_duration: npt.NDArray[np.float64]
    error_class: npt.NDArray[np.int64]
    error_classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.index)

    @classmethod
    def of(cls, records: Iterable[Record]) -> RecordColumns:
        """The columns of ``records``, read in one pass (an iterator is never held whole)."""
        ints = {name: array("q") for name in ("index", "pid", "thread", "error")}
        floats = {name: array("d") for name in ("start", "end", "h_start", "h_duration")}
        ok = bytearray()
        classes: dict[str, int] = {}
        nan = float("nan")
        for r in records:
            ints["index"].append(r.index)
            ints["pid"].append(-1 if r.served_pid is None else r.served_pid)
            ints["thread"].append(-1 if r.served_thread is None else r.served_thread)
            code = -1 if r.error_class is None else classes.setdefault(r.error_class, len(classes))
            ints["error"].append(code)
            floats["start"].append(r.start)
            floats["end"].append(r.end)
            floats["h_start"].append(nan if r.handler_start is None else r.handler_start)
            floats["h_duration"].append(nan if r.handler_duration is None else r.handler_duration)
            ok.append(r.ok)

        def whole(name: str) -> npt.NDArray[np.int64]:
            return (
                np.frombuffer(ints[name], dtype=np.int64) if ints[name] else np.empty(0, np.int64)
            )

        def real(name: str) -> npt.NDArray[np.float64]:
            values = floats[name]
            return np.frombuffer(values, dtype=np.float64) if values else np.empty(0)

        return cls(
            index=whole("index"),
            start=real("start"),
            end=real("end"),
            ok=np.frombuffer(bytes(ok), dtype=np.bool_),
            served_pid=whole("pid"),
            served_thread=whole("thread"),
            handler_start=real("h_start"),
            handler_duration=real("h_duration"),
            error_class=whole("error"),
            error_classes=tuple(classes),
        )


@dataclass(frozen=True, slots=True)
class Sample:
    """The server's process tree at one instant (a row of ``samples.jsonl``): the cap's usage
    (``cgroup_bytes``) or the tree's summed RSS, the cap's cumulative OOM-kill counter (None
    where the cap has none), and the pids alive."""

    t: float
    rss_bytes: int | None = None
    cgroup_bytes: int | None = None
    oom_kills: int | None = None
    processes: int | None = None
    pids: tuple[int, ...] = ()

    def memory(self, source: str) -> int | None:
        """``cgroup_bytes`` or ``rss_bytes``, by name."""
        return self.cgroup_bytes if source == "cgroup_bytes" else self.rss_bytes

    @classmethod
    def of(cls, row: _Row) -> Sample:
        return cls(
            t=row.number("t"),
            rss_bytes=row.opt_whole("rss_bytes"),
            cgroup_bytes=row.opt_whole("cgroup_bytes"),
            oom_kills=row.opt_whole("oom_kills"),
            processes=row.opt_whole("processes"),
            pids=row.wholes("pids"),
        )


def record(row: Mapping[str, object], where: str = "record") -> Record:
    return Record.of(_Row(row, where))


def sample(row: Mapping[str, object], where: str = "sample") -> Sample:
    return Sample.of(_Row(row, where))


def _iter(path: Path, make: Callable[[_Row], _T], skipped: SkippedLines | None) -> Iterator[_T]:
    for number, value in iter_jsonl(path, skipped):
        try:
            yield make(_Row(value, f"{path.name}: line {number}"))
        except RowError:
            if skipped is not None:
                skipped.add(number)


def iter_records(path: Path, skipped: SkippedLines | None = None) -> Iterator[Record]:
    """The requests of a ``records.jsonl``, in file order, one line read at a time; damaged
    lines are skipped and counted in ``skipped``."""
    return _iter(path, Record.of, skipped)


def iter_samples(path: Path, skipped: SkippedLines | None = None) -> Iterator[Sample]:
    """The samples of a ``samples.jsonl``, in file order (see ``iter_records``)."""
    return _iter(path, Sample.of, skipped)


def read_records(path: Path, skipped: SkippedLines | None = None) -> list[Record]:
    """Every readable request of a ``records.jsonl``, in file order."""
    return list(iter_records(path, skipped))


def read_samples(path: Path, skipped: SkippedLines | None = None) -> list[Sample]:
    """Every readable sample of a ``samples.jsonl``, in file order."""
    return list(iter_samples(path, skipped))
