"""Shared fixtures. Tests start real servers; each one must leave nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (the seed's commands run from here)."""
    return REPO
