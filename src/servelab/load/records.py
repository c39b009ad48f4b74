"""One record per request: what the client saw and what the server said about it.

A load run writes ``records.jsonl``, one JSON object per request, in the order the
requests completed. The columns:

- ``index``: position of the request in the run, 0-based (the order it was planned).
- ``area``: the flat's area sent as ``{"area": <area>}``; 0 when a closed or open loop sent
  another body (``--body``) or none, and when a run sent a request template's bodies
  (``--body``, ``--body-file``, ``--payload``).
- ``intended_start``: seconds since the epoch when the request was meant to go: for a
  burst, the instant the burst began (every request is due then); in an open loop, its
  slot in the arrival schedule; in a closed loop, ``start`` (a closed loop has no schedule).
- ``start``: seconds since the epoch when the client actually began (before connecting,
  when the request needed a new connection).
- ``end``: seconds since the epoch when the whole response was read or the request failed.
- ``latency``: seconds until ``end``, measured with ``time.perf_counter`` (wall-clock start
  plus a precise duration, as Locust does, so records line up on a timeline and durations
  stay exact). A burst measures it from ``start``; the closed and open loops from
  ``intended_start``, so a request an open loop had to hold back (the server too slow to
  free a connection) carries its wait: a stalled server cannot hide its stall.
- ``service_time``: closed and open loops only: seconds from ``start`` to ``end``, what the
  server took once the request left. Absent from burst rows (their ``latency`` is that).
- ``status``: the HTTP status code, or null when no status line arrived (a request that
  failed after its head, e.g. a body cut short, keeps the status).
- ``ok``: true for a 2xx response read completely.
- ``error_class``: null when ok, else one of ``ERROR_CLASSES``:
  ``refused`` (nothing listening), ``reset`` (connection reset / broken pipe),
  ``disconnected`` (the server closed without a full response, e.g. its process was
  killed), ``timeout`` (the client gave up), ``http-4xx``, ``http-5xx``, ``other``, and
  ``unsent``: an open loop's request still held back (every allowed request in flight) when
  its drain time ran out; its ``start`` and ``end`` are that moment and its ``latency`` the
  time it had waited, a lower bound; ``client``: the client's own failure (out of file
  descriptors, buffers, memory or local ports), a request that never reached the server.
- ``error``: null when ok; ``"ClassName: message"`` for an exception (e.g.
  ``"RemoteDisconnected: Remote end closed connection without response"``), or the
  ``error`` field of a 4xx/5xx JSON body (the body's text when it has none).
- ``body``: the response text, cut to ``BODY_LIMIT`` characters; null when no response.
- ``served_pid``, ``served_thread``: the ``X-Servelab-Pid`` / ``X-Servelab-Thread``
  headers: which process and native thread ran the handler.
- ``handler_start``: the ``X-Servelab-Start`` header, seconds since the epoch.
- ``handler_duration``: seconds, from ``Server-Timing: handler;dur=<ms>``.

The last four are null when the header is missing (another app, or a failed request).

New columns come last, with defaults, so files written before them still load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Final

ERROR_CLASSES: Final = (
    "refused",
    "reset",
    "disconnected",
    "timeout",
    "http-4xx",
    "http-5xx",
    "other",
    "unsent",
    "client",
)
UNSENT: Final = "unsent"
BODY_LIMIT: Final = 300


@dataclass(frozen=True)
class RequestRecord:
    """One request of a load run; see the module docstring for every column."""

    index: int
    area: float
    intended_start: float
    start: float
    end: float
    latency: float
    status: int | None
    ok: bool
    error_class: str | None
    error: str | None
    body: str | None
    served_pid: int | None = None
    served_thread: int | None = None
    handler_start: float | None = None
    handler_duration: float | None = None
    service_time: float | None = None

    @property
    def handler_end(self) -> float | None:
        """When the handler finished (epoch seconds), if the server said."""
        if self.handler_start is None or self.handler_duration is None:
            return None
        return self.handler_start + self.handler_duration

    @property
    def queue_wait(self) -> float | None:
        """Seconds from sending to the handler starting: time spent queued in the server."""
        if self.handler_start is None:
            return None
        return self.handler_start - self.start

    def to_dict(self) -> dict[str, Any]:
        """The JSONL row: plain JSON types, keys in column order.

        ``service_time`` is left out when null, so burst rows keep their original columns.
        """
        row = asdict(self)
        if row["service_time"] is None:
            del row["service_time"]
        return row

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> RequestRecord:
        """Rebuild a record from a JSONL row; unknown keys (from newer versions) are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})
