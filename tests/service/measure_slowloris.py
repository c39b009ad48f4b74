"""How long a normal request waits behind slow clients, on the seed's gunicorn command.

    .venv/bin/python -m tests.service.measure_slowloris                      # the seed: 31.6 s
    .venv/bin/python -m tests.service.measure_slowloris --timeout 5
    .venv/bin/python -m tests.service.measure_slowloris --worker-class gevent --slow 50

Runs ``gunicorn src.predict_app:app`` from the repository root (extra arguments go to
gunicorn through ``GUNICORN_CMD_ARGS``), opens ``--slow`` connections that each send a
header byte per second, then times one ``GET /health``. The figures in the README's service
section come from here. Bounded: the request gives up after 45 s, the slow clients after 60 s.
Not a test (pytest does not collect it): it takes as long as the server makes it wait.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

from servelab.servers import HOST

from .. import helpers

GIVE_UP = 45.0


def measure(gunicorn_args: list[str], slow: int) -> float | None:
    """Seconds a normal request waited with ``slow`` slow clients connected; None: gave up."""
    port = helpers.free_port()
    env = {
        **os.environ,
        "GUNICORN_CMD_ARGS": " ".join([f"--bind {HOST}:{port}", *gunicorn_args]),
        "SERVELAB_WORKLOAD": "io",
        "SERVELAB_IO_DELAY": "0",
    }
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    with helpers.process_group([gunicorn, "src.predict_app:app"], cwd=helpers.REPO, env=env):

        def up() -> bool:
            try:
                return helpers.http_request(port, "GET", "/health", timeout=1).status == 200
            except OSError:
                return False

        helpers.wait_for(up, "gunicorn to answer /health")
        with contextlib.ExitStack() as stack:
            for _ in range(slow):
                stack.enter_context(helpers.slowloris(port, limit=60.0))
            time.sleep(0.5)  # the slow heads are taken first
            began = time.monotonic()
            try:
                helpers.http_request(port, "GET", "/health", timeout=GIVE_UP)
            except OSError:
                return None
            return time.monotonic() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--slow", type=int, default=1, help="slow connections (default 1)")
    args, gunicorn_args = parser.parse_known_args()
    waited = measure(gunicorn_args, args.slow)
    setting = " ".join(gunicorn_args) or "the seed's settings"
    outcome = f"{waited:.2f} s" if waited is not None else f"no answer in {GIVE_UP:g} s"
    print(f"{setting}, {args.slow} slow connection(s): a normal request waited {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
