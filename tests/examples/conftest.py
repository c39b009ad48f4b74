"""The house-price example's own environment, shared by its tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..helpers import REPO, AppVenvUnavailable, app_venv_python

EXAMPLE = REPO / "examples" / "house_prices"


@pytest.fixture(scope="session")
def house_python() -> Path:
    """The python of a venv made from the example's requirements.txt alone (servelab is not
    there): the user's own environment. Built once per machine under .venv-apps/ (about
    25 s), then reused; skipped, saying why, only if pip cannot install those packages."""
    try:
        return app_venv_python(EXAMPLE / "requirements.txt")
    except AppVenvUnavailable as error:
        pytest.skip(f"the example's requirements cannot be installed here: {error}")
