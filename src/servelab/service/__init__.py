"""The house-price service under test.

``create_app(config=None)`` builds it; ``servelab.service:app`` is the WSGI app for servers
such as gunicorn, built on first access from the ``SERVELAB_*`` environment.
"""

from __future__ import annotations

from typing import Any

from .app import create_app
from .config import WORKLOADS, ServiceConfig, ServiceConfigError

__all__ = ["WORKLOADS", "ServiceConfig", "ServiceConfigError", "app", "create_app"]


def __getattr__(name: str) -> Any:
    # Built lazily so that importing the package does no work and reads no environment.
    if name == "app":
        app = create_app()
        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
