"""The study drawn on the terminal as it runs (rich progress bars)."""

from __future__ import annotations

from rich.progress import Progress, TaskID

from ..load import RequestRecord
from ..load.text import at_once
from ..results import RunEntry, SearchEntry
from ..study.critical_run import CriticalSpec
from ..study.plan import RunSpec
from ..study.runner import StudyProgress
from ..study.trial import TrialResult
from ..units import format_size
from . import words


class RichProgress(StudyProgress):
    """Draws the study on the terminal: one bar per run, filled as requests complete."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def _task(self) -> TaskID:
        assert self.task is not None, "a run or search is under way"
        return self.task

    def run_started(self, run: RunSpec, requests: int) -> None:
        self.task = self.progress.add_task(run.name, total=requests)

    def request_done(self, run: RunSpec, record: RequestRecord) -> None:
        self.progress.advance(self._task())

    def run_finished(self, run: RunSpec, entry: RunEntry) -> None:
        self.progress.remove_task(self._task())
        s = entry.summary
        if s is None:
            why = words.failure(entry.error) if entry.error else "it did not run"
            self.progress.console.print(f"[red]x {run.name}: {why}[/red]")
            return
        mark = "[green]v[/green]" if s.ok == s.requests else "[yellow]![/yellow]"
        self.progress.console.print(
            f"{mark} {run.name:<24} makespan {s.makespan or 0.0:6.2f} s  "
            f"{s.ok}/{s.requests} ok  {at_once(s)}"
        )

    def search_started(self, spec: CriticalSpec) -> None:
        self.task = self.progress.add_task(
            f"critical n: {spec.name} under {format_size(spec.limit_bytes)}", total=None
        )

    def probe_done(self, spec: CriticalSpec, label: str, probe: TrialResult) -> None:
        self.progress.update(
            self._task(),
            description=f"{_what(spec)}: {spec.name}  {label} {_n(spec)}={probe.setup.n:,} "
            f"{probe.verdict.outcome}",
        )

    def search_finished(self, spec: CriticalSpec, entry: SearchEntry) -> None:
        self.progress.remove_task(self._task())
        if entry.error is not None:
            self.progress.console.print(f"[red]x {spec.name}: {words.failure(entry.error)}[/red]")
            return
        passing, failing = entry.max_passing_n, entry.min_failing_n
        band = f"{passing or 0:,} .. {failing or 0:,}"
        self.progress.console.print(
            f"[green]v[/green] {_what(spec)} {spec.name:<24} predicted {entry.predicted_n or 0:,}, "
            f"measured {band} ({entry.probes} probes, {entry.wall_seconds} s)"
        )


def _what(spec: CriticalSpec) -> str:
    """What a search looks for: the seed's critical n, or an app's critical input size."""
    return "critical size" if spec.app is not None else "critical n"


def _n(spec: CriticalSpec) -> str:
    return "size" if spec.app is not None else "n"
