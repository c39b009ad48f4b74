"""The capacity search's pure parts: the rate search on synthetic servers, the client-bound
rule on numbers, its results files (read back, damaged, written by a newer servelab), and
what a cell sends.

A synthetic server holds every rate up to its threshold and fails above it; a synthetic
client delivers every rate below its own limit. Randomness is seeded.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from servelab.errors import ConfigError, ResultsError
from servelab.load import RequestSpec, RequestTemplate, Slo
from servelab.load.records import RequestRecord
from servelab.load.summary import LoadSummary, summarize
from servelab.results_capacity import (
    CAPACITY_SCHEMA,
    Capacity,
    CapacityStep,
    ClientCause,
    ClientLimits,
    RatePolicy,
    SloCheck,
    StepSettings,
    read_capacity,
    read_steps,
    write_capacity,
)
from servelab.servers.app import AppTarget
from servelab.study.sweep.capacity import request_for, step_timeout
from servelab.study.sweep.ratesearch import ClientMeasure, RateSearch, client_bound
from servelab.study.trial import AppRun


def _search(
    estimate: float,
    threshold: float,
    policy: RatePolicy | None = None,
    client_limit: float = math.inf,
) -> tuple[RateSearch, list[float]]:
    """Run a search against a server that holds up to ``threshold`` and a client that
    cannot deliver ``client_limit`` or more; the rates asked, in order."""
    search = RateSearch(estimate, policy)
    rates = []
    while (rate := search.next_rate()) is not None:
        rates.append(rate)
        search.record(rate, held=rate <= threshold, client_bound=rate >= client_limit)
    return search, rates


@pytest.mark.parametrize("estimate", [20.0, 80.0, 100.0, 130.0, 400.0, 3.0])
def test_the_search_brackets_the_threshold_within_the_tolerance(estimate: float) -> None:
    search, rates = _search(estimate, threshold=100.0)
    low, high = search.bracket()
    assert search.stop == "within-tolerance"
    assert low is not None and high is not None
    assert low <= 100.0 < high and high / low - 1 <= 0.05
    assert search.capacity == low and not search.client_bound
    assert len(rates) <= RatePolicy().max_steps
    # No rate is asked twice, except the failing end, confirmed once before the search ends.
    assert rates[-1] == high and rates.count(high) == 2
    assert len(set(rates)) == len(rates) - 1


def test_a_good_estimate_costs_few_steps_and_rates_are_round() -> None:
    _, rates = _search(100.0, threshold=100.0)
    assert rates[0] == 90.0  # 0.9 of the closed-loop estimate
    assert len(rates) <= 6  # five moves and the failing end's confirmation
    assert all(float(f"{r:.3g}") == r for r in rates)  # 3 significant digits


def test_a_failure_that_does_not_repeat_is_a_transient_and_the_search_goes_on() -> None:
    # The server holds up to 120/s, but its first step at 112/s failed by chance (a worker's
    # first requests): the confirmation holds, and the search finds the real limit above.
    search = RateSearch(100.0)
    rates, failed_once = [], False
    while (rate := search.next_rate()) is not None:
        rates.append(rate)
        transient = rate == 112.0 and not failed_once
        failed_once = failed_once or transient
        search.record(rate, held=rate <= 120.0 and not transient)
    low, high = search.bracket()
    assert failed_once and rates.count(112.0) == 2
    assert search.stop == "within-tolerance" and low is not None and high is not None
    assert low <= 120.0 < high and search.capacity == low > 112.0


def test_without_confirmation_one_failure_ends_the_search() -> None:
    search, rates = _search(100.0, threshold=100.0, policy=RatePolicy(confirm=False))
    assert len(rates) == len(set(rates)) and search.stop == "within-tolerance"


def test_the_search_never_takes_more_than_max_steps() -> None:
    for steps in (1, 2, 3, 5):
        search, rates = _search(1.0, threshold=5000.0, policy=RatePolicy(max_steps=steps))
        assert len(rates) == steps and search.stop == "budget-spent"
        assert search.next_rate() is None


def test_it_stops_when_even_the_lowest_rate_fails() -> None:
    search, rates = _search(50.0, threshold=0.1, policy=RatePolicy(min_rate=1.0))
    assert search.stop == "fails-at-min" and search.capacity is None
    assert rates[-1] == 1.0 and rates == sorted(rates, reverse=True)


def test_it_stops_when_even_the_highest_rate_holds() -> None:
    search, rates = _search(50.0, threshold=1e9, policy=RatePolicy(max_rate=200.0))
    assert search.stop == "holds-at-max" and search.capacity == 200.0
    assert rates[-1] == 200.0 and rates == sorted(rates)
    assert rates[1] / rates[0] == pytest.approx(1.25, rel=0.01)  # the first move up


def test_a_client_bound_step_is_no_failure_of_the_server() -> None:
    alone, _ = _search(100.0, threshold=100.0)
    # The client cannot deliver 150/s or more: the server's limit is below, nothing changes.
    roomy, _ = _search(100.0, threshold=100.0, client_limit=150.0)
    assert roomy.capacity == alone.capacity and roomy.stop == "within-tolerance"
    assert not roomy.client_bound
    # It cannot deliver 60/s: the search closes on the client's limit, said as such, with
    # the highest rate that held as a lower bound of the server's capacity.
    bound, _ = _search(100.0, threshold=100.0, client_limit=60.0)
    low, high = bound.bracket()
    assert bound.stop == "client-bound" and bound.client_bound
    assert low is not None and high is not None and low < 60.0 <= high
    assert high / low - 1 <= 0.05 and bound.capacity == low


def test_a_client_bound_step_above_a_failure_changes_nothing() -> None:
    search = RateSearch(100.0)
    for held, cb in ((True, False), (False, False), (False, True)):
        rate = search.next_rate()
        assert rate is not None
        search.record(rate, held=held, client_bound=cb)
    # 90 held, 112 failed, then a client-bound step between them: it is the new upper end
    # (nothing above it is known to hold), but it fails nothing below it.
    low, high = search.bracket()
    assert low == 90.0 and high is not None and 90.0 < high < 112.5
    assert search.client_bound


def test_a_client_that_cannot_deliver_even_the_lowest_rate() -> None:
    search, _ = _search(50.0, threshold=1e9, client_limit=0.0, policy=RatePolicy(min_rate=2.0))
    assert search.stop == "client-bound" and search.capacity is None and search.client_bound


def test_noisy_outcomes_still_end_within_the_budget() -> None:
    rng = random.Random(15)
    for _ in range(300):
        search = RateSearch(rng.uniform(1, 500), RatePolicy(max_steps=rng.randint(1, 15)))
        while (rate := search.next_rate()) is not None:
            search.record(rate, held=rng.random() < 0.5, client_bound=rng.random() < 0.1)
        assert search.stop is not None and search.steps <= search.policy.max_steps
        low, high = search.bracket()
        assert low is None or high is None or low < high


def test_give_up_and_out_of_order_records() -> None:
    search = RateSearch(10.0)
    with pytest.raises(ValueError, match="no step is pending"):
        search.record(9.0, held=True)
    assert search.next_rate() == 9.0
    with pytest.raises(ValueError, match="asked for rate 9"):
        search.record(8.0, held=True)
    search.give_up()
    assert search.next_rate() is None and search.stop == "time-spent"
    with pytest.raises(ConfigError):
        RateSearch(0.0)
    with pytest.raises(ConfigError):
        RatePolicy(min_rate=10, max_rate=5)
    with pytest.raises(ConfigError):
        RatePolicy(tolerance=0)


# --- the client-bound rule --------------------------------------------------------------------


def test_client_bound_by_its_cpu_its_late_sends_or_its_send_rate() -> None:
    fine = ClientMeasure(rate=100, client_cores=0.2, late_share=0.0, send_rate=99.5, sends=200)
    assert client_bound(fine) == ()
    busy = ClientMeasure(rate=100, client_cores=0.95, late_share=0.0, send_rate=99.5, sends=200)
    assert client_bound(busy) == ("client-cpu",)
    late = ClientMeasure(rate=100, client_cores=0.5, late_share=0.3, send_rate=80, sends=200)
    assert client_bound(late) == ("late-sends", "send-rate")
    assert client_bound(late, ClientLimits(max_late_share=0.5, min_send_share=0.7)) == ()
    assert client_bound(busy, ClientLimits(max_cores=1.0)) == ()


def test_waiting_for_the_server_is_not_the_clients_fault() -> None:
    # Requests held back by the in-flight bound left late because the server held every
    # connection: only the client's own CPU can make such a step client-bound.
    held = ClientMeasure(100, 0.3, late_share=0.6, send_rate=50, sends=200, held_back=40)
    assert client_bound(held) == ()
    assert client_bound(ClientMeasure(100, 0.99, 0.6, 50, 200, held_back=40)) == ("client-cpu",)


def test_a_send_rate_needs_enough_sends_and_unknowns_say_nothing() -> None:
    few = ClientMeasure(rate=100, client_cores=0.1, late_share=0.0, send_rate=50, sends=5)
    assert client_bound(few) == ()
    unknown = ClientMeasure(rate=100, client_cores=None, late_share=None, send_rate=None, sends=0)
    assert client_bound(unknown) == ()


# --- the results files ------------------------------------------------------------------------


def _summary(rate: float, latency: float) -> LoadSummary:
    records = [
        RequestRecord(
            index=i,
            area=10.0,
            intended_start=1000.0 + i / rate,
            start=1000.0 + i / rate,
            end=1000.0 + i / rate + latency,
            latency=latency,
            status=200,
            ok=True,
            error_class=None,
            error=None,
            body='{"price": 1}',
            service_time=latency,
        )
        for i in range(20)
    ]
    return summarize(records, mode="open", url="http://127.0.0.1:1/predict", method="POST")


def _step(
    index: int, rate: float, held: bool, causes: tuple[ClientCause, ...] = ()
) -> CapacityStep:
    return CapacityStep(
        index=index,
        rate=rate,
        summary=_summary(rate, 0.05 if held else 0.5),
        held_back=0,
        server_cores=0.03,
        client_cores=0.01,
        late_share=0.0,
        served_rate=rate,
        keeps_up=True,
        slo=(SloCheck("p99<250ms", 0.05 if held else 0.5, held),),
        client_causes=causes,
        seconds=2.5,
        client_total_cores=0.01,
        client_cpu_per_request=round(0.01 / rate, 7),
    )


def _capacity() -> Capacity:
    steps = (_step(0, 18.0, True), _step(1, 22.5, False), _step(2, 20.1, True))
    return Capacity(
        url="http://127.0.0.1:1/predict",
        slos=("p99<250ms",),
        settings=StepSettings(2.0, 0.5, 10.0, 1000, 16, 2.0),
        policy=RatePolicy(),
        limits=ClientLimits(),
        idle_latency=0.051,
        estimate=20.0,
        estimate_summary=steps[0].summary,
        steps=steps,
        capacity=20.1,
        client_bound=False,
        stop="within-tolerance",
        elapsed=12.0,
    )


def test_a_capacity_reads_back_as_it_was_written(tmp_path: Path) -> None:
    capacity = _capacity()
    write_capacity(tmp_path / "capacity.json", capacity)
    again = read_capacity(tmp_path / "capacity.json")
    assert again == capacity
    assert again.at_capacity is not None and again.at_capacity.rate == 20.1
    assert again.at_capacity.p99 == pytest.approx(0.05)
    assert [s.held for s in again.steps] == [True, False, True]


def test_steps_read_back_and_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "steps.jsonl"
    steps = _capacity().steps
    text = "".join(json.dumps(s.to_json()) + "\n" for s in steps)
    path.write_text(text + text.splitlines()[0][:40])
    assert read_steps(path) == list(steps)


def _raw() -> Any:
    """A capacity's JSON, as a file holds it, to damage."""
    return json.loads(json.dumps(_capacity().to_json()))


