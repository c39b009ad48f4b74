"""Reports built from a results folder's files alone.

The names load on first use, so a command that never draws (``servelab load``) does not
pay for importing matplotlib.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "build_html": "servelab.report.html",
    "build_report": "servelab.report.build",
    "render_html": "servelab.report.html",
    "render_markdown": "servelab.report.markdown",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'servelab.report' has no attribute {name!r}")
