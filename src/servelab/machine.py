"""What the measurements ran on, for every results folder and report."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

import psutil

from servelab.results import Machine

PACKAGES = ("servelab", "flask", "werkzeug", "gunicorn", "gevent", "numpy")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def describe_machine() -> Machine:
    """CPU, cores, memory, OS, Python and the versions of the packages under test."""
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count(),
        memory_bytes=psutil.virtual_memory().total,
        os=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        packages={name: _version(name) for name in PACKAGES},
    )
