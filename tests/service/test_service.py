"""The house-price service: prices, who-served-it headers, and clear 400s for bad input."""

from __future__ import annotations

import math
import os
import threading
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient

from servelab.service import ServiceConfig, ServiceConfigError, create_app, headers
from servelab.service.model import default_model, fit, generate_dataset


@pytest.fixture
def client() -> FlaskClient:
    return create_app(
        {"workload": "io", "io_delay": 0.01, "n": 1000, "max_n": 10_000}
    ).test_client()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", 42 * 200_000),
        ("?workload=cpu&n=1000", int(42 * (sum(range(1000)) / 1000))),
        ("?workload=numpy&n=1000", int(42 * float(np.mean(np.arange(1000))))),
        ("?workload=cpu&n=7", int(42 * 3.0)),
    ],
)
def test_prices_follow_the_seed_formulas(client: FlaskClient, query: str, expected: int) -> None:
    response = client.post(f"/predict{query}", json={"area": 42})
    assert response.status_code == 200
    assert response.get_json() == {"price": expected}


def test_the_workload_and_n_come_from_the_configuration() -> None:
    app = create_app({"workload": "cpu", "n": 11})
    assert app.test_client().post("/predict", json={"area": 10}).get_json() == {"price": 50}


def test_environment_overrides_the_config_mapping() -> None:
    env = {"SERVELAB_WORKLOAD": "numpy", "SERVELAB_N": "5_000"}
    assert ServiceConfig.load({"workload": "io", "n": 3}, env) == ServiceConfig(
        workload="numpy", n=5000
    )
    assert ServiceConfig(workload="cpu", n=9).to_env()["SERVELAB_N"] == "9"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"workload": "gpu"}, "workload must be one of"),
        ({"n": 0}, "n must be between"),
        ({"io_delay": -1.0}, "io_delay"),
    ],
)
def test_bad_settings_are_refused_before_serving(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ServiceConfigError, match=message):
        create_app(config)


def test_a_bad_environment_variable_is_named() -> None:
    with pytest.raises(ServiceConfigError, match="SERVELAB_N must be a number"):
        ServiceConfig.load(environ={"SERVELAB_N": "lots"})


def test_every_response_says_who_served_it_and_when(client: FlaskClient) -> None:
    response = client.post("/predict", json={"area": 10})
    assert response.headers[headers.PID] == str(os.getpid())
    assert response.headers[headers.THREAD] == str(threading.get_native_id())
    assert float(response.headers[headers.START]) > 1.7e9
    metric, duration = response.headers[headers.SERVER_TIMING].split(";dur=")
    assert metric == "handler"
    assert float(duration) >= 10.0  # the 0.01 s sleep, in milliseconds


BAD_INPUTS: list[tuple[str, Any, str]] = [
    ("", {}, "area"),
    ("", {"floor": 2}, "area"),
    ("", {"area": "42"}, "area"),
    ("", {"area": None}, "area"),
    ("", {"area": True}, "area"),
    ("", {"area": 0}, "area"),
    ("", {"area": -5}, "area"),
    ("", {"area": 1e9}, "area"),
    ("", {"area": 42, "floor": 0}, "floor"),
    ("", {"area": 42, "floor": 2.5}, "floor"),
    ("", {"area": 42, "floor": 10, "floors_count": 9}, "floor"),
    ("", {"area": 42, "floors_count": "nine"}, "floors_count"),
    ("", [42], "body"),
    ("?n=0", {"area": 42}, "n"),
    ("?n=abc", {"area": 42}, "n"),
    ("?n=-3", {"area": 42}, "n"),
    ("?n=10001", {"area": 42}, "n"),
    ("?workload=gpu", {"area": 42}, "workload"),
]


@pytest.mark.parametrize(("query", "body", "field"), BAD_INPUTS)
def test_bad_input_gets_a_400_naming_the_field(
    client: FlaskClient, query: str, body: Any, field: str
) -> None:
    response = client.post(f"/predict{query}", json=body)
    assert response.status_code == 400
    payload = response.get_json()
    assert payload["field"] == field
    assert field in payload["error"] or field == "body"


@pytest.mark.parametrize(
    "raw", [b"", b"{", b'{"area": NaN}', b'{"area": Infinity}', b'{"area": 1e999}', b"\xff"]
)
def test_malformed_or_non_finite_json_is_a_400(client: FlaskClient, raw: bytes) -> None:
    response = client.post("/predict", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["field"] in {"body", "area"}


def test_unknown_routes_and_methods_answer_in_json(client: FlaskClient) -> None:
    assert client.get("/nowhere").status_code == 404
    assert "error" in client.get("/nowhere").get_json()
    assert client.get("/predict").status_code == 405
    assert "error" in client.get("/predict").get_json()


def test_health_and_home_page(client: FlaskClient) -> None:
    health = client.get("/health")
    assert health.get_json() == {"status": "ok", "pid": os.getpid(), "workload": "io"}
    page = client.get("/").get_data(as_text=True)
    assert '<form id="form">' in page and 'id="area"' in page and "predict" in page


def test_the_model_is_a_real_fit_that_generalises() -> None:
    model = fit(generate_dataset())
    holdout = generate_dataset(rows=500, seed=7)
    predicted = np.array(
        [
            model.predict(float(a), int(f), int(c))
            for a, f, c in zip(holdout.area, holdout.floor, holdout.floors_count, strict=True)
        ]
    )
    errors = np.abs(predicted / holdout.price - 1)
    assert float(np.median(errors)) < 0.15
    assert model.predict(80) > model.predict(40) > model.predict(20)
    # first floors sell at a discount in the data; the fit must have learned it
    assert model.predict(50, floor=1, floors_count=9) < model.predict(50, floor=5, floors_count=9)


def test_the_model_is_the_default_workload() -> None:
    response = create_app().test_client().post("/predict", json={"area": 42})
    price = response.get_json()["price"]
    assert price == default_model().predict(42)
    assert 3_000_000 < price < 40_000_000 and math.isfinite(price)


def test_running_out_of_memory_is_a_clear_500() -> None:
    # A real MemoryError: 32 TiB of int64, more than the kernel will ever grant.
    app = create_app({"max_n": 2**42})
    response = app.test_client().post(f"/predict?workload=numpy&n={2**42}", json={"area": 1})
    assert response.status_code == 500
    assert response.get_json() == {
        "error": "out of memory: MemoryError while computing the prediction"
    }
