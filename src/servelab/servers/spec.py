"""Which server to start, as data: one table of the kinds the lab knows (``KIND_TABLE``),
and ``ServerSpec``, a kind with its settings.

Pure: nothing here starts a process. For each kind the table says what it needs installed
in the app's environment, which interfaces (WSGI, ASGI) it serves, the argv it is started
with (with the app environment's python), how many of its processes must answer before it
is ready, and how many requests it holds in memory at once under a given concurrency (the
critical-n model's ``at_once``). ``ServerSpec.parse`` reads the one spec grammar the command
line uses everywhere::

    flask-dev[:single|:debug]
    gunicorn[:w<N>][:sync|gthread|gevent|uvicorn][:t<N>][:timeout<S>][:preload]
    uvicorn[:w<N>]
    waitress[:t<N>]                         (t4 when not given: waitress's own default)
    granian[:w<N>][:t<N>][:rss<MiB>]

``to_server``/``from_server`` convert to and from the results contract's ``results.Server``.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Final, Literal, cast, get_args

from servelab.errors import ConfigError
from servelab.report.i18n import Lang
from servelab.results import Server

ServerKind = Literal["flask-dev", "gunicorn", "uvicorn", "waitress", "granian"]
WorkerClass = Literal["sync", "gthread", "gevent", "uvicorn"]
DevMode = Literal["", "single", "debug"]
Interface = Literal["wsgi", "asgi"]
KINDS: tuple[str, ...] = get_args(ServerKind)
WORKER_CLASSES: tuple[str, ...] = get_args(WorkerClass)
DEV_MODES: tuple[str, ...] = tuple(m for m in get_args(DevMode) if m)
INTERFACES: tuple[str, ...] = get_args(Interface)

ENGLISH: Final = Lang("en")
DEFAULT_APP = "servelab.service:app"
# The served-by shim (servers/shim/servelab_served_by.py): a user's app is served as its `app`.
SHIM_MODULE = "servelab_served_by"
SHIM_APP = f"{SHIM_MODULE}:app"
HOST = "127.0.0.1"
_DEFAULT_TIMEOUT = 30.0
_SPEC_FORMS = (
    "flask-dev[:single|debug], gunicorn[:w<workers>][:sync|gthread|gevent|uvicorn][:t<threads>]"
    "[:timeout<seconds>][:preload], uvicorn[:w<workers>], waitress[:t<threads>] or"
    " granian[:w<workers>][:t<threads>][:rss<MiB>] (e.g. gunicorn:w2:gthread:t4)"
)
# The config module whose child_exit hook forgets dead gunicorn workers' metrics gauges.
_GUNICORN_CONFIG = "python:servelab.service.gunicorn_hooks"


@dataclass(frozen=True)
class Target:
    """What a server serves: ``app`` as ``module:attr``, run by ``python``, over ``interface``.
    The default is servelab's own service in this interpreter."""

    app: str = DEFAULT_APP
    python: str = sys.executable
    interface: Interface = "wsgi"

    @property
    def own(self) -> bool:
        """Whether it is servelab's own service (which sends the served-by headers itself)."""
        return self.app == DEFAULT_APP


@dataclass(frozen=True)
class Package:
    """A package a server kind needs in the app's environment: the modules that show it is
    there (any one of them) and the name to install it by."""

    modules: tuple[str, ...]
    pip_name: str


