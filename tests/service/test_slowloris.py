"""One slow client against the seed's deployment, and the setting the README says mitigates it.

A sync worker reads a request's head with nothing bounding it but the worker timeout: one
connection that sends a header byte per second holds the only worker until gunicorn kills it
(``WORKER TIMEOUT``, 30 s by default, 31.6 s measured for the seed's command), and every other
request waits that long. These tests show it with a 2 s timeout, and that a gevent worker
serves others meanwhile. They assert who answered and in which order, not how fast.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from servelab.servers import RunningServer
from servelab.service import ServiceConfig

from ..helpers import http_request, launch_service, slowloris

CONFIG = ServiceConfig(workload="io", io_delay=0.0)


def _worker_pid(server: RunningServer, timeout: float = 10.0) -> int:
    reply = http_request(server.port, "GET", "/health", timeout=timeout)
    assert reply.status == 200
    pid: int = reply.json()["pid"]
    return pid


@pytest.mark.slow
def test_one_slowloris_connection_holds_a_sync_worker_until_the_timeout_kills_it(
    tmp_path: Path,
) -> None:
    with launch_service("gunicorn:w1:timeout2", tmp_path, CONFIG) as server:
        held = _worker_pid(server)
        with slowloris(server.port) as trickle:
            # Nothing is answered while the worker waits for the slow head ...
            with pytest.raises(socket.timeout):
                http_request(server.port, "GET", "/health", timeout=1.0)
            # ... until the timeout kills that worker; its successor serves the queue.
            assert _worker_pid(server, timeout=20.0) != held
            assert trickle.ended.wait(10.0), "the slow connection outlived its worker"


@pytest.mark.slow
def test_a_gevent_worker_serves_others_while_a_slowloris_connection_trickles(
    tmp_path: Path,
) -> None:
    with launch_service("gunicorn:w1:gevent", tmp_path, CONFIG) as server:
        pid = _worker_pid(server)
        with slowloris(server.port) as trickle:
            for _ in range(3):
                assert _worker_pid(server, timeout=5.0) == pid
            assert trickle.bytes_sent >= 1 and not trickle.ended.is_set()
