"""servelab.units: the one size and duration parser, for the command line and the service."""

from __future__ import annotations

import pytest

from servelab.errors import ConfigError
from servelab.service.config import ServiceConfig, ServiceConfigError
from servelab.units import format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("384MiB", 384 * 2**20),
        ("1.5GiB", 3 * 2**29),
        ("300M", 300_000_000),
        ("1073741824", 2**30),
        ("1_000kb", 1_000_000),
        (" 64 mib ", 64 * 2**20),
        (512, 512),
    ],
)
def test_sizes_people_write_are_read_exactly(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MiB", "-1MiB", "1.5.2GiB", "12 parsecs", "1__0", "1e9"])
def test_a_size_that_is_not_one_is_refused_by_name(text: str) -> None:
    with pytest.raises(ConfigError, match="bad size"):
        parse_size(text)


def test_the_service_reads_its_budget_with_the_same_parser() -> None:
    # one parser: the CLI's "1.5GiB" is the service's "1.5GiB", to the byte
    config = ServiceConfig.load(environ={"SERVELAB_MEMORY_BUDGET": "1.5GiB"})
    assert config.memory_budget == parse_size("1.5GiB")
    assert ServiceConfig.load(environ={"SERVELAB_MEMORY_BUDGET": "300M"}).memory_budget == 300e6
    with pytest.raises(ServiceConfigError, match="SERVELAB_MEMORY_BUDGET must be a size"):
        ServiceConfig.load(environ={"SERVELAB_MEMORY_BUDGET": "lots"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [("300ms", 0.3), ("1.5s", 1.5), ("2m", 120.0), ("250us", 250e-6), ("0.5", 0.5), (3, 3.0)],
)
def test_durations_people_write_are_seconds(text: str | float, expected: float) -> None:
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "ms", "-1s", "1 week", "nan", float("inf"), -2.0])
def test_a_duration_that_is_not_one_is_refused(text: str | float) -> None:
    with pytest.raises(ConfigError, match="bad duration"):
        parse_duration(text)


def test_sizes_are_written_for_people() -> None:
    assert [format_size(n) for n in (512, 384 * 2**20, 2**30, int(300.5 * 2**20))] == [
        "512 B",
        "384 MiB",
        "1.0 GiB",
        "300.5 MiB",
    ]