def test_a_damaged_file_is_one_line_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "capacity.json"
    data = _raw()
    data["steps"][1]["rate"] = "fast"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match=r"field steps\[1\]\.rate: expected a number") as error:
        read_capacity(path)
    assert "\n" not in str(error.value)
    data = _raw()
    data["policy"]["tolerance"] = -1
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match="field policy: tolerance must be > 0"):
        read_capacity(path)
    data = _raw()
    data["steps"][0]["summary"]["ok"] = "many"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match=r"steps\[0\]\.summary\.ok"):
        read_capacity(path)
    data = {**_raw(), "stop": "bored"}
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match="field stop: expected one of within-tolerance"):
        read_capacity(path)


def test_a_file_from_before_the_prime_reads_as_unprimed(tmp_path: Path) -> None:
    path = tmp_path / "capacity.json"
    data = _raw()
    assert data["settings"]["prime"] == 0.0
    del data["settings"]["prime"]
    path.write_text(json.dumps(data))
    assert read_capacity(path).settings.prime == 0.0


def test_a_file_from_before_the_clients_total_reads_it_as_not_recorded(tmp_path: Path) -> None:
    path = tmp_path / "capacity.json"
    data = _raw()
    assert data["steps"][0]["client_cpu_per_request"] == pytest.approx(0.01 / 18, rel=1e-3)
    for step in data["steps"]:
        del step["client_total_cores"], step["client_cpu_per_request"]
    path.write_text(json.dumps(data))
    steps = read_capacity(path).steps
    assert [(s.client_total_cores, s.client_cpu_per_request) for s in steps] == [(None, None)] * 3
    assert [s.client_cores for s in steps] == [0.01] * 3  # what was recorded then is kept


