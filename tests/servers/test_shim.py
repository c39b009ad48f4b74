"""The served-by shim in-process: the headers on every response, WSGI and ASGI, and what it
may use (the standard library, Python 3.9's syntax)."""

from __future__ import annotations

import ast
import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from servelab.servers import SHIM_DIR
from servelab.servers.shim import servelab_served_by as shim

SHIM_FILE = SHIM_DIR / "servelab_served_by.py"
Headers = list[tuple[str, str]]


def _duration(value: str) -> float:
    match = re.fullmatch(r"handler;dur=([0-9.]+)", value)
    assert match is not None, value
    return float(match.group(1))


def _call_wsgi(app: Any) -> tuple[str, dict[str, str], bytes, list[bytes]]:
    sent: list[tuple[str, Headers]] = []
    written: list[bytes] = []

    def start_response(status: str, headers: Headers, exc_info: Any = None) -> Any:
        sent.append((status, headers))
        return written.append

    body = b"".join(shim.wrap(app)({"PATH_INFO": "/"}, start_response))
    (status, headers), *more = sent
    assert not more
    names = [name.lower() for name, _ in headers]
    assert len(names) == len(set(names)), names  # nothing twice (Server-Timing replaced)
    return status, dict(headers), body, written


def test_wsgi_headers_cover_the_handler_until_it_returns_its_body() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        own = [("Server-Timing", "app;dur=1"), ("x-servelab-pid", "1"), ("X-Own", "1")]
        start_response("201 Created", own)
        time.sleep(0.05)  # work after start_response, as a Flask view's teardown would
        return [b"made"]

    before = time.time()
    status, headers, body, _ = _call_wsgi(app)
    assert (status, body, headers["X-Own"]) == ("201 Created", b"made", "1")
    assert int(headers["X-Servelab-Pid"]) > 0 and headers["X-Servelab-Thread"].isdigit()
    assert before <= float(headers["X-Servelab-Start"]) <= time.time()
    assert re.fullmatch(r"\d+\.\d{6}", headers["X-Servelab-Start"])
    assert _duration(headers["Server-Timing"]) >= 50.0


def test_wsgi_an_app_that_starts_the_response_inside_its_iterable() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        time.sleep(0.02)
        start_response("200 OK", [])
        yield b"late"

    _, headers, body, _ = _call_wsgi(app)
    assert body == b"late" and "X-Servelab-Pid" in headers
    assert _duration(headers["Server-Timing"]) >= 20.0


def test_wsgi_an_app_that_writes_through_write() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [])
        write(b"old ")
        write(b"style")
        return []

    _, headers, _, written = _call_wsgi(app)
    assert written == [b"old ", b"style"] and "Server-Timing" in headers


def _run_asgi(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(shim.wrap(app)(scope, receive, send))
    return sent


def test_asgi_headers_are_added_at_the_response_start() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(0.03)
        own = [(b"x-own", b"1"), (b"X-Servelab-Thread", b"1")]
        await send({"type": "http.response.start", "status": 200, "headers": own})
        await send({"type": "http.response.body", "body": b"ok"})

    start, body = _run_asgi(app, {"type": "http", "path": "/"})
    names = [k.decode().lower() for k, _ in start["headers"]]
    assert len(names) == len(set(names)), names  # the app's copy gave way to the shim's
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert headers["x-own"] == "1" and headers["x-servelab-thread"].isdigit()
    assert int(headers["x-servelab-pid"]) > 0 and float(headers["x-servelab-start"]) > 0
    assert _duration(headers["server-timing"]) >= 30.0
    assert body == {"type": "http.response.body", "body": b"ok"}


def test_asgi_lifespan_passes_through_untouched() -> None:
    message = {"type": "lifespan.startup.complete"}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send(message)

    sent = _run_asgi(app, {"type": "lifespan"})
    assert sent == [message] and sent[0] is message


class _Instance:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        return None


async def _asgi(scope: Any, receive: Any, send: Any) -> None:
    return None


def _wsgi(environ: Any, start_response: Any) -> list[bytes]:
    return []


@pytest.mark.parametrize(
    ("app", "interface"), [(_asgi, "asgi"), (_Instance(), "asgi"), (_wsgi, "wsgi")]
)
def test_interface_of_apps(app: Any, interface: str) -> None:
    assert shim.interface_of(app) == interface


@pytest.mark.parametrize(
    ("thing", "message"),
    [
        (_Instance, "_Instance is a class, not an app"),
        (42, "'int' object is not a WSGI or ASGI app: not callable"),
    ],
)
def test_what_is_not_an_app(thing: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        shim.interface_of(thing)


def test_the_shim_is_python_3_9_syntax() -> None:
    ast.parse(SHIM_FILE.read_text(), feature_version=(3, 9))


def test_the_shim_imports_only_the_standard_library() -> None:
    code = (
        "import json, sys; import servelab_served_by;"
        " print(json.dumps(sorted(set(m.split('.')[0] for m in sys.modules))))"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path.insert(0, {str(SHIM_DIR)!r}); {code}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    modules = set(json.loads(out.stdout)) - {"servelab_served_by", "__main__"}
    assert modules <= set(sys.stdlib_module_names) | set(sys.builtin_module_names)
    assert sorted(p.name for p in SHIM_DIR.iterdir() if p.suffix == ".py") == [SHIM_FILE.name]
