"""Locust's side of the benchmark: one FastHttpUser that GETs ``/`` with no wait at all.

Run headless in one process by ``bench/run.py`` from ``.venv-bench`` (Locust stays out of
the project's venv). ``wait_time = constant(0)`` makes each user a closed loop, like
wrk's connections and servelab's ``--mode closed`` users.

With ``BENCH_LOCUST_TIMES=FILE`` set (the timing-error runs only), every request's exact
response time in ms, as Locust measured it, is appended to FILE when the run ends:
Locust's own statistics round times to whole milliseconds, too coarse for a 1 ms goal.
"""

import os

from locust import FastHttpUser, constant, events, task

_TIMES_FILE = os.environ.get("BENCH_LOCUST_TIMES")
_times: list[float] = []


class Get(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self) -> None:
        self.client.get("/")


def _keep_times_in(path: str) -> None:
    """Collect every successful request's time; write them all to ``path`` when Locust quits."""

    @events.request.add_listener
    def _keep_time(response_time: float, exception: object, **_: object) -> None:
        if exception is None:
            _times.append(response_time)

    @events.quitting.add_listener
    def _write_times(**_: object) -> None:
        with open(path, "w") as out:
            out.writelines(f"{t!r}\n" for t in _times)


if _TIMES_FILE:
    _keep_times_in(_TIMES_FILE)
