"""A tiny ASGI app written against the raw ASGI protocol (no framework), so it needs only a
server: served in the tests from a second venv that has only the servers.

    GET /health         200 "ok"
    GET /sleep?s=0.2    200 after awaiting a sleep
    anything else       404
It answers the lifespan protocol too (uvicorn and granian send it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/sleep":
        query = parse_qs(scope.get("query_string", b"").decode())
        await asyncio.sleep(float(query.get("s", ["0.2"])[0]))
    status, body = (200, b"ok") if path in ("/health", "/sleep") else (404, b"not found")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})
