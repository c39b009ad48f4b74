"""The study drawn on the terminal as it runs (rich progress bars)."""

from __future__ import annotations

from typing import Any

from rich.progress import Progress

from ..load import RequestRecord
from ..study.critical_run import CriticalSpec
from ..study.plan import RunSpec
from ..study.probe import ProbeResult
from ..study.runner import StudyProgress
from ..units import format_size


class RichProgress(StudyProgress):
    """Draws the study on the terminal: one bar per run, filled as requests complete."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: Any = None

    def run_started(self, run: RunSpec, requests: int) -> None:
        self.task = self.progress.add_task(run.name, total=requests)

    def request_done(self, run: RunSpec, record: RequestRecord) -> None:
        self.progress.advance(self.task)

    def run_finished(self, run: RunSpec, result: dict[str, Any]) -> None:
        self.progress.remove_task(self.task)
        if result["status"] != "done":
            self.progress.console.print(f"[red]x {run.name}: {result['error']}[/red]")
            return
        s = result["summary"]
        mark = "[green]v[/green]" if s["ok"] == s["requests"] else "[yellow]![/yellow]"
        self.progress.console.print(
            f"{mark} {run.name:<24} makespan {s['makespan']:6.2f} s  "
            f"{s['ok']}/{s['requests']} ok  max {s['max_concurrent']} at once"
        )

    def search_started(self, spec: CriticalSpec) -> None:
        self.task = self.progress.add_task(
            f"critical n: {spec.name} under {format_size(spec.limit_bytes)}", total=None
        )

    def probe_done(self, spec: CriticalSpec, label: str, n: int, probe: ProbeResult) -> None:
        self.progress.update(
            self.task,
            description=f"critical n: {spec.name}  {label} n={n:,} {probe.verdict.outcome}",
        )

    def search_finished(self, spec: CriticalSpec, result: dict[str, Any]) -> None:
        self.progress.remove_task(self.task)
        if "error" in result:
            self.progress.console.print(f"[red]x {spec.name}: {result['error']}[/red]")
            return
        passing, failing = result["max_passing_n"], result["min_failing_n"]
        band = f"{passing or 0:,} .. {failing or 0:,}"
        self.progress.console.print(
            f"[green]v[/green] critical n {spec.name:<24} predicted {result['predicted_n']:,}, "
            f"measured {band} ({result['probes']} probes, {result['wall_seconds']} s)"
        )