@dataclass(frozen=True)
class ServerSpec:
    """Which server to start and its settings.

    ``workers``: worker processes (gunicorn, uvicorn, granian); ``worker_class``: gunicorn's
    (``uvicorn`` = uvicorn's worker for ASGI apps); ``threads``: gunicorn gthread's threads,
    waitress's threads, granian's blocking threads per worker (WSGI only); ``timeout``:
    gunicorn's ``--timeout`` (whole seconds, 0 = off); ``mode``: the Flask dev server's
    (``""`` threaded, ``single``, ``debug`` = with the reloader, two processes); ``max_rss``:
    granian's ``--workers-max-rss`` in MiB (0 = none); ``preload``: gunicorn's ``--preload``
    (the master imports the app once, before it forks the workers, which then share its pages
    until they write to them). A kind takes only its own settings.
    """

    kind: ServerKind
    workers: int = 1
    worker_class: WorkerClass = "sync"
    threads: int = 1
    timeout: float = _DEFAULT_TIMEOUT
    mode: DevMode = ""
    max_rss: int = 0
    preload: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"server kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.worker_class not in WORKER_CLASSES:
            raise ConfigError(
                f"worker_class must be one of {', '.join(WORKER_CLASSES)},"
                f" not {self.worker_class!r}"
            )
        if self.mode not in get_args(DevMode):
            raise ConfigError(f"mode must be one of {', '.join(DEV_MODES)}, not {self.mode!r}")
        for name in ("workers", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, not {value!r}")
        rss = self.max_rss
        if isinstance(rss, bool) or not isinstance(rss, int) or rss < 0:
            raise ConfigError(f"max_rss must be whole MiB >= 1 (0 = none), not {rss!r}")
        if not isinstance(self.preload, bool):
            raise ConfigError(f"preload must be true or false, not {self.preload!r}")
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
        changed = [
            f.name
            for f in fields(self)
            if f.name != "kind"
            and f.name not in self.kind_info.settings
            and getattr(self, f.name) != f.default
        ]
        if changed:
            if self.kind == "flask-dev":
                raise ConfigError(f"flask-dev takes no gunicorn settings, got {', '.join(changed)}")
            raise ConfigError(
                f"{self.kind} takes no {', '.join(changed)} (its settings:"
                f" {', '.join(self.kind_info.settings)})"
            )
        # gunicorn would quietly turn a sync worker with threads into gthread and ignore threads
        # for gevent: the label would then name a server that is not the one that ran.
        if self.kind == "gunicorn" and self.threads > 1 and self.worker_class != "gthread":
            raise ConfigError(
                f"threads={self.threads} needs worker_class gthread, not {self.worker_class}"
            )

    @property
    def label(self) -> str:
        """Short name for files and tables: ``dev``, ``prod_w2``, ``prod_w2_gthread_t4``,
        ``prod_w2_preload``, ``uvicorn_w2``, ``waitress_t4``, ``granian_w1_t2``."""
        return self.kind_info.labelled(self)

    def describe(self) -> str:
        """For people, in English: ``gunicorn, 2 gthread workers x 4 threads``. The words are
        the report's (``report/lang``), so the terminal and the report say it alike."""
        return ENGLISH.server(self.to_server())

    @property
    def kind_info(self) -> Kind:
        """This spec's row of ``KIND_TABLE``."""
        return KIND_TABLE[self.kind]

    def command_line(
        self,
        port: int,
        app: str = DEFAULT_APP,
        *,
        python: str | os.PathLike[str] | None = None,
        interface: Interface = "wsgi",
    ) -> list[str]:
        """The argv that starts this server serving ``app`` on ``HOST:port``, with ``python``
        (default: this interpreter) and ``app`` taken as a WSGI or ASGI app."""
        target = Target(app, os.fspath(python or sys.executable), interface)
        return self.kind_info.command(self, port, target)

    @property
    def answering_processes(self) -> int:
        """Processes that must each answer before a load may start."""
        return self.kind_info.answering(self)

    @property
    def worker_processes(self) -> int:
        """Processes that run the app's handlers (each with its own memory guard)."""
        return self.kind_info.answering(self)

    def serves(self, interface: Interface) -> bool:
        """Whether this server can serve an app of ``interface`` (``wsgi``/``asgi``)."""
        return interface in self.kind_info.interfaces(self)

    @property
    def packages(self) -> tuple[Package, ...]:
        """What must be installed in the app's environment to start this server."""
        return self.kind_info.packages(self)

    def in_memory_at_once(self, concurrency: int, interface: Interface = "wsgi") -> int:
        """How many of ``concurrency`` parallel requests hold their data at one instant
        (see ``KIND_TABLE``'s kinds), for an app of ``interface``; a ConfigError for a
        concurrency below 1."""
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError(f"concurrency must be a whole number >= 1, not {concurrency!r}")
        return self.kind_info.at_once(self, concurrency, interface)

    def in_memory_at_once_per_process(self, concurrency: int, interface: Interface = "wsgi") -> int:
        """How many of those one process can hold at once: what a per-process limit
        (RLIMIT_AS) meets, where a cgroup meets them all together. A sync worker serves one
        request at a time, a gthread worker (or a granian WSGI worker) one per thread; a
        one-process server and an event loop may be handed every request."""
        at_once = self.in_memory_at_once(concurrency, interface)
        return self.kind_info.per_process(self, at_once, interface)

    def to_server(self) -> Server:
        """The spec as the results contract stores it (with its label)."""
        return Server(
            kind=self.kind,
            workers=self.workers,
            worker_class=self.worker_class,
            threads=self.threads,
            timeout=self.timeout,
            label=self.label,
            mode=self.mode,
            max_rss=self.max_rss,
            preload=self.preload,
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
        if server.mode not in get_args(DevMode):
            raise ConfigError(f"mode must be one of {', '.join(DEV_MODES)}, not {server.mode!r}")
        return cls(
            kind=cast(ServerKind, server.kind),
            workers=server.workers,
            worker_class=cast(WorkerClass, server.worker_class),
            threads=server.threads,
            timeout=server.timeout,
            mode=cast(DevMode, server.mode),
            max_rss=server.max_rss,
            preload=server.preload,
        )

    @classmethod
    def parse(cls, text: str) -> ServerSpec:
        """Read the CLI form: ``flask-dev``, ``gunicorn:w2:gthread:t4``, ``uvicorn:w2``, ..."""
        head, *options = text.strip().split(":")
        kind = KIND_TABLE.get(head)
        if kind is None:
            raise ConfigError(f"unknown server {text!r}: expected {_SPEC_FORMS}")
        values: dict[str, int | str | bool] = {}
        for option in options:
            key, value = _parse_option(option)
            if key is None or key in values:
                why = "repeated" if key in values else "not understood"
                raise ConfigError(f"bad server {text!r}: {option!r} {why}; expected {kind.grammar}")
            if key not in kind.settings:
                raise ConfigError(
                    f"bad server {text!r}: {head} takes no {option!r}; expected {kind.grammar}"
                )
            values[key] = value
        try:
            return cls(kind.name, **{**kind.defaults, **values})  # type: ignore[arg-type]
        except ConfigError as error:  # __post_init__ checks the values
            raise ConfigError(f"bad server {text!r}: {error}") from None


def _parse_option(option: str) -> tuple[str | None, int | str | bool]:
    if option == "preload":
        return "preload", True
    if option in WORKER_CLASSES:
        return "worker_class", option
    if option in DEV_MODES:
        return "mode", option
    for prefix, key in (
        ("timeout", "timeout"),
        ("rss", "max_rss"),
        ("w", "workers"),
        ("t", "threads"),
    ):
        digits = option.removeprefix(prefix)
        if digits != option and digits.isascii() and digits.isdigit():
            return key, int(digits)
    return None, ""


def command_line(spec: ServerSpec, port: int, app: str = DEFAULT_APP) -> list[str]:
    """The argv that starts ``spec`` serving ``app`` on ``HOST:port``."""
    return spec.command_line(port, app)


# --- the kinds: argv, labels, what they hold ---------------------------------------------


def _flask_dev_command(spec: ServerSpec, port: int, target: Target) -> list[str]:
    if target.own and not spec.mode:
        return [target.python, "-m", "servelab.service", "--host", HOST, "--port", str(port)]
    # Any other WSGI app, or ours single-threaded or with the reloader: werkzeug's run_simple,
    # as Flask.run calls it, from the shim (a module, so that the reloader can re-run it).
    mode = spec.mode or "threaded"
    return [target.python, "-m", SHIM_MODULE, "dev", HOST, str(port), mode, target.app]


def _flask_dev_label(spec: ServerSpec) -> str:
    return f"dev_{spec.mode}" if spec.mode else "dev"


def _gunicorn_command(spec: ServerSpec, port: int, target: Target) -> list[str]:
    worker_class = str(spec.worker_class)
    if worker_class == "uvicorn":  # whichever package the app's environment has, via the shim
        worker_class = f"{SHIM_MODULE}.UvicornWorker"
    # Our config module holds the metrics hooks of our service; for another app an empty
    # config, which also keeps a gunicorn.conf.py in its directory from changing the server.
    config = _GUNICORN_CONFIG if target.own else os.devnull
    return [
        target.python, "-m", "gunicorn",
        "--bind", f"{HOST}:{port}",
        "--workers", str(spec.workers),
        "--worker-class", worker_class,
        "--threads", str(spec.threads),
        "--timeout", str(int(spec.timeout)),
        # gunicorn 27 would otherwise open a control socket under ~/.gunicorn, shared by all runs.
        "--no-control-socket",
        "--config", config,
        *(["--preload"] if spec.preload else []),
        target.app,
    ]  # fmt: skip


def _gunicorn_label(spec: ServerSpec) -> str:
    parts = [f"prod_w{spec.workers}"]
    if spec.worker_class == "gthread":
        parts.append(f"gthread_t{spec.threads}")
    elif spec.worker_class != "sync":
        parts.append(spec.worker_class)
    if spec.timeout != _DEFAULT_TIMEOUT:
        parts.append(f"timeout{int(spec.timeout)}")
    if spec.preload:
        parts.append("preload")
    return "_".join(parts)


def _gunicorn_at_once(spec: ServerSpec, concurrency: int, interface: Interface) -> int:
    # A request's data lives while its handler runs (CPython frees it by reference
    # counting when the handler returns), so this is how many handlers run at once.
    if spec.worker_class == "sync":  # one request per worker, the rest wait in the queue
        return min(concurrency, spec.workers)
    if spec.worker_class == "gthread":  # one request per thread
        return min(concurrency, spec.workers * spec.threads)
    # gevent: up to worker_connections (1000) greenlets per worker; an array is built
    # between yields, but handlers that built theirs keep them while they wait. uvicorn's
    # worker: an event loop that accepts every request.
    return concurrency


def _gunicorn_per_process(spec: ServerSpec, at_once: int, interface: Interface) -> int:
    if spec.worker_class == "sync":
        return min(at_once, 1)
    if spec.worker_class == "gthread":
        return min(at_once, spec.threads)
    return at_once


def _gunicorn_packages(spec: ServerSpec) -> tuple[Package, ...]:
    extra = {
        # gunicorn 27's gevent worker imports packaging without declaring it.
        "gevent": (Package(("gevent",), "gevent"), Package(("packaging",), "packaging")),
        "uvicorn": (Package(("uvicorn_worker", "uvicorn.workers"), "uvicorn-worker"),),
    }.get(spec.worker_class, ())
    return (Package(("gunicorn",), "gunicorn"), *extra)


def _uvicorn_command(spec: ServerSpec, port: int, target: Target) -> list[str]:
    return [
        target.python, "-m", "uvicorn",
        "--host", HOST, "--port", str(port),
        "--workers", str(spec.workers),
        "--interface", "asgi3",
        # One log line per request would grow the log with the load, not with what happened.
        "--no-access-log",
        target.app,
    ]  # fmt: skip


def _waitress_command(spec: ServerSpec, port: int, target: Target) -> list[str]:
    return [
        target.python, "-m", "waitress",
        f"--host={HOST}", f"--port={port}",
        f"--threads={spec.threads}",
        target.app,
    ]  # fmt: skip


def _granian_command(spec: ServerSpec, port: int, target: Target) -> list[str]:
    command = [
        target.python, "-m", "granian",
        "--interface", target.interface,
        "--host", HOST, "--port", str(port),
        "--workers", str(spec.workers),
        "--no-ws",
    ]  # fmt: skip
    if target.interface == "wsgi":
        # granian 2.x runs a WSGI app's handlers on its blocking threads (per worker): the
        # requests a worker handles at once. Its default (half the backpressure, 512) is
        # replaced by the spec's, 1 unless :t<N> says more. ASGI runs on one event loop.
        command += ["--blocking-threads", str(spec.threads)]
    if spec.max_rss:
        command += ["--workers-max-rss", str(spec.max_rss)]
    return [*command, target.app]


def _granian_label(spec: ServerSpec) -> str:
    label = f"granian_w{spec.workers}_t{spec.threads}"
    return f"{label}_rss{spec.max_rss}" if spec.max_rss else label


def _granian_at_once(spec: ServerSpec, concurrency: int, interface: Interface) -> int:
    if interface == "asgi":
        return concurrency
    return min(concurrency, spec.workers * spec.threads)


def _granian_per_process(spec: ServerSpec, at_once: int, interface: Interface) -> int:
    return at_once if interface == "asgi" else min(at_once, spec.threads)


def _same(spec: ServerSpec, at_once: int, interface: Interface) -> int:
    return at_once


_WSGI: tuple[Interface, ...] = ("wsgi",)
_ASGI: tuple[Interface, ...] = ("asgi",)


@dataclass(frozen=True)
class Kind:
    """A server kind: what it needs, what it serves, how it starts, what it holds.

    settings: the ``ServerSpec`` fields it takes (others must stay at their defaults).
    defaults: values its bare name means, where they differ from ``ServerSpec``'s.
    grammar: its spec form, for error messages.
    takes_settings: it takes gunicorn's settings (workers, worker class, threads, timeout).
    forks_workers: worker processes of its own, which then count their metrics in
      prometheus_client's multiprocess directory.
    label: the stem of its runs' file names (``dev``, ``prod``, ``uvicorn``...); ``labelled``
      makes a spec's whole label.
    packages(spec): what it needs in the app's environment.
    interfaces(spec): what it serves (``wsgi``, ``asgi``).
    command(spec, port, target): its argv.
    answering(spec): processes that must each answer before it is ready; they are also the
      processes that run the app's handlers.
    at_once(spec, concurrency, interface): requests it holds in memory at once.
    per_process(spec, at_once, interface): of those, what one process holds.
    """

    name: ServerKind
    settings: tuple[str, ...]
    grammar: str
    forks_workers: bool
    label: str
    labelled: Callable[[ServerSpec], str]
    packages: Callable[[ServerSpec], tuple[Package, ...]]
    interfaces: Callable[[ServerSpec], tuple[Interface, ...]]
    command: Callable[[ServerSpec, int, Target], list[str]]
    answering: Callable[[ServerSpec], int]
    at_once: Callable[[ServerSpec, int, Interface], int]
    per_process: Callable[[ServerSpec, int, Interface], int] = _same
    defaults: Mapping[str, int] = field(default_factory=dict)

    @property
    def takes_settings(self) -> bool:
        """Whether it takes gunicorn's settings (``--workers``, ``--worker-class``...)."""
        return "worker_class" in self.settings


KIND_TABLE: Final[dict[str, Kind]] = {
    # werkzeug's dev server: one process, a new thread per connection (threaded, as
    # Flask.run), so every parallel request holds its data at once; `single` serves one at a
    # time; `debug` is the seminar's app.run(debug=True): the reloader's parent process
    # watches files, its child serves (threaded).
    "flask-dev": Kind(
        "flask-dev",
        settings=("mode",),
        grammar="flask-dev[:single|debug]",
        forks_workers=False,
        label="dev",
        labelled=_flask_dev_label,
        packages=lambda spec: (Package(("werkzeug",), "flask"),),
        interfaces=lambda spec: _WSGI,
        command=_flask_dev_command,
        answering=lambda spec: 1,
        at_once=lambda spec, concurrency, interface: 1 if spec.mode == "single" else concurrency,
    ),
    "gunicorn": Kind(
        "gunicorn",
        settings=("workers", "worker_class", "threads", "timeout", "preload"),
        grammar="gunicorn[:w<workers>][:sync|gthread|gevent|uvicorn][:t<threads>][:timeout<s>]"
        "[:preload]",
        forks_workers=True,
        label="prod",
        labelled=_gunicorn_label,
        packages=_gunicorn_packages,
        interfaces=lambda spec: _ASGI if spec.worker_class == "uvicorn" else _WSGI,
        command=_gunicorn_command,
        answering=lambda spec: spec.workers,
        at_once=_gunicorn_at_once,
        per_process=_gunicorn_per_process,
    ),
    # ASGI only; one event loop per worker process, which accepts every request it is sent.
    "uvicorn": Kind(
        "uvicorn",
        settings=("workers",),
        grammar="uvicorn[:w<workers>]",
        forks_workers=True,
        label="uvicorn",
        labelled=lambda spec: f"uvicorn_w{spec.workers}",
        packages=lambda spec: (Package(("uvicorn",), "uvicorn"),),
        interfaces=lambda spec: _ASGI,
        command=_uvicorn_command,
        answering=lambda spec: spec.workers,
        at_once=lambda spec, concurrency, interface: concurrency,
    ),
    # WSGI only; one process whose thread pool (`--threads`, 4 by default) runs the handlers.
    "waitress": Kind(
        "waitress",
        settings=("threads",),
        grammar="waitress[:t<threads>]",
        forks_workers=False,
        label="waitress",
        labelled=lambda spec: f"waitress_t{spec.threads}",
        packages=lambda spec: (Package(("waitress",), "waitress"),),
        interfaces=lambda spec: _WSGI,
        command=_waitress_command,
        answering=lambda spec: 1,
        at_once=lambda spec, concurrency, interface: min(concurrency, spec.threads),
        defaults={"threads": 4},
    ),
    # WSGI and ASGI (`--interface`); worker processes under a main one; for WSGI each worker
    # runs handlers on `threads` blocking threads, for ASGI on one event loop.
    "granian": Kind(
        "granian",
        settings=("workers", "threads", "max_rss"),
        grammar="granian[:w<workers>][:t<threads>][:rss<MiB>]",
        forks_workers=True,
        label="granian",
        labelled=_granian_label,
        packages=lambda spec: (Package(("granian",), "granian"),),
        interfaces=lambda spec: ("wsgi", "asgi"),
        command=_granian_command,
        answering=lambda spec: spec.workers,
        at_once=_granian_at_once,
        per_process=_granian_per_process,
    ),
}
assert tuple(KIND_TABLE) == KINDS, "KIND_TABLE and ServerKind list the same kinds"
