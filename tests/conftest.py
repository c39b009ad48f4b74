"""Shared fixtures. Tests start real servers; each one must leave nothing behind."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (the seed's commands run from here)."""
    return REPO


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _children() -> set[psutil.Process]:
    return {p for p in psutil.Process().children(recursive=True) if _alive(p)}


@pytest.fixture(autouse=True)
def no_children_left() -> Iterator[None]:
    """Fail any test that leaves a process behind, and kill what it left.

    Servers of wider-scoped fixtures exist before the test starts and are not counted.
    """
    before = _children()
    yield
    left = [p for p in _children() - before if _alive(p)]
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.kill()
    assert not left, f"processes left behind: {left}"
