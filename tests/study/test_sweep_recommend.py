"""The sweep's recommendation, on synthetic measurements: the rules a reader can check by hand."""

from __future__ import annotations

import pytest

from servelab.results_sweep import LOSS_CODES
from servelab.study.sweep.recommend import CellFacts, recommend

MiB = 1 << 20


def test_the_highest_capacity_within_the_budget_wins_and_every_other_cell_says_why() -> None:
    cells = [
        CellFacts("prod_w1", capacity=20.0, memory_bytes=60 * MiB),
        CellFacts("prod_w2", capacity=39.0, memory_bytes=110 * MiB),
        CellFacts("prod_w4", capacity=75.0, memory_bytes=2300 * MiB),  # the fastest, too big
        CellFacts("prod_w2_gthread_t8", capacity=None, memory_bytes=120 * MiB),
        CellFacts("uvicorn_w2", capacity=90.0, client_bound=True, memory_bytes=100 * MiB),
        CellFacts("granian_w2", measured=False),
        CellFacts("waitress_t4", failed=True),
    ]
    choice = recommend(cells, budget_bytes=2048 * MiB)
    assert choice.best == "prod_w2"
    losses = {r.name: (r.loss, r.versus) for r in choice.ranking}
    assert losses == {
        "prod_w2": (None, None),
        "prod_w1": ("lower-capacity", 39.0),
        "prod_w4": ("over-budget", 2048 * MiB),
        "prod_w2_gthread_t8": ("slo-never-held", None),
        "uvicorn_w2": ("client-bound", None),
        "granian_w2": ("not-measured", None),
        "waitress_t4": ("failed", None),
    }
    assert [r.name for r in choice.ranking][:3] == ["prod_w2", "prod_w1", "uvicorn_w2"]
    assert choice.lead == pytest.approx(39 / 20)
    assert choice.memory_headroom == pytest.approx(1 - 110 / 2048)
    # The client-bound cell's lower bound (90/s) beats the winner: the answer may change.
    assert choice.uncertain == ("uvicorn_w2",)


def test_capacities_within_the_noise_go_to_the_one_with_less_memory() -> None:
    cells = [
        CellFacts("prod_w4", capacity=41.0, memory_bytes=400 * MiB),
        CellFacts("prod_w2_preload", capacity=39.0, memory_bytes=150 * MiB),
        CellFacts("prod_w2", capacity=40.0, memory_bytes=220 * MiB),
        CellFacts("prod_w1", capacity=30.0, memory_bytes=80 * MiB),
    ]
    choice = recommend(cells)  # no budget: memory only breaks ties
    assert choice.best == "prod_w2_preload"
    losses = {r.name: r.loss for r in choice.ranking}
    assert losses["prod_w4"] == losses["prod_w2"] == "same-capacity-more-memory"
    assert losses["prod_w1"] == "lower-capacity"
    assert choice.memory_headroom is None and choice.uncertain == ()


def test_a_size_the_cell_cannot_survive_disqualifies_it() -> None:
    cells = [
        CellFacts("prod_w4", capacity=80.0, memory_bytes=500 * MiB, critical_n=40_000),
        CellFacts("prod_w2", capacity=40.0, memory_bytes=300 * MiB, critical_n=90_000),
    ]
    choice = recommend(cells, budget_bytes=1024 * MiB, size=50_000)
    assert choice.best == "prod_w2"
    assert choice.ranking[1].loss == "dies-below-size" and choice.ranking[1].versus == 50_000


def test_no_cell_qualifies_means_no_recommendation_not_the_least_bad() -> None:
    cells = [
        CellFacts("prod_w1", capacity=None),
        CellFacts("prod_w4", capacity=70.0, memory_bytes=3 << 30),
    ]
    choice = recommend(cells, budget_bytes=2 << 30)
    assert choice.best is None and choice.winner is None
    assert {r.loss for r in choice.ranking} == {"slo-never-held", "over-budget"}
    assert choice.lead is None


def test_an_oom_kill_inside_the_budget_disqualifies_whatever_the_capacity() -> None:
    cells = [
        CellFacts("prod_w4", capacity=80.0, memory_bytes=900 * MiB, oom_kills=1),
        CellFacts("prod_w2", capacity=40.0, memory_bytes=500 * MiB),
    ]
    choice = recommend(cells, workload="cpu", budget_bytes=1024 * MiB)
    assert (choice.workload, choice.best) == ("cpu", "prod_w2")
    assert (choice.ranking[1].loss, choice.ranking[1].versus) == ("oom-killed", 1024 * MiB)


def test_every_loss_code_has_a_place_in_the_order() -> None:
    from servelab.study.sweep.recommend import _LOSS_ORDER

    assert set(_LOSS_ORDER) == set(LOSS_CODES)


def test_a_server_that_died_during_its_search_is_not_recommended() -> None:
    cells = [
        CellFacts("dev", capacity=60.0, memory_bytes=100 * MiB, died=True),
        CellFacts("prod_w1", capacity=20.0, memory_bytes=60 * MiB),
    ]
    choice = recommend(cells)
    assert choice.best == "prod_w1" and choice.ranking[1].loss == "died"


def test_the_flask_development_server_is_measured_but_never_recommended() -> None:
    cells = [
        CellFacts("io_dev", capacity=400.0, memory_bytes=40 * MiB, production=False),
        CellFacts("io_prod_w4", capacity=38.0, memory_bytes=120 * MiB),
    ]
    choice = recommend(cells, workload="io")
    assert choice.best == "io_prod_w4"
    assert (choice.ranking[1].name, choice.ranking[1].loss) == ("io_dev", "dev-server")


def test_a_tie_within_the_noise_is_no_lead() -> None:
    cells = [
        CellFacts("prod_w2", capacity=48.9, memory_bytes=150 * MiB),
        CellFacts("prod_w2_gthread_t4", capacity=50.4, memory_bytes=290 * MiB),
        CellFacts("prod_w4", capacity=41.6, memory_bytes=260 * MiB),
    ]
    choice = recommend(cells)
    assert choice.best == "prod_w2"
    # It beat w4 on capacity (48.9 / 41.6), not the gthread cell (a tie it won on memory).
    assert choice.lead == pytest.approx(48.9 / 41.6)
