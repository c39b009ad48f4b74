"""The machine's speed right now: the CPU time of one fixed reference task.

    seconds = reference_seconds()     # about 0.3 s of wall time; None where it cannot run

Steal time and other processes (``servelab.noise``) are what the lab can see of a busy
machine. A virtual machine's host can also slow its guest without either showing: memory
bandwidth, caches and clock shared with neighbours. Here one gunicorn sync worker's server
CPU per request (the cpu workload) was 40 ms in two sweeps and 47-52 ms in one an hour
later, with steal under 2% and nothing else running, and every CPU-bound capacity fell by
as much. A capacity measured at another speed is another number: a sweep times this task
before each cell, so a reader sees whether its cells were measured on the same machine.

The task is the cpu workload's own (``service.workloads.predict_cpu``: a list of 1,000,000
ints built and summed: pure-Python work and the page faults of about 30 MiB, as a request
of it costs), in a fresh interpreter each time: a process's allocator remembers what it
served (``study.sweep.capacity``'s prime), and a fresh one is always in the same state. The
child reports the median CPU time (user + system) of ``REPEATS`` runs, so a descheduled
moment does not count and one slow run does not move it.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Final

__all__ = ["REFERENCE_N", "REPEATS", "reference_seconds"]

REFERENCE_N: Final = 1_000_000
REPEATS: Final = 5
_TIMEOUT: Final = 30.0

# Run by ``python -c``: the median CPU seconds of the task, printed.
_CHILD = f"""
import statistics, time
from servelab.service.workloads import predict_cpu
times = []
for _ in range({REPEATS}):
    t0 = time.process_time()
    predict_cpu(1.0, {REFERENCE_N})
    times.append(time.process_time() - t0)
print(statistics.median(times))
"""


def reference_seconds() -> float | None:
    """The median CPU seconds of the reference task in a fresh interpreter (this one's);
    None when the child could not run or said something else (the caller records nothing
    rather than a wrong speed)."""
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", _CHILD],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    try:
        seconds = float(done.stdout.strip())
    except ValueError:
        return None
    return round(seconds, 5) if seconds > 0 else None
