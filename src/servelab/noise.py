"""Machine noise: what else the machine did while the lab measured, read from /proc.

    meter = NoiseMeter()              # the first reading
    ...                               # the burst; meanwhile meter.update(tree_cpu) now and then
    noise = meter.noise(tree_cpu)     # a results.Noise over the whole span
    noise = idle_check(0.5)           # the same with no server: a study's check at its start

The machine's CPU comes from the first line of /proc/stat, in clock ticks: the busy
fields (user, nice, system, irq, softirq; guest time is already inside user and nice) are
every process's CPU; steal is time the hypervisor gave to other guests while this one wanted
to run, and counts against the machine's total, not as anyone's work. From the busy CPU the
lab subtracts what it can name: the server's process tree (the caller passes the CPU a
``servers.Monitor`` already sampled, so the tree is not read twice) and the lab's own
process (``time.process_time()``: every thread, so the load client, the monitor and the
progress bar), with the load client's processes it has reaped since (``add_client_cpu``: a
sweep on ``--engine locust`` starts Locust's master and workers for each load phase). The
rest is "other": processes outside the experiment.

The readings cost two small file reads and a clock call each, taken on the monitor's
thread, never in the load loop. Per-process CPU and /proc/stat are counted by the same
ticks but rounded separately, so "other" can come out a few hundredths of a core off, and
below zero, which is clamped.

Off Linux (no /proc/stat) ``NoiseMeter.available`` is False and nothing is recorded.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Final

from .results import Noise

__all__ = [
    "IDLE_CHECK_SECONDS",
    "NoiseMeter",
    "add_client_cpu",
    "idle_check",
    "read_cpu",
    "read_memory",
]

# The check at a study's start: long enough for a few hundred ticks on 2 cores (so one
# busy process shows as about a core, not as rounding), short enough not to delay a study.
IDLE_CHECK_SECONDS: Final = 0.5
_STAT = "/proc/stat"
_MEMINFO = "/proc/meminfo"
_TICK = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0


@dataclass(frozen=True)
class CpuTicks:
    """The machine's CPU time so far, in seconds: busy (every process), steal and the total
    (busy + idle + iowait + steal); ``cores``: the CPUs /proc/stat lists."""

    busy: float
    steal: float
    total: float
    cores: int


def read_cpu(path: str = _STAT) -> CpuTicks:
    """The first line of /proc/stat (``cpu  user nice system idle iowait irq softirq steal
    guest guest_nice``) and the number of ``cpuN`` lines. Raises OSError when unreadable."""
    with open(path, "rb") as handle:
        text = handle.read().decode("ascii", "replace")
    lines = text.splitlines()
    fields = [int(value) for value in lines[0].split()[1:]]
    fields += [0] * (8 - len(fields))  # old kernels stop before steal
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    busy = user + nice + system + irq + softirq
    cores = sum(1 for line in lines[1:] if line.startswith("cpu") and line[3:4].isdigit())
    return CpuTicks(
        busy=busy / _TICK,
        steal=steal / _TICK,
        total=(busy + idle + iowait + steal) / _TICK,
        cores=cores or (os.cpu_count() or 1),
    )


def read_memory(path: str = _MEMINFO) -> tuple[int | None, int | None]:
    """(MemAvailable, MemTotal) in bytes from /proc/meminfo; None for a line not there."""
    available = total = None
    with open(path, "rb") as handle:
        for line in handle:
            if line.startswith(b"MemAvailable:"):
                available = int(line.split()[1]) * 1024  # "kB" means KiB
            elif line.startswith(b"MemTotal:"):
                total = int(line.split()[1]) * 1024
            if available is not None and total is not None:
                break
    return available, total


class NoiseMeter:
    """Readings of the machine from its creation to the last ``update``.

    Not thread-safe: one thread (the monitor's) updates it; ``noise`` is read after that
    thread is done. ``tree_cpu``: the server tree's CPU seconds since the meter was made
    (a ``Monitor``'s ``cpu_seconds``, which also starts at its first sample).
    """

    def __init__(self) -> None:
        self.available = True
        try:
            self._first = read_cpu()
            self._available_bytes, self._memory = read_memory()
        except (OSError, ValueError, IndexError):
            self.available = False
            return
        self._first_mono = self._last_mono = time.monotonic()
        self._lab_first = self._lab_last = _lab_cpu()
        self._last = self._first
        self._tree_cpu = 0.0

    def update(self, tree_cpu: float = 0.0) -> None:
        """Read the machine now (and the least memory available so far)."""
        if not self.available:
            return
        try:
            cpu = read_cpu()
            available, _ = read_memory()
        except (OSError, ValueError, IndexError):
            return  # one reading missed is one reading fewer, not an error
        self._last, self._last_mono = cpu, time.monotonic()
        self._lab_last = _lab_cpu()
        self._tree_cpu = tree_cpu
        if available is not None:
            self._available_bytes = (
                available
                if self._available_bytes is None
                else min(self._available_bytes, available)
            )

    def noise(self, *, with_server: bool = True) -> Noise | None:
        """The span from the first reading to the last; None off Linux or before a second
        reading. ``with_server`` False: no server was measured (``server_cores`` None)."""
        if not self.available:
            return None
        duration = self._last_mono - self._first_mono
        if duration <= 0:
            return None
        first, last = self._first, self._last
        machine = last.busy - first.busy
        lab = self._lab_last - self._lab_first
        total = last.total - first.total
        other = max(0.0, machine - self._tree_cpu - lab)
        return Noise(
            duration=round(duration, 3),
            cores=last.cores,
            other_cores=round(other / duration, 3),
            server_cores=round(self._tree_cpu / duration, 3) if with_server else None,
            lab_cores=round(lab / duration, 3),
            steal=round((last.steal - first.steal) / total, 4) if total > 0 else 0.0,
            min_available_bytes=self._available_bytes,
            memory_bytes=self._memory,
        )


_client_processes_cpu = 0.0
_client_lock = threading.Lock()


def add_client_cpu(seconds: float) -> None:
    """A load-client process the lab started has ended, after ``seconds`` of CPU: the lab's
    own work, not the machine's noise. (Not every reaped child: a server the lab reaps is
    already counted as the server's.)"""
    global _client_processes_cpu
    with _client_lock:
        _client_processes_cpu += seconds


def _lab_cpu() -> float:
    """CPU seconds of the lab's process and of the load-client processes it has reaped."""
    with _client_lock:
        return time.process_time() + _client_processes_cpu


def idle_check(seconds: float = IDLE_CHECK_SECONDS) -> Noise | None:
    """The machine over ``seconds`` with no server of the lab running: what a study checks
    before its first run. The lab sleeps meanwhile, so all it sees is other processes."""
    meter = NoiseMeter()
    if not meter.available:
        return None
    time.sleep(max(0.05, min(seconds, 5.0)))  # bounded: a check, not a measurement
    meter.update()
    return meter.noise(with_server=False)
