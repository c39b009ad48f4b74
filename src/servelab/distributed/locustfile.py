"""servelab's Locust file: run a servelab plan on Locust's master and workers.

    locust -f <this file> --master --servelab-plan @plan.json --servelab-out DIR ...
    locust -f <this file> --worker --master-host HOST          (servelab locust-worker)

``servelab load --engine locust`` writes the command lines; this file is only ever run by
Locust (it imports Locust, which monkey-patches the process with gevent: servelab's own
process never imports it).

The master reads the plan (``--servelab-plan @FILE``) and Locust's spawn message carries it
to every worker as a custom option. Each worker runs its share (``work.WorkerRun``): the
closed loop's users Locust gave it, or its part of the open loop's schedule. It ships its
records to the master as it goes (a ``servelab_rows`` message every ``SHIP_EVERY`` seconds),
so a worker lost mid-run has reported all but its last fraction of a second, and at its end
a ``servelab_done`` message with the counts only it knows. The master appends every row to
``DIR/records.jsonl`` as it comes, notices workers that finish or go missing (Locust's
heartbeats), and when every expected worker is one or the other writes
``DIR/workers.json`` and quits. ``DIR/start.json`` says when the workers start, as soon as
the master has decided it. servelab's process then reads both files and makes the
summary: exact percentiles over the union of every worker's requests.

Locust's own statistics (web UI, console) get each request too, through its request event,
timed like servelab's: from the intended send time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Final

import gevent
import gevent.lock
from locust import User, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from servelab.distributed.plan import RECORDS_FILE, START_FILE, WORKERS_FILE, Plan
from servelab.distributed.work import WorkerRun
from servelab.errors import LoadError

SHIP_EVERY: Final = 0.5
START_AFTER: Final = 0.5
_ROWS: Final = "servelab_rows"
_DONE: Final = "servelab_done"
_WATCH_EVERY: Final = 0.25


@events.init_command_line_parser.add_listener
def _add_options(parser: Any, **_: Any) -> None:
    parser.add_argument(
        "--servelab-plan",
        default="",
        help="servelab's run plan: @FILE on the master (the workers get it from the master)",
    )
    parser.add_argument(
        "--servelab-out", default="", help="master: the folder for records.jsonl, workers.json"
    )
    parser.add_argument(
        "--servelab-start",
        default="",
        help="set by the master: the instant (epoch s) every worker starts its share at",
    )


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    options = environment.parsed_options
    if isinstance(runner, MasterRunner):
        assert options is not None
        plan_text = str(options.servelab_plan)
        if not plan_text:
            raise SystemExit(
                "servelab's Locust master is started by servelab, which writes the plan: "
                "servelab load URL --engine locust --master --expect-workers K ..."
            )
        if plan_text.startswith("@"):
            plan_text = Path(plan_text[1:]).read_text(encoding="utf-8")
            options.servelab_plan = plan_text  # the spawn message carries it to the workers
        collector = _Collector(environment, Plan.from_json(plan_text), Path(options.servelab_out))
        events.test_start.add_listener(_set_start)
        runner.register_message(_ROWS, collector.on_rows)
        runner.register_message(_DONE, collector.on_done)
        events.quitting.add_listener(collector.on_quitting)
        gevent.spawn(collector.watch)
    elif not isinstance(runner, WorkerRunner):
        raise SystemExit(
            "servelab's locustfile runs on a master and its workers (--master, --worker)"
        )


def _set_start(environment: Environment, **_: Any) -> None:
    """On the master, before the spawn messages go: the instant every worker starts at.

    Each worker's own start would be its spawn message's arrival, tens of milliseconds
    apart, and the open loop's shares would no longer make one schedule. ``START_AFTER``
    leaves time for the messages to arrive and the workers to get ready.
    """
    options = environment.parsed_options
    assert options is not None
    start = time.time() + START_AFTER
    options.servelab_start = f"{start:.6f}"
    # For servelab's process, which times its CPU readings by it (a sweep's window).
    out = Path(options.servelab_out)
    temporary = out / "start.json.tmp"
    temporary.write_text(json.dumps({"start": start}), encoding="utf-8")
    temporary.replace(out / START_FILE)


class ServelabUser(User):
    """One closed-loop user, or (one per worker) the worker's share of the open loop."""

    @task
    def run_plan(self) -> None:
        try:
            work = _worker_run(self.environment)
        except (LoadError, OSError, ValueError) as error:
            # The plan unreadable (another servelab version), the target's name unknown
            # here: the master hears it at once, rather than waiting out the run.
            _fail(self.environment, error)
            raise StopUser() from None
        if work.plan.mode == "closed":
            work.closed_user()
        else:
            work.open_loop()
        raise StopUser()


_RUN: dict[str, WorkerRun] = {}
# Making the run resolves the target's name, which lets other users' greenlets run: they
# must wait for the one run, not make their own.
_MAKING = gevent.lock.Semaphore()


