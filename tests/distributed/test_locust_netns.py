"""``servelab load --engine locust`` across hosts: network namespaces stand for machines.

The test makes five namespaces: a hub with a bridge, and one each for the target server,
the master and two workers, every one on its own address, wired to the hub by a veth pair
made inside the hub (nothing is added to the host's own network). The master and the
workers are started as a user would start them on separate machines
(``servelab load --master``, ``servelab locust-worker --master-host``). Every namespace is
removed afterwards, also when the test fails; where namespaces cannot be made (not root, no
``ip``), the test is skipped and says why.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from servelab._io import read_jsonl

from ..helpers import REPO, process_group
from .fixed_delay import fixed_delay_server

SUBNET = "10.231.7"
ROLES = {"target": 1, "master": 2, "w0": 3, "w1": 4}
MASTER_PORT = 5557


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _why_no_namespaces() -> str | None:
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    return None


@contextlib.contextmanager
def _hosts() -> Iterator[dict[str, str]]:
    """Namespaces for ``ROLES`` on one bridge; yields role -> namespace name."""
    tag = uuid.uuid4().hex[:6]
    hub = f"slhub-{tag}"
    names = {role: f"sl{role}-{tag}" for role in ROLES}
    made: list[str] = []
    try:
        for namespace in (hub, *names.values()):
            _ip("netns", "add", namespace)
            made.append(namespace)
        _ip("-n", hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", hub, "link", "set", "br0", "up")
        for role, namespace in names.items():
            port = f"p{role}"
            _ip("-n", hub, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                "netns", namespace)  # fmt: skip
            _ip("-n", hub, "link", "set", port, "master", "br0", "up")
            _ip("-n", namespace, "addr", "add", f"{SUBNET}.{ROLES[role]}/24", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
        yield names
    finally:
        for namespace in reversed(made):  # the veth pairs go with the hub
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=10)


def _in(namespace: str, *command: str) -> list[str]:
    return ["ip", "netns", "exec", namespace, *command]


def _get(namespace: str, url: str) -> str:
    fetch = (
        f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
    )
    done = subprocess.run(
        _in(namespace, sys.executable, "-c", fetch), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_master_and_workers_on_their_own_hosts(tmp_path: Path) -> None:
    why = _why_no_namespaces()
    if why is not None:
        pytest.skip(why)
    env = {**os.environ, "NO_COLOR": "1"}
    out = tmp_path / "run"
    target = f"{SUBNET}.{ROLES['target']}"
    master_host = f"{SUBNET}.{ROLES['master']}"
    with _hosts() as hosts:
        prefix: Sequence[str] = _in(hosts["target"])
        with fixed_delay_server(0.01, prefix=prefix, host=target) as (_, port):
            url = f"http://{target}:{port}/x"
            master_command = _in(
                hosts["master"], sys.executable, "-m", "servelab", "load", url,
                "--method", "GET", "--engine", "locust", "--master", "--expect-workers", "2",
                "--master-bind-host", master_host, "--master-port", str(MASTER_PORT),
                "--mode", "open", "--rate", "100", "--duration", "2", "--out", str(out),
            )  # fmt: skip
            with process_group(master_command, cwd=REPO, env=env, stdout=subprocess.PIPE) as master:
                workers = [
                    _in(hosts[role], sys.executable, "-m", "servelab", "locust-worker",
                        "--master-host", master_host, "--master-port", str(MASTER_PORT))
                    for role in ("w0", "w1")
                ]  # fmt: skip
                with (
                    process_group(workers[0], cwd=REPO, env=env) as first,
                    process_group(workers[1], cwd=REPO, env=env) as second,
                ):
                    assert master.wait(timeout=90) == 0
                    assert first.wait(timeout=15) == second.wait(timeout=15) == 0
                assert master.stdout is not None
                text = master.stdout.read().decode()
            answered = json.loads(_get(hosts["target"], f"http://{target}:{port}/__stats"))

    summary = json.loads((out / "summary.json").read_text())
    rows = read_jsonl(out / "records.jsonl")
    assert sorted(row["index"] for row in rows) == list(range(200)), text
    assert summary["ok"] == 200 == answered["responses"]
    assert [w["requests"] for w in summary["workers"]] == [100, 100]
    assert not any(w["lost"] for w in summary["workers"])
    assert "Locust workers: 2" in text
