"""Shared fixtures. Tests start real servers; each one must leave nothing behind.

Plain helpers (launching the service, a scripted server, waiting, HTTP) are in helpers.py.
Markers (pyproject.toml): ``slow``, ``cgroup``, ``browser``; ``make test-fast`` leaves them out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

from .helpers import REPO

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver


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


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless Chromium through chromedriver; quit, and every process of it gone, after."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: run scripts/install-browser (as root) to install it")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(10)
    driver.set_script_timeout(10)
    processes: list[psutil.Process] = []
    try:
        yield driver
    finally:
        process = driver.service.process
        if process is not None:
            root = psutil.Process(process.pid)
            processes = [root, *root.children(recursive=True)]
        driver.quit()
        _gone, alive = psutil.wait_procs(processes, timeout=10)
        for left in alive:
            left.kill()
    assert not alive, f"chromium processes left after quit: {alive}"


@pytest.fixture(scope="session")
def app_venv() -> Path:
    """The python of a second venv with only the servers people deploy (gunicorn, gevent,
    uvicorn, uvicorn-worker, waitress, granian, flask; tests/apps/requirements.txt) and
    without servelab: a user's app environment. Built once per machine under .venv-apps/
    (about 10 s with pip's cache warm), then reused; the tests that need it are skipped,
    saying why, only if pip cannot install those packages here."""
    from .helpers import AppVenvUnavailable, app_venv_python

    try:
        return app_venv_python()
    except AppVenvUnavailable as error:
        pytest.skip(f"no second venv for the app tests: {error}")