def _worker_run(environment: Environment) -> WorkerRun:
    """This worker's ``WorkerRun``, made by its first user (the plan came with the spawn)."""
    with _MAKING:
        return _RUN.get("run") or _make_run(environment)


def _make_run(environment: Environment) -> WorkerRun:
    runner = environment.runner
    assert isinstance(runner, WorkerRunner) and environment.parsed_options is not None
    plan = Plan.from_json(str(environment.parsed_options.servelab_plan))
    fire = environment.events.request.fire

    def on_request(
        method: str, name: str, ms: float, length: int, error: BaseException | None
    ) -> None:
        fire(
            request_type=method,
            name=name,
            response_time=ms,
            response_length=length,
            exception=error,
            context={},
        )

    start_at = float(environment.parsed_options.servelab_start)
    work = _RUN["run"] = WorkerRun(plan, runner.worker_index, start_at, on_request)
    gevent.spawn(_ship, runner, work)
    return work


_FAILED: list[str] = []


def _fail(environment: Environment, error: BaseException) -> None:
    """Tell the master, once, that this worker cannot run its share, and why."""
    runner = environment.runner
    if _FAILED or not isinstance(runner, WorkerRunner):
        return
    why = str(error) if isinstance(error, LoadError) else f"{type(error).__name__}: {error}"
    _FAILED.append(why)
    runner.send_message(_DONE, {"worker": runner.worker_index, "error": why})


def _ship(runner: WorkerRunner, work: WorkerRun) -> None:
    """Send the rows to the master every ``SHIP_EVERY`` s; at the end the rest, and done."""
    while not work.finished:
        gevent.sleep(SHIP_EVERY)
        rows = work.take_rows()
        if rows:
            runner.send_message(_ROWS, {"worker": work.worker, "rows": rows})
    work.recorder.close()
    rows = work.take_rows()
    if rows:
        runner.send_message(_ROWS, {"worker": work.worker, "rows": rows})
    runner.send_message(_DONE, work.stats())


class _Collector:
    """The master's side: rows to ``records.jsonl`` as they come, workers' ends noticed."""

    def __init__(self, environment: Environment, plan: Plan, out: Path) -> None:
        self.environment = environment
        self.plan = plan
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.records = (out / RECORDS_FILE).open("a", encoding="utf-8")
        self.received: dict[str, int] = {}  # rows per worker (Locust's node id)
        self.index: dict[str, int] = {}
        self.done: dict[str, dict[str, Any]] = {}
        self.lost: set[str] = set()
        self.finished = False
        self.late_rows = 0

    def on_rows(self, environment: Environment, msg: Any, **_: Any) -> None:
        rows = msg.data["rows"]
        if self.finished:  # a worker given up for lost came back: too late to count
            self.late_rows += len(rows)
            return
        self.records.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        self.records.flush()
        node = str(msg.node_id)
        self.received[node] = self.received.get(node, 0) + len(rows)
        self.index[node] = int(msg.data["worker"])

    def on_done(self, environment: Environment, msg: Any, **_: Any) -> None:
        node = str(msg.node_id)
        self.done[node] = dict(msg.data)
        self.index[node] = int(msg.data["worker"])
        self._check()

    def watch(self) -> None:
        """Notice workers Locust marks missing (no heartbeat for about 3 s) or forgets."""
        runner = self.environment.runner
        assert isinstance(runner, MasterRunner)
        seen: set[str] = set()
        while not self.finished:
            gevent.sleep(_WATCH_EVERY)
            clients = {str(c.id): c for c in runner.clients.all}
            seen.update(clients)
            for node in seen:
                client = clients.get(node)
                if node not in self.done and (client is None or client.state == STATE_MISSING):
                    self.lost.add(node)
            self._check()

    def _check(self) -> None:
        ended = set(self.done) | self.lost
        if not self.finished and len(ended) >= self.plan.workers:
            self.finish("every worker finished or was lost")
            runner = self.environment.runner
            assert runner is not None
            gevent.spawn(runner.quit)

    def on_quitting(self, environment: Environment, **_: Any) -> None:
        self.finish("Locust quit")

    def finish(self, why: str) -> None:
        if self.finished:
            return
        self.finished = True
        self.records.close()
        runner = self.environment.runner
        assert isinstance(runner, MasterRunner)
        workers = []
        for node in sorted(set(self.received) | set(self.done) | self.lost):
            said = self.done.get(node)
            error = None if said is None else said.get("error")
            workers.append(
                {
                    "node": node,
                    "index": self.index.get(node, runner.get_worker_index(node)),
                    "rows": self.received.get(node, 0),
                    "done": said is not None,
                    "lost": said is None,
                    "error": error,
                    "stats": None if error is not None else said,
                }
            )
        report = {
            "why": why,
            "expected": self.plan.workers,
            "workers": workers,
            "late_rows": self.late_rows,
        }
        path = self.out / WORKERS_FILE
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(report, indent=1), encoding="utf-8")
        temporary.replace(path)
