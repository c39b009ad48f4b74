"""The memory guard: admission control by each request's estimated memory need.

A server process given a budget (``ServiceConfig.memory_budget``, env
``SERVELAB_MEMORY_BUDGET=256MiB``) admits a prediction only while the estimated memory of
all the predictions it is running at once, this one included, fits the budget:

- a request whose need alone exceeds the budget could never run: **413**, reason
  ``too-big`` (ask for a smaller n);
- a request that would push the in-flight total over the budget could run later: **503**
  with ``Retry-After``, reason ``busy``.

The estimate is ``BYTES_PER_ELEMENT[workload] x n``:

- ``cpu`` 44 bytes: the pure-Python list of n ints peaks at about 40-45 bytes per element
  here (an 8-byte pointer, a 28-byte int in a 32-byte pymalloc block, list over-allocation);
  44 sits at the top of that range, slightly conservative;
- ``numpy`` 8 bytes: one int64 array (``np.mean`` makes no full copy);
- ``io`` and ``model`` 0: they hold no array, so the guard always admits them.

Its limits, so a budget is chosen knowingly: the estimate counts the work's arrays, not
the interpreter, the imported modules, thread stacks or the allocator's fragmentation, and
it knows nothing of other processes. A budget is therefore the memory cap, minus what the
idle server already uses, minus a margin (10% of the cap is the lab's rule), divided by the
number of worker processes that share the cap (the budget is per process). The guard
never measures memory; it only keeps the sum of its own estimates under the budget.

One thing the guard does change in its process: it pins glibc's mmap threshold
(``return_freed_arrays``), so that a finished prediction's arrays go back to the kernel at
once instead of staying resident, unaccounted, in the allocator's arenas.

Thread-safe: the accounting is one lock around two additions, so it serves the threaded dev
server, gthread workers and gevent workers (whose monkey-patched lock never yields inside).
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

# Bytes per element of ``n`` each workload holds at its peak; see the module docstring.
BYTES_PER_ELEMENT: Final = {"cpu": 44, "numpy": 8, "io": 0, "model": 0}
# glibc's mallopt parameter for the mmap threshold, and the value it starts with.
_M_MMAP_THRESHOLD: Final = -3
_MMAP_THRESHOLD_BYTES: Final = 128 * 1024
# Seconds a 503 asks the client to wait: about one prediction at the sizes the lab studies.
RETRY_AFTER_SECONDS: Final = 1
MESSAGE_PREFIX: Final = "memory guard: "

__all__ = [
    "BYTES_PER_ELEMENT",
    "MESSAGE_PREFIX",
    "RETRY_AFTER_SECONDS",
    "GuardStats",
    "MemoryGuard",
    "Rejected",
    "estimate_bytes",
    "return_freed_arrays",
]


def estimate_bytes(workload: str, n: int) -> int:
    """Estimated peak bytes of one prediction: ``BYTES_PER_ELEMENT[workload] * n``.

    A workload the table does not know holds no array (0 bytes)."""
    return BYTES_PER_ELEMENT.get(workload, 0) * max(n, 0)


def return_freed_arrays() -> bool:
    """Make this process give a block over 128 KiB back to the kernel as soon as it is freed.

    glibc serves such a block with its own mmap and unmaps it on free, but raises that
    threshold to the size of each one freed (up to 32 MiB): after the first prediction, the
    next arrays of that size come from the heap and the per-thread arenas, where freed
    memory stays resident. A threaded server then holds freed arrays that no request in
    flight accounts for, and the guard's sum no longer bounds its memory. Measured here:
    the dev server in a 200 MiB cap, numpy at n = 3.55 M and a budget for 5 arrays at once
    (bound: 163 MiB with the idle server) peaked at 89-200 MiB over 8 bursts and was
    OOM-killed once; with the threshold pinned, 102-165 MiB and no kill. Setting it with
    ``mallopt`` also turns the raising off. Returns whether it took (glibc only).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False  # not glibc: its allocator has its own policy
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES) == 1)


def _mib(value: int) -> str:
    return f"{value / 2**20:.1f} MiB"


class Rejected(Exception):
    """A request the guard will not admit: 413 (too big alone) or 503 (not now).

    ``reason`` is ``too-big`` or ``busy``; ``retry_after`` is seconds for the
    ``Retry-After`` header, None for a 413 (retrying cannot help)."""

    def __init__(self, status: int, reason: str, message: str, retry_after: int | None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.retry_after = (
            status,
            reason,
            message,
            retry_after,
        )


@dataclass(frozen=True)
class GuardStats:
    """What the guard has done so far in this process."""

    budget: int | None
    in_flight_bytes: int
    in_flight_requests: int
    peak_in_flight_bytes: int
    admitted: int
    rejected_too_big: int
    rejected_busy: int


class MemoryGuard:
    """Admits a request only if its estimated memory fits the process's budget.

    ``budget`` in bytes; None turns the guard off (every request is admitted, nothing is
    counted). Use ``with guard.admit(workload, n): ...`` around the prediction: the
    estimate is released when the block ends, also when it raises.
    """

    def __init__(self, budget: int | None) -> None:
        if budget is not None and budget < 1:
            raise ValueError(f"a memory budget must be > 0 bytes, not {budget}")
        self.budget = budget
        self._lock = threading.Lock()
        self._in_flight = 0
        self._requests = 0
        self._peak = 0
        self._admitted = 0
        self._too_big = 0
        self._busy = 0

    def __repr__(self) -> str:
        budget = "off" if self.budget is None else f"{self.budget:,} bytes"
        return f"MemoryGuard(budget={budget}, in_flight={self._in_flight:,} bytes)"

    def _reserve(self, workload: str, n: int) -> int:
        need = estimate_bytes(workload, n)
        budget = self.budget
        assert budget is not None
        if need > budget:
            with self._lock:
                self._too_big += 1
            raise Rejected(
                413,
                "too-big",
                f"{MESSAGE_PREFIX}a {workload} prediction at n={n} needs about {_mib(need)}, "
                f"more than this server's whole budget of {_mib(budget)}; ask for a smaller n",
                None,
            )
        with self._lock:
            if self._in_flight + need > budget:
                self._busy += 1
                in_flight = self._in_flight
            else:
                self._in_flight += need
                self._requests += 1
                self._admitted += 1
                self._peak = max(self._peak, self._in_flight)
                return need
        raise Rejected(
            503,
            "busy",
            f"{MESSAGE_PREFIX}busy: {_mib(in_flight)} of predictions in flight, this one "
            f"needs about {_mib(need)} more, the budget is {_mib(budget)}; "
            f"retry after {RETRY_AFTER_SECONDS} s",
            RETRY_AFTER_SECONDS,
        )

    def _release(self, need: int) -> None:
        with self._lock:
            self._in_flight -= need
            self._requests -= 1

    @contextlib.contextmanager
    def admit(self, workload: str, n: int) -> Iterator[None]:
        """Hold the request's estimate for the block, or raise ``Rejected`` before it."""
        if self.budget is None:
            yield
            return
        need = self._reserve(workload, n)
        try:
            yield
        finally:
            self._release(need)

    def stats(self) -> GuardStats:
        with self._lock:
            return GuardStats(
                budget=self.budget,
                in_flight_bytes=self._in_flight,
                in_flight_requests=self._requests,
                peak_in_flight_bytes=self._peak,
                admitted=self._admitted,
                rejected_too_big=self._too_big,
                rejected_busy=self._busy,
            )
