"""Who served it, for any WSGI or ASGI app: the served-by middleware servelab injects.

This file runs inside the user's own environment, where servelab and its dependencies are
not installed: it imports the standard library only, works on Python 3.9+, and sits alone in
its directory, so that directory can go first on any server's ``PYTHONPATH``.

    SERVELAB_APP=pkg.module:attr  gunicorn servelab_served_by:app

``app`` (looked up lazily, on first access) is the user's app from ``SERVELAB_APP``, wrapped
so that EVERY response carries the headers servelab's own service sends
(servelab/service/headers.py):

- ``X-Servelab-Pid``: the process that ran the handler;
- ``X-Servelab-Thread``: its native thread id (``threading.get_native_id()``);
- ``X-Servelab-Start``: the handler's start, ``time.time()`` with 6 decimals;
- ``Server-Timing: handler;dur=<ms>``: how long the handler took. WSGI: from the call of the
  app until it returned its body iterable (or until it called ``start_response``, if it did so
  later, from inside the iterable); streaming the body is not counted. ASGI: from the call of
  the app until it sent ``http.response.start``.

An ASGI app is a coroutine function (or an object whose ``__call__`` is one) taking
``(scope, receive, send)``; any other callable is taken for a WSGI app ``(environ,
start_response)``. ASGI ``lifespan`` and ``websocket`` scopes pass through untouched.

``UvicornWorker`` is the gunicorn worker class for ASGI apps found in this environment
(``uvicorn_worker.UvicornWorker``, else the older ``uvicorn.workers.UvicornWorker``).

Run as a program:
    python -m servelab_served_by detect          import SERVELAB_APP, print its interface
    python -m servelab_served_by dev HOST PORT MODE [TARGET]
                                                 werkzeug's dev server (MODE: threaded,
                                                 single or debug) serving TARGET
                                                 (default: the wrapped app)
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

# Annotations only (never evaluated, thanks to the __future__ import): ``X | Y`` is fine on 3.9.
Write = Callable[[bytes], object]
StartResponse = Callable[..., Write]

APP_ENV = "SERVELAB_APP"
DETECT_MARK = "servelab-served-by-interface:"
ERROR_MARK = "servelab-served-by-error:"
PID = "X-Servelab-Pid"
THREAD = "X-Servelab-Thread"
START = "X-Servelab-Start"
SERVER_TIMING = "Server-Timing"
# An app's own copies (servelab's service sends them too) give way to the shim's: one each.
_OURS = frozenset(name.lower() for name in (PID, THREAD, START, SERVER_TIMING))
# Exit code of ``detect`` when the app cannot be imported or is not an app.
EXIT_BAD_APP = 3

_loaded: dict[str, Any] = {}
_load_lock = threading.Lock()


def import_target(ref: str) -> Any:
    """The object ``module:attr`` (``attr`` may be dotted) names."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"app reference {ref!r} is not module:attr")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AttributeError(f"module {module_name!r} has no attribute {attr!r}") from None
    return target


def interface_of(app: Any) -> str:
    """``asgi`` or ``wsgi``; a TypeError for what is neither."""
    if inspect.isclass(app):
        raise TypeError(f"{app.__name__} is a class, not an app: name an instance of it")
    if not callable(app):
        raise TypeError(f"{type(app).__name__!r} object is not a WSGI or ASGI app: not callable")
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else app.__call__
    if inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(call):
        return "asgi"
    return "wsgi"


def wrap(app: Any) -> Any:
    """``app`` with the served-by headers added to every response."""
    if interface_of(app) == "asgi":
        return ServedByASGI(app)
    return ServedByWSGI(app)


def _values(start: float) -> list[tuple[str, str]]:
    return [
        (PID, str(os.getpid())),
        (THREAD, str(threading.get_native_id())),
        (START, f"{start:.6f}"),
    ]


def _timing(began: float) -> tuple[str, str]:
    return (SERVER_TIMING, f"handler;dur={(time.perf_counter() - began) * 1000.0:.3f}")


