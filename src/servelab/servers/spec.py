"""Which server to start, as data: one table of the kinds the lab knows (``KIND_TABLE``),
and ``ServerSpec``, a kind with its settings.

Pure: nothing here starts a process. For each kind the table says the argv it is started
with, how many of its processes must answer ``/health`` before it is ready, how many run
predictions (each with its own memory guard), and how many requests it holds in memory at
once under a given concurrency (the critical-n model's ``at_once``). ``ServerSpec.parse``
reads the one spec grammar the command line uses everywhere (``flask-dev``,
``gunicorn:w2:gthread:t4``); ``to_server``/``from_server`` convert to and from the results
contract's ``results.Server``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Final, Literal, cast, get_args

from servelab.errors import ConfigError
from servelab.report.i18n import Lang
from servelab.results import Server

ServerKind = Literal["flask-dev", "gunicorn"]
WorkerClass = Literal["sync", "gthread", "gevent"]
KINDS: tuple[str, ...] = get_args(ServerKind)
WORKER_CLASSES: tuple[str, ...] = get_args(WorkerClass)

ENGLISH: Final = Lang("en")
DEFAULT_APP = "servelab.service:app"
HOST = "127.0.0.1"
_DEFAULT_TIMEOUT = 30.0
_SPEC_FORMS = (
    "flask-dev, or gunicorn[:w<workers>][:sync|gthread|gevent][:t<threads>][:timeout<seconds>]"
    " (e.g. gunicorn:w2:gthread:t4)"
)
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
        if not self.kind_info.takes_settings:
            changed = [
                f.name
                for f in fields(self)
                if f.name != "kind" and getattr(self, f.name) != f.default
            ]
            if changed:
                raise ConfigError(
                    f"{self.kind} takes no gunicorn settings, got {', '.join(changed)}"
                )
        # gunicorn would quietly turn a sync worker with threads into gthread and ignore threads
        # for gevent: the label would then name a server that is not the one that ran.
        if self.threads > 1 and self.worker_class != "gthread":
            raise ConfigError(
                f"threads={self.threads} needs worker_class gthread, not {self.worker_class}"
            )

    @property
    def label(self) -> str:
        """Short name for files and tables: ``dev``, ``prod_w2``, ``prod_w2_gthread_t4``."""
        if not self.kind_info.takes_settings:
            return self.kind_info.label
        parts = [f"{self.kind_info.label}_w{self.workers}"]
        if self.worker_class == "gthread":
            parts.append(f"gthread_t{self.threads}")
        elif self.worker_class == "gevent":
            parts.append("gevent")
        if self.timeout != _DEFAULT_TIMEOUT:
            parts.append(f"timeout{int(self.timeout)}")
        return "_".join(parts)

    def describe(self) -> str:
        """For people, in English: ``gunicorn, 2 gthread workers x 4 threads``. The words are
        the report's (``report/lang``), so the terminal and the report say it alike."""
        return ENGLISH.server(self.to_server())

    @property
    def kind_info(self) -> Kind:
        """This spec's row of ``KIND_TABLE``."""
        return KIND_TABLE[self.kind]

    def command_line(self, port: int, app: str = DEFAULT_APP) -> list[str]:
        """The argv that starts this server serving ``app`` on ``HOST:port``."""
        return self.kind_info.command(self, port, app)

    @property
    def answering_processes(self) -> int:
        """Processes that must each answer ``/health`` before a load may start."""
        return self.kind_info.answering(self)

    @property
    def worker_processes(self) -> int:
        """Processes that run predictions, each with its own memory guard."""
        return self.kind_info.answering(self)

    def in_memory_at_once(self, concurrency: int) -> int:
        """How many of ``concurrency`` parallel requests hold their array at one instant
        (see ``KIND_TABLE``'s kinds); a ConfigError for a concurrency below 1."""
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError(f"concurrency must be a whole number >= 1, not {concurrency!r}")
        return self.kind_info.at_once(self, concurrency)

    def in_memory_at_once_per_process(self, concurrency: int) -> int:
        """How many of those arrays one process can hold at once: what a per-process limit
        (RLIMIT_AS) meets, where a cgroup meets them all together. A sync worker serves one
        request at a time, a gthread worker one per thread; the dev server is one process,
        and a gevent worker may be handed every request."""
        at_once = self.in_memory_at_once(concurrency)
        if self.worker_class == "sync" and self.kind_info.forks_workers:
            return min(at_once, 1)
        if self.worker_class == "gthread" and self.kind_info.forks_workers:
            return min(at_once, self.threads)
        return at_once

    def to_server(self) -> Server:
        """The spec as the results contract stores it (with its label)."""
        return Server(
            kind=self.kind,
            workers=self.workers,
            worker_class=self.worker_class,
            threads=self.threads,
            timeout=self.timeout,
            label=self.label,
        )

    @classmethod
    def from_server(cls, server: Server) -> ServerSpec:
        """Inverse of ``to_server`` (the label is recomputed); a ConfigError for a kind or
        setting this servelab does not know."""
        if server.kind not in KINDS:
            raise ConfigError(f"server kind must be one of {', '.join(KINDS)}, not {server.kind!r}")
        if server.worker_class not in WORKER_CLASSES:
            raise ConfigError(
                f"worker_class must be one of {', '.join(WORKER_CLASSES)},"
                f" not {server.worker_class!r}"
            )
        return cls(
            kind=cast(ServerKind, server.kind),
            workers=server.workers,
            worker_class=cast(WorkerClass, server.worker_class),
            threads=server.threads,
            timeout=server.timeout,
        )

    @classmethod
    def parse(cls, text: str) -> ServerSpec:
        """Read the CLI form: ``flask-dev``, ``gunicorn``, ``gunicorn:w2:gthread:t4``, ..."""
        head, *options = text.strip().split(":")
        kind = KIND_TABLE.get(head)
        if kind is None:
            raise ConfigError(f"unknown server {text!r}: expected {_SPEC_FORMS}")
        if not kind.takes_settings:
            if options:
                raise ConfigError(f"bad server {text!r}: {head} takes no options")
            return cls(kind.name)
        values: dict[str, int | str] = {}
        for option in options:
            key, value = _parse_option(option)
            if key is None or key in values:
                why = "repeated" if key in values else "not understood"
                raise ConfigError(f"bad server {text!r}: {option!r} {why}; expected {_SPEC_FORMS}")
            values[key] = value
        try:
            return cls(kind.name, **values)  # type: ignore[arg-type]  # __post_init__ checks
        except ConfigError as error:
            raise ConfigError(f"bad server {text!r}: {error}") from None


