"""Memory caps for servers under test: a cgroup (v2 or v1), or RLIMIT_AS as a fallback.

    with open_cap(parse_size("256MiB"), label="dev") as cap:
        with launch(spec, run_dir=run_dir, command_prefix=cap.command_prefix()) as server:
            ...
        cap.oom_kills(), cap.peak_bytes()
    # the cgroup is gone here, and so is anything that was still inside it

In a cgroup the kernel's OOM killer SIGKILLs a process of the group when the group needs more
than the limit, and counts the kill: that counter, not a server's log line, is the OOM verdict.
RLIMIT_AS is a different failure: each process's allocations beyond the limit fail
(MemoryError, HTTP 500) and nothing is killed. Never report one as the other.

A cap is a child cgroup ``servelab-<owner pid>-<label>-<n>`` of this process's own cgroup;
the owner pid in the name lets ``cleanup_stale`` (run by every ``open_cap``) remove caps
whose owner was killed. Caps still open when the interpreter exits are closed by ``atexit``;
when the lab dies without running it (SIGKILL), its reaper (``reaper``) removes them.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import re
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, get_args

import psutil

from servelab.errors import ConfigError, SandboxError
from servelab.results import Cap
from servelab.servers import reaper
from servelab.units import format_size

Mechanism = Literal["cgroup-v2", "cgroup-v1", "rlimit-as"]
MechanismChoice = Literal["auto", "cgroup", "rlimit"]
MECHANISM_CHOICES: tuple[str, ...] = get_args(MechanismChoice)

MIN_LIMIT = 1 << 20
_SHELL = "/bin/sh"  # an absolute path: the wrapper must not depend on PATH
_ARGV0 = "servelab-cap"  # $0 of the wrapper shell, shown by ps until it execs
_NAME = re.compile(r"servelab-(\d+)-(.+)-(\d+)")
_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_REMOVE_WAIT = 5.0
_RETRY_INTERVAL = 0.05
# psutil's create_time is exact only to about a clock tick plus boot-time rounding.
_OWNER_SLACK = 1.0
_COUNTER = itertools.count()
# cgroup v1 writes "no limit" as the largest page-aligned 63-bit number; anything this large
# is no limit on any machine.
_UNLIMITED = 1 << 62


def describe_cap(mechanism: str, limit_bytes: int) -> str:
    """For people: ``cgroup v1 memory cap of 256 MiB``, or the RLIMIT_AS fallback."""
    size = format_size(limit_bytes)
    if mechanism == "rlimit-as":
        return (
            f"RLIMIT_AS of {size} per process (fallback: allocations fail with MemoryError"
            " and HTTP 500 instead of OOM kills)"
        )
    return f"cgroup {mechanism.removeprefix('cgroup-')} memory cap of {size}"


@dataclass(frozen=True)
class _Hierarchy:
    """This process's own cgroup in the hierarchy that holds the memory controller."""

    version: Literal[1, 2]
    base: Path


_OPEN: set[MemoryCap] = set()


