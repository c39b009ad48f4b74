"""Load generation: send requests, keep one record per request, summarise, write logs.

One engine, three schedules: the seed's burst (``run_burst``: every request due at once,
one connection each), a closed loop of users (``run_closed``) and an open loop at a rate or
a ramp of rates (``run_open``). All three run on the same reactor and HTTP/1.1 client and
produce the same ``RequestRecord`` per request and the same ``LoadSummary`` per run.

    request.py   what to send: Target, RequestSpec, header checks, the request's bytes
    template.py  what to send to any app: RequestTemplate (a body that grows with a size)
    schedule.py  when: an open loop's Rate
    burst.py loops.py driver.py   how: the schedules, on one driver
    limits.py    what the client can carry (seconds, descriptors, memory), checked up front
    reactor.py   the event loop (no HTTP); http11/ parse.py (sans-IO) and connection.py
    outcome.py   how a request ended: error classes, who served it
    recorder.py records.py summary.py timeseries.py   what was measured
    slo.py text.py seedlog.py   what is said about it

Importing this package costs nothing: every name loads its module on first use, so the
results contract (``servelab.load.summary``, ``records``) comes without sockets or the
reactor.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from servelab.load.burst import run_burst
    from servelab.load.loops import (
        DEFAULT_MAX_IN_FLIGHT,
        DEFAULT_TIMEOUT,
        check_reachable,
        run_closed,
        run_open,
    )
    from servelab.load.records import BODY_LIMIT, ERROR_CLASSES, RequestRecord
    from servelab.load.request import RequestSpec, Target, check_headers, parse_header
    from servelab.load.schedule import Rate
    from servelab.load.seedlog import format_seed_line, format_seed_log, write_seed_log
    from servelab.load.slo import Slo, SloResult
    from servelab.load.slo import check as check_slos
    from servelab.load.summary import LoadSummary, summarize
    from servelab.load.template import RequestTemplate
    from servelab.load.text import describe
    from servelab.load.timeseries import TimeSeries

# Each public name: the module it lives in, and its name there.
_EXPORTS: dict[str, tuple[str, str]] = {
    "BODY_LIMIT": ("records", "BODY_LIMIT"),
    "DEFAULT_MAX_IN_FLIGHT": ("loops", "DEFAULT_MAX_IN_FLIGHT"),
    "DEFAULT_TIMEOUT": ("loops", "DEFAULT_TIMEOUT"),
    "ERROR_CLASSES": ("records", "ERROR_CLASSES"),
    "LoadSummary": ("summary", "LoadSummary"),
    "Rate": ("schedule", "Rate"),
    "RequestRecord": ("records", "RequestRecord"),
    "RequestSpec": ("request", "RequestSpec"),
    "RequestTemplate": ("template", "RequestTemplate"),
    "Slo": ("slo", "Slo"),
    "SloResult": ("slo", "SloResult"),
    "Target": ("request", "Target"),
    "TimeSeries": ("timeseries", "TimeSeries"),
    "check_headers": ("request", "check_headers"),
    "check_reachable": ("loops", "check_reachable"),
    "check_slos": ("slo", "check"),
    "describe": ("text", "describe"),
    "format_seed_line": ("seedlog", "format_seed_line"),
    "format_seed_log": ("seedlog", "format_seed_log"),
    "parse_header": ("request", "parse_header"),
    "run_burst": ("burst", "run_burst"),
    "run_closed": ("loops", "run_closed"),
    "run_open": ("loops", "run_open"),
    "summarize": ("summary", "summarize"),
    "write_seed_log": ("seedlog", "write_seed_log"),
}
__all__ = [
    "BODY_LIMIT",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_TIMEOUT",
    "ERROR_CLASSES",
    "LoadSummary",
    "Rate",
    "RequestRecord",
    "RequestSpec",
    "RequestTemplate",
    "Slo",
    "SloResult",
    "Target",
    "TimeSeries",
    "check_headers",
    "check_reachable",
    "check_slos",
    "describe",
    "format_seed_line",
    "format_seed_log",
    "parse_header",
    "run_burst",
    "run_closed",
    "run_open",
    "summarize",
    "write_seed_log",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, attribute = _EXPORTS[name]
        value = getattr(import_module(f"{__name__}.{module}"), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
