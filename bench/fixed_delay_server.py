"""An HTTP server that answers every request exactly D ms after the request arrived.

It is the yardstick for a load generator's timing error: whatever a client measures
beyond D is the client's own overhead (plus a loopback round trip, some tens of µs).
"Arrived" is the instant the request's head (up to the blank line) has been read.

One thread per connection, blocking sockets, keep-alive (HTTP/1.1 unless the client
says ``Connection: close``). The wait is ``time.sleep`` to an absolute deadline
(``clock_nanosleep`` on Linux), not an event loop: asyncio wakes on epoll's millisecond
ticks and would add up to a millisecond of its own. What the server really took is sent
back as ``Server-Timing: handler;dur=<ms>``, and ``GET /__stats`` answers (and resets)
how late the server itself was, so its own lateness is measured, not assumed.

Not a general HTTP server: no chunked bodies, no pipelining guarantees; loopback unless
``--host`` says otherwise (an address inside a test's network namespace).

    python bench/fixed_delay_server.py --delay-ms 20 --lifetime 300
    # prints "listening on 127.0.0.1:PORT", then serves until killed or LIFETIME passes
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import sys
import threading
import time

_HEAD_LIMIT = 64 * 1024


class _Lateness:
    """Seconds each response left after its deadline, kept until read by ``/__stats``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._late: list[float] = []

    def add(self, seconds: float) -> None:
        with self._lock:
            self._late.append(seconds)

    def take(self) -> dict[str, float | int | None]:
        with self._lock:
            late, self._late = self._late, []
        if not late:
            return {"responses": 0, "late_ms_median": None, "late_ms_p99": None}
        late.sort()
        return {
            "responses": len(late),
            "late_ms_median": round(statistics.median(late) * 1e3, 4),
            "late_ms_p99": round(late[min(len(late) - 1, int(0.99 * len(late)))] * 1e3, 4),
            "late_ms_max": round(late[-1] * 1e3, 4),
        }


def _response(status: str, body: bytes, extra: str, close: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        f"{extra}Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _serve_connection(conn: socket.socket, delay: float, lateness: _Lateness) -> None:
    # A client that resets its connection at the end of its run is no error of ours.
    with contextlib.suppress(OSError):
        _exchange(conn, delay, lateness)


def _exchange(conn: socket.socket, delay: float, lateness: _Lateness) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buffer:
                if len(buffer) > _HEAD_LIMIT:
                    return
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            arrived = time.perf_counter()
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            _method, path, version = [*lines[0].split(" "), "", "", ""][:3]
            fields = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip().lower()
            length = int(fields.get("content-length", "0") or "0")
            while len(buffer) < length:  # a body, if any, is read and dropped
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            buffer = buffer[length:]
            connection = fields.get("connection", "")
            close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
            if path == "/__stats":
                conn.sendall(_response("200 OK", json.dumps(lateness.take()).encode(), "", close))
            else:
                deadline = arrived + delay
                remaining = deadline - time.perf_counter()
                if remaining > 0:
                    time.sleep(remaining)
                sent = time.perf_counter()
                timing = f"Server-Timing: handler;dur={(sent - arrived) * 1e3:.4f}\r\n"
                conn.sendall(_response("200 OK", b"ok", timing, close))
                lateness.add(sent - deadline)
            if close:
                return


def serve(port: int, delay: float, lifetime: float, host: str = "127.0.0.1") -> None:
    """Listen on ``host``:``port`` (0: any free port) until ``lifetime`` seconds pass."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1024)
    listener.settimeout(0.5)
    host, bound = listener.getsockname()
    print(f"listening on {host}:{bound}", flush=True)
    lateness = _Lateness()
    stop_at = time.monotonic() + lifetime
    while time.monotonic() < stop_at:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        conn.settimeout(None)
        threading.Thread(
            target=_serve_connection, args=(conn, delay, lateness), daemon=True
        ).start()
    listener.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (a test's namespace)"
    )
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument(
        "--lifetime", type=float, default=600.0, help="seconds before it stops by itself"
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.port, args.delay_ms / 1e3, args.lifetime, args.host)
    return 0


if __name__ == "__main__":
    sys.exit(main())