class MemoryCap:
    """A memory limit for the processes started through ``command_prefix()``.

    Made by ``open_cap()``. Use it as a context manager or call ``close()``: until then the
    cgroup exists, and ``atexit`` is the only other thing that removes it. After ``close()``,
    ``peak_bytes()`` and ``oom_kills()`` return their last values and ``usage_bytes()`` None.
    """

    def __init__(
        self,
        mechanism: Mechanism,
        limit_bytes: int,
        path: Path | None,
        *,
        fallback_reason: str | None = None,
    ) -> None:
        self.mechanism: Mechanism = mechanism
        self.limit_bytes = limit_bytes
        self.path = path
        # Why an "auto" cap is not a cgroup; None when it is, or when rlimit was asked for.
        self.fallback_reason = fallback_reason
        self._closed = False
        self._final_peak: int | None = None
        self._final_oom_kills = 0
        self._peak_fd: int | None = None

    def __repr__(self) -> str:
        where = f" {self.path}" if self.path else ""
        state = "closed" if self._closed else "open"
        return f"<MemoryCap {self.mechanism} {format_size(self.limit_bytes)}{where} {state}>"

    def __enter__(self) -> MemoryCap:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has completed."""
        return self._closed

    def command_prefix(self) -> list[str]:
        """The argv to put before a command so that it runs (exec'd, same pid) inside the cap.

        If the shell cannot join the cgroup it exits with an error instead of running the
        command uncapped.
        """
        if self._closed:
            raise SandboxError(f"{self.describe()} is closed; open a new cap")
        if self.path is None:
            script = f'ulimit -v {self.limit_bytes // 1024} && exec "$@"'
        else:
            procs = shlex.quote(str(self.path / "cgroup.procs"))
            script = f'echo $$ > {procs} && exec "$@"'
        return [_SHELL, "-c", script, _ARGV0]

    def usage_bytes(self) -> int | None:
        """Memory charged to the cgroup now (page cache included); None for rlimit, after close."""
        if self.path is None or self._closed:
            return None
        name = "memory.current" if self.mechanism == "cgroup-v2" else "memory.usage_in_bytes"
        return _read_int(self.path / name)

    def peak_bytes(self) -> int | None:
        """Highest usage since creation or the last ``reset_peak()``.

        None for rlimit, and on cgroup v2 kernels without ``memory.peak`` (before 5.19).
        """
        if self.path is None:
            return None
        if self._closed:
            return self._final_peak
        if self.mechanism == "cgroup-v1":
            return _read_int(self.path / "memory.max_usage_in_bytes")
        if self._peak_fd is not None:
            # A v2 reset holds only for reads through the file descriptor that wrote it.
            os.lseek(self._peak_fd, 0, os.SEEK_SET)
            return int(os.read(self._peak_fd, 64).decode().strip())
        peak = self.path / "memory.peak"
        return _read_int(peak) if peak.exists() else None

    def reset_peak(self) -> None:
        """Start ``peak_bytes()`` over from the current usage (v2: needs Linux 6.12, else no-op)."""
        if self.path is None or self._closed:
            return
        if self.mechanism == "cgroup-v1":
            _write(self.path / "memory.max_usage_in_bytes", "0")
            return
        # Untested on this machine (cgroup v1 only). From the kernel docs: a write to
        # memory.peak resets the watermark for that open file only (Linux 6.12+); on older
        # kernels the file is read-only or missing.
        if self._peak_fd is None:
            try:
                fd = os.open(self.path / "memory.peak", os.O_RDWR)
            except OSError:
                return
            try:
                os.write(fd, b"reset\n")
            except OSError:
                os.close(fd)
                return
            self._peak_fd = fd
        else:
            os.write(self._peak_fd, b"reset\n")

    def oom_kills(self) -> int:
        """Processes the kernel OOM killer has killed inside the cap so far; 0 for rlimit."""
        if self.path is None:
            return 0
        if self._closed:
            return self._final_oom_kills
        name = "memory.events" if self.mechanism == "cgroup-v2" else "memory.oom_control"
        try:
            text = (self.path / name).read_text()
        except OSError as error:
            raise SandboxError(f"cannot read {self.path / name}: {error.strerror}") from None
        counts = _keyed(text)
        if "oom_kill" not in counts:
            raise SandboxError(
                f"{self.path / name} has no oom_kill counter (Linux 4.13+ needed):"
                " OOM kills cannot be counted here"
            )
        return counts["oom_kill"]

    def pids(self) -> list[int]:
        """Processes inside the cap now; [] for rlimit and after close."""
        if self.path is None or self._closed:
            return []
        return _procs(self.path)

    def describe(self) -> str:
        """E.g. ``cgroup v1 memory cap of 256 MiB``."""
        return describe_cap(self.mechanism, self.limit_bytes)

    def to_cap(self, memory_source: str | None = None) -> Cap:
        """As the results contract stores it; ``memory_source``: where memory readings came
        from (``cgroup``, or the process tree's ``rss`` without one)."""
        return Cap(
            mechanism=self.mechanism,
            limit_bytes=self.limit_bytes,
            path=str(self.path) if self.path is not None else None,
            fallback_reason=self.fallback_reason,
            memory_source=memory_source,
        )

    def close(self) -> None:
        """SIGKILL whatever is still inside, then remove the cgroup. Idempotent.

        Raises SandboxError if the cgroup is still there after a few seconds of retrying;
        the cap then stays registered, so ``atexit`` tries once more.
        """
        if self._closed:
            return
        if self.path is not None:
            _kill_inside(self.path)
            # Kills by us are not OOM kills: the counters can be read after ours.
            with contextlib.suppress(OSError, ValueError, SandboxError):
                self._final_peak = self.peak_bytes()
            with contextlib.suppress(OSError, ValueError, SandboxError):
                self._final_oom_kills = self.oom_kills()
            _remove(self.path)
            reaper.forget_cgroup(self.path)
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None
        self._closed = True
        _OPEN.discard(self)


def open_cap(
    limit_bytes: int, *, mechanism: MechanismChoice = "auto", label: str = "run"
) -> MemoryCap:
    """Make a memory cap of ``limit_bytes`` (at least ``MIN_LIMIT``).

    ``auto`` makes a cgroup if this machine allows it, else falls back to RLIMIT_AS (the
    cap's ``fallback_reason`` says why); ``cgroup`` and ``rlimit`` insist. SandboxError, with
    the reason, when the cap asked for cannot be made; ConfigError when it is more than the
    memory there is (``check_room``). Removes stale caps first, and raises SandboxError if one
    of those cannot be removed.
    """
    if isinstance(limit_bytes, bool) or not isinstance(limit_bytes, int):
        raise ConfigError(f"limit_bytes must be a whole number of bytes, not {limit_bytes!r}")
    if limit_bytes < MIN_LIMIT:
        raise ConfigError(
            f"a memory cap must be at least {format_size(MIN_LIMIT)}, not {limit_bytes} bytes"
        )
    if mechanism not in MECHANISM_CHOICES:
        raise ConfigError(
            f"mechanism must be one of {', '.join(MECHANISM_CHOICES)}, not {mechanism!r}"
        )
    cleanup_stale()
    check_room(limit_bytes)
    reason: str | None = None
    if mechanism != "rlimit":
        hierarchy, reason = _discover()
        if hierarchy is not None:
            try:
                cap = _create_cgroup(hierarchy, limit_bytes, label)
            except SandboxError as error:
                if mechanism == "cgroup":
                    raise
                reason = str(error)
            else:
                _OPEN.add(cap)
                return cap
        if mechanism == "cgroup":
            raise SandboxError(f"no cgroup memory cap possible here: {reason}")
    missing = _rlimit_unavailable()
    if missing is not None:
        why = f"{reason}; {missing}" if reason else missing
        raise SandboxError(f"no memory cap possible here: {why}")
    cap = MemoryCap("rlimit-as", limit_bytes, None, fallback_reason=reason)
    _OPEN.add(cap)
    return cap


@dataclass(frozen=True)
class Room:
    """The most memory a cap here can really get, and what bounds it.

    ``bound`` is a cgroup directory (our own or one above it) or ``None`` for the machine
    (``MemAvailable``). ``limit_bytes`` and ``used_bytes``: that cgroup's limit and what
    it holds now, page cache that can be dropped left out (None for the machine).
    """

    room_bytes: int
    bound: Path | None
    limit_bytes: int | None = None
    used_bytes: int | None = None

    def describe(self) -> str:
        """For people: what leaves this little room."""
        if self.bound is None:
            return f"this machine has {format_size(self.room_bytes)} available (MemAvailable)"
        assert self.limit_bytes is not None and self.used_bytes is not None
        return (
            f"the cgroup {self.bound} that holds the lab is limited to"
            f" {format_size(self.limit_bytes)}, {format_size(self.used_bytes)} of it in use,"
            f" which leaves {format_size(self.room_bytes)}"
        )


def memory_room() -> Room | None:
    """What the smallest bound leaves for a cap: the limits of our memory cgroup and every
    cgroup above it (what each holds now taken off), and the machine's MemAvailable.

    A child cgroup's limit above one of these is no cap at all: the server would meet the
    parent's limit (or the machine-wide OOM killer) first, and a search would "measure" it.
    None when none of them can be read (not Linux).
    """
    rooms: list[Room] = []
    available = _meminfo_bytes("MemAvailable")
    if available is not None:
        rooms.append(Room(available, None))
    hierarchy, _ = _own_cgroup()
    if hierarchy is not None:
        limit_name = "memory.limit_in_bytes" if hierarchy.version == 1 else "memory.max"
        usage_name = "memory.usage_in_bytes" if hierarchy.version == 1 else "memory.current"
        cache_name = "total_inactive_file" if hierarchy.version == 1 else "inactive_file"
        directory = hierarchy.base
        # Up to the hierarchy's root: the mount point has no limit file of its own (v2's root
        # cgroup has none either), and that ends the walk.
        while (directory / limit_name).is_file():
            limit = _limit(directory / limit_name)
            if limit is not None:
                used = _optional_int(directory / usage_name) or 0
                cache = _keyed(_text(directory / "memory.stat")).get(cache_name, 0)
                used = max(used - cache, 0)
                rooms.append(Room(max(limit - used, 0), directory, limit, used))
            if directory.parent == directory:
                break
            directory = directory.parent
    return min(rooms, key=lambda room: room.room_bytes) if rooms else None


def check_room(limit_bytes: int) -> None:
    """A ConfigError (one line: what is there, what to ask for) when a cap of
    ``limit_bytes`` is more than ``memory_room()`` leaves."""
    room = memory_room()
    if room is None or limit_bytes <= room.room_bytes:
        return
    # In whole MiB, written as the size options take it: a rounded "22.8 GiB" could be more.
    most = room.room_bytes // MIN_LIMIT
    ask = f"ask for at most {most}MiB" if most >= 1 else "free some memory first"
    raise ConfigError(
        f"a memory cap of {format_size(limit_bytes)} cannot be held here: {room.describe()}; {ask}"
    )


def _limit(path: Path) -> int | None:
    """A cgroup limit file's value; None for no limit (v2 ``max``, v1's huge page-rounded
    number)."""
    text = _text(path).strip()
    if not text.isdigit():
        return None
    value = int(text)
    return None if value >= _UNLIMITED else value


def _optional_int(path: Path) -> int | None:
    text = _text(path).strip()
    return int(text) if text.isdigit() else None


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _meminfo_bytes(key: str) -> int | None:
    for line in _text(Path("/proc/meminfo")).splitlines():
        name, _, rest = line.partition(":")
        fields = rest.split()
        if name == key and fields and fields[0].isdigit():
            return int(fields[0]) * 1024  # /proc/meminfo says kB and means KiB
    return None


def available_mechanism() -> Mechanism | None:
    """What ``open_cap(mechanism="auto")`` would use here; None if nothing.

    On cgroup v2 this enables the memory controller for children of our cgroup if it can.
    """
    hierarchy, _ = _discover()
    if hierarchy is not None:
        return "cgroup-v2" if hierarchy.version == 2 else "cgroup-v1"
    return "rlimit-as" if _rlimit_unavailable() is None else None


def cleanup_stale() -> list[Path]:
    """Remove servelab caps under our cgroup whose owner process is dead; return their paths.

    What is still inside them (a server of a killed lab run) is SIGKILLed first.
    """
    hierarchy, _ = _locate()
    if hierarchy is None:
        return []
    removed = []
    for path in sorted(hierarchy.base.glob("servelab-*")):
        match = _NAME.fullmatch(path.name)
        if match is None or not path.is_dir() or _owner_alive(int(match.group(1)), path):
            continue
        _kill_inside(path)
        _remove(path)
        removed.append(path)
    return removed


def _owner_alive(pid: int, path: Path) -> bool:
    if pid == os.getpid():
        return True
    try:
        owner = psutil.Process(pid)
        if owner.status() == psutil.STATUS_ZOMBIE:
            return False
        started = owner.create_time()
        created = path.stat().st_ctime
    except (psutil.NoSuchProcess, FileNotFoundError):
        return False
    except psutil.Error:
        return True  # exists but cannot be inspected: assume it is the owner
    # A process younger than the cgroup reuses the pid of the dead owner.
    return started <= created + _OWNER_SLACK


def _create_cgroup(hierarchy: _Hierarchy, limit_bytes: int, label: str) -> MemoryCap:
    safe = _LABEL_CHARS.sub("_", label)[:40] or "run"
    while True:
        path = hierarchy.base / f"servelab-{os.getpid()}-{safe}-{next(_COUNTER)}"
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
        except OSError as error:
            raise SandboxError(f"cannot create cgroup {path}: {error.strerror}") from None
    try:
        reaper.watch_cgroup(path)
        if hierarchy.version == 1:
            _setup_v1(path, limit_bytes)
            return MemoryCap("cgroup-v1", limit_bytes, path)
        _setup_v2(path, limit_bytes)
        return MemoryCap("cgroup-v2", limit_bytes, path)
    except BaseException:
        with contextlib.suppress(SandboxError):
            _remove(path)
            reaper.forget_cgroup(path)
        raise


def _setup_v1(path: Path, limit_bytes: int) -> None:
    _write(path / "memory.limit_in_bytes", str(limit_bytes))
    memsw = path / "memory.memsw.limit_in_bytes"
    if memsw.exists():
        # With swap, memory.limit_in_bytes alone lets the group spill into swap instead of
        # being OOM-killed. The file refuses writes when swap accounting is off: fine then.
        with contextlib.suppress(OSError):
            memsw.write_text(str(limit_bytes))
    # A child inherits oom_kill_disable; set, the group's tasks would hang at the limit.
    control = path / "memory.oom_control"
    if _keyed(control.read_text()).get("oom_kill_disable", 0):
        with contextlib.suppress(OSError):
            control.write_text("0")
        if _keyed(control.read_text()).get("oom_kill_disable", 0):
            raise SandboxError(f"cannot turn off oom_kill_disable in {control}")


def _setup_v2(path: Path, limit_bytes: int) -> None:
    # Untested on this machine (cgroup v1 only); written from the kernel's cgroup-v2 docs.
    _write(path / "memory.max", str(limit_bytes))
    swap = path / "memory.swap.max"
    if swap.exists():
        # memory.max excludes swap; v1's memsw limit has no v2 twin, so no swap at all.
        _write(swap, "0")
    # memory.oom.group stays 0: the OOM killer picks one victim (a gunicorn worker), as on v1.


def _kill_inside(path: Path) -> None:
    kill = path / "cgroup.kill"  # v2, Linux 5.14+: also catches processes forked meanwhile
    if kill.exists():
        with contextlib.suppress(OSError):
            kill.write_text("1")
    for pid in _procs(path):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _remove(path: Path) -> None:
    """rmdir the cgroup (and any it has inside), retrying while killed tasks finish exiting."""
    deadline = time.monotonic() + _REMOVE_WAIT
    for child in _subdirs(path):
        _kill_inside(child)
        _remove(child)
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise SandboxError(
                    f"cannot remove cgroup {path}: {error.strerror}; still inside:"
                    f" {_procs(path) or 'no process'}. Kill them, then rmdir it by hand"
                ) from None
        time.sleep(_RETRY_INTERVAL)
        _kill_inside(path)


def _subdirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir()]
    except OSError:
        return []


def _procs(path: Path) -> list[int]:
    try:
        text = (path / "cgroup.procs").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return []
    except OSError as error:
        raise SandboxError(f"cannot read {path / 'cgroup.procs'}: {error.strerror}") from None
    return [int(line) for line in text.split()]


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except OSError as error:
        raise SandboxError(f"cannot read {path}: {error.strerror}") from None


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as error:
        raise SandboxError(f"cannot write {value!r} to {path}: {error.strerror}") from None


def _keyed(text: str) -> dict[str, int]:
    """``key value`` lines (memory.oom_control, memory.events) as a dict."""
    pairs = (line.split() for line in text.splitlines())
    return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].isdigit()}


