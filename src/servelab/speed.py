"""The machine's speed right now: the CPU time of a small fixed task, taken between steps.

    seconds = reference_seconds()     # about 20 ms of this thread's CPU here

Steal time and other processes (``servelab.noise``) are what the lab can see of a busy
machine. A virtual machine's host can also slow its guest without either showing (caches,
memory bandwidth and cores shared with neighbours). Measured here, with nothing else
running and steal near 0: the task below takes 4.1 ms in one state of the host and 6.4-7.3 ms
in the other. The host switches between them within seconds and sometimes stays slow for a
minute, and a CPU-bound server's CPU per request follows. Over 5 searches of one cell
(gunicorn gthread, the cpu workload), with the task timed every 2 s by a separate process,
its median was 4.1 ms in four searches and 5.9 ms in the fifth. The server's CPU per request
went from 29-32 ms to 37 ms, and the capacity from 62-68 requests/s to 53. That 53 was a
lower bound: the slowed machine slowed the load client too, and the search said so.

So a capacity search times this task before every step (``study.sweep.capacity``), and the
report sets each CPU-bound cell's median against the fastest one's, so a reader can tell a
slower server from a slower machine. It is a hint, not a correction: the task runs on
whichever of the vCPUs the lab's thread is on, and a host that slows one vCPU at a time can
time another one than a single-process server runs on. In one sweep here it timed the
steps of the 1-worker cell 53% slower, but that cell's CPU per request (41 ms) and capacity
(25 req/s) were those of the sweep before it. So the report names the cells and says what a
slower machine would do to them. It changes no number.

The task is pure-Python arithmetic on small ints, with no allocation and no system call, so
it measures the CPU and nothing of the allocator's or the kernel's state. It runs in the lab's
process on the calling thread. The CPU time is that thread's, so the waits of a descheduled
moment do not count. The median of ``REPEATS`` runs is taken, so one run that straddles a
switch of the host does not decide it. The lab's load engine is idle between steps, so the
task takes nothing from a measured window.
"""

from __future__ import annotations

import statistics
import time
from typing import Final

__all__ = ["REPEATS", "TASK_ITERATIONS", "reference_seconds"]

REPEATS: Final = 5
TASK_ITERATIONS: Final = 100_000


def _task(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i * i
    return total


def reference_seconds(repeats: int = REPEATS, iterations: int = TASK_ITERATIONS) -> float:
    """The median CPU seconds (this thread's) of ``repeats`` runs of the task."""
    if repeats < 1 or iterations < 1:
        raise ValueError(f"repeats and iterations must be >= 1, not {repeats}, {iterations}")
    times = []
    for _ in range(repeats):
        began = time.thread_time()
        _task(iterations)
        times.append(time.thread_time() - began)
    return round(statistics.median(times), 6)
