"""``servelab sweep --engine locust``: a cell's capacity search with its load on Locust."""

from __future__ import annotations

from pathlib import Path

import pytest

from servelab.results_sweep import read_sweep

from ..helpers import servelab_cli

# gunicorn's 2 sync workers on the io workload hold 2 / 0.05 s = 40 requests/s.
ONE_CELL = (
    "--servers", "gunicorn:w2", "--workloads", "io", "--io-delay", "0.05",
    "--slo", "p99<250ms", "--window", "1.5s", "--warmup", "0.5s", "--prime", "0s",
)  # fmt: skip


@pytest.mark.slow
def test_a_sweep_on_locust_finds_the_capacity_and_says_what_sent_the_load(
    tmp_path: Path,
) -> None:
    out = tmp_path / "sweep"
    result = servelab_cli(
        "sweep", *ONE_CELL, "--engine", "locust", "--processes", "2", "--out", str(out),
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    sweep = read_sweep(out)
    assert sweep.settings.engine == "locust:2"
    cell = sweep.cell("io_prod_w2")
    assert cell.capacity is not None and cell.capacity.capacity is not None
    assert 30 <= cell.capacity.capacity <= 46, cell.capacity.capacity
    steps = cell.capacity.steps
    assert steps and all(step.client_cores is not None for step in steps)  # the workers'
    # The busiest worker bounds the rate; what the client cost is both workers together.
    for step in steps:
        busiest, total = step.client_cores, step.client_total_cores
        assert busiest is not None and total is not None
        assert busiest <= total <= 2 * busiest + 0.001  # each rounded to 0.0001
        cpu = step.summary.client_cpu_seconds
        assert cpu is not None and step.client_cpu_per_request is not None
        assert step.client_cpu_per_request == pytest.approx(cpu / step.summary.sent, rel=1e-3)
    assert all(step.server_cores is not None for step in steps)  # timed from their start
    # Locust's processes are the lab's client, not another program's noise.
    assert cell.noise is not None and cell.noise.other_cores < 0.2, cell.noise
    assert "servelab's loops on Locust: a master and 2 worker" in (out / "report.md").read_text()

    other = servelab_cli("sweep", *ONE_CELL, "--out", str(out))
    assert other.returncode != 0
    assert "holds a sweep with other settings (engine)" in other.stderr
