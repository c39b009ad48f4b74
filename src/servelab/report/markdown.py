"""``report.md``: every line decided here, in Python, from a typed ``Study``.

A failed search, an interrupted study or a study with no searches is a report with less in
it, never an error: each section asks the data whether it has what it needs and says what
is missing. The words come from ``Lang`` (``lang/en.py``, ``lang/ru.py``); the only files
read here besides the study are the runs' records (the first client errors) and whether
each run's log exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ..results import (
    BUSY_AVAILABLE_SHARE,
    BUSY_OTHER_CORES,
    BUSY_STEAL,
    App,
    BreakingPoint,
    RequestShape,
    RunEntry,
    SearchEntry,
    Server,
    Study,
    Trial,
)
from ..workloads import APP_WORKLOAD, function_name
from . import comments
from .i18n import Lang, Scalar
from .rows import SkippedLines, iter_records

# The seed's headings: the servers by their seminar names.
SERVER_HEADINGS: Final = {"flask-dev": "dev", "gunicorn": "prod"}
# What the report names in its machine line, in this order.
SHOWN_PACKAGES: Final = ("flask", "werkzeug", "gunicorn", "numpy")
ERRORS_SHOWN: Final = 3
# Beside a run's name in the runs table: it was taken on a busy machine.
BUSY_MARK: Final = "⚠"


def first_errors(results: Path, run: RunEntry, limit: int = ERRORS_SHOWN) -> list[str]:
    """The first distinct client-side error texts of a run, from its records."""
    relative = run.files.get("records")
    path = results / relative if relative else None
    if path is None or not path.is_file():
        return []
    seen: list[str] = []
    try:
        # Read lazily and stop early: a records file can be hundreds of megabytes.
        for record in iter_records(path):
            if record.error and record.error not in seen:
                seen.append(record.error)
            if len(seen) == limit:
                break
    except OSError:
        pass  # the run's timeline figure says why the file cannot be read
    return seen


@dataclass
class _Section:
    """The runs of one server, with the searches that belong to each and how it died."""

    server: Server
    runs: list[RunEntry] = field(default_factory=list)
    critical: dict[str, SearchEntry] = field(default_factory=dict)  # by run name
    failure: Trial | None = None


def _sections(study: Study) -> list[_Section]:
    """Runs grouped by server, in plan order; each search joins its server's runs."""
    sections: dict[tuple[str, int, str, int, float], _Section] = {}
    for run in study.runs:
        sections.setdefault(run.server.key, _Section(run.server)).runs.append(run)
    for search in study.critical:
        owner = sections.get(search.server.key)
        if owner is None:
            continue
        for run in owner.runs:
            if run.workload == search.workload:
                owner.critical[run.name] = search
        if owner.failure is None and search.error is None:
            owner.failure = search.first_failure
    return list(sections.values())


