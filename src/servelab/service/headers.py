"""Response headers that say who served a request and when.

The load engine reads them to draw who served what and how long each request queued
before its handler started. Both clocks are the same machine's wall clock.

- ``X-Servelab-Pid``: pid of the process that ran the handler.
- ``X-Servelab-Thread``: native thread id (``threading.get_native_id()``) of that handler.
- ``X-Servelab-Start``: handler start, seconds since the epoch (``time.time()``), 6 decimals.
- ``Server-Timing``: ``handler;dur=<milliseconds>`` the handler took (W3C Server-Timing).
"""

from __future__ import annotations

PID = "X-Servelab-Pid"
THREAD = "X-Servelab-Thread"
START = "X-Servelab-Start"
SERVER_TIMING = "Server-Timing"
SERVER_TIMING_METRIC = "handler"
