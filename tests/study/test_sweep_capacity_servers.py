"""The capacity search against real servers over loopback: a server whose capacity is known.

The service's ``io`` workload sleeps ``io_delay`` seconds per request, and gunicorn's sync
workers serve one request each at a time, so ``w`` workers hold about ``w / io_delay``
requests per second (a little less: each request costs ~2 ms beyond its sleep). Windows
are short (2 s, 0.5 s of warm-up) so each search stays within ~20 s; the assertions leave
room for that and for a busy machine (+-30%).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from servelab.errors import ConfigError, LoadError
from servelab.load import RequestSpec, Slo, run_closed
from servelab.results_capacity import (
    STEPS_FILE,
    Capacity,
    CapacityStep,
    ClientLimits,
    RatePolicy,
    read_steps,
)
from servelab.servers import RunningServer, ServerSpec, launch
from servelab.service.config import ServiceConfig
from servelab.study.sweep.capacity import find_capacity
from tests.helpers import free_port

DELAY = 0.05
P99 = [Slo.parse("p99<250ms")]


@contextlib.contextmanager
def _io_server(run_dir: Path, spec: str, delay: float = DELAY) -> Iterator[RunningServer]:
    env = ServiceConfig(workload="io", io_delay=delay).to_env()
    with launch(ServerSpec.parse(spec), run_dir=run_dir, env=env) as server:
        yield server


def _search(server: RunningServer, folder: Path, **options: object) -> Capacity:
    settings: dict[str, object] = {
        "window": 2.0,
        "warmup": 0.5,
        "estimate_duration": 1.5,
        "server_pid": server.pid,
        **options,
    }
    return find_capacity(f"{server.url}/predict", slos=P99, **settings)  # type: ignore[arg-type]


@pytest.mark.slow
def test_the_capacity_of_sync_workers_is_their_count_over_the_delay(tmp_path: Path) -> None:
    found: dict[int, Capacity] = {}
    seen: list[CapacityStep] = []
    for workers in (1, 2):
        with _io_server(tmp_path / f"w{workers}", f"gunicorn:w{workers}") as server:
            found[workers] = _search(
                server,
                tmp_path,
                steps_path=tmp_path / f"w{workers}" / STEPS_FILE,
                on_step=seen.append,
            )
    for workers, capacity in found.items():
        expected = workers / DELAY
        assert capacity.stop == "within-tolerance", capacity.steps
        assert capacity.capacity is not None and not capacity.client_bound
        assert 0.7 * expected <= capacity.capacity <= 1.3 * expected
        assert capacity.estimate is not None and 0.7 * expected <= capacity.estimate
        step = capacity.at_capacity
        assert step is not None and step.held and step.rate == capacity.capacity
        assert step.p50 is not None and step.p90 is not None and step.p99 is not None
        assert step.p50 <= step.p90 <= step.p99 < 0.25
        assert step.error_rate == 0.0
        # Both sides' CPU, over the window: a sleeping server and a light client use little.
        assert step.server_cores is not None and 0 < step.server_cores < 1
        assert step.client_cores is not None and 0 < step.client_cores < 0.9
        assert step.client_cpu_per_request is not None and step.client_cpu_per_request > 0
        # The machine's speed was timed before every step, and the cell has their median.
        times = [s.machine_seconds or 0.0 for s in capacity.steps]
        assert all(0 < t < 0.5 for t in times), times
        median = capacity.machine_seconds
        assert median is not None and min(times) <= median <= max(times)
        # Some step failed above the capacity, within the tolerance of it.
        failed = [s.rate for s in capacity.steps if s.failed]
        assert failed and min(failed) / capacity.capacity - 1 <= 0.05
        # The steps file holds every step as measured, and reads back the same.
        assert read_steps(tmp_path / f"w{workers}" / STEPS_FILE) == list(capacity.steps)
    assert seen == [*found[1].steps, *found[2].steps]
    one, two = found[1].capacity, found[2].capacity
    assert one is not None and two is not None and two >= 1.6 * one


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Two sync workers, 10 ms a request: about 190 requests/s."""
    with _io_server(tmp_path_factory.mktemp("capacity"), "gunicorn:w2", 0.01) as server:
        yield server