@pytest.mark.parametrize(
    ("slos", "timeout", "expected"),
    [
        (("p99<500ms", "errors<1%"), 10.0, 2.0),  # 4 x 0.5 s is below the 2 s floor
        (("p50<100ms", "p99<750ms"), 10.0, 3.0),  # the largest bound counts
        (("p99<5s",), 10.0, 10.0),  # never beyond the timeout asked for
        (("p99<500ms",), 0.15, 0.15),
        (("errors<1%", "rps>10"), 10.0, 10.0),  # no latency bound: the timeout asked for
    ],
)
def test_a_steps_requests_time_out_soon_after_they_broke_every_latency_bound(
    slos: tuple[str, ...], timeout: float, expected: float
) -> None:
    assert step_timeout([Slo.parse(s) for s in slos], timeout) == expected


def test_a_newer_file_and_no_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "capacity.json"
    path.write_text(json.dumps({**_capacity().to_json(), "schema": CAPACITY_SCHEMA + 1}))
    with pytest.raises(ResultsError, match="upgrade servelab"):
        read_capacity(path)
    with pytest.raises(ResultsError, match=r"no nothing\.json"):
        read_capacity(tmp_path / "nothing.json")
    path.write_text("{")
    with pytest.raises(ResultsError, match="not valid JSON"):
        read_capacity(path)


