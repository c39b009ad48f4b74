"""The machine's speed as the CPU time of a small fixed task (``servelab.speed``)."""

from __future__ import annotations

import threading
import time

import pytest

from servelab.speed import reference_seconds


def test_the_task_takes_milliseconds_and_more_work_takes_longer() -> None:
    # 100,000 multiply-adds: about 4 ms of CPU here, never below 0.1 ms or above 0.5 s on
    # a machine a sweep makes sense on; ten times the work takes several times as long.
    seconds = reference_seconds()
    assert 0.0001 < seconds < 0.5
    assert reference_seconds(iterations=1_000_000) > 4 * seconds


def test_only_the_calling_threads_cpu_counts() -> None:
    """Another busy thread of the lab (holding the GIL in turns) makes the task wait, and a
    wait is not the machine being slow: the time is this thread's CPU, not the wall's."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        began = time.perf_counter()
        contended = reference_seconds(repeats=9)
        wall_per_run = (time.perf_counter() - began) / 9
    finally:
        stop.set()
        spinner.join(5)
    # With the GIL shared each run's wall time is about twice its CPU; the task says the CPU.
    assert contended < 0.75 * wall_per_run


@pytest.mark.parametrize(("repeats", "iterations"), [(0, 10), (3, 0)])
def test_no_runs_is_a_clear_error(repeats: int, iterations: int) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        reference_seconds(repeats, iterations)
