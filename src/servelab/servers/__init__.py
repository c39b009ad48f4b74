"""The servers under test: what to start (``spec``), starting and stopping it (``process``),
its memory cap (``cap``) and the sampling of its processes (``monitor``).

    spec = ServerSpec.parse("gunicorn:w2")
    with open_cap(parse_size("256MiB"), label="w2") as cap:
        with launch(spec, run_dir=run_dir, command_prefix=cap.command_prefix()) as server:
            with Monitor(server.pid, samples_path, usage=cap):
                ...  # load server.url
"""

from __future__ import annotations

from servelab.servers.cap import MemoryCap, open_cap
from servelab.servers.monitor import Monitor, MonitorSummary
from servelab.servers.process import RunningServer, ServerExit, launch
from servelab.servers.spec import HOST, KINDS, WORKER_CLASSES, ServerSpec

__all__ = [
    "HOST",
    "KINDS",
    "WORKER_CLASSES",
    "MemoryCap",
    "Monitor",
    "MonitorSummary",
    "RunningServer",
    "ServerExit",
    "ServerSpec",
    "launch",
    "open_cap",
]
