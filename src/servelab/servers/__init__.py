"""The servers under test: what to start (``spec``: one table of kinds, ``KIND_TABLE``, and
``ServerSpec``), what it serves (``app``: servelab's own service, or a user's WSGI/ASGI app
in its own environment, ``AppTarget``, wrapped by the stdlib-only ``shim``), starting and
stopping it (``process``), its memory cap (``cap``, checked
against the memory there is: ``cap.check_room``), the sampling of its processes
(``monitor``), the memory of each of them at one instant and how many workers a budget
holds (``memory``: ``measure_tree``, ``workers_that_fit``), and the reaper that kills
servers and removes caps of a lab that died without stopping them (``reaper``: SIGKILL, a
crash). Each converts to the results contract's types (``ServerSpec.to_server``,
``ServerExit.to_end``, ``MemoryCap.to_cap``; a monitor's summary is a ``results.Usage``, a
tree's memory a ``results.TreeMemory``), so nothing here hands untyped dicts to a results
file.

    spec = ServerSpec.parse("gunicorn:w2")
    with open_cap(parse_size("256MiB"), label="w2") as cap:
        with launch(spec, run_dir=run_dir, command_prefix=cap.command_prefix()) as server:
            with Monitor(server.pid, samples_path, usage=cap):
                ...  # load server.url
            memory = measure_tree(server.pid)  # RSS, USS, PSS of the master and each worker

    app = AppTarget.load("src.predict_app:app", python=Path(".venv-app/bin/python"))
    with launch(ServerSpec.parse("uvicorn:w2"), run_dir=run_dir, app=app) as server: ...
"""

from __future__ import annotations

from servelab.servers.app import SHIM_DIR, AppTarget
from servelab.servers.cap import MemoryCap, open_cap
from servelab.servers.memory import measure_tree, workers_that_fit
from servelab.servers.monitor import Monitor, MonitorSummary
from servelab.servers.process import RunningServer, ServerExit, launch
from servelab.servers.spec import (
    HOST,
    INTERFACES,
    KIND_TABLE,
    KINDS,
    WORKER_CLASSES,
    Interface,
    Kind,
    ServerSpec,
)

__all__ = [
    "HOST",
    "INTERFACES",
    "KINDS",
    "KIND_TABLE",
    "SHIM_DIR",
    "WORKER_CLASSES",
    "AppTarget",
    "Interface",
    "Kind",
    "MemoryCap",
    "Monitor",
    "MonitorSummary",
    "RunningServer",
    "ServerExit",
    "ServerSpec",
    "launch",
    "measure_tree",
    "open_cap",
    "workers_that_fit",
]
