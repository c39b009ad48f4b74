"""Stand-in for ``servelab load --mode closed`` until the real engine lands; then deleted.

Same command line and JSON keys as the engine's brief: C closed-loop users on keep-alive
connections for S seconds, one GET each at a time; ``--out DIR`` writes records.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit


async def _user(
    host: str, port: int, path: str, stop_at: float, rows: list[dict[str, object]]
) -> int:
    errors = 0
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    while time.perf_counter() < stop_at:
        start = time.time()
        t0 = time.perf_counter()
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            close = False
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                elif name.lower() == b"connection" and value.strip().lower() == b"close":
                    close = True
            await reader.readexactly(length)
            status = int(head.split(b" ", 2)[1])
            ok = True
        except (OSError, asyncio.IncompleteReadError, ValueError):
            status, ok, close = 0, False, True
            errors += 1
        latency = time.perf_counter() - t0
        rows.append({"start": start, "latency": latency, "status": status, "ok": ok})
        if close:
            writer.close()
            reader, writer = await asyncio.open_connection(host, port)
    writer.close()
    return errors


async def _run(
    url: str, concurrency: int, duration: float
) -> tuple[list[dict[str, object]], float]:
    parts = urlsplit(url)
    rows: list[dict[str, object]] = []
    t0 = time.perf_counter()
    await asyncio.gather(
        *(
            _user(
                parts.hostname or "127.0.0.1",
                parts.port or 80,
                parts.path or "/",
                t0 + duration,
                rows,
            )
            for _ in range(concurrency)
        )
    )
    return rows, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--mode", default="closed")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows, elapsed = asyncio.run(_run(args.url, args.concurrency, args.duration))
    errors = sum(1 for row in rows if not row["ok"])
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        with (args.out / "records.jsonl").open("w") as fh:
            fh.writelines(json.dumps(row) + "\n" for row in rows)
    print(
        json.dumps(
            {
                "requests": len(rows),
                "errors": errors,
                "duration": elapsed,
                "throughput": len(rows) / elapsed,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
