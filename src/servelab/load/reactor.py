"""The load engine's event loop: one epoll set, a timer heap, no coroutines, no HTTP.

Why not asyncio: on two cores the client's CPU per request is the server's CPU, and a
request here is a handful of system calls wrapped in a few microseconds of Python. asyncio
adds to each wake-up a pass of ``_run_once`` (selector keys, handles, a context switch per
callback) and, to keep one descriptor per socket out of its own selector, a second
``epoll_wait``: together about as much Python as the request itself. This loop calls each
socket's handler straight from ``epoll_wait``'s list, and nothing else.

What it offers is what the burst and the loops use:

- ``add``/``want_write``/``discard``: a socket and its handler (any object with public
  ``on_readable`` and ``on_writable``), registered once for as long as it is open;
- ``call_soon``, ``call_at``, ``call_later`` (a ``Timer`` that can be cancelled), and
  ``time()``, the ``time.perf_counter`` clock every request is timed with;
- ``run()`` until ``stop()``; an exception from a handler or callback ends ``run`` with it;
- ``batch``: while one ``epoll_wait``'s events are handled, handlers may put calls here
  (a function and its arguments) to run after the whole batch. The HTTP connections put
  their requests' callbacks there: each response's connection is closed as it is read, so
  a server that waits for the client's FIN (gunicorn's sync worker) is released before the
  client records the others and opens their next connections.

Timers: ``epoll_wait`` counts whole milliseconds and rounds up, so a timer due in 0.3 ms
would fire up to 1 ms late. With ``precise=True`` (an open loop's schedule) a wait ends a
millisecond early and the last stretch waits on the epoll descriptor with ``select(2)``,
which takes microseconds, with the thread's timer slack (50 us by default) set to 1 ns while
the reactor lives: sends leave 30-40 us after their time on average, for one more system
call per timer. Without epoll (not Linux) the loop runs on ``selectors``.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import select
import selectors
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Protocol

_READABLE: Final = 0x001  # select.EPOLLIN
_WRITABLE: Final = 0x004  # select.EPOLLOUT
_FD_SETSIZE: Final = 1024  # select(2) takes no higher descriptor
_PRECISE_BELOW: Final = 0.002  # seconds: waits this short go to select(2)
_EPOLL_TICK: Final = 0.001
_PR_SET_TIMERSLACK: Final = 29
_PR_GET_TIMERSLACK: Final = 30

# A call put off until the end of a batch: a function and its arguments.
Deferred = tuple[Callable[..., object], tuple[Any, ...]]


class Handler(Protocol):
    """What a registered socket's owner answers to."""

    def on_readable(self) -> None: ...

    def on_writable(self) -> None: ...