@pytest.mark.slow
def test_a_client_over_its_cpu_limit_is_said_and_fails_no_step(
    fast_server: RunningServer, tmp_path: Path
) -> None:
    # Every client uses some CPU, so with no CPU allowed every step is the client's limit:
    # the SLOs held, yet no step counts as held, none as failed, and the search says why.
    capacity = _search(
        fast_server,
        tmp_path,
        window=1.0,
        warmup=0.2,
        estimate_duration=0.5,
        limits=ClientLimits(max_cores=0.0),
        policy=RatePolicy(max_steps=2, min_rate=1.0),
    )
    assert capacity.stop == "budget-spent" and capacity.client_bound
    assert capacity.capacity is None and len(capacity.steps) == 2
    for step in capacity.steps:
        assert step.client_causes == ("client-cpu",)
        assert step.client_cores is not None and step.client_cores > 0
        assert step.slo_held and not step.held and not step.failed
    # The same steps with the default limits: the client is far from a core.
    assert all(s.client_cores is not None and s.client_cores < 0.9 for s in capacity.steps)


def test_a_step_says_what_its_client_cost_per_request(
    fast_server: RunningServer, tmp_path: Path
) -> None:
    """The client's CPU over a step's window, over the requests it sent in it: what a server
    sharing the machine did not get (issue 17). The own engine is one process: all of the
    client is its busiest process."""
    capacity = _search(
        fast_server,
        tmp_path,
        window=1.0,
        warmup=0.2,
        estimate_duration=0.5,
        policy=RatePolicy(max_steps=1, min_rate=1.0),
    )
    (step,) = capacity.steps
    cpu, sent = step.summary.client_cpu_seconds, step.summary.sent
    assert cpu is not None and cpu > 0 and sent > 0
    assert step.client_cpu_per_request == pytest.approx(cpu / sent, rel=1e-3)
    assert step.client_total_cores == step.client_cores


def test_a_deadline_too_close_measures_nothing(fast_server: RunningServer, tmp_path: Path) -> None:
    began = time.monotonic()
    capacity = _search(fast_server, tmp_path, deadline=time.monotonic() + 1.0)
    assert capacity.stop == "time-spent" and capacity.steps == ()
    assert capacity.estimate is None and capacity.idle_latency is not None
    assert time.monotonic() - began < 1.0
    # The prime counts against the deadline too: 2 s of it and the 1.5 s estimate do not fit.
    primed = _search(fast_server, tmp_path, prime=2.0, deadline=time.monotonic() + 3.0)
    assert primed.stop == "time-spent" and primed.estimate is None
    assert primed.settings.prime == 2.0


@pytest.mark.slow
def test_requests_the_client_gave_up_on_are_worked_off_before_the_next_step(
    tmp_path: Path,
) -> None:
    # One step at three times the estimate with a 0.15 s timeout: most requests time out,
    # and the sync worker still has them queued. The search waits them out, so the server
    # is idle again when it returns.
    with _io_server(tmp_path, "gunicorn:w1") as server:
        capacity = _search(
            server,
            tmp_path,
            window=1.0,
            warmup=0.3,
            estimate_concurrency=2,
            estimate_duration=1.0,
            timeout=0.15,
            policy=RatePolicy(max_steps=1, start_factor=3.0, min_rate=1.0),
        )
        (step,) = capacity.steps
        assert step.failed and step.summary.errors_by_class.get("timeout", 0) > 10
        assert step.settle > 0.5
        after = run_closed(f"{server.url}/predict", concurrency=1, requests=1, timeout=5.0)
        assert after.latency.max is not None and after.latency.max < 3 * DELAY


def test_nothing_listening_and_settings_out_of_range(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/predict"
    with pytest.raises(LoadError, match="nothing is listening"):
        find_capacity(url, slos=P99)
    with pytest.raises(ConfigError, match="at least one SLO"):
        find_capacity(url, slos=[])
    with pytest.raises(ConfigError, match="holds no request"):
        find_capacity(url, slos=P99, window=1.0, policy=RatePolicy(min_rate=0.5))
    with pytest.raises(ConfigError, match="window"):
        find_capacity(url, slos=P99, window=-1.0)
    with pytest.raises(ConfigError, match="prime"):
        find_capacity(url, slos=P99, prime=-1.0)
    with pytest.raises(ConfigError, match="concurrency"):
        find_capacity(url, slos=P99, estimate_concurrency=0, request=RequestSpec())
