"""What every Locust worker needs to know about a run, as one JSON text.

The servelab process that starts a distributed run writes the plan to a file (mode 0600: it
may hold a token); the Locust master reads it and Locust's spawn message carries it to every
worker as a custom option, so a worker on another machine needs nothing but servelab,
Locust and the master's address. Bodies travel base64-encoded: they are bytes.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from servelab.errors import LoadError
from servelab.load.request import RequestSpec

LoopMode = Literal["closed", "open"]
# The files the master writes into its folder: every row, who finished or was lost, and the
# instant the workers start at (as soon as the master has set it).
RECORDS_FILE: Final = "records.jsonl"
WORKERS_FILE: Final = "workers.json"
START_FILE: Final = "start.json"


@dataclass(frozen=True)
class Plan:
    """One distributed run: the same request options and loops as the own engine's.

    ``users``: closed loop, the users over all workers (Locust spreads them). ``rate_start``
    and ``rate_end``: open loop, requests per second over all workers; worker ``k`` of
    ``workers`` sends the schedule's requests ``k, k + workers, k + 2 * workers, ...``, so
    the union is the one schedule the own engine would send. ``requests``: a cap over the
    whole run, split between the workers the same way. ``max_in_flight``: open loop, over
    all workers (each gets its share, at least 1).
    """

    url: str
    mode: LoopMode
    method: str
    headers: dict[str, str]
    payloads: list[tuple[float, bytes | None]]
    workers: int
    timeout: float
    keep_alive: bool
    duration: float | None
    requests: int | None = None
    users: int = 1
    think_time: float = 0.0
    rate_start: float = 0.0
    rate_end: float = 0.0
    max_in_flight: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise LoadError("a distributed run needs at least 1 worker")
        if self.duration is None and (self.requests is None or self.mode == "open"):
            raise LoadError("a distributed run needs a duration (or, closed, a request count)")

    @classmethod
    def sending(cls, url: str, request: RequestSpec, **loop: Any) -> Plan:
        """The plan that sends ``request`` to ``url``; ``loop``: the other fields."""
        return cls(
            url=url,
            method=request.method,
            headers=dict(request.headers),
            payloads=request.payloads(),
            **loop,
        )

    def share(self, count: int, worker: int) -> int:
        """Worker ``worker``'s part of ``count`` things dealt round-robin over the workers."""
        return count // self.workers + (1 if worker < count % self.workers else 0)

    def to_json(self) -> str:
        data = {
            "url": self.url,
            "mode": self.mode,
            "method": self.method,
            "headers": self.headers,
            "payloads": [
                [area, None if body is None else base64.b64encode(body).decode("ascii")]
                for area, body in self.payloads
            ],
            "workers": self.workers,
            "timeout": self.timeout,
            "keep_alive": self.keep_alive,
            "duration": self.duration,
            "requests": self.requests,
            "users": self.users,
            "think_time": self.think_time,
            "rate_start": self.rate_start,
            "rate_end": self.rate_end,
            "max_in_flight": self.max_in_flight,
            "extra": self.extra,
        }
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """The plan a master sent; a ``LoadError`` if it is not one (another version's)."""
        try:
            data = json.loads(text)
            payloads = [
                (float(area), None if body is None else base64.b64decode(body))
                for area, body in data["payloads"]
            ]
            mode = data["mode"]
            if mode not in ("closed", "open"):
                raise ValueError(f"mode {mode!r}")
            duration = data["duration"]
            return cls(
                url=str(data["url"]),
                mode=mode,
                method=str(data["method"]),
                headers={str(k): str(v) for k, v in data["headers"].items()},
                payloads=payloads,
                workers=int(data["workers"]),
                timeout=float(data["timeout"]),
                keep_alive=bool(data["keep_alive"]),
                duration=None if duration is None else float(duration),
                requests=None if data["requests"] is None else int(data["requests"]),
                users=int(data["users"]),
                think_time=float(data["think_time"]),
                rate_start=float(data["rate_start"]),
                rate_end=float(data["rate_end"]),
                max_in_flight=int(data["max_in_flight"]),
                extra=dict(data.get("extra") or {}),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise LoadError(
                f"not a servelab run plan ({error}): is the worker's servelab the master's?"
            ) from None

    @property
    def hard_limit(self) -> float:
        """Seconds after which the run is over whatever happens: sending, the last request's
        timeout (an open loop may drain that long too), and slack for starting and shipping
        the records. A closed loop capped by a request count alone gets a day."""
        sending = 24 * 3600.0 if self.duration is None else self.duration
        return sending + 2 * self.timeout + 30.0

    def open_count(self) -> int:
        """How many requests the open loop's schedule has over all workers."""
        from servelab.load.schedule import Rate

        assert self.duration is not None, "an open loop's plan always has its duration"
        count = Rate.ramp(self.rate_start, self.rate_end).count(self.duration)
        return count if self.requests is None else min(count, self.requests)