class ServedByWSGI:
    """A WSGI app whose responses say who served them.

    ``start_response`` is held back until the app has returned its body iterable, so that the
    duration covers the handler's work (Flask, for one, calls it before returning); an app that
    calls it later (from a generator) or writes through ``write()`` sends at that moment.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        began = time.perf_counter()
        served_by = _values(time.time())
        held: list[tuple[str, list[tuple[str, str]], Any]] = []
        writer: list[Write] = []  # the server's write(), once the headers went out
        returned = False

        def send() -> Write:
            status, headers, exc_info = held.pop()
            own = [h for h in headers if h[0].lower() not in _OURS]
            out = own + served_by + [_timing(began)]
            writer[:] = [start_response(status, out, exc_info)]
            return writer[0]

        def write(data: bytes) -> object:
            return (send() if held else writer[0])(data)

        def held_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Write:
            if exc_info is not None and writer:
                # PEP 3333: too late to change the headers; the server re-raises.
                return start_response(status, headers, exc_info)
            held[:] = [(status, headers, exc_info)]
            return send() if returned else write

        body = self.app(environ, held_start_response)
        returned = True
        if held:
            send()
        return body


class ServedByASGI:
    """An ASGI app whose HTTP responses say who served them."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        start = time.time()
        began = time.perf_counter()
        served_by = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in _values(start)]

        async def served_send(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                name, value = _timing(began)
                timing = name.lower().encode("latin-1")
                headers = [
                    h
                    for h in message.get("headers", [])
                    if bytes(h[0]).decode("latin-1").lower() not in _OURS
                ]
                message = dict(message)
                message["headers"] = headers + served_by + [(timing, value.encode("latin-1"))]
            await send(message)

        await self.app(scope, receive, served_send)


def load_app() -> Any:
    """The wrapped app named by ``SERVELAB_APP``, imported once per process."""
    with _load_lock:
        if "app" not in _loaded:
            ref = os.environ.get(APP_ENV, "")
            if not ref:
                raise RuntimeError(f"{APP_ENV} is not set: it names the app to serve")
            _loaded["app"] = wrap(import_target(ref))
        return _loaded["app"]


def uvicorn_worker() -> Any:
    """gunicorn's worker class for ASGI apps, from whichever package this environment has."""
    try:
        return importlib.import_module("uvicorn_worker").UvicornWorker
    except ImportError:
        return importlib.import_module("uvicorn.workers").UvicornWorker


def __getattr__(name: str) -> Any:
    # Lazy, so that ``detect`` and the dev runner can import this module without the app.
    if name == "app":
        return load_app()
    if name == "UvicornWorker":
        return uvicorn_worker()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _detect() -> int:
    ref = os.environ.get(APP_ENV, "")
    try:
        interface = interface_of(import_target(ref))
    except BaseException as error:  # whatever the app's import raised
        if isinstance(error, KeyboardInterrupt):
            raise
        # The app's frames only: the shim's and importlib's would crowd out the ones that say
        # which line of the app failed.
        frames = [
            frame
            for frame in traceback.extract_tb(error.__traceback__)
            if frame.filename not in (__file__, importlib.__file__)
            and not frame.filename.startswith("<frozen")
        ]
        sys.stderr.write("Traceback (most recent call last):\n")
        sys.stderr.writelines(traceback.format_list(frames))
        sys.stderr.writelines(traceback.format_exception_only(type(error), error))
        text = " ".join(str(error).split())
        print(f"{ERROR_MARK} {type(error).__name__}: {text}", file=sys.stderr)
        return EXIT_BAD_APP
    sys.stdout.flush()
    print(f"{DETECT_MARK} {interface}")
    return 0


def _dev(host: str, port: str, mode: str, target: str = "servelab_served_by:app") -> int:
    from werkzeug.serving import run_simple

    # The reloader's child re-runs this same command; both import the app, as the seminar's
    # ``app.run(debug=True)`` did.
    served = import_target(target)
    debug = mode == "debug"
    run_simple(
        host,
        int(port),
        served,
        threaded=mode != "single",
        use_reloader=debug,
        use_debugger=debug,
    )
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["detect"] and len(argv) == 1:
        return _detect()
    if argv[:1] == ["dev"] and len(argv) in (4, 5):
        return _dev(*argv[1:])
    print(
        "usage: python -m servelab_served_by detect | dev HOST PORT MODE [TARGET]",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
