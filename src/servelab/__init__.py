"""servelab: how an ML prediction service behaves under load on different web servers.

Start a server (``launch``), cap its memory (``open_cap``), load it (``run_burst``), run
the seminar's study (``run_study`` of a ``seed_plan``), find where it breaks
(``find_critical_n``) and build the report (``build_report``).

The names are imported on first use: the service under test (``servelab.service``) lives
in this package, and a server importing it must not pay for the lab's imports.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "CriticalSpec": "servelab.study.critical_run",
    "Monitor": "servelab.servers",
    "RequestRecord": "servelab.load",
    "ServelabError": "servelab.errors",
    "ServerSpec": "servelab.servers",
    "ServiceConfig": "servelab.service",
    "build_report": "servelab.report",
    "create_app": "servelab.service",
    "find_critical_n": "servelab.study.critical_run",
    "launch": "servelab.servers",
    "open_cap": "servelab.servers",
    "run_burst": "servelab.load",
    "run_study": "servelab.study",
    "seed_plan": "servelab.study",
    "summarize": "servelab.load",
}
__all__ = sorted(["__version__", *_EXPORTS])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'servelab' has no attribute {name!r}")
