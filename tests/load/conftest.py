"""The load tests' fixtures: each loop test runs on both implementations of the loops."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from servelab.load import speedups


@pytest.fixture(params=["C", "Python"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The test runs once on the C loops (``speedups``) and once on the pure-Python ones.

    ``SERVELAB_PURE_PYTHON`` in the environment of a subprocess the test starts chooses the
    same loop there. The C loop must be here: ``make`` builds it (setup.py). Only a run
    that turned it off on purpose (``SERVELAB_PURE_PYTHON=1``) leaves its half out.
    """
    if request.param == "C":
        if speedups.native is None:
            if os.environ.get(speedups.PURE_ENV, "") not in ("", "0"):
                pytest.skip(f"{speedups.PURE_ENV} is set: the C loop is off on purpose")
            pytest.fail("the C loops are not built here: `pip install -e .` builds them")
        monkeypatch.delenv(speedups.PURE_ENV, raising=False)
    else:
        monkeypatch.setattr(speedups, "native", None)
        monkeypatch.setenv(speedups.PURE_ENV, "1")
    yield request.param
