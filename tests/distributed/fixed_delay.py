"""The bench's fixed-delay server for the distributed tests: a known latency, its own count.

It answers every request ``delay`` after it arrived and counts what it answered; ``GET
/__stats`` returns that count (and resets it), so a test compares the merged records with
the server's own count.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tests.helpers import REPO, http_request, process_group

SERVER = REPO / "bench" / "fixed_delay_server.py"


@dataclass(frozen=True)
class FixedDelayServer:
    port: int
    delay: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/x"

    def take_count(self) -> int:
        """Responses sent since the last call (the server resets its count)."""
        stats = json.loads(http_request(self.port, "GET", "/__stats").body)
        return int(stats["responses"])


@contextlib.contextmanager
def fixed_delay_server(
    delay: float, *, prefix: Sequence[str] = (), host: str = "127.0.0.1"
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The server (run under ``prefix``, e.g. ``ip netns exec NS``) and its port."""
    command = [
        *prefix,
        sys.executable,
        str(SERVER),
        "--delay-ms",
        f"{delay * 1e3:g}",
        "--lifetime",
        "300",
        "--host",
        host,
    ]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    with process_group(command, cwd=REPO, env=env, stdout=subprocess.PIPE) as process:
        assert process.stdout is not None
        line = process.stdout.readline().decode()  # "listening on HOST:PORT"
        assert line.startswith("listening on"), f"the fixed-delay server said {line!r}"
        yield process, int(line.rsplit(":", 1)[1])