def test_the_results_module_runs_nothing() -> None:
    # A report reads capacity results without the engine, the servers or the study.
    code = (
        "import sys, servelab.results_capacity\n"
        "print(' '.join(m for m in sys.modules if m.startswith('servelab.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert "servelab.results_capacity" in loaded
    forbidden = (
        "servelab.servers",
        "servelab.study",
        "servelab.load.loops",
        "servelab.load.reactor",
    )
    assert [m for m in loaded if m.startswith(forbidden)] == []


def test_a_cell_sends_what_a_trial_sends() -> None:
    assert request_for(None, 1000) == ("/predict", RequestSpec())
    template = RequestTemplate.build(
        method="PUT", path="/score", headers=["X-Kind: test"], body='{"rows": {size}}'
    )
    app = AppRun(AppTarget("app:app", Path("."), Path(sys.executable), "wsgi"), template)
    path, spec = request_for(app, 12)
    assert path == "/score" and spec.method == "PUT"
    assert spec.headers == {"X-Kind": "test"} and list(spec.bodies) == [b'{"rows": 12}']


def test_after_a_transient_the_search_moves_up_in_small_steps_again() -> None:
    # Six steps held up to 115/s, then 115 failed once and held when confirmed: the next
    # move is the first step up (x1.25), not the seventh (x9 -> 1040/s, measured here once).
    search = RateSearch(100.0)
    rates: list[float] = []
    seen: set[float] = set()
    while (rate := search.next_rate()) is not None and len(rates) < 8:
        rates.append(rate)
        transient = rate == 112.0 and rate not in seen
        seen.add(rate)
        search.record(rate, held=rate <= 200.0 and not transient)
    after = rates[rates.index(112.0, rates.index(112.0) + 1) + 1]
    assert after == pytest.approx(112.0 * 1.25, rel=0.01)
