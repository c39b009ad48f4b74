"""Load generation: send requests, keep one record per request, summarise, write logs.

The records and statistics know nothing of how requests were driven, so any driver
(today the burst; later closed and open loops) feeds the same files and numbers.
"""

from __future__ import annotations

from servelab.load.engine import Target, run_burst
from servelab.load.records import BODY_LIMIT, ERROR_CLASSES, RequestRecord
from servelab.load.seedlog import format_seed_line, format_seed_log, write_seed_log
from servelab.load.stats import Summary, max_concurrent, percentile, summarize

__all__ = [
    "BODY_LIMIT",
    "ERROR_CLASSES",
    "RequestRecord",
    "Summary",
    "Target",
    "format_seed_line",
    "format_seed_log",
    "max_concurrent",
    "percentile",
    "run_burst",
    "summarize",
    "write_seed_log",
]
