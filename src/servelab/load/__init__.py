"""Load generation: send requests, keep one record per request, summarise, write logs.

Three drivers feed the same records and numbers: the seed's burst (``run_burst``), a closed
loop of users (``run_closed``) and an open loop at a rate or a ramp of rates (``run_open``).
The records and statistics know nothing of how requests were driven.
"""

from __future__ import annotations

from servelab.load.driver import RequestSpec
from servelab.load.engine import Target, run_burst
from servelab.load.http11 import check_headers, parse_header
from servelab.load.loops import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_TIMEOUT,
    check_reachable,
    run_closed,
    run_open,
)
from servelab.load.recorder import LoadSummary
from servelab.load.records import BODY_LIMIT, ERROR_CLASSES, RequestRecord
from servelab.load.schedule import Rate
from servelab.load.seedlog import format_seed_line, format_seed_log, write_seed_log
from servelab.load.slo import Slo, SloResult, burst_view
from servelab.load.slo import check as check_slos
from servelab.load.stats import Summary, distribution, max_concurrent, percentile, summarize
from servelab.load.text import describe
from servelab.load.timeseries import TimeSeries

__all__ = [
    "BODY_LIMIT",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_TIMEOUT",
    "ERROR_CLASSES",
    "LoadSummary",
    "Rate",
    "RequestRecord",
    "RequestSpec",
    "Slo",
    "SloResult",
    "Summary",
    "Target",
    "TimeSeries",
    "burst_view",
    "check_headers",
    "check_reachable",
    "check_slos",
    "describe",
    "distribution",
    "format_seed_line",
    "format_seed_log",
    "max_concurrent",
    "parse_header",
    "percentile",
    "run_burst",
    "run_closed",
    "run_open",
    "summarize",
    "write_seed_log",
]
