"""Which server to start, as data: the kinds the lab knows, their settings, their command line.

Pure: nothing here starts a process. ``ServerSpec.parse`` reads the one spec grammar the
command line uses everywhere (``flask-dev``, ``gunicorn:w2:gthread:t4``); ``command_line``
is the argv a kind is started with.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

from servelab.errors import ConfigError

ServerKind = Literal["flask-dev", "gunicorn"]
WorkerClass = Literal["sync", "gthread", "gevent"]
KINDS: tuple[str, ...] = get_args(ServerKind)
WORKER_CLASSES: tuple[str, ...] = get_args(WorkerClass)

DEFAULT_APP = "servelab.service:app"
HOST = "127.0.0.1"
_DEFAULT_TIMEOUT = 30.0
_SPEC_FORMS = (
    "flask-dev, or gunicorn[:w<workers>][:sync|gthread|gevent][:t<threads>][:timeout<seconds>]"
    " (e.g. gunicorn:w2:gthread:t4)"
)
_DERIVED_KEYS = frozenset({"label", "description"})
# The config module whose child_exit hook forgets dead gunicorn workers' metrics gauges.
_GUNICORN_CONFIG = "python:servelab.service.gunicorn_hooks"
# A WSGI app other than ours on the dev server: what Flask.run does (threaded, no reloader).
_RUN_SIMPLE = (
    "import sys; from werkzeug.serving import run_simple; from werkzeug.utils import import_string;"
    " run_simple(sys.argv[1], int(sys.argv[2]), import_string(sys.argv[3]), threaded=True)"
)


@dataclass(frozen=True)
class ServerSpec:
    """Which server to start: the Flask dev server, or gunicorn with its worker settings.

    ``workers``, ``worker_class``, ``threads`` and ``timeout`` (gunicorn ``--timeout``, whole
    seconds, 0 = off) are gunicorn settings; the dev server takes none of them.
    """

    kind: ServerKind
    workers: int = 1
    worker_class: WorkerClass = "sync"
    threads: int = 1
    timeout: float = _DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"server kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.worker_class not in WORKER_CLASSES:
            raise ConfigError(
                f"worker_class must be one of {', '.join(WORKER_CLASSES)},"
                f" not {self.worker_class!r}"
            )
        for name in ("workers", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, not {value!r}")
        timeout = self.timeout
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or timeout < 0
            or timeout != int(timeout)
        ):
            raise ConfigError(
                f"timeout must be whole seconds >= 0 (gunicorn takes an integer; 0 turns it off),"
                f" not {timeout!r}"
            )
        object.__setattr__(self, "timeout", float(timeout))
        if self.kind == "flask-dev":
            changed = [
                f.name
                for f in fields(self)
                if f.name != "kind" and getattr(self, f.name) != f.default
            ]
            if changed:
                raise ConfigError(f"flask-dev takes no gunicorn settings, got {', '.join(changed)}")
        # gunicorn would quietly turn a sync worker with threads into gthread and ignore threads
        # for gevent: the label would then name a server that is not the one that ran.
        if self.threads > 1 and self.worker_class != "gthread":
            raise ConfigError(
                f"threads={self.threads} needs worker_class gthread, not {self.worker_class}"
            )

    @property
    def label(self) -> str:
        """Short name for files and tables: ``dev``, ``prod_w2``, ``prod_w2_gthread_t4``."""
        if self.kind == "flask-dev":
            return "dev"
        parts = [f"prod_w{self.workers}"]
        if self.worker_class == "gthread":
            parts.append(f"gthread_t{self.threads}")
        elif self.worker_class == "gevent":
            parts.append("gevent")
        if self.timeout != _DEFAULT_TIMEOUT:
            parts.append(f"timeout{int(self.timeout)}")
        return "_".join(parts)

    def describe(self) -> str:
        """For people: ``gunicorn, 2 gthread workers x 4 threads``."""
        if self.kind == "flask-dev":
            return "Flask dev server (threaded)"
        text = f"gunicorn, {_count(self.workers, f'{self.worker_class} worker')}"
        if self.worker_class == "gthread":
            text += f" x {_count(self.threads, 'thread')}"
        if self.timeout != _DEFAULT_TIMEOUT:
            text += f", worker timeout {int(self.timeout)} s" if self.timeout else ", no timeout"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The settings plus ``label`` and ``description``, for result files a report reads."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["label"] = self.label
        data["description"] = self.describe()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServerSpec:
        """Inverse of ``to_dict``; ``label`` and ``description`` are recomputed, not read."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names - _DERIVED_KEYS)
        if unknown:
            raise ConfigError(f"unknown server setting(s): {', '.join(unknown)}")
        if "kind" not in data:
            raise ConfigError("a server spec needs a 'kind'")
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def parse(cls, text: str) -> ServerSpec:
        """Read the CLI form: ``flask-dev``, ``gunicorn``, ``gunicorn:w2:gthread:t4``, ..."""
        head, *options = text.strip().split(":")
        if head == "flask-dev":
            if options:
                raise ConfigError(f"bad server {text!r}: flask-dev takes no options")
            return cls("flask-dev")
        if head != "gunicorn":
            raise ConfigError(f"unknown server {text!r}: expected {_SPEC_FORMS}")
        values: dict[str, Any] = {}
        for option in options:
            key, value = _parse_option(option)
            if key is None or key in values:
                why = "repeated" if key in values else "not understood"
                raise ConfigError(f"bad server {text!r}: {option!r} {why}; expected {_SPEC_FORMS}")
            values[key] = value
        try:
            return cls("gunicorn", **values)
        except ConfigError as error:
            raise ConfigError(f"bad server {text!r}: {error}") from None


def _parse_option(option: str) -> tuple[str | None, Any]:
    if option in WORKER_CLASSES:
        return "worker_class", option
    for prefix, key in (("timeout", "timeout"), ("w", "workers"), ("t", "threads")):
        digits = option.removeprefix(prefix)
        if digits != option and digits.isascii() and digits.isdigit():
            return key, int(digits)
    return None, None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def command_line(spec: ServerSpec, port: int, app: str = DEFAULT_APP) -> list[str]:
    """The argv that starts ``spec`` serving ``app`` on ``HOST:port``."""
    if spec.kind == "flask-dev":
        if app == DEFAULT_APP:
            return [sys.executable, "-m", "servelab.service", "--host", HOST, "--port", str(port)]
        return [sys.executable, "-c", _RUN_SIMPLE, HOST, str(port), app]
    return [
        sys.executable, "-m", "gunicorn",
        "--bind", f"{HOST}:{port}",
        "--workers", str(spec.workers),
        "--worker-class", spec.worker_class,
        "--threads", str(spec.threads),
        "--timeout", str(int(spec.timeout)),
        # gunicorn 27 would otherwise open a control socket under ~/.gunicorn, shared by all runs.
        "--no-control-socket",
        # Also keeps a gunicorn.conf.py in the working directory from changing the server.
        "--config", _GUNICORN_CONFIG,
        app,
    ]  # fmt: skip
