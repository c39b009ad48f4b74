"""The three load generators: how each is started and how its own output is read.

Each tool reports completed requests, errors and the seconds it measured over, in its
own words; ``parse`` turns those words into one ``Report``. Latencies for the timing
error come from each tool's finest source: servelab's per-request records, Locust's
per-request event (``BENCH_LOCUST_TIMES``, see ``locustfile.py``), wrk's HdrHistogram
percentiles (10 µs steps as printed).

servelab runs as two tools, one per closed loop: the C one (``_speedups``, when built) and the
pure-Python one (``SERVELAB_PURE_PYTHON=1``). ``probe_engine`` asks each tool's own Python, in
the tool's own environment, which loop it runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench.measure import ROOT, tail

Kind = Literal["servelab", "wrk", "locust"]

SERVELAB = (str(ROOT / ".venv" / "bin" / "servelab"), "load")
LOCUST = ROOT / ".venv-bench" / "bin" / "locust"
PURE_ENV = "SERVELAB_PURE_PYTHON"  # servelab.load.speedups.PURE_ENV, for any servelab measured


@dataclass(frozen=True)
class Report:
    """What one run of one tool said about itself."""

    requests: int
    errors: int
    seconds: float
    rps: float
    latencies_ms: list[float] = field(default_factory=list)  # every request, when known
    percentiles_ms: dict[str, float] = field(default_factory=dict)  # wrk's, when that is all
    # servelab only: latency minus what the server said it took (Server-Timing), per request
    beyond_server_ms: list[float] = field(default_factory=list)
    self_reported_cpu: float | None = None  # the tool's own claim, beside wait4's count
    summary: dict[str, Any] = field(default_factory=dict)  # servelab's JSON, kept whole


@dataclass(frozen=True)
class Tool:
    """One load generator in one configuration (``name`` labels it in the tables)."""

    name: str
    kind: Kind
    threads: int = 1  # wrk's -t
    prefix: tuple[str, ...] = SERVELAB  # servelab's command before the URL
    # Set for every run of this tool (warm-up, matrix, timing, engine probe); pairs, so that
    # the frozen tool stays hashable.
    environment: tuple[tuple[str, str], ...] = ()

    def argv(self, url: str, concurrency: int, duration: int, workdir: Path | None) -> list[str]:
        """The command line; ``workdir`` set asks for per-request latencies there."""
        if self.kind == "wrk":
            return [
                "wrk",
                f"-t{self.threads}",
                f"-c{concurrency}",
                f"-d{duration}s",
                "--latency",
                url,
            ]
        if self.kind == "locust":
            return [
                str(LOCUST),
                "-f",
                "bench/locustfile.py",
                "--headless",
                "-u",
                str(concurrency),
                "-r",
                str(concurrency),
                "-t",
                f"{duration}s",
                "--only-summary",
                "--json",
                "--loglevel",
                "WARNING",
                "--exit-code-on-error",
                "0",
                "--host",
                url.rstrip("/"),
            ]
        out = ["--out", str(workdir)] if workdir is not None else []
        return [
            *self.prefix,
            url,
            "--mode",
            "closed",
            "--concurrency",
            str(concurrency),
            "--duration",
            str(duration),
            "--method",
            "GET",
            "--json",
            *out,
        ]

    def env(self, workdir: Path | None) -> dict[str, str]:
        """Extra environment: the tool's own (``environment``), and Locust's per-request times
        file in the timing runs."""
        extra = dict(self.environment)
        if self.kind == "locust" and workdir is not None:
            extra["BENCH_LOCUST_TIMES"] = str(workdir / "locust_times.txt")
        return extra

    def parse(self, stdout: str, workdir: Path | None) -> Report:
        """Read the run's own output; ``ValueError`` when it is not what was expected."""
        if self.kind == "wrk":
            return _parse_wrk(stdout)
        if self.kind == "locust":
            return _parse_locust(stdout, workdir)
        return _parse_servelab(stdout, workdir)


