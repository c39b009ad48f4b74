"""The house-price service under test.

``create_app(config=None)`` builds it; ``servelab.service:app`` is the WSGI app for servers
such as gunicorn, built on first access from the ``SERVELAB_*`` environment. Importing the
package is cheap: Flask is imported when an app is first built, so the lab side can read
``headers`` and ``config`` without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .config import WORKLOADS, ServiceConfig, ServiceConfigError

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["WORKLOADS", "ServiceConfig", "ServiceConfigError", "app", "create_app"]


def create_app(config: ServiceConfig | Mapping[str, Any] | None = None) -> Flask:
    """Build the service; see ``servelab.service.factory.create_app``."""
    from .factory import create_app as build

    return build(config)


def __getattr__(name: str) -> Any:
    # Built lazily so that importing the package does no work and reads no environment.
    if name == "app":
        app = create_app()
        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