def _rlimit_unavailable() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"RLIMIT_AS through ulimit -v is only used on Linux, not {sys.platform}"
    if not os.access(_SHELL, os.X_OK):
        return f"{_SHELL} is missing, and the cap's wrapper needs it"
    return None


def _discover() -> tuple[_Hierarchy | None, str | None]:
    """Where a memory cgroup can be made, or why none can."""
    hierarchy, reason = _locate()
    if hierarchy is None or hierarchy.version == 1:
        return hierarchy, reason
    # Untested on this machine (cgroup v1 only); from the kernel's cgroup-v2 docs. A child
    # gets a memory controller only if its parent lists memory in cgroup.subtree_control,
    # and a non-root cgroup with processes of its own (we are one) may not enable it.
    base = hierarchy.base
    try:
        enabled = (base / "cgroup.subtree_control").read_text().split()
        if "memory" not in enabled:
            (base / "cgroup.subtree_control").write_text("+memory")
    except OSError as error:
        return None, (
            f"cgroup v2: cannot enable the memory controller for children of {base}"
            f" ({error.strerror}; a cgroup holding processes, as ours does, may not)"
        )
    return hierarchy, None


def _locate() -> tuple[_Hierarchy | None, str | None]:
    """This process's own cgroup in the hierarchy with the memory controller, if writable."""
    hierarchy, reason = _own_cgroup()
    if hierarchy is not None and not os.access(hierarchy.base, os.W_OK):
        return None, (
            f"no write access to {hierarchy.base} (run as root, or delegate that cgroup to us)"
        )
    return hierarchy, reason