def servelab_ready(prefix: tuple[str, ...]) -> bool:
    """Whether ``prefix`` is a servelab with closed loops (``--mode``, ``--duration``...)."""
    try:
        helptext = subprocess.run(
            [*prefix, "--help"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return all(option in helptext for option in ("--mode", "--duration", "--method"))


@dataclass(frozen=True)
class Engine:
    """Which closed loop a servelab tool runs, as its own Python says in its environment."""

    runs: str  # servelab.load.speedups.engine(): "C" or "Python"
    built: bool  # whether the C loop is there to import at all


# Imports what the tool's runs import, in their environment, so the answer is the loop they
# get. A servelab from before the C loop has no speedups module: Python, nothing built.
_ENGINE_PROBE = """
import importlib.util, json
try:
    from servelab.load import speedups
except ModuleNotFoundError as exc:
    if exc.name != "servelab.load.speedups":
        raise
    print(json.dumps({"runs": "Python", "built": False}))
else:
    built = importlib.util.find_spec("servelab.load._speedups") is not None
    print(json.dumps({"runs": speedups.engine(), "built": built}))
"""


def probe_engine(tool: Tool) -> Engine:
    """The loop ``tool`` (a servelab) runs; ``ValueError`` when its Python cannot say."""
    python = interpreter(tool.prefix)
    try:
        done = subprocess.run(
            [python, "-c", _ENGINE_PROBE],
            cwd=ROOT,  # where the runs start: the same sys.path
            env={**os.environ, **tool.env(None)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ValueError(f"{python} did not say which loop it runs: {exc}") from exc
    if done.returncode != 0 or not done.stdout.strip():
        raise ValueError(f"{python} did not say which loop it runs: {tail(done.stderr)}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return Engine(runs=str(answer["runs"]), built=bool(answer["built"]))


def interpreter(command: Sequence[str]) -> str:
    """The Python that runs servelab's ``command``: the command itself (``python -m servelab
    load``), or the one a console script's first line names; ``ValueError`` otherwise."""
    program = command[0]
    # A relative path as the runs see it: they start in ROOT.
    found = str(ROOT / program) if "/" in program else shutil.which(program)
    if found is None:
        raise ValueError(f"{program}: not found")
    if Path(found).name.startswith("python"):
        return found
    try:
        with open(found, "rb") as script:
            head = script.read(4096).decode(errors="replace")
    except OSError as exc:
        raise ValueError(f"{found}: {exc}") from exc
    shebang = re.match(r"#!\s*(\S+)", head)
    if shebang is not None and Path(shebang.group(1)).name.startswith("python"):
        return shebang.group(1)
    # pip's console script when its Python's path is too long for a #! line: a sh trampoline.
    trampoline = re.search(r"""^'''exec' "?([^"\s]+)"? """, head, re.MULTILINE)
    if trampoline is not None:
        return trampoline.group(1)
    raise ValueError(
        f"cannot tell which Python runs {found}; name it: --servelab-command"
        " 'PYTHON -m servelab load'"
    )


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _parse_wrk(stdout: str) -> Report:
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)\b", stdout)
    if done is None:
        raise ValueError("no 'N requests in T' line in wrk's output")
    requests = int(done.group(1))
    seconds = float(done.group(2)) * _UNITS[done.group(3)] / 1e3
    errors = 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", stdout
    )
    if socket_errors is not None:
        errors += sum(int(n) for n in socket_errors.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", stdout)
    if non_2xx is not None:
        errors += int(non_2xx.group(1))
    percentiles = {
        m.group(1): float(m.group(2)) * _UNITS[m.group(3)]
        for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", stdout, re.MULTILINE)
    }
    return Report(
        requests, errors, seconds, _rps(requests, errors, seconds), percentiles_ms=percentiles
    )


def _parse_locust(stdout: str, workdir: Path | None) -> Report:
    entries: list[dict[str, Any]] = json.loads(stdout)
    if not entries:
        raise ValueError("Locust reported no requests at all")
    requests = sum(int(e["num_requests"]) for e in entries)
    errors = sum(int(e["num_failures"]) for e in entries)
    seconds = max(float(e["last_request_timestamp"]) for e in entries) - min(
        float(e["start_time"]) for e in entries
    )
    latencies: list[float] = []
    if workdir is not None:
        times = workdir / "locust_times.txt"
        latencies = [float(line) for line in times.read_text().split()]
    return Report(
        requests, errors, seconds, _rps(requests, errors, seconds), latencies_ms=latencies
    )


def _parse_servelab(stdout: str, workdir: Path | None) -> Report:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise ValueError("no JSON summary in servelab's output")
    summary: dict[str, Any] = json.loads(lines[-1])
    requests = int(summary["requests"])
    if isinstance(summary.get("errors"), int):
        errors = int(summary["errors"])
    elif isinstance(summary.get("errors_by_class"), dict):
        errors = sum(int(n) for n in summary["errors_by_class"].values())
    else:
        errors = requests - int(summary["ok"])
    seconds = next(
        float(summary[key]) for key in ("duration", "elapsed", "makespan") if key in summary
    )
    rps = _rps(requests, errors, seconds)
    cpu = summary.get("client_cpu_seconds")
    latencies: list[float] = []
    beyond: list[float] = []
    if workdir is not None:
        with (workdir / "records.jsonl").open() as rows:
            for line in rows:
                row = json.loads(line)
                if row.get("ok", True):
                    latencies.append(float(row["latency"]) * 1e3)
                    if row.get("handler_duration") is not None:
                        beyond.append((row["latency"] - row["handler_duration"]) * 1e3)
    return Report(
        requests,
        errors,
        seconds,
        rps,
        latencies_ms=latencies,
        beyond_server_ms=beyond,
        self_reported_cpu=float(cpu) if cpu is not None else None,
        summary=summary,
    )


def _rps(requests: int, errors: int, seconds: float) -> float:
    """Requests that succeeded per second: a tool that fails fast must not look fast."""
    if seconds <= 0:
        raise ValueError(f"the tool measured {seconds} s")
    return max(requests - errors, 0) / seconds
