"""How a run ended, decided from evidence: the records, the server's fate, its log, the cap.

Only the memory cap's OOM-kill counter decides "out of memory". gunicorn prints
``Worker (pid:N) was sent SIGKILL! Perhaps out of memory?`` for any SIGKILL, including the
ones it sends itself after a WORKER TIMEOUT, so that line is quoted, never trusted.

Outcomes:
    ok            every request got a 2xx and nothing was killed
    oom           the kernel OOM-killed a process inside the cap
    memory-error  no kill, but the service answered "out of memory" (RLIMIT_AS fallback:
                  allocation fails in-process with MemoryError and HTTP 500)
    rejected      the server refused some requests on purpose (413 too big, 503 busy: the
                  memory guard), nothing was killed, nothing else failed, the server lived,
                  and every request it did not refuse succeeded
    failed        something else went wrong: timeouts, a crash, a worker killed for time

A rejection is an answer, not a crash, so it is never counted as ``failed``; but a run with
rejections did not serve every request, so ``Verdict.failed`` is true for it as for the
others (a critical-n search with the guard on finds where the guard starts refusing).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ..load.records import RequestRecord

Outcome = Literal["ok", "oom", "memory-error", "rejected", "failed"]
OUT_OF_MEMORY_TEXT = "out of memory"
# Statuses a server sends to refuse a request on purpose: too large, or not now.
REJECTION_STATUSES = (413, 503)
# Server log lines worth quoting when a run fails (gunicorn's arbiter, tracebacks, errors).
_FAILURE_LINE = re.compile(
    r"WORKER TIMEOUT|was sent SIG|Perhaps out of memory|exited with code|Booting worker"
    r"|MemoryError|Traceback|\[ERROR\]|\[CRITICAL\]",
)
_WORKER_KILLED = re.compile(r"Worker \(pid:\d+\) was sent SIGKILL")
_WORKER_TIMEOUT = re.compile(r"WORKER TIMEOUT")
_WORKER_BOOT = re.compile(r"Booting worker with pid")
MAX_QUOTED = 8


@dataclass(frozen=True)
class Verdict:
    """The outcome of one run and the evidence for it."""

    outcome: Outcome
    reason: str
    oom_kills: int
    failed_requests: int
    errors_by_class: dict[str, int]
    server_died: bool
    server_fate: str | None
    worker_sigkills: int
    worker_timeouts: int
    worker_boots: int
    client_errors: tuple[str, ...]
    server_lines: tuple[str, ...]
    rejected_requests: int = 0
    rejected_by_status: dict[int, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.outcome != "ok"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["client_errors"] = list(self.client_errors)
        data["server_lines"] = list(self.server_lines)
        data["rejected_by_status"] = {str(k): v for k, v in self.rejected_by_status.items()}
        return data


def failure_lines(log_text: str, limit: int = MAX_QUOTED) -> tuple[str, ...]:
    """The first server log lines that show a failure (worker kills, timeouts, errors)."""
    lines = [line.rstrip() for line in log_text.splitlines() if _FAILURE_LINE.search(line)]
    return tuple(lines[:limit])


def _distinct_errors(records: Sequence[RequestRecord], limit: int = 3) -> tuple[str, ...]:
    seen: list[str] = []
    for record in records:
        if record.error and record.error not in seen:
            seen.append(record.error)
    return tuple(seen[:limit])


def judge(
    records: Sequence[RequestRecord],
    *,
    oom_kills: int,
    server_fate: str | None,
    log_text: str,
) -> Verdict:
    """Decide a run's outcome.

    ``oom_kills``: kills counted by the memory cap during the run (0 without a cgroup).
    ``server_fate``: how the server had ended by the time the load finished, before the lab
    stopped it (e.g. "killed by SIGKILL"), or None if it was still up.
    ``log_text``: what the server printed during the load (not during the lab's stop).
    """
    rejected = [record for record in records if is_rejection(record)]
    failed = [record for record in records if not record.ok and not is_rejection(record)]
    classes = dict(Counter(record.error_class or "other" for record in failed))
    # gunicorn's boot of the first worker is printed before the load starts; only reboots
    # appear in log_text, so every boot counted here replaced a dead worker.
    sigkills = len(_WORKER_KILLED.findall(log_text))
    timeouts = len(_WORKER_TIMEOUT.findall(log_text))
    boots = len(_WORKER_BOOT.findall(log_text))
    memory_errors = sum(
        1
        for record in failed
        if record.error_class == "http-5xx" and OUT_OF_MEMORY_TEXT in (record.error or "").lower()
    )
    died = server_fate is not None
    if oom_kills:
        outcome: Outcome = "oom"
        reason = f"the kernel OOM-killed {_n(oom_kills, 'process', 'processes')} in the memory cap"
    elif memory_errors:
        outcome = "memory-error"
        reason = (
            f"{_n(memory_errors, 'request')} failed with MemoryError (HTTP 500) under the "
            f"address-space limit; no process was killed"
        )
    elif rejected and not (failed or died or sigkills or timeouts):
        outcome = "rejected"
        by_status = ", ".join(
            f"{count} with {status}" for status, count in sorted(_by_status(rejected).items())
        )
        served = len(records) - len(rejected)
        reason = (
            f"the server refused {_n(len(rejected), 'request')} on purpose ({by_status}); "
            + (f"the other {served} succeeded" if served else "it served none")
            + "; no OOM kill"
        )
    elif failed or died or sigkills or timeouts:
        outcome = "failed"
        parts = []
        if rejected:
            parts.append(f"{_n(len(rejected), 'request')} refused (413/503)")
        if failed:
            parts.append(
                f"{_n(len(failed), 'request')} failed ("
                + ", ".join(f"{count} {name}" for name, count in sorted(classes.items()))
                + ")"
            )
        if timeouts:
            parts.append(f"gunicorn killed {_n(timeouts, 'worker')} for WORKER TIMEOUT")
        elif sigkills:
            parts.append(f"{_n(sigkills, 'worker')} got SIGKILL")
        if died:
            parts.append(f"the server ended ({server_fate})")
        reason = "; ".join(parts) + "; no OOM kill"
    else:
        outcome = "ok"
        reason = f"all {_n(len(records), 'request')} succeeded"
    return Verdict(
        outcome=outcome,
        reason=reason,
        oom_kills=oom_kills,
        failed_requests=len(failed),
        errors_by_class=classes,
        server_died=died,
        server_fate=server_fate,
        worker_sigkills=sigkills,
        worker_timeouts=timeouts,
        worker_boots=boots,
        client_errors=_distinct_errors([*failed, *rejected]),
        server_lines=failure_lines(log_text) if outcome not in ("ok", "rejected") else (),
        rejected_requests=len(rejected),
        rejected_by_status=_by_status(rejected),
    )


def is_rejection(record: RequestRecord) -> bool:
    """A deliberate refusal: a complete 413 or 503 response (the memory guard sends them)."""
    return record.status in REJECTION_STATUSES


def _by_status(records: Sequence[RequestRecord]) -> dict[int, int]:
    return dict(sorted(Counter(record.status or 0 for record in records).items()))


def _n(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"
