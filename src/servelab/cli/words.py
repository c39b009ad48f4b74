"""The terminal's words: the sentences the CLI prints for the codes a study stores.

Measurement stores codes and numbers (``servelab.results``); the report words them in its
language (``report/lang``). The terminal speaks English with the same words, so a probe's
line in the terminal and its row in the report never disagree: this module only adapts
what the CLI has at hand to the report's ``Lang("en")``.

    verdict_reason(verdict, requests=10)   # "the kernel OOM-killed 1 process in the memory cap"
    stop_reason(StopReason("within-tolerance", tolerance=0.05))   # "bracket within 5%"
"""

from __future__ import annotations

from typing import Final

from ..report.i18n import Lang
from ..results import Cap, Failure, Noise, ServerEnd, StopReason, Trial, Verdict

ENGLISH: Final = Lang("en")


def server_end(end: ServerEnd) -> str:
    """E.g. ``killed by SIGKILL (not by the lab)``."""
    return ENGLISH.server_end(end)


def cap(entry: Cap) -> str:
    """How memory was capped, e.g. ``cgroup v1 memory.limit_in_bytes``."""
    return ENGLISH.cap(entry)


def verdict_reason(verdict: Verdict, requests: int) -> str:
    """Why a run of ``requests`` requests ended as it did, in one sentence."""
    ok = max(0, requests - verdict.rejected - verdict.failed_requests - verdict.memory_errors)
    # The report words a probe (a Trial); a run's verdict and size are all it reads of one.
    trial = Trial(0, "", 0, verdict, requests, ok, None, None, None, False, None)
    return ENGLISH.reason(trial)


def stop_reason(stop: StopReason) -> str:
    """Why a critical-n search stopped, in one sentence."""
    return ENGLISH.stop(stop)


def failure(entry: Failure) -> str:
    """What could not be measured, in one sentence (quoting the error's own message)."""
    return ENGLISH.failure(entry)


def noise_warning(noise: Noise | None) -> str | None:
    """The line a command prints at its start when the machine is busy; None when it is
    idle or cannot be read."""
    if noise is None or not noise.busy:
        return None
    return ENGLISH.t("noise_warning", parts=ENGLISH.noise(noise))


__all__ = [
    "ENGLISH",
    "cap",
    "failure",
    "noise_warning",
    "server_end",
    "stop_reason",
    "verdict_reason",
]
