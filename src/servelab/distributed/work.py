"""A Locust worker's part of a run: its closed-loop users or its share of the open loop.

Runs under gevent (a Locust process): each closed-loop user is a greenlet sending back to
back on its own connection; the open loop is one scheduler greenlet per worker that starts a
sender greenlet at each request's intended time, at most the worker's share of
``max_in_flight`` at once; a request due beyond that waits (held back) and goes when a
sender frees, or is recorded unsent when the drain time after the schedule runs out, as the
own engine does. Every request goes into the own engine's ``Recorder``, whose rows are
collected here for the worker to ship to the master.

Nothing here imports Locust: the worker's Locust file passes ``on_request`` to feed Locust's
own statistics (its web UI and console tables), and ships the rows itself.
"""

from __future__ import annotations

import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

import gevent
import gevent.event
from gevent import monkey

from servelab.distributed.client import BlockingConnection, send_request
from servelab.distributed.plan import Plan
from servelab.load.http11.connection import Response
from servelab.load.reactor import set_timer_slack
from servelab.load.recorder import Recorder
from servelab.load.request import Target, build_request, check_headers
from servelab.load.schedule import Rate

# A Locust request event: (method, name, milliseconds, response bytes, error or None).
OnRequest = Callable[[str, str, float, int, BaseException | None], None]

_NS: Final = 1e-9
# What gevent's monkey-patching replaced: a real sleep, a real lock, a real thread.
_real_sleep = monkey.get_original("time", "sleep")
_real_lock = monkey.get_original("_thread", "allocate_lock")
_real_thread = monkey.get_original("_thread", "start_new_thread")
# Behind its schedule, the open loop lets other greenlets run after this many sends in a row.
_YIELD_EVERY: Final = 16


