"""What the measurements ran on, for every results folder and report."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import psutil

from servelab.results import Machine

PACKAGES = ("servelab", "flask", "werkzeug", "gunicorn", "gevent", "numpy")
# What a user's app environment may serve with, and the usual model stacks: the versions
# that ran are the ones in the app's interpreter, not in servelab's venv.
APP_PACKAGES = (
    "flask",
    "werkzeug",
    "fastapi",
    "starlette",
    "pydantic",
    "gunicorn",
    "gevent",
    "uvicorn",
    "uvicorn-worker",
    "waitress",
    "granian",
    "numpy",
    "scikit-learn",
    "torch",
)
# Stdlib only: it runs in the app's interpreter, where servelab is not installed.
_ASK_VERSIONS = """
import json, platform, sys
from importlib import metadata
def version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
print(json.dumps({"python": platform.python_version(),
                  "packages": {name: version(name) for name in sys.argv[1:]}}))
"""


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


def _app_environment(python: Path) -> tuple[str | None, dict[str, str | None]]:
    """The Python version and package versions of an app's interpreter; unknown (None and
    nothing) if it cannot say within a few seconds: the study goes on without them."""
    try:
        done = subprocess.run(
            [str(python), "-I", "-c", _ASK_VERSIONS, *APP_PACKAGES],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        said = json.loads(done.stdout)
        packages = {
            str(k): (str(v) if v is not None else None) for k, v in said["packages"].items()
        }
        return str(said["python"]), packages
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError, AttributeError):
        return None, {}


def describe_machine(app_python: Path | None = None) -> Machine:
    """CPU, cores, memory, OS, Python and the versions of the packages under test: for a
    study of the user's app, those of ``app_python``'s environment (servelab's own version
    stays, from this one)."""
    python: str | None = platform.python_version()
    packages = {name: _version(name) for name in PACKAGES}
    if app_python is not None:
        python, found = _app_environment(app_python)
        packages = {"servelab": _version("servelab"), **found}
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count(),
        memory_bytes=psutil.virtual_memory().total,
        os=f"{platform.system()} {platform.release()}",
        python=python,
        packages=packages,
    )
