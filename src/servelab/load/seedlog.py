"""The seed's log: one ``Waited <seconds> sec <what came back>`` line per request.

The seed's ``test/test_parallel.py`` printed exactly this for each of its 10 requests,
and the course keeps those logs (``log/*.txt``); servelab writes the same lines, in
completion order, so its logs read like the students' ones:

    Waited 1.02 sec {"price": 2000000}
    Waited 0.53 sec RemoteDisconnected: Remote end closed connection without response

What came back is the response body when there was one (any status; JSON is re-serialised
with ``json.dumps``' default separators), else the error. Line breaks inside a body or an
error are folded into spaces so that every request stays one line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from servelab._io import atomic_write_text
from servelab.load.records import RequestRecord


def format_seed_line(record: RequestRecord) -> str:
    """The seed's line for one request (no trailing newline)."""
    return f"Waited {record.latency:.2f} sec {_what_came_back(record)}".rstrip()


def format_seed_log(records: Iterable[RequestRecord]) -> str:
    """The seed's log for records in the order given (completion order from the engine)."""
    return "".join(format_seed_line(r) + "\n" for r in records)


def write_seed_log(records: Iterable[RequestRecord], path: Path) -> None:
    """Write the seed's log to ``path`` atomically."""
    atomic_write_text(path, format_seed_log(records))


def _what_came_back(record: RequestRecord) -> str:
    if record.body is not None and record.body.strip():
        try:
            return json.dumps(json.loads(record.body), ensure_ascii=False)
        except ValueError:
            return _one_line(record.body)
    if record.error is not None:
        return _one_line(record.error)
    return _one_line(record.body or "")


def _one_line(text: str) -> str:
    return " ".join(text.split())