class _Writer:
    """Lines of one report in one language."""

    def __init__(
        self,
        study: Study,
        results: Path,
        lang: Lang,
        plots: Mapping[str, str],
        skipped: Mapping[str, str],
        damaged: Mapping[str, SkippedLines],
    ) -> None:
        self.study, self.results, self.L = study, results, lang
        self.plots, self.skipped, self.damaged = plots, skipped, damaged
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def t(self, key: str, **params: Scalar) -> str:
        return self.L.t(key, **params)

    @property
    def app_suffix(self) -> str:
        """``_app`` for an app's study: the words of its keys name the input size, not n."""
        return "_app" if self.study.plan.is_app else ""

    @property
    def n_name(self) -> str:
        """What the study's n is called: ``n`` for servelab's service, the input size's
        word for an app."""
        return self.t("n_name_app") if self.study.plan.is_app else "n"

    def function(self, workload: str) -> str:
        """What a run's requests ran: the seed's function, or the user's app."""
        app = self.study.plan.app
        if app is not None and workload == APP_WORKLOAD:
            return app.ref
        return function_name(workload)

    def code(self, workload: str) -> str:
        """A search's workload as its table shows it: the code (``cpu``), or the app."""
        app = self.study.plan.app
        return app.ref if app is not None and workload == APP_WORKLOAD else workload

    def image(self, key: str, alt: str) -> str:
        if key in self.plots:
            return f"![{alt}]({self.plots[key]})"
        if key in self.skipped:
            return self.t("missing_file", what=f"{alt} ({self.skipped[key]})")
        return ""

    # --- the parts, in page order ---

    def lead(self) -> str:
        study, plan, L = self.study, self.study.plan, self.L
        wall = (
            ""
            if study.wall_seconds is None
            else self.t("wall", seconds=L.seconds(study.wall_seconds))
        )
        return self.t(
            "lead" + self.app_suffix,
            runs=L.plural(len(plan.runs), "run"),
            searches=L.plural(len(plan.critical), "search" + self.app_suffix),
            done=len(study.runs) + len(study.critical),
            wall=wall,
        )

    def head(self) -> None:
        study, plan, L = self.study, self.study.plan, self.L
        if plan.app is not None:
            self.app_head(plan.app, plan.request)
            return
        self.add(f"# {self.t('title')}", "", self.lead(), "")
        self.add(
            f"### {self.t('introduction')}",
            self.t("introduction_text", concurrency=L.plural(plan.concurrency, "client")),
            "",
        )
        n = L.count(plan.n)
        self.add(f"### {self.t('method')}", self.t("method_functions"), "")
        self.add(
            f"- {self.t('f_io', io_delay=plan.io_delay)}",
            f"- {self.t('f_cpu', n=n)}",
            f"- {self.t('f_numpy', n=n)}",
            "",
            self.t(
                "method_load",
                requests=L.count(plan.requests),
                request_word=L.form(plan.requests, "request"),
                concurrency=L.plural(plan.concurrency, "parallel_client_of"),
            ),
        )
        if study.critical:
            first = study.critical[0]
            self.add(
                "",
                self.t(
                    "method_critical",
                    cap=L.size(first.limit_bytes),
                    cap_description=L.cap(first.cap),
                    repeats=L.plural(first.policy.repeats, "time"),
                ),
            )
            if first.policy.curve_trials:
                self.add("", self.t("method_curve", trials=first.policy.curve_trials))
            overlap = next((s.overlap for s in study.critical if s.overlap is not None), None)
            if overlap is not None:
                bursts = L.plural(len(overlap.trials), "burst")
                self.add("", self.t("method_overlap", bursts=bursts))
        if study.guard.memory_budget:
            self.add("", self.t("method_guard", budget=L.mib(study.guard.memory_budget)))
        self.machine()

    def app_head(self, app: App, request: RequestShape | None) -> None:
        """The head of an app's study: the app, its servers, its request, its search."""
        study, plan, L = self.study, self.study.plan, self.L
        self.add(f"# {self.t('title_app', app=f'`{app.ref}`')}", "", self.lead(), "")
        servers = list(dict.fromkeys(L.server(run.server) for run in plan.runs))
        self.add(
            f"### {self.t('method')}",
            self.t(
                "app_intro",
                ref=app.ref,
                interface=app.interface.upper(),
                app_dir=app.app_dir,
                python=app.python,
                servers="; ".join(servers) or L.na,
            ),
            "",
        )
        if request is not None:
            if request.body is not None:
                body = self.t("app_body_template", body=request.body)
            elif request.body_file is not None:
                body = self.t("app_body_file", file=request.body_file)
            elif request.payload is not None:
                body = self.t("app_body_hook", hook=request.payload)
            else:
                body = self.t("app_body_none")
            size = "" if request.size is None else self.t("app_size", size=L.count(request.size))
            headers = ", ".join(f"`{name}`" for name in request.header_names)
            self.add(
                self.t(
                    "app_request",
                    requests=L.count(plan.requests),
                    request_word=L.form(plan.requests, "request"),
                    concurrency=L.plural(plan.concurrency, "parallel_client_of"),
                    method=request.method,
                    path=request.path,
                    body=body,
                    size=size,
                    headers=headers or self.t("app_no_headers"),
                )
            )
        if study.critical:
            first = study.critical[0]
            self.add(
                "",
                self.t(
                    "app_critical",
                    cap=L.size(first.limit_bytes),
                    cap_description=L.cap(first.cap),
                    repeats=L.plural(first.policy.repeats, "time"),
                ),
            )
            if first.policy.curve_trials:
                self.add("", self.t("method_curve", trials=first.policy.curve_trials))
            overlap = next((s.overlap for s in study.critical if s.overlap is not None), None)
            if overlap is not None:
                bursts = L.plural(len(overlap.trials), "burst")
                self.add("", self.t("method_overlap", bursts=bursts))
        self.machine()

    def machine(self) -> None:
        self.add("", machine_line(self.study, self.L))
        self.noise_method()

    def noise_method(self) -> None:
        """What the machine's noise readings are and how the start found it; nothing for a
        study that has none (written before them), so its report reads as it did."""
        study, L = self.study, self.L
        measured = [run.noise for run in study.runs]
        measured += [t.noise for search in study.critical for t in _probes(search)]
        if study.noise_at_start is None and not any(noise is not None for noise in measured):
            return
        self.add(
            "",
            self.t(
                "method_noise",
                cores=L.cores(BUSY_OTHER_CORES),
                steal=L.percent(BUSY_STEAL),
                memory=L.percent(BUSY_AVAILABLE_SHARE),
                mark=BUSY_MARK,
            ),
        )
        start = study.noise_at_start
        if start is not None:
            key = "noise_start_busy" if start.busy else "noise_start_idle"
            self.add("", self.t(key, parts=L.noise(start)))

    def runs_table(self, sections: list[_Section]) -> None:
        L = self.L
        self.add("", f"### {self.t('results')}", self.image("overview", self.t("overview_alt")), "")
        self.add(self.t("table_runs" + self.app_suffix), "|---|---|---|---|---|---|---|---|---|")
        for section in sections:
            for run in section.runs:
                name = (
                    f"{run.name} {BUSY_MARK}"
                    if run.noise is not None and run.noise.busy
                    else run.name
                )
                cells = [name, L.server(run.server), f"`{self.function(run.workload)}`"]
                s = run.summary
                if run.done and s is not None:
                    h = s.handlers
                    cells += [
                        f"{s.ok}/{s.requests}",
                        L.seconds(s.makespan),
                        f"{L.seconds(s.latency.min)} / {L.seconds(s.latency.mean)} / "
                        f"{L.seconds(s.latency.max)}",
                        L.na if h is None else _said(L, h.max_concurrent),
                        L.na if h is None else _said(L, h.distinct_pids),
                        f"[{self.t('log_link')}]({run.files.get('log', '')})",
                    ]
                else:
                    cells += [self.t("failed"), "", "", "", "", ""]
                self.add("| " + " | ".join(cells) + " |")
        if any(run.noise is not None and run.noise.busy for run in self.study.runs):
            self.add("", self.t("noise_mark_note", mark=BUSY_MARK))
        done_runs = {run.name for run in self.study.runs}
        missing = [run.name for run in self.study.plan.runs if run.name not in done_runs]
        done_searches = {search.name for search in self.study.critical}
        missing += [
            self.t("missing_search", name=search.name)
            for search in self.study.plan.critical
            if search.name not in done_searches
        ]
        if missing:
            self.add("", self.t("missing", names=", ".join(missing)))

    def section(self, section: _Section) -> None:
        L = self.L
        heading = SERVER_HEADINGS.get(section.server.kind, section.server.kind)
        self.add("", f"#### {heading}: {L.server(section.server)}")
        failure = section.failure
        if failure is not None:
            self.add("", f"##### {self.t('logs_at_failure')}")
            self.add(
                self.t(
                    "client_saw",
                    n_name=self.n_name,
                    n=L.count(failure.n),
                    reason=L.reason(failure),
                ),
                "",
            )
            self.add(*(f"- `{error}`" for error in failure.verdict.client_errors))
            if failure.verdict.server_lines:
                self.add("", self.t("server_logged"), "```", *failure.verdict.server_lines, "```")
            else:
                self.add("", self.t("server_silent"))
        for run in section.runs:
            self.run(run, section.critical.get(run.name))

    def run(self, run: RunEntry, search: SearchEntry | None) -> None:
        L = self.L
        log = run.files.get("log", "")
        self.add("", f"##### [{self.function(run.workload)}]({log})")
        if not log or not (self.results / log).is_file():
            self.add(self.t("missing_file", what=log or self.t("log_file")), "")
        s = run.summary
        if run.done and s is not None:
            self.add(
                self.image(f"timeline/{run.name}", self.t("timeline_alt", name=run.name)),
                self.image(f"memory/{run.name}", self.t("memory_alt", name=run.name)),
                "",
                "- "
                + self.t(
                    "makespan_line",
                    makespan=L.seconds(s.makespan),
                    lmin=L.seconds(s.latency.min),
                    lmax=L.seconds(s.latency.max),
                    lmean=L.seconds(s.latency.mean),
                    server_log=run.files.get("server_log", ""),
                ),
            )
            cpu = comments.cpu_split(run, self.study.machine.cores, L)
            if cpu is not None:
                self.add(f"- {cpu}")
            if run.noise is not None and run.noise.busy:
                self.add(f"- {BUSY_MARK} {self.t('noise_busy_run', parts=L.noise(run.noise))}")
        if search is not None and search.error is None:
            line = self.t(
                "critical_line_app" if self.study.plan.is_app else "critical_line",
                cap=L.size(search.limit_bytes),
                passing=L.count(search.max_passing_n),
                failing=L.count(search.min_failing_n),
                predicted=L.count(search.predicted_n),
                folder=search.folder,
            )
            self.add(f"- {line}")
        self.add(f"- {self.t('comment')} {' '.join(comments.comment(run, self.study, L))}")
        errors = first_errors(self.results, run)
        if errors:
            self.add(f"- {self.t('errors_seen')}", *(f"    - `{error}`" for error in errors))

    def critical(self) -> None:
        searches, L = self.study.critical, self.L
        if not searches:
            return
        app = "_app" if self.study.plan.is_app else ""
        self.add("", f"### {self.t('critical' + app)}", "", self.t("table_critical" + app))
        self.add("|---|---|---|---|---|---|---|---|---|---|")
        for search in searches:
            workload = f"`{self.code(search.workload)}`"
            if search.error is not None:
                failed = f"{self.t('failed')}: {L.failure(search.error)}"
                self.add(f"| {search.name} | {workload} | {failed} | | | | | | | |")
                continue
            bpe = (
                L.na if search.bytes_per_element is None else L.decimal(search.bytes_per_element, 1)
            )
            cells = [
                L.server(search.server),
                workload,
                L.count(search.predicted_n),
                L.count(search.max_passing_n),
                L.count(search.min_failing_n),
                bpe,
                L.mib(search.idle_bytes),
                L.mib(search.peak_bytes),
                str(search.oom_kills),
                str(search.probes),
            ]
            self.add("| " + " | ".join(cells) + " |")
        self.add("", *(f"- {s}" for s in comments.critical_comparisons(searches, L)))
        self.curve_table(searches)
        self.overlap_table(searches)
        self.guard()
        for search in searches:
            if search.error is None:
                self.search(search)

    def curve_table(self, searches: Sequence[SearchEntry]) -> None:
        """The breaking points as probabilities: only for searches that stored a curve
        (studies made before it keep their report as it was)."""
        curved = [s for s in searches if s.error is None and s.breaking is not None]
        if not curved:
            return
        L = self.L
        self.add("", f"#### {self.t('curve_heading')}", "", self.t("curve_intro"), "")
        self.add(self.t("table_curve" + self.app_suffix), "|---|---|---|---|---|---|---|---|")
        for search in curved:
            curve = search.breaking
            assert curve is not None
            points = [curve.at(p) for p in (0.05, 0.5, 0.95)]
            cells = [
                L.server(search.server),
                f"`{self.code(search.workload)}`",
                self._end(search, search.max_passing_n),
                *(self._point(point) for point in points),
                self._end(search, search.min_failing_n),
                str(curve.trials),
            ]
            self.add("| " + " | ".join(cells) + " |")

    def overlap_table(self, searches: Sequence[SearchEntry]) -> None:
        """The threaded servers' predicted bands beside the measured 50% points: only for
        searches that calibrated their overlap."""
        fitted = [s for s in searches if s.error is None and s.overlap is not None]
        if not fitted:
            return
        L = self.L
        self.add("", self.t("overlap_intro"), "")
        self.add(self.t("table_overlap" + self.app_suffix), "|---|---|---|---|---|---|---|---|")
        for search in fitted:
            overlap = search.overlap
            assert overlap is not None
            predicted = [overlap.at(p) for p in (0.05, 0.5, 0.95)]
            measured = comments.prediction_error(search)
            cells = [
                L.server(search.server),
                f"`{self.code(search.workload)}`",
                L.count(overlap.worst_case_n),
                *(L.na if n is None else L.count(comments.nice(n)) for n in predicted),
                L.na if measured is None else L.count(comments.nice(measured[0])),
                L.na if measured is None else L.signed_percent(measured[1]),
            ]
            self.add("| " + " | ".join(cells) + " |")

    def _end(self, search: SearchEntry, n: int | None) -> str:
        """A confirmed end with the trials behind it: ``25,600,000 (3)``."""
        if n is None:
            return self.L.na
        trials = next((t.trials for t in search.per_n if t.n == n), 0)
        return self.t("curve_end", n=self.L.count(n), trials=trials)

    def _point(self, point: BreakingPoint | None) -> str:
        L = self.L
        if point is None:
            return L.na
        return self.t(
            "curve_point",
            n=L.count(comments.nice(point.n)),
            low=L.count(comments.nice(point.low)),
            high=L.count(comments.nice(point.high)) if point.high is not None else "∞",
        )

    def guard(self) -> None:
        L = self.L
        guarded = [s for s in self.study.critical if s.guarded or s.guard_error]
        if not guarded:
            return
        self.add("", f"#### {self.t('guard_heading')}", self.t("guard_intro"), "")
        self.add(self.t("table_guard"), "|---|---|---|---|---|---|---|---|---|---|")
        for search in guarded:
            comparison = search.guarded
            if comparison is None:
                continue
            sides = (
                (comparison.without_guard, self.t("guard_off")),
                (comparison.with_guard, self.t("guard_on", budget=L.mib(comparison.budget_bytes))),
            )
            for side, guard in sides:
                by_status = side.verdict.rejected_by_status
                cells = [
                    L.server(search.server),
                    f"`{search.workload}`",
                    L.count(comparison.n),
                    guard,
                    f"{side.ok_requests}/{side.requests}",
                    f"{by_status.get(413, 0)} / {by_status.get(503, 0)}",
                    str(side.failed_requests),
                    str(side.verdict.oom_kills),
                    comments.correct_prices(side, L),
                    L.outcome(side.outcome),
                ]
                self.add("| " + " | ".join(cells) + " |")
        for search in guarded:
            self.add("", f"{L.line_start(L.server(search.server))}, `{search.workload}`:")
            self.add(*(f"- {s}" for s in comments.guard_comparison(search, L)))

    def search(self, search: SearchEntry) -> None:
        L = self.L
        server = L.line_start(L.server(search.server))
        self.add("", f"#### {server}, `{self.code(search.workload)}`")
        self.add(
            self.image(
                f"critical/{search.name}",
                self.t("critical_alt" + self.app_suffix, name=search.name),
            ),
            "",
        )
        self.add(*(f"- {s}" for s in comments.critical_model(search, L)))
        probes = comments.probes_noise(_probes(search), L)
        if probes is not None:
            self.add(f"- {probes}")
        self.add("")
        for which, n, alt in (
            ("pass", search.max_passing_n, "memory_pass_alt"),
            ("fail", search.min_failing_n, "memory_fail_alt"),
        ):
            key = f"critical-memory/{search.name}/{which}"
            self.add(self.image(key, self.t(alt + self.app_suffix, name=search.name, n=L.count(n))))

    def damaged_lines(self) -> None:
        if not self.damaged:
            return
        self.add("", f"#### {self.t('damaged_heading')}", self.t("damaged_intro"), "")
        for file, skipped in sorted(self.damaged.items()):
            lines = self.L.plural(skipped.count, "line")
            self.add(
                f"- {self.t('damaged_file', file=file, lines=lines, numbers=skipped.numbers())}"
            )

    def text(self) -> str:
        self.head()
        sections = _sections(self.study)
        self.runs_table(sections)
        for section in sections:
            self.section(section)
        self.critical()
        self.damaged_lines()
        text = "\n".join(self.lines) + "\n"
        # An image that could not be drawn and was never planned leaves an empty line behind.
        while "\n\n\n" in text:
            text = text.replace("\n\n\n", "\n\n")
        return text


