"""The terminal's words: the sentences the CLI prints for the codes a study stores.

Measurement stores codes and numbers (``servelab.results``); the report words them in its
own language, and this module words them, in English, for the terminal as a study runs.

    verdict_reason(verdict, requests=10)   # "the kernel OOM-killed 1 process in the memory cap"
    stop_reason(StopReason("within-tolerance", tolerance=0.05))   # "bracket within 5%"
"""

from __future__ import annotations

from ..results import Cap, Failure, ServerEnd, StopReason, Verdict
from ..servers.cap import describe_cap
from ..servers.process import ServerExit

# Each failure code's sentence; ``{n}`` and ``{detail}`` come from the ``Failure``.
_FAILURES = {
    "calibration-failed": "the calibration at n={n:,} did not pass",
    "no-memory-measure": "this cap cannot measure memory (no cgroup): the model needs idle and"
    " peak bytes",
    "does-not-fit-idle": "the server does not even fit idle in the cap: it was OOM-killed while"
    " starting",
    "nothing-to-compare": "no n failed without the guard; nothing to compare",
    "no-budget-room": "the cap, the idle server and the margin leave no room for a memory budget",
    "server-failed": "the server failed",
    "error": "an error",
}


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``1 request``, ``3 requests``, ``2 processes``."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


def server_end(end: ServerEnd) -> str:
    """E.g. ``killed by SIGKILL (not by the lab)``."""
    return ServerExit(end.returncode, end.signal, end.stopped_by_lab, end.forced).describe()


def cap(entry: Cap) -> str:
    """E.g. ``cgroup v1 memory cap of 1.0 GiB``."""
    return describe_cap(entry.mechanism, entry.limit_bytes)


def verdict_reason(verdict: Verdict, requests: int) -> str:
    """Why a run of ``requests`` requests ended as it did, in one sentence."""
    rejected = verdict.rejected
    if verdict.outcome == "oom":
        killed = count(verdict.oom_kills, "process", "processes")
        return f"the kernel OOM-killed {killed} in the memory cap"
    if verdict.outcome == "memory-error":
        return (
            f"{count(verdict.memory_errors, 'request')} failed with MemoryError (HTTP 500) under"
            " the address-space limit; no process was killed"
        )
    if verdict.outcome == "rejected":
        by_status = ", ".join(
            f"{n} with {status}" for status, n in sorted(verdict.rejected_by_status.items())
        )
        served = requests - rejected
        return (
            f"the server refused {count(rejected, 'request')} on purpose ({by_status}); "
            + (f"the other {served} succeeded" if served else "it served none")
            + "; no OOM kill"
        )
    if verdict.outcome == "failed":
        parts = []
        if rejected:
            parts.append(f"{count(rejected, 'request')} refused (413/503)")
        if verdict.failed_requests:
            classes = ", ".join(
                f"{n} {name}" for name, n in sorted(verdict.errors_by_class.items())
            )
            parts.append(f"{count(verdict.failed_requests, 'request')} failed ({classes})")
        if verdict.worker_timeouts:
            timeouts = count(verdict.worker_timeouts, "worker")
            parts.append(f"gunicorn killed {timeouts} for WORKER TIMEOUT")
        elif verdict.worker_sigkills:
            parts.append(f"{count(verdict.worker_sigkills, 'worker')} got SIGKILL")
        if verdict.server_end is not None:
            parts.append(f"the server ended ({server_end(verdict.server_end)})")
        elif verdict.server_died:
            parts.append("the server ended")
        return "; ".join(parts) + "; no OOM kill"
    return f"all {count(requests, 'request')} succeeded"


def stop_reason(stop: StopReason) -> str:
    """Why a critical-n search stopped, in one sentence."""
    tolerance = f"{stop.tolerance * 100:g}%" if stop.tolerance is not None else "the tolerance"
    match stop.code:
        case "within-tolerance":
            return f"bracket within {tolerance}"
        case "whole-numbers":
            return f"bracket as narrow as whole numbers allow ({stop.low}, {stop.high})"
        case "band-resolved":
            return (
                f"band resolved: {stop.low} passed all its trials, {stop.high} failed all, and"
                f" the {stop.band} n between had mixed results (wider than {tolerance})"
            )
        case "fails-at-min":
            return f"fails even at min_n={stop.low}"
        case "passes-at-max":
            return f"passes at max_n={stop.high}"
        case "budget-spent":
            return f"probe budget ({stop.budget}) spent"
        case "not-finished":
            return "search not finished"
    return "stopped for a reason this servelab does not know"


def failure(entry: Failure) -> str:
    """What could not be measured, in one sentence (quoting the error's own message)."""
    if entry.code in ("server-failed", "error") and entry.detail:
        return entry.detail  # the error's own message says it best
    text = _FAILURES[entry.code].format(n=entry.n or 0)
    return f"{text}: {entry.detail}" if entry.detail else text


__all__ = ["cap", "count", "failure", "server_end", "stop_reason", "verdict_reason"]
