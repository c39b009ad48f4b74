# Read by `gunicorn src.predict_app:app` run from the repository root (the seminar's command).
import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("servelab") is None:  # a bare checkout: the package beside us
    sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from servelab.service.gunicorn_hooks import (
    child_exit,
    ensure_multiproc_dir,
    limit_request_line,
    on_exit,
    on_starting,
    post_request,
    post_worker_init,
)

# gunicorn 27 opens a control socket under ~/.gunicorn by default; the lab needs none.
control_socket_disable = True

# /metrics must show the totals of all workers, whichever one answers: prometheus_client's
# multiprocess mode, with a fresh directory unless PROMETHEUS_MULTIPROC_DIR is already set.
# child_exit forgets a dead worker's in-flight gauge; on_exit removes the directory made here.
ensure_multiproc_dir()
__all__ = [
    "child_exit",
    "control_socket_disable",
    "limit_request_line",
    "on_exit",
    "on_starting",
    "post_request",
    "post_worker_init",
]