def _parse_option(option: str) -> tuple[str | None, int | str]:
    if option in WORKER_CLASSES:
        return "worker_class", option
    for prefix, key in (("timeout", "timeout"), ("w", "workers"), ("t", "threads")):
        digits = option.removeprefix(prefix)
        if digits != option and digits.isascii() and digits.isdigit():
            return key, int(digits)
    return None, ""


def command_line(spec: ServerSpec, port: int, app: str = DEFAULT_APP) -> list[str]:
    """The argv that starts ``spec`` serving ``app`` on ``HOST:port``."""
    return spec.command_line(port, app)


def _flask_dev_command(spec: ServerSpec, port: int, app: str) -> list[str]:
    if app == DEFAULT_APP:
        return [sys.executable, "-m", "servelab.service", "--host", HOST, "--port", str(port)]
    return [sys.executable, "-c", _RUN_SIMPLE, HOST, str(port), app]


def _gunicorn_command(spec: ServerSpec, port: int, app: str) -> list[str]:
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


def _gunicorn_at_once(spec: ServerSpec, concurrency: int) -> int:
    # A request's array lives while its handler runs (CPython frees it by reference
    # counting when the handler returns), so this is how many handlers run at once.
    if spec.worker_class == "sync":  # one request per worker, the rest wait in the queue
        return min(concurrency, spec.workers)
    if spec.worker_class == "gthread":  # one request per thread
        return min(concurrency, spec.workers * spec.threads)
    # gevent: up to worker_connections (1000) greenlets per worker; an array is built
    # between yields, but handlers that built theirs keep them while they wait.
    return concurrency


@dataclass(frozen=True)
class Kind:
    """A server kind: how it starts, how many processes must answer, how many it holds.

    takes_settings: it takes gunicorn's settings (workers, worker class, threads, timeout).
    forks_workers: a master forks worker processes, which then count their metrics in
      prometheus_client's multiprocess directory.
    label: the stem of its runs' file names (``dev``, ``prod``).
    command(spec, port, app): its argv.
    answering(spec): processes that must each answer ``/health`` before it is ready; they are
      also the processes that run predictions.
    at_once(spec, concurrency): requests it holds in memory at once.
    """

    name: ServerKind
    takes_settings: bool
    forks_workers: bool
    label: str
    command: Callable[[ServerSpec, int, str], list[str]]
    answering: Callable[[ServerSpec], int]
    at_once: Callable[[ServerSpec, int], int]


KIND_TABLE: Final[dict[str, Kind]] = {
    # The threaded dev server: one process, a new thread per connection, so every parallel
    # request holds its array at once.
    "flask-dev": Kind(
        "flask-dev",
        takes_settings=False,
        forks_workers=False,
        label="dev",
        command=_flask_dev_command,
        answering=lambda spec: 1,
        at_once=lambda spec, concurrency: concurrency,
    ),
    "gunicorn": Kind(
        "gunicorn",
        takes_settings=True,
        forks_workers=True,
        label="prod",
        command=_gunicorn_command,
        answering=lambda spec: spec.workers,
        at_once=_gunicorn_at_once,
    ),
}
assert tuple(KIND_TABLE) == KINDS, "KIND_TABLE and ServerKind list the same kinds"
