"""What the client itself can carry, checked before the first request: time, sockets, memory.

A run the client cannot carry is refused up front, in one line that names the option to
change, rather than found out half-way: a client out of file descriptors fails its own
connects (EMFILE) at thousands a second, and those failures would read as the server's; a
schedule bigger than memory is OOM-killed with nothing to show. Three checks:

- ``check_seconds``: a duration, timeout or think time is finite, positive and at most
  ``MAX_SECONDS`` (a day): longer runs keep more than memory holds (every latency is
  kept for exact percentiles), and a 1e300 s value would overflow the clock arithmetic.
- ``ensure_descriptors``: every connection in flight is one descriptor. The soft
  RLIMIT_NOFILE is raised up to the hard one when that is enough (the process's own right,
  as servers and load tools do); beyond the hard limit the run is refused.
- ``ensure_memory``: what the run keeps per request (``BYTES_PER_REQUEST``, and
  ``BYTES_PER_RECORD`` for a burst, which keeps every record) must fit in half the memory
  available (the machine's, or the room left under this process's own cgroup limit or
  address-space limit).
"""

from __future__ import annotations

import math
import os
import resource
from pathlib import Path
from typing import Final

import psutil

from servelab.errors import LoadError
from servelab.units import format_size

MAX_SECONDS: Final = 86_400.0
# The recorder's arrays (latency, end, status, service time: 26 bytes in an open loop) and
# the summary's copies of them (sorting, the time series): measured peak about 60.
BYTES_PER_REQUEST: Final = 64
# A RequestRecord kept in a list (about 620 bytes with a 230-character body, measured with
# tracemalloc) and the summary's lists over the records.
BYTES_PER_RECORD: Final = 1536
# Descriptors besides the sockets: stdio, the epoll set, the records file, imports' files.
_FD_RESERVE: Final = 32


def check_seconds(name: str, value: float, *, zero_ok: bool = False) -> float:
    """``value`` if it is a finite number of seconds, > 0 (>= 0 with ``zero_ok``), at most a day."""
    low_ok = value >= 0 if zero_ok else value > 0
    if not (math.isfinite(value) and low_ok and value <= MAX_SECONDS):
        bound = ">= 0" if zero_ok else "> 0"
        subject = f"{name} must" if name else "must"
        raise LoadError(
            f"{subject} be {bound} and at most {MAX_SECONDS:,.0f} seconds (a day), not {value:g}"
        )
    return value


def open_descriptors() -> int:
    """How many file descriptors this process has open now."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return psutil.Process().num_fds()


def ensure_descriptors(sockets: int, option: str) -> None:
    """Make room for ``sockets`` connections at once, or refuse naming ``option``."""
    needed = open_descriptors() + sockets + _FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or needed <= soft:
        return
    if hard == resource.RLIM_INFINITY or needed <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        return
    room = max(0, hard - (needed - sockets))
    raise LoadError(
        f"{sockets:,} connections at once need {needed:,} open files, but this process may "
        f"open at most {hard:,} (ulimit -n): lower {option} to {room:,} or less, or raise "
        "the hard limit (e.g. ulimit -Hn 65536 as root)"
    )


def available_memory() -> int:
    """Bytes this process can still take: the machine's available memory, or less when its
    own cgroup's limit or its address-space limit (RLIMIT_AS) leaves less room."""
    rooms = [int(psutil.virtual_memory().available), _cgroup_room(), _address_space_room()]
    return min(room for room in rooms if room is not None)


def _address_space_room() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(0, soft - int(psutil.Process().memory_info().vms))


def ensure_memory(requests: float, per_request: int, what: str, option: str) -> None:
    """Refuse a run of ``requests`` keeping ``per_request`` bytes each that does not fit in
    half the available memory; the message names ``option``."""
    available = available_memory()
    needed = requests * per_request
    if needed <= available / 2:
        return
    at_most = available // 2 // per_request
    count = f"{requests:,.0f}" if requests < 1e15 else f"{requests:.3g}"
    size = format_size(int(needed)) if needed < 2**62 else f"{needed:.3g} bytes"
    raise LoadError(
        f"{what}: {count} requests need about {size} of memory, but {format_size(available)} "
        f"is available: lower {option} (at most {at_most:,} requests here)"
    )


def _cgroup_room() -> int | None:
    """Limit minus usage of this process's memory cgroup (v2 or v1), None when unlimited."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            base = Path("/sys/fs/cgroup") / path.lstrip("/")
            limit, usage = base / "memory.max", base / "memory.current"
        elif "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            limit, usage = base / "memory.limit_in_bytes", base / "memory.usage_in_bytes"
        else:
            continue
        try:
            text = limit.read_text().strip()
            if text == "max" or int(text) >= 2**60:
                return None
            return max(0, int(text) - int(usage.read_text()))
        except (OSError, ValueError):
            return None
    return None
