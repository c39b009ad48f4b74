"""One trial: a fresh server, optionally inside a fresh memory cap, under one burst.

The six runs of a study and every probe of a critical-n search (its calibration and the
guarded probe included) are trials; they differ only in their ``TrialSetup`` and where
their ``TrialFiles`` go:

    setup = TrialSetup(ServerSpec.parse("gunicorn:w1"), "numpy", n=20_000_000,
                       load=Burst(10, 10), cap=CapSetup(parse_size("1GiB")))
    result = run_trial(setup, TrialFiles.for_probe(folder, "p01_n20000000"))
    result.verdict.outcome        # "oom", ... (codes; servelab.cli.words says it in words)
    result.as_trial(probe=1)      # a results.Trial for search.json

Files, written as measured (paths relative to ``TrialFiles.folder``):

    records    one record per request (servelab.load.records)
    samples    memory and CPU of the server's process tree (servelab.servers.monitor)
    server_log what the server printed
    seed_log   the seed's ``Waited ... sec`` lines (the study's runs only)

Inside a cap, the first OOM kill ends the trial: the burst sends no further request and,
once gunicorn has logged the kill (at most ``LOG_GRACE``), the lab stops the server rather than let
every queued request kill it again (``stopped_early``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from ..errors import ConfigError, ServerStartError
from ..load import RequestRecord, run_burst, write_seed_log
from ..load.summary import LoadSummary, summarize
from ..load.template import RequestTemplate
from ..results import Cap, Failure, Noise, Prices, ServerEnd, Trial, Usage, Verdict
from ..servers import Monitor, RunningServer, ServerSpec, launch
from ..servers.app import AppTarget
from ..servers.cap import (
    MECHANISM_CHOICES,
    MIN_LIMIT,
    MechanismChoice,
    MemoryCap,
    check_room,
    open_cap,
)
from ..service.config import ServiceConfig
from ..units import format_size
from ..workloads import WORKLOADS
from .verdict import judge

# After the first OOM kill a trial has its answer. The lab waits this long for gunicorn to
# log the kill and the reboot (the report quotes those lines), then stops the server.
LOG_GRACE = 1.5
# ... or less: once its log has grown since the kill and then been quiet this long
# (gunicorn logs the kill and the new worker's boot within a few milliseconds).
LOG_QUIET = 0.3
# After a capped burst: time for gunicorn's arbiter to print what it saw.
_SETTLE = 0.2
_WATCH_INTERVAL = 0.05


class DoesNotFitIdle(ConfigError):
    """The cap killed the server while it started, idle: the cap is too small for it."""

    failure = Failure("does-not-fit-idle")


@dataclass(frozen=True)
class Burst:
    """The load of a trial: ``requests`` POSTs from ``concurrency`` clients, the first
    ``concurrency`` at once; ``timeout``: seconds a client waits for one response."""

    requests: int = 10
    concurrency: int = 10
    timeout: float = 300.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1, not {self.concurrency}")
        if self.requests < 1:
            raise ConfigError(f"--requests must be at least 1, not {self.requests}")
        if not self.timeout > 0:
            raise ConfigError(f"--timeout must be > 0 seconds, not {self.timeout}")


@dataclass(frozen=True)
class CapSetup:
    """A memory cap for the trial's server: its limit and mechanism (``auto``: a cgroup,
    else RLIMIT_AS); ``stop_at_first_oom`` ends the trial at the first OOM kill."""

    limit_bytes: int
    mechanism: MechanismChoice = "auto"
    stop_at_first_oom: bool = True

    def __post_init__(self) -> None:
        if self.limit_bytes < MIN_LIMIT:
            raise ConfigError(
                f"a memory cap must be at least {format_size(MIN_LIMIT)},"
                f" not {format_size(self.limit_bytes)}"
            )
        if self.mechanism not in MECHANISM_CHOICES:
            raise ConfigError(
                f"--cap must be one of {', '.join(MECHANISM_CHOICES)}, not {self.mechanism!r}"
            )
        # Here, not only in open_cap: a plan (a study, a critical-n search) makes its cap
        # setups before the first server starts, so a cap too big is refused before any run.
        check_room(self.limit_bytes)


@dataclass(frozen=True)
class AppRun:
    """The user's own app in a trial: ``target`` is served (in its own environment, wrapped
    in the served-by shim) and every request is ``request`` at the trial's size (its
    ``TrialSetup.n``)."""

    target: AppTarget
    request: RequestTemplate

    def bodies(self, size: int) -> list[bytes | None]:
        """The bodies the trial's requests send in turn, made before its server starts (a
        payload hook runs in the app's interpreter, not beside the server under test).

        A search tries sizes near its boundary several times; the bodies of the last few
        sizes are kept (``_BodyCache``), so a repeat sends the very same bytes and does not
        pay for the hook again (about 1.3 s for the house-price example's 350k rows)."""
        key = (
            self.request.body,
            self.request.body_file,
            self.request.payload,
            self.target.python,
            self.target.app_dir,
            size if self.request.uses_size() else None,
        )
        kept = _BODIES.get(key)
        if kept is None:
            kept = self.request.bodies(key[-1], python=self.target.python, app_dir=key[4])
            _BODIES.put(key, kept)
        return kept


class _BodyCache:
    """The bodies of the last ``entries`` sizes, at most ``limit`` bytes together."""

    def __init__(self, entries: int = 4, limit: int = 256 * 1024 * 1024) -> None:
        self._kept: dict[object, list[bytes | None]] = {}
        self._entries, self._limit = entries, limit
        self._lock = threading.Lock()

    def get(self, key: object) -> list[bytes | None] | None:
        with self._lock:
            kept = self._kept.pop(key, None)
            if kept is not None:
                self._kept[key] = kept  # most recently used last
            return kept

    def put(self, key: object, bodies: list[bytes | None]) -> None:
        with self._lock:
            self._kept.pop(key, None)
            self._kept[key] = bodies
            while len(self._kept) > self._entries or (
                len(self._kept) > 1 and self._bytes() > self._limit
            ):
                del self._kept[next(iter(self._kept))]

    def _bytes(self) -> int:
        return sum(len(b) for bodies in self._kept.values() for b in bodies if b is not None)


_BODIES = _BodyCache()


@dataclass(frozen=True)
class TrialSetup:
    """What a trial runs: ``server`` serving ``workload`` at ``n`` (and ``io_delay``), under
    ``load``, inside ``cap`` if given, with the memory guard on if ``memory_budget`` is set
    (bytes per server process).

    With ``app``, the server serves the user's app instead of servelab's service:
    ``workload`` is ``APP_WORKLOAD``, ``n`` the request's input size, and there is no
    guard (it is servelab's service's own)."""

    server: ServerSpec
    workload: str
    n: int
    load: Burst = Burst()
    io_delay: float = 1.0
    cap: CapSetup | None = None
    memory_budget: int | None = None
    app: AppRun | None = None

    def __post_init__(self) -> None:
        if self.app is not None and self.memory_budget is not None:
            raise ConfigError(
                "the memory guard is servelab's own service's; an app of your own cannot turn "
                "it on (leave out --memory-budget)"
            )

    def service(self) -> ServiceConfig:
        """The service's settings, passed to the server through its environment."""
        return ServiceConfig(
            workload=self.workload,
            n=self.n,
            max_n=max(self.n, ServiceConfig().max_n),
            io_delay=self.io_delay,
            memory_budget=self.memory_budget,
        )


@dataclass(frozen=True)
class TrialFiles:
    """Where a trial's files go: paths relative to ``folder``, as results store them.

    The server's log is ``<its folder>/<name>.log`` (``servers.launch`` names it so).
    """

    folder: Path
    records: str
    samples: str
    server_log: str
    seed_log: str | None = None

    @classmethod
    def for_run(cls, out: Path, name: str) -> TrialFiles:
        """A study's run: ``log/<name>.txt``, ``records/<name>.jsonl``, ``samples/...``."""
        return cls(
            out,
            records=f"records/{name}.jsonl",
            samples=f"samples/{name}.jsonl",
            server_log=f"server/{name}.log",
            seed_log=f"log/{name}.txt",
        )

    @classmethod
    def for_probe(cls, folder: Path, name: str) -> TrialFiles:
        """A probe of a search: ``<name>.records.jsonl``, ``.samples.jsonl``, ``.log``."""
        return cls(
            folder,
            records=f"{name}.records.jsonl",
            samples=f"{name}.samples.jsonl",
            server_log=f"{name}.log",
        )

    @property
    def name(self) -> str:
        """The server's name in the lab (its log's stem)."""
        return Path(self.server_log).stem

    def as_json(self) -> dict[str, str]:
        """The files by role, for ``RunEntry.files`` and ``Trial.files``."""
        roles = {
            "log": self.seed_log,
            "records": self.records,
            "server_log": self.server_log,
            "samples": self.samples,
        }
        return {role: path for role, path in roles.items() if path is not None}

    def path(self, relative: str) -> Path:
        return self.folder / relative


@dataclass(frozen=True)
class TrialResult:
    """What one trial measured.

    server_end: how the lab's stop found the server (``stopped_by_lab`` False: it had ended
    on its own). survived: it was still up when the burst ended. idle_bytes / peak_bytes:
    memory before the load and its peak during it, in the cap's units: the cgroup's charge;
    under RLIMIT_AS the address space of the tree's largest process; without a cap the
    tree's RSS (``cap.memory_source`` says which). cap: the cap it ran in, None without one.
    """

    setup: TrialSetup
    files: TrialFiles
    records: tuple[RequestRecord, ...]
    summary: LoadSummary
    verdict: Verdict
    usage: Usage
    server_end: ServerEnd
    survived: bool
    idle_bytes: int | None
    peak_bytes: int | None
    stopped_early: bool
    cap: Cap | None
    prices: Prices | None
    noise: Noise | None = None

    @property
    def failed(self) -> bool:
        return self.verdict.failed

    def as_trial(self, probe: int) -> Trial:
        """This result as a probe of a search (``probe`` 0: the calibration or the guarded
        probe)."""
        return Trial(
            probe=probe,
            name=self.files.name,
            n=self.setup.n,
            verdict=self.verdict,
            requests=self.summary.requests,
            ok_requests=self.summary.ok,
            idle_bytes=self.idle_bytes,
            peak_bytes=self.peak_bytes,
            makespan=self.summary.makespan,
            stopped_early=self.stopped_early,
            prices=self.prices,
            memory_budget=self.setup.memory_budget,
            files=self.files.as_json(),
            summary=self.summary,
            noise=self.noise,
        )


def run_trial(
    setup: TrialSetup,
    files: TrialFiles,
    on_record: Callable[[RequestRecord], None] | None = None,
) -> TrialResult:
    """Start a fresh server for ``setup`` (in a fresh cap if it has one), fire its burst,
    judge it, stop the server; ``on_record`` sees each request as it completes.

    Raises ``ServerError`` if the server does not start (``DoesNotFitIdle`` when the cap
    killed it while it started) and ``SandboxError`` if the cap cannot be made.
    """
    files.folder.mkdir(parents=True, exist_ok=True)
    for relative in (files.records, files.samples):
        files.path(relative).unlink(missing_ok=True)
    server_dir = files.path(files.server_log).parent
    target = setup.app.target if setup.app is not None else None
    if setup.app is None:
        env = setup.service().to_env()
        path, send = "/predict", _Requests()
    else:
        env = dict(setup.app.target.env)
        path = setup.app.request.path
        send = _Requests(
            method=setup.app.request.method,
            headers=dict(setup.app.request.headers),
            bodies=setup.app.bodies(setup.n),
        )
    with contextlib.ExitStack() as stack:
        cap = stack.enter_context(open_trial_cap(setup.cap, files.name))
        srv = stack.enter_context(
            start_server(setup.server, cap, server_dir, env, files.name, target)
        )
        idle: int | None = None
        source: str | None = None
        if cap is not None:
            # Memory in the cap's own units: a cgroup charges the whole tree's pages;
            # RLIMIT_AS holds each process's address space (VmSize) against the limit, so
            # without a cgroup the largest process's address space is what is measured.
            idle = cap.usage_bytes()
            source = "cgroup" if idle is not None else "vms"
            if idle is None:
                idle = _largest_vms(srv.process_pids())
            cap.reset_peak()
        oom_before = cap.oom_kills() if cap is not None else 0
        mark = srv.log_mark()
        cancel = threading.Event()
        stops = setup.cap is not None and setup.cap.stop_at_first_oom
        watch = _OomWatch(cap, srv, cancel) if cap is not None and stops else None
        with (
            Monitor(srv.pid, files.path(files.samples), usage=cap) as monitor,
            watch if watch is not None else contextlib.nullcontext(),
        ):
            records = run_burst(
                f"{srv.url}{path}",
                requests=setup.load.requests,
                concurrency=setup.load.concurrency,
                timeout=setup.load.timeout,
                records_path=files.path(files.records),
                on_record=on_record,
                cancel=cancel,
                method=send.method,
                headers=send.headers,
                bodies=send.bodies,
            )
        if cap is not None:
            time.sleep(_SETTLE)
        stopped_early = watch is not None and watch.stopped_early
        ended = srv.poll()
        # A server the lab stopped early was up when it was stopped: it did not end on its own.
        died = None if stopped_early or ended is None else ended.to_end()
        log_text = srv.log_since(mark)
        usage = monitor.summary
        # Over the monitor's span (its first sample before the burst to its last after it):
        # the monitor already sums the tree's CPU 20 times a second, so the machine's CPU is
        # read beside it rather than by a second walk of the tree.
        noise = monitor.noise
        peak = cap.peak_bytes() if cap is not None else None
        if source == "vms":
            # The kernel's own high-water mark (VmPeak) also catches a short request that
            # fell between two samples; the samples cover processes that died meanwhile.
            sampled = monitor.max_process_vms_bytes or 0
            peak = max(sampled, _largest_vm_peak(srv.process_pids()))
        if peak is None:
            peak = usage.max_rss_bytes
        oom_kills = cap.oom_kills() - oom_before if cap is not None else 0
        verdict = judge(records, oom_kills=oom_kills, server_end=died, log_text=log_text)
        end = srv.stop().to_end()
        cap_entry = cap.to_cap(source) if cap is not None else None
    if files.seed_log is not None:
        write_seed_log(records, files.path(files.seed_log))
    return TrialResult(
        setup=setup,
        files=files,
        records=tuple(records),
        summary=summarize(
            records,
            mode="burst",
            url=f"{srv.url}{path}",
            parameters={
                "requests": setup.load.requests,
                "concurrency": setup.load.concurrency,
                "timeout": setup.load.timeout,
            },
            # The lab's process: the burst, and the monitor sampling the server beside it.
            client_cpu_seconds=records.client_cpu_seconds,
        ),
        verdict=verdict,
        usage=usage,
        server_end=end,
        survived=ended is None,
        idle_bytes=idle,
        peak_bytes=peak,
        stopped_early=stopped_early,
        cap=cap_entry,
        prices=None if setup.app is not None else check_prices(records, setup.workload, setup.n),
        noise=noise,
    )


def expected_price(workload: str, area: float, n: int) -> int | None:
    """The price a correct server answers, or None when the lab cannot know it exactly.

    ``cpu`` and ``numpy`` both compute ``int(area * mean(0..n-1))``, and the mean comes out
    exactly ``(n - 1) / 2``: ``cpu`` sums Python ints exactly and divides with correct
    rounding; numpy sums in float64, exact while the total ``n(n-1)/2`` stays below 2**53
    (n up to about 134 million). Beyond that numpy's sum may round, so no price is claimed.
    ``model`` is a fitted model: None. (The rules are the workloads table's.)"""
    row = WORKLOADS[workload]
    if row.price_rule == "mean-of-n":
        if row.exact_total_below is None or n * (n - 1) // 2 < row.exact_total_below:
            return int(area * ((n - 1) / 2))
        return None
    if row.price_rule == "per-m2":
        # Imported here: the workloads module imports numpy, which every CLI command would
        # then pay for (and ``servelab load`` would run OpenBLAS's idle threads beside it).
        from ..service.workloads import IO_PRICE_PER_M2

        return int(area * IO_PRICE_PER_M2)
    return None


def check_prices(records: Iterable[RequestRecord], workload: str, n: int) -> Prices | None:
    """Among the 2xx responses, how many carried the correct price and how many did not."""
    correct = wrong = 0
    for record in records:
        if not record.ok:
            continue
        expected = expected_price(workload, record.area, n)
        if expected is None:
            return None
        try:
            price = json.loads(record.body or "")["price"]
        except (ValueError, TypeError, KeyError):
            price = None
        if price == expected:
            correct += 1
        else:
            wrong += 1
    return Prices(correct, wrong)


@contextlib.contextmanager
def open_trial_cap(setup: CapSetup | None, label: str) -> Iterator[MemoryCap | None]:
    if setup is None:
        yield None
        return
    with open_cap(setup.limit_bytes, mechanism=setup.mechanism, label=label) as cap:
        yield cap


@dataclass(frozen=True)
class _Requests:
    """What the burst sends: the seed's ``{"area": a}`` POSTs by default, an app's request
    otherwise (its method, headers and bodies in turn)."""

    method: str = "POST"
    headers: dict[str, str] | None = None
    bodies: list[bytes | None] | None = None


def start_server(
    server: ServerSpec,
    cap: MemoryCap | None,
    folder: Path,
    env: dict[str, str],
    name: str,
    app: AppTarget | None = None,
) -> RunningServer:
    """Launch (inside the cap); a server the cap kills while it boots is a cap too small."""
    prefix = cap.command_prefix() if cap is not None else ()
    try:
        return launch(server, run_dir=folder, env=env, name=name, command_prefix=prefix, app=app)
    except ServerStartError:
        if cap is not None and cap.oom_kills():
            raise DoesNotFitIdle(
                f"{server.describe()} does not even fit idle in {cap.describe()}: it was "
                f"OOM-killed while starting (log: {folder / (name + '.log')})"
            ) from None
        raise


class _OomWatch:
    """Watches the cap's OOM counter during a burst; on the first kill, cancels the burst
    and, once the server has logged the kill (or after LOG_GRACE), stops the server so the
    trial ends in seconds, not minutes."""

    def __init__(self, cap: MemoryCap, server: RunningServer, cancel: threading.Event) -> None:
        self.cap, self.server, self.cancel = cap, server, cancel
        self.baseline = cap.oom_kills()
        self.stopped_early = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="servelab-oom-watch", daemon=True)

    def __enter__(self) -> _OomWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._done.wait(_WATCH_INTERVAL):
            if self.cap.oom_kills() > self.baseline:
                break
        else:
            return
        self.cancel.set()
        if self._wait_for_the_log():
            return
        if self.server.poll() is None:
            self.stopped_early = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.server.pgid, signal.SIGKILL)

    def _wait_for_the_log(self) -> bool:
        """Wait until the server has logged what it saw of the kill (its log grew, then
        stayed quiet for ``LOG_QUIET``) or ``LOG_GRACE`` passed; True if the trial ended
        meanwhile (the burst finished, or the server ended on its own)."""
        began = time.monotonic()
        at_kill = size = self.server.log_mark()
        quiet_since = began
        while not self._done.wait(_WATCH_INTERVAL):
            now = time.monotonic()
            if self.server.poll() is not None:
                return True
            if (latest := self.server.log_mark()) != size:
                size, quiet_since = latest, now
            elif size != at_kill and now - quiet_since >= LOG_QUIET:
                return False
            if now - began >= LOG_GRACE:
                return False
        return True


def _largest_vm_peak(pids: list[int]) -> int:
    """The largest VmPeak (address-space high-water mark) among ``pids``; 0 if unreadable."""
    largest = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
                for line in status:
                    if line.startswith("VmPeak:"):
                        largest = max(largest, int(line.split()[1]) * 1024)  # kB means KiB
                        break
        except (OSError, ValueError, IndexError):
            continue
    return largest


def _largest_vms(pids: list[int]) -> int:
    largest = 0
    for pid in pids:
        try:
            largest = max(largest, psutil.Process(pid).memory_info().vms)
        except psutil.Error:
            continue
    return largest


__all__ = [
    "LOG_GRACE",
    "AppRun",
    "Burst",
    "CapSetup",
    "DoesNotFitIdle",
    "TrialFiles",
    "TrialResult",
    "TrialSetup",
    "check_prices",
    "expected_price",
    "run_trial",
]
