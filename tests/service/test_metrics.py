"""/metrics on real servers: counts equal the requests sent, on gunicorn whichever worker
answers the scrape, and still after a worker is killed and replaced."""

from __future__ import annotations

import http.client
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from servelab.load import run_burst
from servelab.servers import HOST, RunningServer
from servelab.service import ServiceConfig, create_app

from ..helpers import REPO, free_port, http_request, launch_service, process_group, wait_for

TOKEN = "metrics-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module", params=["flask-dev", "gunicorn:w2"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    config = ServiceConfig(workload="io", io_delay=0.01, token=TOKEN)
    with launch_service(request.param, tmp_path_factory.mktemp("servers"), config) as running:
        yield running


def scrape(port: int, conn: http.client.HTTPConnection | None = None) -> tuple[int, Samples]:
    """One scrape on ``conn`` (else a fresh connection): the pid that answered, every sample."""
    if conn is None:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        text = response.read().decode()
        assert response.status == 200, text
        pid = int(response.getheader("X-Servelab-Pid", "0"))
    finally:
        conn.close()
    return pid, parse(text)


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_of(samples: Samples, workload: str, status: str, endpoint: str = "predict") -> float:
    labels = {"endpoint": endpoint, "workload": workload, "status": status}
    count = value(samples, "servelab_requests_total", **labels)
    # The histogram saw exactly the requests the counter did.
    assert value(samples, "servelab_request_duration_seconds_count", **labels) == count
    return count


def scrape_every_worker(
    port: int, workers: set[int], check: Callable[[int, Samples], None], timeout: float = 30.0
) -> None:
    """Scrape until each of ``workers`` has answered at least once, checking every scrape.

    ``check`` gets how many scrapes came before (each is counted by the next) and the samples.
    Bounded by time, not by a count of scrapes: a worker gunicorn has just forked is still
    loading the app, and meanwhile the others answer every scrape as fast as they can.
    """
    seen: set[int] = set()
    scrapes = 0
    deadline = time.monotonic() + timeout
    while True:
        # One connection per worker, all open before any request: a sync worker that took
        # one waits on it for its request, so the next is taken by another worker. (One
        # connection at a time is taken by whichever worker the kernel wakes, which can be
        # the same one scrape after scrape.) The requests still go one after the other.
        conns = [http.client.HTTPConnection(HOST, port, timeout=10) for _ in workers]
        try:
            for conn in conns:
                conn.connect()
            for conn in conns:
                pid, samples = scrape(port, conn)
                check(scrapes, samples)
                seen.add(pid)
                scrapes += 1
        finally:
            for conn in conns:  # also those not reached when a check failed
                conn.close()
        if workers <= seen:
            return
        assert time.monotonic() < deadline, f"workers {workers - seen} never answered a scrape"
        time.sleep(0.05)


def workers_of(server: RunningServer) -> set[int]:
    """gunicorn's workers; the dev server's one process."""
    return set(server.process_pids()) - {server.pid} or {server.pid}


def test_counts_equal_the_requests_sent(server: RunningServer) -> None:
    _, before = scrape(server.port)
    scrapes_before = requests_of(before, "none", "200", endpoint="metrics")

    good = run_burst(f"{server.url}/predict?workload=io", requests=7, concurrency=7, headers=AUTH)
    bad = run_burst(f"{server.url}/predict", requests=3, areas=[-1], headers=AUTH)
    refused = run_burst(f"{server.url}/predict", requests=2)
    assert [r.status for r in good + bad + refused] == [200] * 7 + [400] * 3 + [401] * 2

    def check(scrapes: int, samples: Samples) -> None:
        assert requests_of(samples, "io", "200") == 7
        # Refused before the view knew the workload: labelled "none".
        assert requests_of(samples, "none", "400") == 3
        assert requests_of(samples, "none", "401") == 2
        assert value(samples, "servelab_rejected_total", reason="unauthorized") == 2
        assert value(samples, "servelab_requests_in_flight") == 0
        # Every earlier scrape counted, whichever worker answered it: 1 before the burst.
        assert requests_of(samples, "none", "200", "metrics") == scrapes_before + 1 + scrapes

    scrape_every_worker(server.port, workers_of(server), check)


def test_histogram_buckets_are_cumulative_and_hold_the_io_delay(server: RunningServer) -> None:
    run_burst(f"{server.url}/predict?workload=io", requests=2, headers=AUTH)
    _, samples = scrape(server.port)
    labels = {"endpoint": "predict", "workload": "io", "status": "200"}
    count = value(samples, "servelab_request_duration_seconds_count", **labels)
    below_delay = value(samples, "servelab_request_duration_seconds_bucket", le="0.005", **labels)
    total = value(samples, "servelab_request_duration_seconds_bucket", le="+Inf", **labels)

    assert count >= 2 and total == count
    assert below_delay == 0  # every io request slept 10 ms
    assert value(samples, "servelab_request_duration_seconds_sum", **labels) >= 0.01 * count


def test_metrics_speaks_openmetrics_when_asked(server: RunningServer) -> None:
    accept = {"Accept": "application/openmetrics-text"}
    reply = http_request(server.port, "GET", "/metrics", headers=accept)
    assert reply.headers.get("Content-Type", "").startswith("application/openmetrics-text")
    assert reply.body.decode().rstrip().endswith("# EOF")


# --- gunicorn: a worker killed mid-request ----------------------------------------------


def test_killed_worker_keeps_its_counts_and_leaves_no_request_in_flight(tmp_path: Path) -> None:
    config = ServiceConfig(workload="io", io_delay=30.0)
    with launch_service("gunicorn:w2", tmp_path, config) as server:
        # Fast requests until both workers have served some: the victim's counts must survive.
        served: dict[int, int] = {}

        def both_served() -> bool:
            assert sum(served.values()) < 60, "one worker never served a request"
            # Two at once: one request at a time can go to the same worker every time.
            for record in run_burst(f"{server.url}/predict?workload=cpu&n=1000", requests=2):
                assert record.status == 200 and record.served_pid is not None
                served[record.served_pid] = served.get(record.served_pid, 0) + 1
            return len(served) == 2

        wait_for(both_served, "both workers to serve a request")
        sent = sum(served.values())

        # A slow request occupies one sync worker; scrapes can only reach the other one.
        slow = threading.Thread(
            target=run_burst, args=(f"{server.url}/predict?workload=io",), daemon=True,
            kwargs={"requests": 1, "timeout": 40.0},
        )  # fmt: skip
        slow.start()
        busy: list[int] = []

        def in_flight_seen() -> bool:
            pid, samples = scrape(server.port)
            if value(samples, "servelab_requests_in_flight") == 1:
                busy[:] = list(workers_of(server) - {pid})
                return True
            return False

        wait_for(in_flight_seen, "the slow request to show in flight on the other worker")
        (victim,) = busy
        os.kill(victim, signal.SIGKILL)
        slow.join(timeout=10)
        assert not slow.is_alive()

        def replaced() -> bool:
            # gunicorn forks the replacement only after reaping the victim, logging its
            # SIGKILL and running child_exit (which drops its in-flight gauge): a replacement
            # seen means all three are done. One look at the processes, not two: the victim
            # gone in a second look, with no replacement yet, would pass too early.
            workers = workers_of(server)
            return len(workers) == 2 and victim not in workers

        wait_for(replaced, "gunicorn to boot a replacement worker")

        def check(scrapes: int, samples: Samples) -> None:
            assert requests_of(samples, "cpu", "200") == sent
            assert requests_of(samples, "io", "200") == 0  # killed: never answered
            assert value(samples, "servelab_requests_in_flight") == 0

        scrape_every_worker(server.port, workers_of(server), check)
        assert f"Worker (pid:{victim}) was sent SIGKILL" in server.log_tail(200)


def test_each_gunicorn_run_starts_from_zero(tmp_path: Path) -> None:
    config = ServiceConfig(workload="io", io_delay=0.01)
    for _ in range(2):
        with launch_service("gunicorn", tmp_path, config, name="again") as server:
            _, samples = scrape(server.port)
            assert requests_of(samples, "io", "200") == 0
            assert all(r.ok for r in run_burst(f"{server.url}/predict", requests=3))
            _, samples = scrape(server.port)
            assert requests_of(samples, "io", "200") == 3
    # the scratch directory of the workers' counts goes with the server
    assert not (tmp_path / "again.prometheus").exists()


# --- the seed's command -----------------------------------------------------------------


def test_seed_gunicorn_command_sums_its_workers_and_cleans_up(tmp_path: Path) -> None:
    # `gunicorn src.predict_app:app` from the repository root, as the seminar runs it, with two
    # workers; gunicorn.conf.py makes the multiprocess directory (under TMPDIR) and removes it.
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SERVELAB_", "PROMETHEUS_"))}
    env.update(ServiceConfig(workload="io", io_delay=0.01).to_env(), TMPDIR=str(tmp_path))
    command = [sys.executable, "-m", "gunicorn", "src.predict_app:app", "-w", "2"]
    log_path = tmp_path / "gunicorn.log"
    with (
        log_path.open("wb") as log,
        process_group([*command, "-b", f"{HOST}:{port}"], cwd=REPO, env=env, stdout=log) as process,
    ):

        def workers() -> set[int]:
            return {child.pid for child in psutil.Process(process.pid).children()}

        def both_workers_up() -> bool:
            if process.poll() is not None:
                return True
            try:
                return len(workers()) == 2 and bool(scrape(port))
            except (OSError, http.client.HTTPException):
                return False

        wait_for(both_workers_up, "the seed's gunicorn to start")
        assert process.poll() is None, log_path.read_text()
        (made,) = tmp_path.glob("servelab-prometheus-*")
        records = run_burst(f"http://{HOST}:{port}/predict", requests=6, concurrency=6)
        assert [r.status for r in records] == [200] * 6

        def check(scrapes: int, samples: Samples) -> None:
            assert requests_of(samples, "io", "200") == 6

        scrape_every_worker(port, workers(), check)
        assert {f"counter_{pid}.db" for pid in workers()} <= {p.name for p in made.iterdir()}
    assert process.returncode == 0, log_path.read_text()
    assert not list(tmp_path.glob("servelab-prometheus-*")), "the temp directory was left"


# --- in one process ---------------------------------------------------------------------


def test_apps_in_one_process_count_separately() -> None:
    first, second = (create_app(ServiceConfig(workload="io", io_delay=0)) for _ in range(2))
    for _ in range(3):
        assert first.test_client().post("/predict", json={"area": 10}).status_code == 200
    assert second.test_client().post("/predict", json={"area": 10}).status_code == 200

    for app, expected in ((first, 3), (second, 1)):
        samples = parse(app.test_client().get("/metrics").get_data(as_text=True))
        assert requests_of(samples, "io", "200") == expected
        assert value(samples, "process_resident_memory_bytes") > 0


def test_a_worker_still_making_its_files_does_not_break_a_scrape(tmp_path: Path) -> None:
    """A new worker's value file exists empty for a moment before prometheus_client sizes it;
    a scrape in that moment must still answer 200 with everyone else's counts."""
    config = ServiceConfig(workload="io", io_delay=0.01)
    with launch_service("gunicorn:w2", tmp_path, config) as server:
        assert all(r.ok for r in run_burst(f"{server.url}/predict", requests=2))
        (directory,) = tmp_path.glob("*.prometheus")
        for kind in ("counter", "histogram", "gauge_livesum"):
            (directory / f"{kind}_999999.db").touch()  # a booting worker, caught mid-create
        for _ in range(4):  # whichever worker answers
            _, samples = scrape(server.port)
            assert requests_of(samples, "io", "200") == 2
