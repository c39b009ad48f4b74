"""The service's settings: defaults < the ``config`` mapping < ``SERVELAB_*`` environment.

A server started by the lab gets its settings through the environment, so any WSGI server
(flask dev, gunicorn, ...) configures the service the same way.

Auth is on when ``SERVELAB_TOKEN`` holds a token and off when it is unset (the seed's
default). A variable that is set but empty or blank is refused, never read as "unset": an
empty ``SERVELAB_TOKEN`` from a missing secret would otherwise turn auth off silently.
``SERVELAB_AUTH=off`` is the explicit opt-out that wins over any token in the environment;
``SERVELAB_AUTH=on`` insists on one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from servelab.errors import ConfigError
from servelab.units import parse_size

WORKLOADS = ("model", "io", "cpu", "numpy")
DEFAULT_N = 5_000_000
# Beyond this a single request could ask the server for tens of GiB; a deployment can raise it.
DEFAULT_MAX_N = 2_000_000_000
ENV_PREFIX = "SERVELAB_"
# A prediction request is a few dozen bytes of JSON; anything far larger is not one.
DEFAULT_MAX_BODY_BYTES = 16 * 1024
# Not a field: it says whether SERVELAB_TOKEN is read at all.
AUTH_ENV = ENV_PREFIX + "AUTH"
AUTH_CHOICES = ("on", "off")


class ServiceConfigError(ValueError):
    """A setting of the service is invalid; the message names the setting."""


@dataclass(frozen=True)
class ServiceConfig:
    """What ``POST /predict`` computes when the request does not say.

    workload: one of ``WORKLOADS``; ``model`` is the real house-price model.
    n: elements for the ``cpu`` and ``numpy`` workloads.
    max_n: the largest ``n`` a request may ask for with ``?n=``.
    io_delay: seconds the ``io`` workload sleeps (the seed's 1 s).
    token: when set, ``/predict`` requires ``Authorization: Bearer <token>``.
    memory_budget: bytes of prediction work one server process admits at once (the memory
      guard); None turns the guard off. The environment takes units: ``256MiB``.
    max_body_bytes: the largest request body accepted (413 above it).
    """

    workload: str = "model"
    n: int = DEFAULT_N
    max_n: int = DEFAULT_MAX_N
    io_delay: float = 1.0
    token: str | None = None
    memory_budget: int | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if self.workload not in WORKLOADS:
            raise ServiceConfigError(
                f"workload must be one of {', '.join(WORKLOADS)}, not {self.workload!r}"
            )
        if self.max_n < 1:
            raise ServiceConfigError(f"max_n must be at least 1, not {self.max_n}")
        if not 1 <= self.n <= self.max_n:
            raise ServiceConfigError(f"n must be between 1 and max_n={self.max_n}, not {self.n}")
        if not (math.isfinite(self.io_delay) and self.io_delay >= 0):
            raise ServiceConfigError(f"io_delay must be a finite number >= 0, not {self.io_delay}")
        if self.token is not None and not self.token.strip():
            raise ServiceConfigError("token must not be empty; unset it to turn auth off")
        if self.memory_budget is not None and self.memory_budget < 1:
            raise ServiceConfigError(f"memory_budget must be > 0 bytes, not {self.memory_budget}")
        if self.max_body_bytes < 64:
            raise ServiceConfigError(f"max_body_bytes must be >= 64, not {self.max_body_bytes}")

    @classmethod
    def load(
        cls, config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> ServiceConfig:
        """Defaults, then ``config`` (keys as field names), then ``SERVELAB_<FIELD>`` variables.

        Raises ``ServiceConfigError`` for a variable set but empty, and for a ``SERVELAB_AUTH``
        that contradicts ``SERVELAB_TOKEN`` (``on`` without a token).
        """
        environ = os.environ if environ is None else environ
        auth = _auth_switch(environ)
        values: dict[str, Any] = {}  # field name -> value of that field's own type
        for field in fields(cls):
            if config is not None and field.name in config:
                values[field.name] = config[field.name]
            env_name = ENV_PREFIX + field.name.upper()
            raw = environ.get(env_name)
            if raw is None or (field.name == "token" and auth == "off"):
                continue
            if not raw.strip():
                raise ServiceConfigError(_blank_message(env_name))
            values[field.name] = _parse(field.name, raw.strip(), field.type)
        if auth == "off":
            values["token"] = None
        elif auth == "on" and values.get("token") is None:
            raise ServiceConfigError(f"{AUTH_ENV}=on needs a token: set {ENV_PREFIX}TOKEN")
        return replace(cls(), **values) if values else cls()

    def to_env(self) -> dict[str, str]:
        """The environment that makes a server's service use exactly these settings.

        Without a token it says ``SERVELAB_AUTH=off``, so a ``SERVELAB_TOKEN`` that the
        server would inherit from the caller's environment does not turn auth on.
        """
        env = {
            ENV_PREFIX + f.name.upper(): str(getattr(self, f.name))
            for f in fields(self)
            if getattr(self, f.name) is not None
        }
        env[AUTH_ENV] = "off" if self.token is None else "on"
        return env


def _auth_switch(environ: Mapping[str, str]) -> str | None:
    raw = environ.get(AUTH_ENV)
    if raw is None:
        return None
    switch = raw.strip().lower()
    if switch not in AUTH_CHOICES:
        raise ServiceConfigError(f"{AUTH_ENV} must be {' or '.join(AUTH_CHOICES)}, not {raw!r}")
    return switch


def _blank_message(env_name: str) -> str:
    if env_name == ENV_PREFIX + "TOKEN":
        return (
            f"{env_name} is set but empty, which would turn auth off: give it a token,"
            f" or unset it (or set {AUTH_ENV}=off) to serve without auth"
        )
    return f"{env_name} is set but empty: give it a value, or unset it for the default"


def _parse(name: str, raw: str, kind: Any) -> Any:
    env_name = ENV_PREFIX + name.upper()
    if name == "memory_budget":
        try:
            return parse_size(raw)
        except ConfigError:
            raise ServiceConfigError(
                f"{env_name} must be a size such as 256MiB, not {raw!r}"
            ) from None
    try:
        if kind in ("int", int):
            return int(raw.replace("_", ""))
        if kind in ("float", float):
            return float(raw)
    except ValueError:
        raise ServiceConfigError(f"{env_name} must be a number, not {raw!r}") from None
    return raw
