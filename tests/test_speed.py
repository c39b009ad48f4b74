"""The machine's speed as a reference task's CPU time, in a fresh interpreter."""

from __future__ import annotations

import sys

import pytest

from servelab.speed import reference_seconds


def test_the_reference_task_takes_tens_of_milliseconds_of_cpu() -> None:
    # A list of a million ints built and summed: 30-60 ms of CPU on this machine's cores,
    # never below a millisecond or above a second anywhere a sweep makes sense.
    seconds = reference_seconds()
    assert seconds is not None and 0.001 < seconds < 1.0


def test_an_interpreter_that_cannot_run_it_gives_no_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")
    assert reference_seconds() is None
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    assert reference_seconds() is None
