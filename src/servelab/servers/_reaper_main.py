"""The reaper process: it kills what a dead lab left behind. Stdlib only; run by ``reaper``.

Theory of operation. The lab starts this program once, with the read end of a pipe as its
stdin, and keeps the write end (not inherited by anything the lab starts). The program forks
and its first process exits at once, so the reaper lives outside the lab's process tree and
session: a closed terminal, a ``kill`` of the lab's tree or of its group does not reach it.
The lab then writes one line per change:

    group <pgid>      a server's process group started     ungroup <pgid>     it was stopped
    cgroup <path>     a memory cap was made                uncgroup <path>    it was removed

End of file on stdin means the lab is gone, however it ended (exit, crash, SIGKILL): the
kernel closes its descriptors in every case. Every group still listed is then SIGKILLed,
and every cgroup still listed is emptied (SIGKILL to what is inside) and removed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

_REMOVE_WAIT = 5.0
_RETRY_INTERVAL = 0.05


def _pids(cgroup: Path) -> list[int]:
    try:
        return [int(word) for word in (cgroup / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _empty_and_remove(cgroup: Path, deadline: float) -> None:
    """SIGKILL everything inside ``cgroup`` (and its children), then rmdir them all."""
    with contextlib.suppress(OSError):
        for child in cgroup.iterdir():
            if child.is_dir():
                _empty_and_remove(child, deadline)
    kill = cgroup / "cgroup.kill"
    if kill.exists():
        with contextlib.suppress(OSError):
            kill.write_text("1")
    while True:
        for pid in _pids(cgroup):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        try:
            cgroup.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            # Killed tasks leave the cgroup only once they have finished exiting.
            if time.monotonic() >= deadline:
                return
        time.sleep(_RETRY_INTERVAL)


def main() -> None:
    if os.fork() > 0:
        os._exit(0)  # the lab waits for this first process only
    os.setsid()
    groups: set[int] = set()
    cgroups: dict[str, None] = {}  # in the order made
    for raw in sys.stdin.buffer:
        verb, _, argument = raw.decode("utf-8", "replace").rstrip("\n").partition(" ")
        if verb == "group" and argument.isdigit():
            groups.add(int(argument))
        elif verb == "ungroup" and argument.isdigit():
            groups.discard(int(argument))
        elif verb == "cgroup" and argument:
            cgroups[argument] = None
        elif verb == "uncgroup":
            cgroups.pop(argument, None)
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + _REMOVE_WAIT
    for path in reversed(cgroups):
        _empty_and_remove(Path(path), deadline)


if __name__ == "__main__":
    main()
