"""What a study runs: a list of (server, workload) cells and the load they all get.

The default plan is the seminar's six runs: {Flask dev server, gunicorn with one sync
worker} x {io, cpu, numpy}, 10 parallel requests each, with the seed's file names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..errors import ConfigError
from ..results import Plan, PlannedRun, PlannedSearch, RequestShape
from ..servers import ServerSpec
from ..service.config import DEFAULT_MAX_N, DEFAULT_N
from ..units import format_size
from ..workloads import APP_WORKLOAD, CRITICAL_WORKLOADS, SEED_WORKLOADS, run_stem, workload
from .critical import SearchPolicy
from .critical_run import APP_POLICY, CriticalSpec
from .trial import AppRun, Burst, TrialSetup

SEED_SERVERS = (ServerSpec(kind="flask-dev"), ServerSpec(kind="gunicorn", workers=1))
# The searches' load waits at least this long for a response (a probe near the boundary
# can be slow: swapping arrays in and out of a full cap).
MIN_SEARCH_TIMEOUT = Burst().timeout
DEFAULT_CRITICAL_MEMORY = 2**30  # the study's cap for the critical-n searches: 1 GiB
# The least memory one worker process of the service holds idle (Python, Flask and numpy
# imported): 28-42 MB measured under a cgroup here (the reference study's idle_bytes). A cap
# under this per worker cannot hold the server even idle: the plan refuses it up front
# instead of failing every search after every run has finished.
MIN_IDLE_PER_WORKER = 24 * 2**20
# The largest input size an app's request may be given: a body is built for it in memory.
MAX_SIZE = 10**12


def check_cap_fits(server: ServerSpec, limit_bytes: int) -> None:
    """A ConfigError when a cap of ``limit_bytes`` cannot hold ``server`` even idle."""
    need = MIN_IDLE_PER_WORKER * server.worker_processes
    if limit_bytes < need:
        raise ConfigError(
            f"--memory {format_size(limit_bytes)} cannot hold {server.describe()} even idle: "
            f"it needs at least {format_size(need)} ({format_size(MIN_IDLE_PER_WORKER)} per "
            "worker process)"
        )


@dataclass(frozen=True)
class RunSpec:
    """One cell of a study: a fresh server of ``server`` kind serving ``workload``."""

    server: ServerSpec
    workload: str

    @property
    def name(self) -> str:
        """The seed's file stem, e.g. ``io_bounded_dev`` or ``cpu_bounded_prod_w1``; an app's
        runs are ``app_<server>`` (``app_prod_w1``)."""
        return f"{run_stem(self.workload)}_{self.server.label}"


@dataclass(frozen=True)
class StudyPlan:
    """The cells to run and the load every cell gets."""

    runs: tuple[RunSpec, ...]
    critical: tuple[CriticalSpec, ...] = ()
    requests: int = 10
    concurrency: int = 10
    n: int = DEFAULT_N
    io_delay: float = 1.0
    timeout: float = 120.0
    app: AppRun | None = None

    def __post_init__(self) -> None:
        if not self.runs and not self.critical:
            raise ConfigError("a study needs at least one run or critical-n search")
        names = [run.name for run in self.runs]
        if len(set(names)) != len(names):
            raise ConfigError(f"two runs of the plan share a name: {names}")
        Burst(self.requests, self.concurrency, self.timeout)  # checks all three
        if self.app is not None:
            if not 1 <= self.n <= MAX_SIZE:
                raise ConfigError(f"--size must be between 1 and {MAX_SIZE}, not {self.n}")
            for run in self.runs:  # every server can serve the app, with what it needs
                self.app.target.check_server(run.server)
            return
        if not 1 <= self.n <= DEFAULT_MAX_N:
            raise ConfigError(f"--n must be between 1 and {DEFAULT_MAX_N}, not {self.n}")
        if not (math.isfinite(self.io_delay) and self.io_delay >= 0):
            raise ConfigError(f"--io-delay must be >= 0 seconds, not {self.io_delay}")
        for spec in self.critical:  # before the first server starts, not after every run
            check_cap_fits(spec.server, spec.limit_bytes)

    @property
    def load(self) -> Burst:
        """The burst every run gets."""
        return Burst(self.requests, self.concurrency, self.timeout)

    def setup(self, run: RunSpec, memory_budget: int | None = None) -> TrialSetup:
        """The trial of ``run``: no cap, the plan's load, n and io delay."""
        return TrialSetup(
            run.server,
            run.workload,
            self.n,
            load=self.load,
            io_delay=self.io_delay,
            memory_budget=memory_budget,
            app=self.app,
        )

    def to_plan(self) -> Plan:
        """The plan as ``study.json`` keeps it."""
        return Plan(
            runs=tuple(
                PlannedRun(run.name, run.server.to_server(), run.workload) for run in self.runs
            ),
            critical=tuple(
                PlannedSearch(spec.name, spec.server.to_server(), spec.workload, spec.limit_bytes)
                for spec in self.critical
            ),
            requests=self.requests,
            concurrency=self.concurrency,
            n=self.n,
            io_delay=self.io_delay,
            timeout=self.timeout,
            app=None if self.app is None else self.app.target.to_app(),
            request=None if self.app is None else request_shape(self.app, self.n),
        )


