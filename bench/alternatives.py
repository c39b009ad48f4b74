"""``make bench-alternatives``: servelab's closed loop against the other ways to build it.

Issue 17 asked to weigh, by measurement, how to bring the engine's cost per request down to
wrk's: compile the Python (mypyc), a C extension, or uvloop with raw protocols and
httptools in place of the own reactor and parser. This script runs, in one process and
alternating, the same closed loop against the same gunicorn target:

- ``servelab C``: ``run_closed`` on the C loop (``servelab.load.speedups``);
- ``servelab pure``: ``run_closed`` on the pure-Python loop;
- ``uvloop + httptools``: a closed loop written the way those libraries are meant to be
  used for speed: an ``asyncio.Protocol`` per connection on uvloop's event loop, each
  response parsed by ``httptools.HttpResponseParser``, a future per request, a connection
  per request against a server that closes them, latencies into an ``array`` as servelab
  keeps them.

Each run's CPU is this process's own (``getrusage``) over the run, divided by the requests
it completed: the cost of the loop alone, without start-up. (mypyc was measured by
compiling the pure loop's modules; see bench/README.md.)

    .venv/bin/python -m bench.alternatives [--rounds 3] [--duration 6] [--concurrency 1,50]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import servelab.load.speedups as speedups
from bench.measure import Gunicorn, wait_for_quiet
from servelab.load import RequestSpec, run_closed

GET = RequestSpec(method="GET")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def servelab_loop(native: bool) -> Callable[[str, int, float], int]:
    def run(url: str, concurrency: int, duration: float) -> int:
        kept = speedups.native
        if not native:
            speedups.native = None
        try:
            return run_closed(url, concurrency=concurrency, duration=duration, request=GET).ok
        finally:
            speedups.native = kept

    return run


class _Response(asyncio.Protocol):
    """One connection: feeds httptools, resolves the request's future when a response ends."""

    def __init__(self) -> None:
        import httptools

        self.parser: Any = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[bool] | None = None
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport's
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(bool(self.parser.should_keep_alive()))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionResetError("closed"))


def uvloop_httptools(url: str, concurrency: int, duration: float) -> int:
    import uvloop

    host, port = url.split("//")[1].rstrip("/").split(":")
    request = f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    latencies: array[float] = array("d")

    async def user(end: float) -> None:
        loop = asyncio.get_running_loop()
        proto: _Response | None = None
        while time.perf_counter() < end:
            start = time.perf_counter_ns()
            if proto is None or proto.closed:
                _, proto = await loop.create_connection(_Response, host, int(port))
            proto.waiter = loop.create_future()
            assert proto.transport is not None
            proto.transport.write(request)
            keep = await proto.waiter
            latencies.append((time.perf_counter_ns() - start) * 1e-9)
            if not keep:
                proto.transport.close()
                proto = None
        if proto is not None and proto.transport is not None:
            proto.transport.close()

    async def main() -> None:
        end = time.perf_counter() + duration
        await asyncio.gather(*(user(end) for _ in range(concurrency)))

    uvloop.run(main())
    return len(latencies)


LOOPS: dict[str, Callable[[str, int, float], int]] = {
    "servelab C": servelab_loop(True),
    "servelab pure": servelab_loop(False),
    "uvloop + httptools": uvloop_httptools,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--concurrency", default="1,50")
    parser.add_argument("--targets", default="sync,gthread")
    args = parser.parse_args(argv)
    if speedups.native is None:
        print("the C loop is not built here (pip install -e .)", file=sys.stderr)
        return 1
    rows: dict[tuple[str, int, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="servelab-alternatives-") as tmp:
        for kind in args.targets.split(","):
            with Gunicorn(2, kind, Path(tmp) / f"{kind}.log") as target:
                for concurrency in (int(c) for c in args.concurrency.split(",")):
                    for warm_up in LOOPS.values():  # once each, not counted
                        warm_up(target.url, concurrency, 1.0)
                    for _ in range(args.rounds):
                        for name, loop in LOOPS.items():
                            wait_for_quiet(5.0)
                            cpu, began = _cpu(), time.perf_counter()
                            done = loop(target.url, concurrency, args.duration)
                            wall, spent = time.perf_counter() - began, _cpu() - cpu
                            rows.setdefault((kind, concurrency, name), []).append(
                                (done / wall, spent / done * 1e6)
                            )
    print("| target | connections | loop | requests/s | client CPU per request (us) |")
    print("|---|--:|---|--:|--:|")
    for (kind, concurrency, name), runs in rows.items():
        rps = sorted(r for r, _ in runs)[len(runs) // 2]
        cost = sorted(c for _, c in runs)[len(runs) // 2]
        print(f"| {kind} | {concurrency} | {name} | {rps:,.0f} | {cost:.1f} |")
    print(f"\nmedians of {args.rounds} alternating rounds of {args.duration:g} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
