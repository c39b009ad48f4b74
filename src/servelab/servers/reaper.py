"""Servers and memory caps die with the lab, however the lab dies.

``launch`` and ``open_cap`` stop what they started on every way out they see (the end of a
``with`` block, an error, Ctrl-C, SIGTERM or SIGHUP turned into KeyboardInterrupt by the CLI,
``atexit``). SIGKILL, a crash of the interpreter or an OOM kill of the lab itself run none
of that. For those, each lab process has one reaper (``_reaper_main``): a small process
outside the lab's tree that holds the read end of a pipe. The lab tells it every server
group and cgroup it makes and removes; when the lab is gone the pipe reaches end of file and
the reaper kills those groups and removes those cgroups at once.

    watch_group(server.pgid)   ...   forget_group(server.pgid)
    watch_cgroup(cap.path)     ...   forget_cgroup(cap.path)

A later cap opening also removes cgroups of dead owners (``cap.cleanup_stale``), should the
reaper itself have been killed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from servelab.errors import ServerError

_PROGRAM = Path(__file__).with_name("_reaper_main.py")
_START_WAIT = 10.0


_lock = threading.Lock()
_link: int | None = None  # the write end of the pipe to this process's reaper
_groups: set[int] = set()
_cgroups: dict[str, None] = {}


def watch_group(pgid: int) -> None:
    """SIGKILL process group ``pgid`` if this process dies before ``forget_group(pgid)``."""
    with _lock:
        _groups.add(pgid)
        _send(f"group {pgid}")


def forget_group(pgid: int) -> None:
    """The group is gone (stopped by the lab): the reaper must not touch that pgid again."""
    with _lock:
        if pgid in _groups:
            _groups.discard(pgid)
            _send(f"ungroup {pgid}")


def watch_cgroup(path: Path) -> None:
    """Empty and remove cgroup ``path`` if this process dies before ``forget_cgroup``."""
    with _lock:
        _cgroups[str(path)] = None
        _send(f"cgroup {path}")


def forget_cgroup(path: Path) -> None:
    """The cgroup was removed by the lab."""
    with _lock:
        if str(path) in _cgroups:
            del _cgroups[str(path)]
            _send(f"uncgroup {path}")


def _send(line: str) -> None:
    """Write one line to the reaper, starting one (with everything watched) if needed.

    Called with ``_lock`` held. A line is far shorter than PIPE_BUF: written whole or not.
    """
    global _link
    if "\n" in line:
        raise ServerError(f"the reaper cannot be told about {line!r}: it holds a newline")
    if _link is not None:
        try:
            os.write(_link, f"{line}\n".encode())
            return
        except OSError:  # the reaper was killed: start another and tell it everything
            os.close(_link)
    _link = _start()
    lines = [f"group {pgid}" for pgid in _groups] + [f"cgroup {path}" for path in _cgroups]
    if lines:
        os.write(_link, "".join(f"{each}\n" for each in lines).encode())


def _start() -> int:
    read_end, write_end = os.pipe()  # both non-inheritable: no server gets the write end
    try:
        launcher = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_PROGRAM)],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            start_new_session=True,
        )
        # The launcher forks the reaper and exits at once; the reaper is not our child.
        launcher.wait(_START_WAIT)
    except (OSError, subprocess.TimeoutExpired) as error:
        os.close(write_end)
        raise ServerError(f"cannot start the lab's reaper ({_PROGRAM}): {error}") from None
    finally:
        os.close(read_end)
    return write_end


def _forget_in_child() -> None:
    """A forked child owns none of its parent's servers and caps, and must not hold its
    parent's pipe open (that would delay the end of file the reaper waits for)."""
    global _link, _lock
    _lock = threading.Lock()
    if _link is not None:
        os.close(_link)
        _link = None
    _groups.clear()
    _cgroups.clear()


os.register_at_fork(after_in_child=_forget_in_child)
