"""What the client itself can carry (issue 12 #7, #8): time, descriptors and memory are
checked before the first request, and a bad option value is one line, never a traceback.

Limits are real: each run is the ``servelab`` command in a subprocess under ``prlimit``
(descriptors, address space), against a loopback server that takes connections and never
answers, so a run that was not refused would show in its counts (or its time) at once.
"""

from __future__ import annotations

import errno
import json
import time

import pytest

from servelab.errors import LoadError
from servelab.load import ERROR_CLASSES, run_burst, run_open
from servelab.load.limits import MAX_SECONDS, available_memory, check_seconds
from servelab.load.outcome import classify
from tests.helpers import servelab_cli, servelab_cli_limited, stalled_server

# Address space enough for Python and numpy, so a run away is a MemoryError, not the OOM killer.
_AS_CAP = f"--as={2 * 2**30}"


def _one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert lines and lines[-1].startswith("Error: "), stderr
    return lines[-1]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--mode", "closed", "--concurrency", "5000", "--duration", "1"), "--concurrency"),
        (("--mode", "burst", "--requests", "5000", "--concurrency", "5000"), "--concurrency"),
        (
            ("--mode", "open", "--rate", "5000", "--duration", "1", "--max-in-flight", "5000"),
            "--max-in-flight",
        ),
    ],
)
def test_more_connections_than_descriptors_is_refused_before_sending(
    args: tuple[str, ...], option: str
) -> None:
    """At ``ulimit -n 1024`` 5,000 connections at once cannot be: the run is refused in one
    line naming the option and the limit, instead of EMFILE failures counted as errors."""
    with stalled_server() as url:
        result = servelab_cli_limited(
            ["--nofile=1024:1024"], "load", url, *args, "--timeout", "1", timeout=60
        )
    assert result.returncode == 1, result.stdout
    line = _one_line_error(result.stderr)
    assert option in line and "ulimit -n" in line and "1,024" in line


def test_a_soft_descriptor_limit_is_raised_to_what_the_run_needs() -> None:
    """Soft 256, hard 4096: 600 users run, and none of their requests fails in the client."""
    with stalled_server() as url:
        result = servelab_cli_limited(
            ["--nofile=256:4096"],
            "load",
            url,
            "--mode",
            "closed",
            "--concurrency",
            "600",
            "--duration",
            "0.3",
            "--timeout",
            "0.5",
            "--json",
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["errors_by_class"] == {"timeout": 600}


def test_the_clients_own_failures_have_their_own_class() -> None:
    for code in (errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL):
        assert classify(OSError(code, "the client's own")) == "client"
    assert classify(ConnectionRefusedError(errno.ECONNREFUSED, "refused")) == "refused"
    assert "client" in ERROR_CLASSES


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--mode", "open", "--rate", "1e9"), "--rate"),
        (("--mode", "burst", "--requests", "100000000"), "--requests"),
        (("--mode", "burst", "--requests", "2000000"), "--requests"),
    ],
)
def test_a_run_bigger_than_memory_is_refused_before_sending(
    args: tuple[str, ...], option: str
) -> None:
    """Under a 2 GiB address space, runs that would keep more than memory holds are refused
    at once, naming the option and how far to lower it; the server sees no connection."""
    began = time.monotonic()
    with stalled_server() as url:
        result = servelab_cli_limited([_AS_CAP], "load", url, *args, timeout=60)
    assert result.returncode == 1, result.stdout
    line = _one_line_error(result.stderr)
    assert option in line and "memory" in line and "at most" in line
    assert time.monotonic() - began < 30


def test_the_library_refuses_the_same_runs() -> None:
    with pytest.raises(LoadError, match="memory"):
        run_open("http://127.0.0.1:1/x", rate=1e12, duration=10)
    with pytest.raises(LoadError, match="memory"):
        run_burst("http://127.0.0.1:1/x", requests=available_memory())
    with pytest.raises(LoadError, match="a day"):
        run_open("http://127.0.0.1:1/x", rate=1e-300, requests=2)


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e300, MAX_SECONDS + 1, 0.0, -1.0])
def test_seconds_out_of_range_are_load_errors(value: float) -> None:
    with pytest.raises(LoadError, match="at most 86,400 seconds"):
        check_seconds("timeout", value)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--timeout", "inf"), "--timeout"),
        (("--timeout", "1e300"), "--timeout"),
        (("--timeout", "0"), "--timeout"),
        (("--mode", "closed", "--duration", "1e300"), "--duration"),
        (("--mode", "closed", "--think-time", "1e300"), "--think-time"),
        (("--body", "caf\udce9"), "--body"),
    ],
)
def test_bad_values_are_one_line_usage_errors(args: tuple[str, ...], option: str) -> None:
    """Exit 2 and one line naming the option; ``--timeout 0`` is no longer the default."""
    with stalled_server() as url:
        result = servelab_cli("load", url, *args, timeout=30)
    assert result.returncode == 2, result.stdout
    assert option in _one_line_error(result.stderr)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[::1/x", "Invalid IPv6 URL"),
        ("http://127.0.0.1:1/a b", "percent-encode"),
        ("http://127.0.0.1:1/caf\u00e9", "percent-encode"),
        ("http://user:secret@127.0.0.1:1/x", "credentials"),
    ],
)
def test_malformed_urls_are_one_line_usage_errors(url: str, message: str) -> None:
    result = servelab_cli("load", url, "--mode", "closed", "--requests", "1", timeout=30)
    assert result.returncode == 2
    line = _one_line_error(result.stderr)
    assert message in line and "secret" not in line
