"""A sweep's TOML plan file: the options written down, checked as strictly as the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from servelab.errors import ConfigError
from servelab.study.sweep.planfile import read_plan_file

OPTIONS = {
    "servers": (str, False),
    "workloads": (str, False),
    "slo": (str, True),
    "io_delay": (float, False),
    "n": (int, False),
    "memory": (str, False),
    "env_file": (Path, False),
    "resume": (bool, False),
}


def test_lists_join_into_the_options_text_and_paths_are_the_files(tmp_path: Path) -> None:
    plan = tmp_path / "plans" / "sweep.toml"
    plan.parent.mkdir()
    plan.write_text(
        'servers = ["gunicorn:w{1,2}", "uvicorn:w1"]\n'
        'workloads = "io,cpu"\n'
        'slo = ["p99<300ms", "errors<1%"]\n'
        "io-delay = 1\n"
        "n = 1_000_000\n"
        'memory = "2GiB"\n'
        'env_file = "app.env"\n'
    )
    assert read_plan_file(plan, OPTIONS) == {
        "servers": "gunicorn:w{1,2}, uvicorn:w1",
        "workloads": "io,cpu",
        "slo": ("p99<300ms", "errors<1%"),
        "io_delay": 1.0,
        "n": 1_000_000,
        "memory": "2GiB",
        "env_file": plan.parent / "app.env",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('server = "gunicorn"\n', "unknown key 'server'; the keys are: env-file, io-delay"),
        ('n = "a lot"\n', "n must be a whole number, not 'a lot'"),
        ("resume = 1\n", "resume must be true or false"),
        ("slo = [1.5, true]\n", "slo must be text, not True"),
        ("servers = [\n", "is not a TOML file"),
    ],
)
def test_a_wrong_key_or_value_names_the_file_and_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    plan = tmp_path / "sweep.toml"
    plan.write_text(text)
    with pytest.raises(ConfigError, match=r"sweep\.toml") as error:
        read_plan_file(plan, OPTIONS)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the plan file .*nowhere\.toml"):
        read_plan_file(tmp_path / "nowhere.toml", OPTIONS)