class Timer:
    """A callback due at a time; ``cancel`` before then and it never runs."""

    __slots__ = ("args", "callback", "cancelled")

    def __init__(self, callback: Callable[..., object], args: tuple[Any, ...]):
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _SelectorPoller:
    """``select.epoll``'s interface over ``selectors``, for platforms without epoll."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()

    def register(self, fd: int, mask: int) -> None:
        self._selector.register(fd, _events(mask))

    def modify(self, fd: int, mask: int) -> None:
        self._selector.modify(fd, _events(mask))

    def unregister(self, fd: int) -> None:
        self._selector.unregister(fd)

    def poll(self, timeout: float = -1) -> list[tuple[int, int]]:
        ready = self._selector.select(None if timeout < 0 else timeout)
        return [
            (
                key.fd,
                (_READABLE if events & selectors.EVENT_READ else 0)
                | (_WRITABLE if events & selectors.EVENT_WRITE else 0),
            )
            for key, events in ready
        ]

    def close(self) -> None:
        self._selector.close()


def _events(mask: int) -> int:
    return (selectors.EVENT_READ if mask & _READABLE else 0) | (
        selectors.EVENT_WRITE if mask & _WRITABLE else 0
    )


class Reactor:
    """A single-threaded event loop for sockets and timers (see the module docstring)."""

    time = staticmethod(time.perf_counter)

    def __init__(self, *, precise: bool = False, use_epoll: bool | None = None) -> None:
        epoll = hasattr(select, "epoll") if use_epoll is None else use_epoll
        self._epoll = epoll
        self._poller: Any = select.epoll() if epoll else _SelectorPoller()
        self._precise = precise and epoll
        self._slack = set_timer_slack(1) if self._precise else None
        self._handlers: dict[int, Handler] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._ready: deque[tuple[Callable[..., object], tuple[Any, ...]]] = deque()
        self._stopped = False
        self.batch: list[Deferred] | None = None

    # --- sockets --------------------------------------------------------------------------

    def add(self, fd: int, handler: Handler) -> None:
        """Watch ``fd`` for reading until ``discard``; events go to ``handler``."""
        self._handlers[fd] = handler
        self._poller.register(fd, _READABLE)

    def want_write(self, fd: int, on: bool) -> None:
        """Also watch ``fd`` for writing (``on``), or stop."""
        self._poller.modify(fd, _READABLE | _WRITABLE if on else _READABLE)

    def handlers(self) -> list[Handler]:
        """The handlers of every watched socket, as a list (safe to close them while looping)."""
        return list(self._handlers.values())

    def discard(self, fd: int) -> None:
        """Forget ``fd``; call before closing it (closing takes it out of an epoll set)."""
        if self._handlers.pop(fd, None) is not None and not self._epoll:
            self._poller.unregister(fd)

    # --- callbacks ------------------------------------------------------------------------

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Run ``callback(*args)`` in the loop's next pass."""
        self._ready.append((callback, args))

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> Timer:
        """Run ``callback(*args)`` once ``time()`` reaches ``when``."""
        timer = Timer(callback, args)
        heapq.heappush(self._timers, (when, next(self._order), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Timer:
        return self.call_at(time.perf_counter() + delay, callback, *args)

    # --- running --------------------------------------------------------------------------

    def stop(self) -> None:
        """End ``run`` after the current callback (also before ``run`` has started)."""
        self._stopped = True

    def run(self) -> None:
        """Handle events and timers until ``stop``.

        One function with its state in locals: this loop turns about once per response.
        """
        handlers = self._handlers
        timers = self._timers
        ready = self._ready
        clock = time.perf_counter
        poll = self._poller.poll
        precise = self._precise
        while not self._stopped:
            if ready:
                events = poll(0)
            elif not timers:
                events = poll(-1)
            elif precise:
                events = self._wait_precisely(timers[0][0] - clock())
            else:
                timeout = timers[0][0] - clock()
                events = poll(timeout if timeout > 0 else 0)
            if events:
                batch: list[Deferred] = []
                self.batch = batch
                try:
                    for fd, mask in events:
                        handler = handlers.get(fd)
                        if handler is None:
                            continue  # closed earlier in this batch
                        if mask == _READABLE:  # nearly always: a response, or a close
                            handler.on_readable()
                            continue
                        if mask & _WRITABLE:
                            handler.on_writable()
                            if fd not in handlers:
                                continue
                        if mask & ~_WRITABLE:
                            handler.on_readable()
                finally:
                    self.batch = None
                for function, args in batch:
                    function(*args)
            if timers and timers[0][0] <= clock():
                now = clock()
                while timers and timers[0][0] <= now:
                    timer = heapq.heappop(timers)[2]
                    if not timer.cancelled:
                        ready.append((timer.callback, timer.args))
            if ready:
                for _ in range(len(ready)):
                    if self._stopped:
                        return
                    function, args = ready.popleft()
                    function(*args)

    def close(self) -> None:
        self._handlers.clear()
        self._poller.close()
        if self._slack is not None:
            set_timer_slack(self._slack)
            self._slack = None

    def _wait_precisely(self, timeout: float) -> list[tuple[int, int]]:
        """The events within ``timeout`` seconds, waking on time to the microsecond."""
        if timeout <= 0:
            return self._poller.poll(0)  # type: ignore[no-any-return]
        if timeout >= _PRECISE_BELOW:
            return self._poller.poll(timeout - _EPOLL_TICK)  # type: ignore[no-any-return]
        epoll_fd = self._poller.fileno()
        if epoll_fd < _FD_SETSIZE:
            select.select([epoll_fd], [], [], timeout)
            return self._poller.poll(0)  # type: ignore[no-any-return]
        return self._poller.poll(timeout)  # type: ignore[no-any-return]


def set_timer_slack(nanoseconds: int) -> int | None:
    """Set this thread's timer slack (Linux); the previous value, or None where unsupported.

    Linux lets a sleep with a timeout end up to the thread's timer slack late, 50 us by
    default, so that wake-ups can be merged. A schedule measured to the microsecond wants
    its timers on time, so a precise reactor asks for 1 ns while it runs.
    """
    try:
        libc = ctypes.CDLL(None)  # the interpreter's own symbols, libc's among them
        previous = int(libc.prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0))
        if previous < 0 or libc.prctl(_PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return previous
