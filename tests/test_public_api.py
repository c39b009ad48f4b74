"""The package's public names: sorted, all importable, and light to import."""

from __future__ import annotations

import subprocess
import sys

import servelab


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert servelab.__all__ == sorted(servelab.__all__)
    for name in servelab.__all__:
        assert getattr(servelab, name) is not None, name


def test_importing_the_service_does_not_import_the_lab() -> None:
    # gunicorn workers import servelab.service; the lab's modules would only add memory
    code = "import sys, servelab.service; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    lab = (
        "servelab.servers",
        "servelab.cli",
        "servelab.load",
        "servelab.study",
        "servelab.report",
        "matplotlib",
        "psutil",
    )
    assert [module for module in loaded if module.startswith(lab)] == []
