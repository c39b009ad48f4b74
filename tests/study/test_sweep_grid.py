"""The sweep's grid: server specs written with braces, expanded like a shell would."""

from __future__ import annotations

import pytest

from servelab.errors import ConfigError
from servelab.study.sweep.grid import MAX_CELLS, expand, server_grid


def test_the_issue_example_expands_to_seven_specs_in_order() -> None:
    grid = "gunicorn:w{1,2,4}, gunicorn:w2:gthread:t{4,8}, uvicorn:w{1,2}"
    assert expand(grid) == [
        "gunicorn:w1",
        "gunicorn:w2",
        "gunicorn:w4",
        "gunicorn:w2:gthread:t4",
        "gunicorn:w2:gthread:t8",
        "uvicorn:w1",
        "uvicorn:w2",
    ]


@pytest.mark.parametrize(
    ("text", "specs"),
    [
        ("uvicorn:w{1..3}", ["uvicorn:w1", "uvicorn:w2", "uvicorn:w3"]),
        ("waitress:t{8..4..2}", ["waitress:t8", "waitress:t6", "waitress:t4"]),
        ("gunicorn:w{1..8..x2}", ["gunicorn:w1", "gunicorn:w2", "gunicorn:w4", "gunicorn:w8"]),
        ("gunicorn:w2{,:preload}", ["gunicorn:w2", "gunicorn:w2:preload"]),
        (  # two braces give their product, the first one outermost
            "gunicorn:w{1,2}:gthread:t{2,4}",
            [
                "gunicorn:w1:gthread:t2",
                "gunicorn:w1:gthread:t4",
                "gunicorn:w2:gthread:t2",
                "gunicorn:w2:gthread:t4",
            ],
        ),
        ("{flask-dev,gunicorn:w{1,2}}", ["flask-dev", "gunicorn:w1", "gunicorn:w2"]),  # nested
        ("gunicorn:w1, gunicorn:w{1,2},", ["gunicorn:w1", "gunicorn:w2"]),  # each spec once
    ],
)
def test_lists_ranges_products_and_nesting(text: str, specs: list[str]) -> None:
    assert expand(text) == specs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gunicorn:w{1,2", "is not closed"),
        ("gunicorn:w1}", "closes no"),
        ("gunicorn:w{4}", "is one alternative"),
        ("gunicorn:w{0..8..x2}", "doubling range"),
        ("{,}", "empty server spec"),
        (" , ", "names no server spec"),
        ("gunicorn:w{1..500}", f"more than {MAX_CELLS}"),
        ("g:w{1..20}:t{1..20}", f"more than {MAX_CELLS}"),
    ],
)
def test_a_grid_typo_is_a_clear_error_never_a_smaller_sweep(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        expand(text)
    assert text in str(error.value) or repr(text) in str(error.value)


def test_preload_is_a_dimension_only_where_the_server_has_it() -> None:
    grid = "gunicorn:w{1,2}, uvicorn:w2"
    assert [s.label for s in server_grid(grid)] == ["prod_w1", "prod_w2", "uvicorn_w2"]
    assert [s.label for s in server_grid(grid, "on")] == [
        "prod_w1_preload",
        "prod_w2_preload",
        "uvicorn_w2",
    ]
    assert [s.label for s in server_grid(grid, "both")] == [
        "prod_w1",
        "prod_w1_preload",
        "prod_w2",
        "prod_w2_preload",
        "uvicorn_w2",
    ]
    # Written by hand and added by the dimension: one cell, not two.
    assert [s.label for s in server_grid("gunicorn:w2{,:preload}", "both")] == [
        "prod_w2",
        "prod_w2_preload",
    ]


def test_a_bad_spec_or_preload_mode_in_the_grid_is_refused_before_anything_runs() -> None:
    with pytest.raises(ConfigError, match="uvicorn takes no"):
        server_grid("uvicorn:w{1,2}:t4")
    with pytest.raises(ConfigError, match="--preload must be one of off, on, both"):
        server_grid("gunicorn", "yes")
