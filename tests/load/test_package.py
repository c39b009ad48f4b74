"""``servelab.load``'s public names, and what importing its light parts costs."""

from __future__ import annotations

import subprocess
import sys

import servelab.load

ENGINE = (
    "servelab.load.reactor",
    "servelab.load.burst",
    "servelab.load.loops",
    "servelab.load.driver",
    "servelab.load.http11.connection",
)


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(result.stdout.split())


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert servelab.load.__all__ == sorted(servelab.load.__all__)
    for name in servelab.load.__all__:
        assert getattr(servelab.load, name) is not None, name
    assert "burst_view" not in servelab.load.__all__


def test_the_results_contract_comes_without_the_engine() -> None:
    loaded = _modules_after("import servelab.results")
    assert "servelab.load.summary" in loaded  # the check below sees the package imported
    assert [name for name in ENGINE if name in loaded] == []


def test_records_and_the_parser_come_without_sockets_or_the_reactor() -> None:
    loaded = _modules_after(
        "import servelab.load.records, servelab.load.summary, servelab.load.http11.parse"
    )
    assert [name for name in ENGINE if name in loaded] == []


def test_a_name_loads_its_module_on_first_use() -> None:
    loaded = _modules_after("from servelab.load import run_burst")
    assert "servelab.load.burst" in loaded and "servelab.load.reactor" in loaded