class WorkerRun:
    """One worker's loops, its recorder, and the rows not yet shipped."""

    def __init__(
        self,
        plan: Plan,
        worker: int,
        start_at: float,
        on_request: OnRequest | None = None,
    ) -> None:
        """Worker ``worker``'s part of ``plan``, which starts at ``start_at`` (epoch s:
        across machines, as well as their clocks agree)."""
        self.plan = plan
        self.start_at = start_at
        self.worker = worker
        self.target = Target.parse(plan.url)
        headers = check_headers(plan.headers)
        keep_alive = plan.keep_alive
        self.payloads = [
            (area, build_request(plan.method, self.target, headers, body, keep_alive=keep_alive))
            for area, body in plan.payloads
        ]
        self.head_only = plan.method == "HEAD"
        infos = socket.getaddrinfo(self.target.host, self.target.port, type=socket.SOCK_STREAM)
        family, _, _, _, sockaddr = infos[0]
        self.family = family
        self.address = (str(sockaddr[0]), int(sockaddr[1]))
        self.rows: list[dict[str, Any]] = []
        self.recorder = Recorder(on_row=self._keep, scheduled=plan.mode == "open")
        self.on_request = on_request
        self.t0 = self.recorder.start_ns
        self.stop_sending_ns: int | None = None
        self.cap = None if plan.requests is None else plan.share(plan.requests, worker)
        self.planned = 0  # closed loop: requests this worker's users have taken
        self.active = 0  # closed-loop users still sending; open: 1 while the schedule runs
        self.began = False
        self.in_flight = 0
        self.connections = 0

    def begin(self) -> None:
        """The run starts at the instant the master set (``start_at``, epoch seconds), the
        same for every worker, so that their shares make one schedule: wait for it."""
        if not self.began:
            self.began = True
            start_at = self.start_at
            t0 = time.perf_counter_ns() + int((start_at - time.time()) * 1e9)
            self.recorder.restart_clock(wall=start_at, at_ns=t0)
            self.t0 = t0
            if self.plan.duration is not None:
                self.stop_sending_ns = t0 + int(self.plan.duration * 1e9)
        wait = self.t0 - time.perf_counter_ns()
        if wait > 0:
            gevent.sleep(wait * _NS)

    @property
    def finished(self) -> bool:
        """Every user of this worker is done and nothing is in flight."""
        return self.began and self.active == 0 and self.in_flight == 0

    def _keep(self, row: dict[str, Any]) -> None:
        self.rows.append(row)

    def take_rows(self) -> list[dict[str, Any]]:
        """The rows recorded since the last call, to ship."""
        rows, self.rows = self.rows, []
        return rows

    def stats(self) -> dict[str, Any]:
        """What the rows do not say, for the master: counts only a worker knows. (The most
        in flight at once is not among them: ``merge`` counts it over every worker's rows.)"""
        return {
            "worker": self.worker,
            "start": self.start_at,
            "held_back": self.recorder.held_back,
            "connections_opened": self.connections,
            "client_cpu_seconds": round(self.recorder.cpu_seconds, 4),
        }

    # --- sending ----------------------------------------------------------------------------

    def _send(
        self, conn: BlockingConnection | None, index: int, body: int, intended_ns: int
    ) -> BlockingConnection | None:
        """Send request ``index`` (the ``body``-th payload, cycling) and record it."""
        area, data = self.payloads[body % len(self.payloads)]
        self.in_flight += 1
        start_ns = time.perf_counter_ns()
        if conn is None or conn.closed:
            self.connections += 1
        response, error, reuse, end_ns = send_request(
            conn,
            data,
            address=self.address,
            family=self.family,
            deadline=start_ns * _NS + self.plan.timeout,
            reuse=self.plan.keep_alive,
            head_only=self.head_only,
        )
        self.in_flight -= 1
        self.recorder.add(index, area, intended_ns, start_ns, end_ns, response, error)
        if self.on_request is not None:
            self._tell_locust(response, error, (end_ns - intended_ns) * 1e-6)
        return reuse

    def _tell_locust(
        self, response: Response | None, error: BaseException | None, ms: float
    ) -> None:
        assert self.on_request is not None
        if error is None and response is not None and not 200 <= response.status < 300:
            error = RuntimeError(f"HTTP {response.status}")
        length = len(response.body) if response is not None else 0
        self.on_request(self.plan.method, self.target.path, ms, length, error)

    # --- the closed loop --------------------------------------------------------------------

    def closed_user(self) -> None:
        """One user: send, wait for the response, think, again, until the duration or the
        worker's share of the request cap is used up."""
        self.active += 1  # first: a worker whose users all wait for the start is not done
        conn: BlockingConnection | None = None
        think = self.plan.think_time
        try:
            self.begin()
            while self._may_send():
                # Unique over the run; the bodies cycle per worker, so each sends all of them.
                index = self.worker + self.plan.workers * self.planned
                body = self.planned
                self.planned += 1
                conn = self._send(conn, index, body, time.perf_counter_ns())
                if think > 0 and self._may_send():
                    gevent.sleep(think)
        finally:
            self.active -= 1
            if conn is not None:
                conn.close()

    def _may_send(self) -> bool:
        if self.cap is not None and self.planned >= self.cap:
            return False
        return self.stop_sending_ns is None or time.perf_counter_ns() < self.stop_sending_ns

    # --- the open loop ----------------------------------------------------------------------

    def open_loop(self) -> None:
        """This worker's share of the schedule: requests ``worker``, ``worker + workers``..."""
        if self.began:
            return  # one schedule per worker, however many users Locust gave it
        self.active += 1
        try:
            self.begin()
            self._run_schedule()
        finally:
            self.active -= 1

    def _run_schedule(self) -> None:
        plan = self.plan
        assert plan.duration is not None
        count = plan.open_count()
        workers = plan.workers
        limit = max(1, plan.share(plan.max_in_flight, self.worker))
        held: deque[tuple[int, int]] = deque()  # (index, intended time) waiting for a sender
        idle: list[BlockingConnection] = []
        senders = 0  # live sender greenlets: each has one request in flight at a time
        all_done = gevent.event.Event()
        all_done.set()

        def sender(index: int, intended_ns: int) -> None:
            nonlocal senders
            conn = idle.pop() if idle else None
            try:
                while True:
                    conn = self._send(conn, index, index, intended_ns)
                    if not held:
                        break
                    index, intended_ns = held.popleft()  # it waited: it leaves late
            finally:
                if conn is not None:
                    idle.append(conn)
                senders -= 1
                if senders == 0:
                    all_done.set()

        offsets = Rate.ramp(plan.rate_start, plan.rate_end).offsets_ns(plan.duration, count)
        wake = PreciseWake()
        behind = 0
        for index, offset in enumerate(offsets):
            if index % workers != self.worker:
                continue
            due = self.t0 + offset
            wait = due - time.perf_counter_ns()
            if wait > 0:
                behind = 0
                wake.sleep_until(due)
            else:  # behind the schedule: let senders and responses in now and then
                behind += 1
                if behind % _YIELD_EVERY == 0:
                    gevent.sleep(0)
            if senders >= limit:
                self.recorder.held_back += 1
                held.append((index, due))
            else:
                senders += 1
                all_done.clear()
                gevent.spawn(sender, index, due)
        give_up_ns = self.t0 + int((plan.duration + plan.timeout) * 1e9)
        wake.close()
        while held and time.perf_counter_ns() < give_up_ns:
            gevent.sleep(0.01)
        now = time.perf_counter_ns()
        why = (
            f"not sent: {plan.max_in_flight} requests (the in-flight bound, over all workers) "
            f"were still in flight {plan.timeout:g} s after the schedule ended"
        )
        while held:
            index, due = held.popleft()
            area = self.payloads[index % len(self.payloads)][0]
            self.recorder.add_unsent(index, area, due, now, why)
        all_done.wait()
        for conn in idle:
            conn.close()


class PreciseWake:
    """Wakes the calling greenlet at an instant, to tens of microseconds.

    gevent's own timers wait in ``epoll_wait``, whose timeout is whole milliseconds (libev
    rounds it up): sends left 0.77 ms after their intended time on average, against 0.08
    ms for the own engine. Here a real thread (the original ``_thread``, not gevent's) sleeps
    to the instant with the kernel's nanosecond timer (its timer slack set to 1 ns), then
    wakes the event loop through an async watcher (an eventfd): ``epoll_wait`` returns at
    once. The thread holds no GIL while it sleeps; it costs a wake-up per request.
    """

    def __init__(self) -> None:
        self._go = _real_lock()
        self._go.acquire()
        self._due = 0
        self._stopped = False
        self._woken = gevent.event.Event()
        self._watcher = gevent.get_hub().loop.async_()
        self._watcher.start(self._woken.set)
        _real_thread(self._run, ())

    def sleep_until(self, due_ns: int) -> None:
        """Return at ``due_ns`` (``time.perf_counter_ns``); other greenlets run meanwhile."""
        self._woken.clear()
        self._due = due_ns
        self._go.release()
        self._woken.wait()

    def close(self) -> None:
        self._stopped = True
        self._go.release()
        self._watcher.stop()

    def _run(self) -> None:
        set_timer_slack(1)
        while True:
            self._go.acquire()
            if self._stopped:
                return
            left = self._due - time.perf_counter_ns()
            if left > 0:
                _real_sleep(left * _NS)
            self._watcher.send()
