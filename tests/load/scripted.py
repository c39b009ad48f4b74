"""Scripted servers: a listening socket on loopback that treats each client with a script,
for what a real server cannot be made to do on cue (cut a response, answer garbage, hold)."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Script = Callable[[socket.socket], None]


@contextmanager
def scripted(script: Script, connections: int = 1) -> Iterator[str]:
    """A server that treats each of ``connections`` clients with ``script``."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5.0)
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(connections):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.settimeout(5.0)
            try:
                script(conn)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/x"
    finally:
        thread.join(timeout=6.0)
        listener.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"content-length:\s*(\d+)", head, re.IGNORECASE)
    while match and len(body) < int(match.group(1)):
        body += conn.recv(4096)
    return head


def replying(*responses: bytes) -> Script:
    """Answer one request per response on the same connection."""

    def script(conn: socket.socket) -> None:
        for response in responses:
            read_request(conn)
            conn.sendall(response)

    return script