def request_shape(app: AppRun, size: int) -> RequestShape:
    """What ``study.json`` keeps of an app's request: no header values (they may be secrets)."""
    request = app.request
    return RequestShape(
        method=request.method,
        path=request.path,
        header_names=tuple(request.headers),
        body=request.body,
        body_file=None if request.body_file is None else str(request.body_file),
        payload=request.payload,
        size=size if request.uses_size() else None,
    )


def app_plan(
    app: AppRun,
    servers: tuple[ServerSpec, ...],
    critical_memory: int | None = None,
    repeats: int = 3,
    *,
    requests: int = 10,
    concurrency: int = 10,
    size: int = 1,
    timeout: float = 120.0,
    critical_servers: tuple[ServerSpec, ...] | None = None,
) -> StudyPlan:
    """The user's app on every server, one burst each at ``size``; and, unless
    ``critical_memory`` is None, a critical-size search per server of ``critical_servers``
    (default: every server) under that cap (the request must then have a size to grow: a
    ``{size}`` in its body or a payload hook). Every value is checked here, before anything
    starts."""
    if critical_memory is not None and not app.request.uses_size():
        raise ConfigError(
            "a critical-size search grows the request's input size, and this request has none:"
            " put {size} in --body, give a --payload hook, or leave out --memory"
        )
    runs = tuple(RunSpec(server, APP_WORKLOAD) for server in servers)
    critical: tuple[CriticalSpec, ...] = ()
    if critical_memory is not None:
        probe_load = Burst(requests, concurrency, max(timeout, MIN_SEARCH_TIMEOUT))
        policy = replace(APP_POLICY, repeats=repeats)
        critical = tuple(
            CriticalSpec(
                server, APP_WORKLOAD, critical_memory, probe_load, policy, app=app, start_n=size
            )
            for server in _searched(servers, critical_servers)
        )
    return StudyPlan(
        runs=runs,
        critical=critical,
        requests=requests,
        concurrency=concurrency,
        n=size,
        io_delay=0.0,
        timeout=timeout,
        app=app,
    )


def _searched(
    servers: tuple[ServerSpec, ...], critical_servers: tuple[ServerSpec, ...] | None
) -> tuple[ServerSpec, ...]:
    """The servers a critical search runs on: ``critical_servers``, each one of ``servers``
    (a search belongs beside its server's burst in the report); all of them by default."""
    if critical_servers is None:
        return servers
    keys = {server.to_server().key for server in servers}
    for server in critical_servers:
        if server.to_server().key not in keys:
            raise ConfigError(
                f"--critical-servers: {server.describe()} is not one of --servers"
                f" ({', '.join(s.describe() for s in servers)})"
            )
    return critical_servers


def seed_plan(
    servers: tuple[ServerSpec, ...] = SEED_SERVERS,
    workloads: tuple[str, ...] = SEED_WORKLOADS,
    critical_memory: int | None = DEFAULT_CRITICAL_MEMORY,
    repeats: int = 3,
    *,
    requests: int = 10,
    concurrency: int = 10,
    n: int = DEFAULT_N,
    io_delay: float = 1.0,
    timeout: float = 120.0,
    critical_servers: tuple[ServerSpec, ...] | None = None,
) -> StudyPlan:
    """Every server x every workload, servers outermost as in the seed's report; and, unless
    ``critical_memory`` is None, a critical-n search per server of ``critical_servers``
    (default: every server) x {cpu, numpy} under that cap with the same load. Every value is
    checked here, before anything starts."""
    for code in workloads:
        workload(code)
    runs = tuple(RunSpec(server, code) for server in servers for code in workloads)
    critical: tuple[CriticalSpec, ...] = ()
    if critical_memory is not None:
        probe_load = Burst(requests, concurrency, max(timeout, MIN_SEARCH_TIMEOUT))
        policy = SearchPolicy(repeats=repeats)
        critical = tuple(
            CriticalSpec(server, code, critical_memory, probe_load, policy)
            for server in _searched(servers, critical_servers)
            for code in CRITICAL_WORKLOADS
        )
    return StudyPlan(
        runs=runs,
        critical=critical,
        requests=requests,
        concurrency=concurrency,
        n=n,
        io_delay=io_delay,
        timeout=timeout,
    )
