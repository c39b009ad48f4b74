"""Machine noise from /proc: the readings, the busy judgement, and CPU put where it belongs
(the server's tree, the lab, everything else), against real processes.

The machine may be shared while these run, so no test assumes it is idle: each compares
two measurements over the same moments, or asserts what a spinning core adds."""

from __future__ import annotations

import os
import sys
import threading
import time

import psutil

from servelab.noise import NoiseMeter, idle_check, read_cpu, read_memory
from servelab.results import BUSY_OTHER_CORES, Noise, RunEntry, Server, _Field
from servelab.servers import Monitor

from .helpers import REPO, cpu_spinner, process_group

GIB = 2**30


def test_the_proc_readings_are_the_machines() -> None:
    first = read_cpu()
    time.sleep(0.05)
    later = read_cpu()
    assert first.cores == psutil.cpu_count()
    assert 0 <= first.steal <= first.total and 0 < first.busy <= first.total
    assert later.total >= first.total and later.busy >= first.busy
    available, total = read_memory()
    assert total == psutil.virtual_memory().total
    assert available is not None and 0 < available <= total


def test_a_spinning_process_makes_the_machine_busy() -> None:
    with cpu_spinner(5):
        noise = idle_check(0.5)
    assert noise is not None
    assert noise.other_cores >= 0.6 and noise.other_cores <= noise.cores + 0.1
    assert noise.server_cores is None  # no server: the check before a study
    assert noise.busy and "cpu" in noise.busy_reasons()
    assert 0.4 <= noise.duration < 2


def test_the_server_trees_cpu_is_its_own_not_other_processes() -> None:
    # Two monitors over the same second: one watches a spinner as its "server", the other
    # an idle process. The spinner's CPU is the first one's server CPU and the second's
    # "other" CPU, whatever else the machine does meanwhile.
    idle = [sys.executable, "-c", "import time; time.sleep(10)"]
    with cpu_spinner(10) as spin, process_group(idle, cwd=REPO, env=os.environ) as sleeper:
        with Monitor(spin.pid) as watched, Monitor(sleeper.pid) as bystander:
            time.sleep(1.0)
        as_server, as_other = watched.noise, bystander.noise
    assert as_server is not None and as_other is not None
    assert as_server.server_cores is not None and as_server.server_cores >= 0.25
    assert as_other.server_cores is not None and as_other.server_cores < 0.1
    assert as_other.other_cores - as_server.other_cores >= 0.7 * as_server.server_cores
    # the monitor's own sum of the tree, not a second reading of it
    assert abs(as_server.server_cores - (watched.stop().mean_cores or 0)) < 0.05


def test_the_lab_process_is_counted_with_its_threads() -> None:
    # The load client runs on the lab's threads: a thread that spins is the lab's CPU.
    def spin() -> None:  # a fixed amount of CPU, however busy the shared machine is
        end = time.thread_time() + 0.3
        while time.thread_time() < end:
            pass

    meter = NoiseMeter()
    thread = threading.Thread(target=spin)
    thread.start()
    thread.join()
    meter.update()
    noise = meter.noise()
    assert noise is not None and noise.lab_cores * noise.duration >= 0.25


def test_busy_is_judged_by_the_named_thresholds() -> None:
    quiet = Noise(1.0, 2, 0.02, 0.3, 0.0, 4 * GIB, 8 * GIB, server_cores=0.9)
    assert not quiet.busy and quiet.busy_reasons() == ()
    other = Noise(1.0, 2, BUSY_OTHER_CORES + 0.01, 0.3, 0.0, 4 * GIB, 8 * GIB)
    assert other.busy_reasons() == ("cpu",)
    steal = Noise(1.0, 2, 0.0, 0.3, 0.08, 4 * GIB, 8 * GIB)
    assert steal.busy_reasons() == ("steal",)
    memory = Noise(1.0, 2, 0.0, 0.3, 0.0, GIB // 2, 8 * GIB)
    assert memory.busy_reasons() == ("memory",)


def test_noise_is_written_only_when_measured() -> None:
    entry = RunEntry("r", Server(kind="gunicorn"), "io", "done", files={})
    assert "noise" not in entry.to_json()
    noise = Noise(1.5, 2, 1.2, 0.3, 0.01, 4 * GIB, 8 * GIB, server_cores=0.5)
    written = RunEntry("r", Server(kind="gunicorn"), "io", "done", files={}, noise=noise)
    assert written.to_json()["noise"] == noise.to_json()
    back = RunEntry.from_json(_Field(written.to_json(), "study.json", ""))
    assert back.noise == noise and back == written
