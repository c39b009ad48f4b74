"""Crash-safe file writing and damage-tolerant reading of result files.

Whole files (summaries, reports) are written to a temporary sibling and renamed over the
target, so a reader never sees half a file; the temporary file is made 0600 by ``mkstemp``,
so it gets the mode an ordinary ``open()`` would give (0644 under the usual umask) before
the rename. Record streams are JSON Lines appended and flushed one record at a time, so a
crash or Ctrl-C keeps every record written so far.

A results folder is locked for the whole study that writes it (``folder_lock``: ``flock``
on ``.servelab.lock``), so a second study into the same folder is refused at once instead
of both writing it and one being silently lost.

JSON Lines are read one line at a time (``iter_jsonl``), never whole: a line that is not
UTF-8, not JSON or not an object is skipped and counted in a ``SkippedLines``, and the
lines after it are still read, so one damaged line never hides the records behind it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

from .errors import ResultsError


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


# Read once, at import, while no thread can create files between the two umask calls.
FILE_MODE: Final = 0o666 & ~_umask()


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename; creates parent folders. The file gets
    the mode ``open()`` would give it (``FILE_MODE``), like every other result file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), FILE_MODE)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


class JsonlWriter:
    """Appends one JSON object per line and flushes each, so a crash loses nothing written."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle: IO[str] = path.open("a", encoding="utf-8")

    def write(self, obj: Any) -> None:
        self._handle.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# Line numbers kept for the message; the count goes on past them.
_LINES_NAMED: Final = 5


@dataclass
class SkippedLines:
    """The damaged lines of one JSON Lines file: how many, and the first few by number."""

    path: Path
    count: int = 0
    lines: list[int] = field(default_factory=list)

    def add(self, number: int) -> None:
        self.count += 1
        if len(self.lines) < _LINES_NAMED:
            self.lines.append(number)

    def numbers(self) -> str:
        """``3, 7, 9`` or ``3, 7, 9, 11, 12, ...`` when there are more."""
        shown = ", ".join(str(n) for n in self.lines)
        return shown + (", ..." if self.count > len(self.lines) else "")

    def describe(self) -> str:
        """For the terminal: ``records/x.jsonl: 2 damaged lines skipped (lines 3, 7)``."""
        noun = "line" if self.count == 1 else "lines"
        return f"{self.path}: {self.count} damaged {noun} skipped ({noun} {self.numbers()})"


def iter_jsonl(
    path: Path, skipped: SkippedLines | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each line of a JSON Lines file, read lazily.

    A line that is not UTF-8, not JSON or not a JSON object (a torn last line from a crash
    mid-write, a corrupt line in the middle) is skipped and counted in ``skipped``; the
    lines after it are read as usual. Blank lines are not counted."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                value = None
            if not isinstance(value, dict):
                if skipped is not None:
                    skipped.add(number)
                continue
            yield number, value


def read_jsonl(path: Path, skipped: SkippedLines | None = None) -> list[dict[str, Any]]:
    """Every object of a JSON Lines file; damaged lines are skipped (see ``iter_jsonl``)."""
    return [value for _, value in iter_jsonl(path, skipped)]


LOCK_FILE: Final = ".servelab.lock"
# Folders this process holds, with how deeply: the CLI holds the folder across the study and
# its report, and the study takes it again inside; flock would refuse the second descriptor.
_HELD: dict[Path, int] = {}


def folder_error(folder: Path, error: OSError) -> ResultsError:
    """A one-line error for a results folder that cannot be made or written: the file in
    the way (``--out afile/sub``), or the path and the system's reason."""
    blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        why = f"{blocker} is a file, not a folder"
    else:
        why = error.strerror or str(error)
        if error.filename and Path(error.filename) != folder:
            why = f"{error.filename}: {why}"
    return ResultsError(f"cannot write the results folder {folder}: {why}")


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder`` (made if missing) for one writer: a second process asking for it gets
    a ``ResultsError`` naming the holder's pid, at once. Released when the block ends, or by
    the kernel when the holder dies, however it dies; servers started inside do not inherit
    the lock (close-on-exec)."""
    key = folder.resolve()
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    except OSError as error:
        raise folder_error(folder, error) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise ResultsError(
                f"{folder} is in use by another servelab study (pid {holder}); wait for it to "
                "end or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD[key] = 1
        try:
            yield
        finally:
            del _HELD[key]
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
