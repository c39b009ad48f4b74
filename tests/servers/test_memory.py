"""Memory per worker, measured: each process of a real server's tree with its role, what
gunicorn's --preload shares, how many workers a budget holds, and the results file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from servelab.errors import ConfigError, ResultsError, ServerCrashedError
from servelab.results import (
    MEMORY_FILE,
    ProcessMemory,
    TreeMemory,
    read_memory,
    write_memory,
)
from servelab.servers import AppTarget, ServerSpec, launch
from servelab.servers.memory import _read_smaps, measure_tree, read_process, workers_that_fit

from ..helpers import APPS, wait_for

MiB = 1 << 20
BALLAST_BYTES = 64 * MiB  # what tests/apps/big_import.py holds (importing it here would too)


def _tree(spec: str, app: AppTarget | None, run_dir: Path) -> TreeMemory:
    with launch(ServerSpec.parse(spec), run_dir=run_dir, app=app) as server:
        return measure_tree(server.pid)


@pytest.fixture(scope="module")
def gunicorn_w2(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TreeMemory]:
    """gunicorn -w 2 serving big_import, with and without --preload, measured once it is ready
    (both servers stopped before the tests look)."""
    app = AppTarget.load("big_import:app", app_dir=APPS)
    run_dir = tmp_path_factory.mktemp("memory")
    return {spec: _tree(spec, app, run_dir) for spec in ("gunicorn:w2:preload", "gunicorn:w2")}


def test_with_preload_the_workers_share_the_apps_memory(gunicorn_w2: dict[str, TreeMemory]) -> None:
    memory = gunicorn_w2["gunicorn:w2:preload"]
    master, workers = memory.master, memory.workers
    assert master is not None and len(workers) == 2 and memory.helpers == ()
    assert memory.processes[0] is master
    for worker in workers:
        # Copy-on-write: the master's pages, not the worker's own.
        assert worker.uss < BALLAST_BYTES / 4
        assert worker.shared > BALLAST_BYTES
    # PSS splits the ballast among the three processes that map it: a third each (and a
    # share of the interpreter's libraries), not a half, not all of it.
    for process in (master, *workers):
        assert BALLAST_BYTES / 3 <= process.pss - process.uss <= BALLAST_BYTES / 2, process
    assert memory.shared_once > BALLAST_BYTES  # counted once
    assert memory.total_rss > 3 * BALLAST_BYTES > memory.total_pss  # RSS counts it three times


def test_without_preload_every_worker_holds_its_own_copy(
    gunicorn_w2: dict[str, TreeMemory],
) -> None:
    memory = gunicorn_w2["gunicorn:w2"]
    master, workers = memory.master, memory.workers
    assert master is not None and len(workers) == 2
    for worker in workers:
        assert worker.uss >= BALLAST_BYTES - 4 * MiB
    assert master.pss < BALLAST_BYTES / 4  # the master never imported the app
    assert memory.worker_uss_mean is not None and memory.worker_uss_mean >= 60 * MiB
    assert memory.shared_once < BALLAST_BYTES / 2


def test_a_budget_holds_more_preloaded_workers(gunicorn_w2: dict[str, TreeMemory]) -> None:
    preloaded, separate = gunicorn_w2["gunicorn:w2:preload"], gunicorn_w2["gunicorn:w2"]
    budget = 512 * MiB
    # A worker of its own pays the ballast and the rest of its interpreter.
    assert 4 <= workers_that_fit(budget, separate) < budget // BALLAST_BYTES
    assert workers_that_fit(budget, preloaded) > 5 * workers_that_fit(budget, separate)
    # The model gives back what was measured: the memory the tree holds fits its workers.
    for memory in (preloaded, separate):
        assert workers_that_fit(memory.total_pss, memory) == 2
        assert workers_that_fit(memory.total_pss - 1, memory) == 1


@pytest.mark.parametrize(
    ("spec", "roles"),
    [
        ("waitress:t2", ["worker"]),  # one process serves
        ("flask-dev:debug", ["master", "worker"]),  # the reloader, and its child that serves
        # uvicorn's main process, its workers, and multiprocessing's resource tracker
        ("uvicorn:w2", ["master", "worker", "worker", "helper"]),
    ],
)
def test_roles_follow_the_servers_process_tree(spec: str, roles: list[str], tmp_path: Path) -> None:
    app = AppTarget.load("asgi_app:app", app_dir=APPS) if spec.startswith("uvicorn") else None
    memory = _tree(spec, app, tmp_path)
    assert sorted(p.role for p in memory.processes) == sorted(roles)
    assert memory.processes[0].role == roles[0]
    assert (memory.master is None) == ("master" not in roles)
    for process in memory.processes:
        assert 0 < process.uss <= process.pss <= process.rss


def test_smaps_summed_agrees_with_smaps_rollup() -> None:
    rollup = read_process(os.getpid())
    summed = _read_smaps(os.getpid(), "smaps")
    assert rollup is not None and summed is not None
    for name, a, b in zip(("rss", "uss", "pss"), rollup, summed, strict=True):
        assert abs(a - b) < 2 * MiB, (name, a, b)


@pytest.fixture
def ended() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    yield process
    process.wait(timeout=10)


def test_a_server_that_ended_has_no_memory_to_measure(ended: subprocess.Popen[bytes]) -> None:
    wait_for(lambda: _state(ended.pid) == "Z", "the child to become a zombie", timeout=10)
    assert read_process(ended.pid) is None
    with pytest.raises(ServerCrashedError, match=rf"^process {ended.pid} has ended"):
        measure_tree(ended.pid)
    ended.wait(timeout=10)
    with pytest.raises(ServerCrashedError, match="no server to measure"):
        measure_tree(ended.pid)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


# --- the model, pure -----------------------------------------------------------------------

MASTER = ProcessMemory(1, "master", rss=30 * MiB, uss=10 * MiB, pss=20 * MiB)
WORKER = ProcessMemory(2, "worker", rss=130 * MiB, uss=40 * MiB, pss=70 * MiB)
HELPER = ProcessMemory(4, "helper", rss=12 * MiB, uss=5 * MiB, pss=8 * MiB)
TREE = TreeMemory(
    (MASTER, WORKER, ProcessMemory(3, "worker", rss=130 * MiB, uss=60 * MiB, pss=90 * MiB), HELPER)
)


def test_the_trees_sums_and_means() -> None:
    assert TREE.master == MASTER and TREE.helpers == (HELPER,) and len(TREE.workers) == 2
    assert (TREE.total_uss, TREE.total_pss, TREE.total_rss) == (115 * MiB, 188 * MiB, 302 * MiB)
    assert TREE.fixed_uss == 15 * MiB  # the master and the helper, once
    assert TREE.shared_once == 73 * MiB
    assert (TREE.worker_uss_mean, TREE.worker_pss_mean) == (50 * MiB, 80 * MiB)
    assert TREE.shared_per_worker == 80 * MiB
    empty = TreeMemory((MASTER,))
    assert empty.worker_uss_mean is None and empty.shared_per_worker is None


@pytest.mark.parametrize(
    ("budget_mib", "workers"),
    [
        (88, 0),  # the master, the helper and the shared pages alone: 15 + 73
        (137, 0),
        (138, 1),  # + one worker's mean USS, 50
        (188, 2),  # the tree's own PSS: its two workers
        (1088, 20),
        (0, 0),
    ],
)
def test_workers_that_fit_count_the_master_and_the_shared_pages_once(
    budget_mib: int, workers: int
) -> None:
    assert workers_that_fit(budget_mib * MiB, TREE) == workers


def test_workers_that_fit_needs_a_budget_and_a_worker() -> None:
    with pytest.raises(ConfigError, match="memory budget must be whole bytes >= 0, not -1"):
        workers_that_fit(-1, TREE)
    with pytest.raises(ConfigError, match=r"not 1\.5"):
        workers_that_fit(1.5, TREE)  # type: ignore[arg-type]
    with pytest.raises(ResultsError, match="without workers"):
        workers_that_fit(MiB << 10, TreeMemory((MASTER,)))


# --- the results file ----------------------------------------------------------------------


def test_a_measurement_reads_back_equal_from_its_file(tmp_path: Path) -> None:
    write_memory(tmp_path, TREE)
    written = json.loads((tmp_path / MEMORY_FILE).read_text())
    assert written["processes"][0] == {
        "pid": 1, "role": "master", "rss": 30 * MiB, "uss": 10 * MiB, "pss": 20 * MiB,
    }  # fmt: skip
    assert read_memory(tmp_path) == TREE


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["processes"][1].update(uss="forty"), r"field processes\[1\]\.uss: expected"),
        (lambda d: d["processes"][2].pop("pss"), r"field processes\[2\]\.pss is missing"),
        (lambda d: d["processes"][0].update(role="boss"), r"processes\[0\]\.role: expected one"),
        (lambda d: d.update(processes={}), r"field processes: expected a list"),
        (lambda d: d.update(schema=99), r"upgrade servelab to read it"),
    ],
)
def test_a_damaged_file_says_which_field_in_one_line(
    tmp_path: Path, change: object, message: str
) -> None:
    write_memory(tmp_path, TREE)
    path = tmp_path / MEMORY_FILE
    data = json.loads(path.read_text())
    change(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match=message) as error:
        read_memory(tmp_path)
    assert "\n" not in str(error.value) and MEMORY_FILE in str(error.value)


def test_no_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=f"^no {MEMORY_FILE} in {tmp_path}$"):
        read_memory(tmp_path)
