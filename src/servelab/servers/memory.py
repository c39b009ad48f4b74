"""The memory of a server's processes at one instant, and how many workers a budget holds.

    memory = measure_tree(server.pid)    # a results.TreeMemory: RSS, USS, PSS of each process
    memory.worker_uss_mean, memory.shared_once, memory.total_pss
    workers_that_fit(parse_size("1GiB"), memory)

Why three numbers. RSS counts every resident page a process maps, so the pages gunicorn's
master shares with its workers (the app imported before the fork with ``--preload``, the
interpreter's libraries) are counted once per process: summed over a tree, RSS overstates.
USS counts a process's private pages (Private_Clean + Private_Dirty): what ending it would
free. PSS divides each shared page among the processes that map it, so the PSS of a tree
adds up to the memory it holds. RSS - USS is the part a process shares.

Roles, from the tree's shape: a root without children serves requests itself (the Flask dev
server, waitress, uvicorn with one worker): it is the one worker. A root with children is the
master (gunicorn's arbiter, uvicorn's and granian's main process, the dev server's reloader)
and its children are the workers, except multiprocessing's resource tracker or fork server
(uvicorn --workers starts a resource tracker): those, and every process deeper in the tree,
are helpers. A root whose children are all helpers serves itself. The processes of a pool an
app starts in a one-process server would be taken for workers.

The reader: /proc/<pid>/smaps_rollup (Linux 4.14 and later), the whole process in one read;
/proc/<pid>/smaps, summed, where it is missing. Not psutil's ``memory_full_info``: it reads
the same smaps_rollup, so it cannot be faster (the 5 processes of gunicorn -w 4 here: 1.5 ms
with ours, 1.7 ms with psutil's), and it takes RSS from /proc/<pid>/statm, a second read at
another instant, so RSS - USS could mix two moments. Each read makes the kernel walk the
process's page tables, about 0.3 ms for a Python server process. The tree is listed by
psutil (1.1 ms of the 3-4 ms a measurement of that tree takes: it scans every process of the
machine; /proc/<pid>/task/<tid>/children would take 0.02 ms, but it is not in every kernel
and a measurement is taken now and then, not 20 times a second like the monitor's samples).
"""

from __future__ import annotations

import psutil

from servelab.errors import ConfigError, ResultsError, ServerCrashedError, ServerError
from servelab.results import MemoryRole, ProcessMemory, TreeMemory

__all__ = ["measure_tree", "read_process", "workers_that_fit"]

# What smaps says in kB, as (rss, uss, pss) indices: USS is the sum of the private lines.
# Private_Hugetlb is left out: hugetlb pages are not in Rss, and RSS - USS must stay the part
# that is shared.
_LINES = {b"Rss:": 0, b"Private_Clean:": 1, b"Private_Dirty:": 1, b"Pss:": 2}
# Python's multiprocessing starts these beside the processes it was asked for.
_HELPER_MARKS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def measure_tree(root_pid: int) -> TreeMemory:
    """The memory of ``root_pid`` and all its descendants now, the root first, each with its
    role (see the module's docstring). A process that ends between being listed and being
    read is left out; a ``ServerCrashedError`` if the root itself is gone (or a zombie)."""
    try:
        descendants = psutil.Process(root_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        raise ServerCrashedError(f"process {root_pid} has ended: no server to measure") from None
    processes: list[ProcessMemory] = []
    for pid, role in _roles(root_pid, descendants):
        reading = read_process(pid)
        if reading is None and pid == root_pid:
            raise ServerCrashedError(f"process {root_pid} has ended: no server to measure")
        if reading is not None:
            processes.append(ProcessMemory(pid, role, *reading))
    return TreeMemory(tuple(processes))


def read_process(pid: int) -> tuple[int, int, int] | None:
    """``(rss, uss, pss)`` of ``pid`` in bytes; None when it has ended or is a zombie (which
    has no memory left to read)."""
    try:
        return _read_smaps(pid, "smaps_rollup")
    except (FileNotFoundError, ProcessLookupError):
        # No smaps_rollup before Linux 4.14; gone, or a zombie (ESRCH): smaps tells which.
        try:
            return _read_smaps(pid, "smaps")
        except (FileNotFoundError, ProcessLookupError):
            return None


def _read_smaps(pid: int, name: str) -> tuple[int, int, int] | None:
    """``/proc/<pid>/<name>`` (smaps_rollup or smaps), its mappings summed."""
    path = f"/proc/{pid}/{name}"
    try:
        with open(path, "rb") as file:
            text = file.read()
    except PermissionError as error:
        raise ServerError(f"cannot read the memory of process {pid}: {error}") from None
    totals = [0, 0, 0]
    seen = False
    for line in text.splitlines():
        words = line.split(None, 2)
        index = _LINES.get(words[0]) if words else None
        if index is not None:
            totals[index] += int(words[1]) * 1024
            seen = True
    return (totals[0], totals[1], totals[2]) if seen else None


def _roles(root_pid: int, descendants: list[psutil.Process]) -> list[tuple[int, MemoryRole]]:
    children: list[int] = []
    deeper: list[int] = []
    for process in descendants:
        try:
            direct = process.ppid() == root_pid
            helper = direct and any(
                mark in word for word in process.cmdline() for mark in _HELPER_MARKS
            )
        except psutil.NoSuchProcess:
            continue
        (children if direct and not helper else deeper).append(process.pid)
    if not children:
        return [(root_pid, "worker"), *((pid, "helper") for pid in deeper)]
    return [
        (root_pid, "master"),
        *((pid, "worker") for pid in children),
        *((pid, "helper") for pid in deeper),
    ]


def workers_that_fit(budget_bytes: int, memory: TreeMemory) -> int:
    """How many workers like the measured ones fit in ``budget_bytes`` (0 if not even one).

    The model: a server with N workers holds

        fixed + shared + N x per_worker

    ``fixed`` is the private memory (USS) of the processes that are not workers, the master
    and any helpers: paid once. ``per_worker`` is the workers' mean USS: what one more worker
    adds. ``shared`` is the pages the processes share, counted once: the tree's PSS beyond its
    USS (PSS divides each shared page among the processes that map it, so over the tree it
    adds up to every page once; ``memory.shared_once``). One more worker maps the same shared
    pages, so ``shared`` does not grow with N. With gunicorn's ``--preload`` the master imports
    the app before it forks: the app's pages are in ``shared``, once, and a worker's USS holds
    only what it has written since (copy-on-write). Without it every worker imports the app
    into its own USS, and the app is paid N times. With N the number of workers measured the
    model gives back the tree's PSS, so the budget the tree holds now fits exactly its workers.

    What a measurement does not see: the data of requests not running when it was taken
    (measure under load for a budget that holds under load), and pages a worker copies later
    (CPython's reference counts and its garbage collector write to the objects they touch, so
    preloaded objects drift into the workers' USS as they run; ``gc.freeze()`` before the
    fork slows that). A ``ResultsError`` for a measurement without workers.
    """
    if isinstance(budget_bytes, bool) or not isinstance(budget_bytes, int) or budget_bytes < 0:
        raise ConfigError(f"memory budget must be whole bytes >= 0, not {budget_bytes!r}")
    workers = memory.workers
    if not workers:
        raise ResultsError("a memory measurement without workers cannot say what a worker costs")
    room = budget_bytes - memory.fixed_uss - memory.shared_once
    # room / mean USS, in whole numbers so that the tree's own PSS gives back exactly its
    # workers; a worker has private pages (its stack at least), but a 0 must not divide.
    workers_uss = max(sum(p.uss for p in workers), len(workers))
    return max(room * len(workers) // workers_uss, 0)