def _own_cgroup() -> tuple[_Hierarchy | None, str | None]:
    """This process's own cgroup in the hierarchy with the memory controller."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None, "no /proc/self/cgroup: not Linux, or /proc is not mounted"
    v1_path = v2_path = None
    for line in lines:
        if line.count(":") < 2:
            continue
        hid, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            v1_path = path
        elif hid == "0" and controllers == "":
            v2_path = path
    if v1_path is not None:
        base = _mounted(mounts, v1_path, "cgroup", "memory")
        version: Literal[1, 2] = 1
        what = "cgroup v1 memory hierarchy"
    elif v2_path is not None:
        base = _mounted(mounts, v2_path, "cgroup2", None)
        version = 2
        what = "cgroup v2 hierarchy"
        if base is not None and "memory" not in _words(base / "cgroup.controllers"):
            return None, f"cgroup v2: the memory controller is not available in {base}"
    else:
        return None, "this process is in no cgroup with a memory controller"
    if base is None:
        return None, f"our {what} ({v1_path or v2_path}) is not mounted where we can see it"
    return _Hierarchy(version, base), None


def _mounted(mounts: list[str], path: str, fstype: str, option: str | None) -> Path | None:
    """The directory of cgroup ``path`` under a mount of ``fstype`` (with ``option``)."""
    for line in mounts:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] != fstype:
            continue
        if option is not None and option not in tail[2].split(","):
            continue
        root, point = _unescape(fields[3]), Path(_unescape(fields[4]))
        # A mount may show only a subtree of the hierarchy (containers): path must be in it.
        if root != "/" and path != root and not path.startswith(root + "/"):
            continue
        directory = point / path.removeprefix(root if root != "/" else "").lstrip("/")
        if directory.is_dir():
            return directory
    return None


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _words(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []


@atexit.register
def _close_all() -> None:
    for cap in list(_OPEN):
        with contextlib.suppress(Exception):
            cap.close()