def machine_line(study: Study, L: Lang) -> str:
    """The machine and the versions that ran: an app's study stored those of the app's own
    environment, all shown; servelab's service shows the seed's few."""
    machine, versions = study.machine, study.machine.packages
    names = [n for n in versions if n != "servelab"] if study.plan.is_app else SHOWN_PACKAGES
    shown = [f"{name} {versions[name]}" for name in names if versions.get(name)]
    return L.t(
        "machine",
        cpu=machine.cpu or L.na,
        cores=L.na if machine.cores is None else machine.cores,
        memory=L.gib(machine.memory_bytes),
        python=machine.python or L.na,
        packages=(", " + ", ".join(shown)) if shown else "",
    )


def render_markdown(
    study: Study,
    results: Path,
    lang: str = "en",
    plots: Mapping[str, str] | None = None,
    skipped: Mapping[str, str] | None = None,
    damaged: Mapping[str, SkippedLines] | None = None,
) -> str:
    """The report of ``study`` in ``lang``; ``plots`` maps figure keys to files, ``skipped``
    to the reasons a figure could not be drawn, ``damaged`` files to their skipped lines.
    ``results`` is the folder (for the records and logs the report quotes or links)."""
    return _Writer(study, results, Lang(lang), plots or {}, skipped or {}, damaged or {}).text()


def _probes(search: SearchEntry) -> list[Trial]:
    """Every server a search started: its calibration, its probes and the guarded one."""
    guarded = search.guarded
    return [
        *([search.calibration] if search.calibration is not None else []),
        *search.trials,
        *([guarded.with_guard] if guarded is not None else []),
    ]


def _said(L: Lang, count: int | None) -> str:
    """A count the server's served-by headers gave, or unknown: never 0 for "not said"."""
    return L.t("unknown") if count is None else str(count)
