"""How a run ended, decided from evidence: the records, the server's end, its log, the cap.

``judge`` returns a ``results.Verdict``: an outcome code and the counts and quotations
behind it, never a sentence (``servelab.cli.words`` and the report word it).

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

from ..load.records import RequestRecord
from ..results import Outcome, ServerEnd, Verdict

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
    server_end: ServerEnd | None,
    log_text: str,
) -> Verdict:
    """Decide a run's outcome, as codes and counts (``servelab.cli.words`` words it).

    ``oom_kills``: kills counted by the memory cap during the run (0 without a cgroup).
    ``server_end``: how the server had ended by the time the load finished, before the lab
    stopped it, or None if it was still up.
    ``log_text``: what the server printed during the load (not during the lab's stop).
    """
    rejected = [record for record in records if is_rejection(record)]
    failed = [record for record in records if not record.ok and not is_rejection(record)]
    classes = dict(sorted(Counter(record.error_class or "other" for record in failed).items()))
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
    died = server_end is not None
    outcome: Outcome
    if oom_kills:
        outcome = "oom"
    elif memory_errors:
        outcome = "memory-error"
    elif rejected and not (failed or died or sigkills or timeouts):
        outcome = "rejected"
    elif failed or died or sigkills or timeouts:
        outcome = "failed"
    else:
        outcome = "ok"
    return Verdict(
        outcome=outcome,
        oom_kills=oom_kills,
        memory_errors=memory_errors,
        failed_requests=len(failed),
        errors_by_class=classes,
        rejected_by_status=_by_status(rejected),
        server_died=died,
        server_end=server_end,
        worker_sigkills=sigkills,
        worker_timeouts=timeouts,
        worker_boots=boots,
        client_errors=_distinct_errors([*failed, *rejected]),
        server_lines=failure_lines(log_text) if outcome not in ("ok", "rejected") else (),
    )


def is_rejection(record: RequestRecord) -> bool:
    """A deliberate refusal: a complete 413 or 503 response (the memory guard sends them)."""
    return record.status in REJECTION_STATUSES


def _by_status(records: Sequence[RequestRecord]) -> dict[int, int]:
    return dict(sorted(Counter(record.status or 0 for record in records).items()))
