"""Process-tree metrics of a server under test: the master and every worker it forked.

    with Monitor(server.pid, run_dir / "samples.jsonl", usage=cap) as monitor:
        run_burst(...)
    summary = monitor.summary  # samples, max_rss_bytes, cpu_seconds, pids_seen, ...

A ``Monitor`` samples the tree on a background daemon thread, 20 times a second by default,
and appends every sample to ``samples.jsonl`` as it is taken, so a crash keeps what was
measured. The columns, one JSON object per line:

- ``t``: seconds since the epoch when the sample was taken.
- ``rss_bytes``: the sum of RSS over the live processes of the tree. Pages a gunicorn
  worker shares with its master are counted in both, so this overstates the memory the
  tree uses; ``cgroup_bytes`` is the number to hold against a memory cap. (USS would be
  exact but costs milliseconds per process: too slow for 20 Hz.)
- ``processes``: how many processes of the tree are alive (zombies are not).
- ``pids``: their pids, sorted.
- ``cpu_seconds``: user + system CPU seconds the tree used since the first sample. Each
  process is tracked by pid and creation time; one that dies keeps the last value seen of
  it (up to one interval of its work is missed), and one first seen after the first sample
  was born during the run and counts from zero. The column never goes down.
- ``root_alive``: whether the root process is still running.
- ``cgroup_bytes``: ``usage.usage_bytes()`` (the memory cgroup's usage), or null without a
  usage source or when it does not know.
- ``oom_kills``: the cap's cumulative OOM-kill count (``usage.oom_kills()``), or null when
  the usage source has no such counter; a step up marks the moment of a kill.
- ``max_vms_bytes``: the largest address space (VmSize) of one live process of the tree:
  what RLIMIT_AS, a per-process limit, holds against (``Monitor.max_process_vms_bytes`` is
  its maximum over the run).

The tree is the root and its descendants, found again at every sample, so workers that
gunicorn boots to replace dead ones are seen. Processes of the tree stay in it when their
parent dies and they are re-parented: when the root dies the monitor keeps sampling (with
``root_alive`` false) whatever is left of the tree, ``processes`` 0 once it is all gone,
until ``stop()``. Processes that vanish between being listed and being read are skipped.

``tree_cpu_seconds`` is the one-off reading: the CPU of the live tree at this instant.

Machine noise (``Monitor.noise``, a ``results.Noise``): each sample also reads the machine's
CPU and memory available (``servelab.noise.NoiseMeter``, two small /proc reads on this
thread), and the tree's CPU it has just summed is handed over, so "other processes" is the
machine's CPU minus this tree's and the lab's own, over exactly the samples' span. It is
not written to ``samples.jsonl``: the trial stores the summary.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, TypedDict, cast

import psutil

from servelab._io import JsonlWriter, read_jsonl
from servelab.errors import ConfigError, ServerCrashedError
from servelab.noise import NoiseMeter
from servelab.results import Noise, Usage

__all__ = [
    "DEFAULT_INTERVAL",
    "Monitor",
    "MonitorSummary",
    "Sample",
    "UsageSource",
    "load_samples",
    "tree_cpu_seconds",
]

DEFAULT_INTERVAL = 0.05
# stop() waits this long for the thread; a sample takes about a millisecond.
_JOIN_TIMEOUT = 10.0


class UsageSource(Protocol):
    """Anything that knows the memory use of a cap, e.g. ``servelab.servers.cap.MemoryCap``."""

    def usage_bytes(self) -> int | None:
        """Bytes in use now, or None when unknown."""
        ...


# What a monitor saw, from its samples, is the results contract's ``Usage``: the study
# stores it as it is. ``duration``: seconds from the first sample to the last.
# ``cpu_seconds``: CPU the tree used in that time (see above); ``mean_cores`` is it over
# ``duration``, None before two samples. ``pids_seen``: every pid the tree had, in the order
# first seen; replaced gunicorn workers show up here. ``root_exited``: the root died while
# monitored. The maxima are None without samples (``max_cgroup_bytes`` also without a usage
# source).
MonitorSummary = Usage


class Sample(TypedDict):
    """One line of ``samples.jsonl`` (the columns above)."""

    t: float
    rss_bytes: int
    processes: int
    pids: list[int]
    cpu_seconds: float
    root_alive: bool
    cgroup_bytes: int | None
    oom_kills: int | None
    max_vms_bytes: int


@dataclass(frozen=True)
class _Reading:
    process: psutil.Process  # hashes and compares by pid + creation time
    rss: int
    vms: int
    cpu: float
    zombie: bool


class Monitor:
    """Samples ``root_pid`` and its descendants every ``interval`` s on a daemon thread.

    ``path``: where samples are appended (JSON Lines; None: kept in memory only as the
    summary). ``usage``: fills the ``cgroup_bytes`` column. A monitor runs once: ``start()``
    takes the first sample before it returns (raising ``ServerCrashedError`` if the root is
    already gone), ``stop()`` takes the last one. Use it as a context manager.
    """

    def __init__(
        self,
        root_pid: int,
        path: Path | None = None,
        *,
        interval: float = DEFAULT_INTERVAL,
        usage: UsageSource | None = None,
    ) -> None:
        if isinstance(interval, bool) or not (math.isfinite(interval) and interval > 0):
            raise ConfigError(f"monitor interval must be > 0 seconds, not {interval!r}")
        self.root_pid = root_pid
        self.path = path
        self.interval = float(interval)
        self._usage = usage
        self._root: psutil.Process | None = None
        self._writer: JsonlWriter | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._stopped: MonitorSummary | None = None
        # Per process (pid + creation time): the CPU seconds last counted for it.
        self._cpu_last: dict[psutil.Process, float] = {}
        self._cpu_total = 0.0
        self._live: list[psutil.Process] = []
        self._pids_seen: dict[int, None] = {}  # an ordered set
        self._samples = 0
        self._first_mono = 0.0
        self._last_mono = 0.0
        self._max_rss: int | None = None
        self._max_vms: int | None = None
        self._max_cgroup: int | None = None
        self._max_processes = 0
        self._root_exited = False
        self._meter: NoiseMeter | None = None

    def __repr__(self) -> str:
        if self._thread is None:
            state = "not started"
        else:
            state = "stopped" if self._stopped is not None else "running"
        return f"<Monitor root={self.root_pid} every {self.interval:g} s {state}>"

    def start(self) -> Monitor:
        """Take the first sample and start the sampling thread."""
        if self._thread is not None:
            raise RuntimeError("a Monitor can be started only once")
        try:
            self._root = psutil.Process(self.root_pid)
        except psutil.NoSuchProcess:
            raise ServerCrashedError(
                f"cannot monitor pid {self.root_pid}: no such process"
            ) from None
        if self.path is not None:
            self._writer = JsonlWriter(self.path)
        self._thread = threading.Thread(
            target=self._run, name=f"servelab-monitor-{self.root_pid}", daemon=True
        )
        try:
            self._sample()
        except BaseException:
            self._close_writer()
            raise
        self._thread.start()
        return self

    def stop(self) -> MonitorSummary:
        """Take a last sample, join the thread and close the file. Idempotent.

        Re-raises an error that ended the sampling thread (e.g. the disk filled up).
        """
        if self._thread is None:
            raise RuntimeError("the Monitor was not started")
        if self._stopped is None:
            self._stopping.set()
            if self._thread.is_alive():
                self._thread.join(_JOIN_TIMEOUT)
            if self._thread.is_alive():
                raise RuntimeError(f"monitor thread {self._thread.name} did not stop")
            self._close_writer()
            self._stopped = self.summary
        if self._error is not None:
            raise self._error
        return self._stopped

    @property
    def summary(self) -> MonitorSummary:
        """The summary of the samples taken so far."""
        with self._lock:
            duration = self._last_mono - self._first_mono
            return MonitorSummary(
                samples=self._samples,
                duration=duration,
                max_rss_bytes=self._max_rss,
                max_cgroup_bytes=self._max_cgroup,
                cpu_seconds=self._cpu_total,
                mean_cores=self._cpu_total / duration if duration > 0 else None,
                max_processes=self._max_processes,
                pids_seen=tuple(self._pids_seen),
                root_exited=self._root_exited,
            )

    @property
    def noise(self) -> Noise | None:
        """What else the machine did from the first sample to the last (None before two
        samples, or off Linux). Read it after ``stop()``: the thread updates it."""
        with self._lock:
            return self._meter.noise() if self._meter is not None else None

    @property
    def max_process_vms_bytes(self) -> int | None:
        """The largest address space one process of the tree had in any sample so far
        (the ``max_vms_bytes`` column's maximum); None before the first sample."""
        with self._lock:
            return self._max_vms

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        # Sample k is due at first + k * interval on the monotonic clock, so time spent
        # sampling does not add up to drift; slots missed while late are skipped, not rushed.
        k = 1
        try:
            while True:
                delay = self._first_mono + k * self.interval - time.monotonic()
                if self._stopping.wait(max(0.0, delay)):
                    break
                self._sample()
                behind = math.floor((time.monotonic() - self._first_mono) / self.interval)
                k = max(k + 1, behind + 1)
            self._sample()
        except BaseException as error:
            self._error = error

    def _sample(self) -> None:
        assert self._root is not None
        mono = time.monotonic()
        t = time.time()
        readings = _walk([self._root, *self._live], _children_lister())
        cgroup = self._read_usage()
        oom_kills = self._read_oom_kills()
        live = [r for r in readings if not r.zombie]
        rss = sum(r.rss for r in live)
        vms = max((r.vms for r in live), default=0)
        root_alive = any(r.process == self._root for r in live)
        with self._lock:
            first = self._samples == 0
            for reading in readings:
                process = reading.process
                last = self._cpu_last.get(process)
                if last is None:
                    # Present at the start: count from now. Seen later: born during the run.
                    last = reading.cpu if first else 0.0
                    self._pids_seen.setdefault(process.pid)
                if reading.cpu > last:
                    self._cpu_total += reading.cpu - last
                    last = reading.cpu
                self._cpu_last[process] = last
            self._live = [r.process for r in live]
            if first:
                self._first_mono = mono
            self._last_mono = mono
            self._samples += 1
            self._max_rss = rss if self._max_rss is None else max(self._max_rss, rss)
            self._max_vms = vms if self._max_vms is None else max(self._max_vms, vms)
            if cgroup is not None:
                self._max_cgroup = (
                    cgroup if self._max_cgroup is None else max(self._max_cgroup, cgroup)
                )
            self._max_processes = max(self._max_processes, len(live))
            self._root_exited = self._root_exited or not root_alive
            cpu_total = self._cpu_total
            # Started at the first sample, as the tree's CPU total is, so the two spans match.
            if first:
                self._meter = NoiseMeter()
            elif self._meter is not None:
                self._meter.update(cpu_total)
        if self._writer is not None:
            self._writer.write(
                {
                    "t": round(t, 6),
                    "rss_bytes": rss,
                    "processes": len(live),
                    "pids": sorted(r.process.pid for r in live),
                    "cpu_seconds": round(cpu_total, 6),
                    "root_alive": root_alive,
                    "cgroup_bytes": cgroup,
                    "oom_kills": oom_kills,
                    "max_vms_bytes": vms,
                }
            )

    def _read_usage(self) -> int | None:
        if self._usage is None:
            return None
        try:
            return self._usage.usage_bytes()
        except OSError:  # the cgroup went away under us: unknown, not fatal
            return None

    def _read_oom_kills(self) -> int | None:
        counter = getattr(self._usage, "oom_kills", None)
        if counter is None:
            return None
        try:
            kills: int = counter()
        except OSError:
            return None
        return kills

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _walk(
    seeds: Iterable[psutil.Process], children_of: Callable[[int], list[int]]
) -> list[_Reading]:
    """Read the seeds that are still the same processes, and all their descendants."""
    found: dict[int, _Reading] = {}
    stack: list[int] = []
    for seed in seeds:
        if seed.pid in found:
            continue
        reading = _read(seed.pid)
        if reading is not None and reading.process == seed:  # not a reused pid
            found[seed.pid] = reading
            stack.append(seed.pid)
    while stack:
        for child in children_of(stack.pop()):
            if child not in found and (reading := _read(child)) is not None:
                found[child] = reading
                stack.append(child)
    return list(found.values())


def _read(pid: int) -> _Reading | None:
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            zombie = process.status() == psutil.STATUS_ZOMBIE
            times = process.cpu_times()
            memory = None if zombie else process.memory_info()
    except psutil.Error:  # gone, zombie or not ours between listing and reading
        return None
    rss, vms = (memory.rss, memory.vms) if memory is not None else (0, 0)
    return _Reading(process, rss, vms, times.user + times.system, zombie)


def _children_lister() -> Callable[[int], list[int]]:
    """How to list a pid's children for one sample.

    Linux lists each thread's children in /proc/<pid>/task/<tid>/children: a few reads for
    the tree. Elsewhere psutil maps every process on the machine to its parent, once per
    sample: about a millisecond per hundred processes.
    """
    if _proc_children_files():
        return _proc_children
    parents: dict[int, list[int]] = {}
    for process in psutil.process_iter(["ppid"]):
        ppid = process.info["ppid"]
        if ppid is not None:
            parents.setdefault(ppid, []).append(process.pid)
    return lambda pid: parents.get(pid, [])


@functools.cache
def _proc_children_files() -> bool:
    return os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def _proc_children(pid: int) -> list[int]:
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    pids: list[int] = []
    for tid in tids:
        with (
            contextlib.suppress(OSError),
            open(f"/proc/{pid}/task/{tid}/children", "rb") as handle,
        ):
            pids.extend(int(field) for field in handle.read().split())
    return pids


def load_samples(path: Path) -> list[Sample]:
    """The samples a monitor wrote to ``path``; a torn last line (a crash) is skipped."""
    return cast("list[Sample]", read_jsonl(path))


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` and its live descendants.

    A process that already ended is not counted, so a worker killed mid-run takes its
    CPU time with it; read this before and after a run of a server that stays up, or use a
    ``Monitor``, which keeps the CPU of processes that die.
    """
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total
