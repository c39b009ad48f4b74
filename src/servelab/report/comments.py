"""Sentences about runs and searches, each derived from their measurements and only from them.

Every function takes the typed results (``servelab.results``) and returns finished sentences
in the report's language (``Lang``); when the data a statement needs is missing, the
statement is left out rather than guessed.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence

from ..load.summary import HandlerStats, LoadSummary
from ..results import GuardComparison, Overlap, RunEntry, SearchEntry, Study, Trial
from ..workloads import APP_WORKLOAD
from .i18n import Lang

# Below this share of one core the server was waiting, not computing.
IDLE_CORES = 0.1
# CPU times tick in 10 ms steps: over a shorter run an average of cores means little.
MIN_SPAN_FOR_CPU = 0.5
# "About equal" for the statements below: within 15%.
CLOSE = 0.15
PREDICTION_CLOSE = 0.10  # the bar for "the model agrees with the measurement"


def _cpu_seconds(run: RunEntry) -> float | None:
    return run.usage.cpu_seconds if run.usage is not None else None


def outcome(summary: LoadSummary, lang: Lang) -> str:
    if summary.ok == summary.requests:
        return lang.t("all_ok", requests=lang.plural(summary.requests, "request"))
    classes = ", ".join(
        f"{count} {name}" for name, count in sorted(summary.errors_by_class.items())
    )
    return lang.t(
        "some_failed",
        ok=summary.ok,
        requests=lang.plural(summary.requests, "request_of"),
        classes=classes,
    )


def concurrency(summary: LoadSummary, lang: Lang) -> str | None:
    h, makespan = summary.handlers, summary.makespan
    if h is not None and not h.known and summary.by_status:
        # Responses came, none said who served: a server the lab did not wrap.
        return lang.t("who_unknown")
    if h is None or not h.served or makespan is None:
        return None
    at_once, workers, pids = h.max_concurrent, h.distinct_workers, h.distinct_pids
    if at_once is None or workers is None or pids is None:
        return None  # served is known, so these are too; this says so to the type checker
    if at_once == 1 and h.served > 1:
        text = lang.t(
            "serial",
            fastest=lang.seconds(summary.latency.min),
            slowest=lang.seconds(summary.latency.max),
        )
        if h.handler_sum and abs(makespan / h.handler_sum - 1) <= CLOSE:
            text += lang.t(
                "serial_sum",
                makespan=lang.seconds(makespan),
                handler_sum=lang.seconds(h.handler_sum),
            )
        return text
    text = lang.t(
        "overlap",
        at_once=lang.plural(at_once, "handler_up_to"),
        threads=lang.plural(workers, "thread"),
        processes=lang.plural(pids, "process"),
    )
    if h.handler_mean and abs(makespan / h.handler_mean - 1) <= CLOSE:
        text += lang.t(
            "overlap_one",
            makespan=lang.seconds(makespan),
            handler_mean=lang.seconds(h.handler_mean),
        )
    return text


def cpu_use(run: RunEntry, summary: LoadSummary, cores: int | None, lang: Lang) -> str | None:
    cpu, makespan = _cpu_seconds(run), summary.makespan
    if cpu is None or not makespan or makespan < MIN_SPAN_FOR_CPU:
        return None
    busy = cpu / makespan
    if busy < IDLE_CORES:
        return lang.t("cpu_idle", cpu=lang.seconds(cpu), makespan=lang.seconds(makespan))
    text = lang.t(
        "cpu_busy",
        cpu=lang.seconds(cpu),
        makespan=lang.seconds(makespan),
        cores=lang.quantity(busy, 2, "core"),
        machine_cores=cores or lang.na,
    )
    at_once = (summary.handlers.max_concurrent if summary.handlers else None) or 0
    if at_once > 1 and abs(busy - 1) <= CLOSE and (cores or 1) > 1:
        key = "cpu_turns_gil" if run.workload == "cpu" else "cpu_turns"
        text += lang.t(key, at_once=lang.plural(at_once, "handler"))
    return text


def cpu_split(run: RunEntry, cores: int | None, lang: Lang) -> str | None:
    """The server's and the load client's CPU over the burst, per request and as a share of
    the machine: they share it, so what the client took the server did not get. The
    client's is the lab's process (the burst and the monitor sampling the server). Left out
    when either was not recorded (studies written before the client's CPU was); the shares
    too over a run shorter than ``MIN_SPAN_FOR_CPU`` or on a machine of unknown size."""
    summary = run.summary
    server, client = _cpu_seconds(run), None if summary is None else summary.client_cpu_seconds
    if summary is None or server is None or client is None or not summary.sent:
        return None
    ms = {
        "server_ms": lang.milliseconds(server / summary.sent),
        "client_ms": lang.milliseconds(client / summary.sent),
    }
    makespan = summary.makespan
    if not cores or not makespan or makespan < MIN_SPAN_FOR_CPU:
        return lang.t("cpu_split_short", **ms)
    return lang.t(
        "cpu_split",
        server_share=lang.share(server / makespan / cores),
        client_share=lang.share(client / makespan / cores),
        **ms,
    )


def _slower_each(run: RunEntry, mine: HandlerStats, theirs: HandlerStats, lang: Lang) -> str | None:
    """A pure-Python handler that ran alongside others against one that ran alone."""
    if not (
        run.workload == "cpu"
        and (mine.max_concurrent or 0) > 1
        and theirs.max_concurrent == 1
        and mine.handler_mean
        and theirs.handler_mean
        and mine.handler_mean / theirs.handler_mean >= 1 + CLOSE
    ):
        return None
    return lang.t(
        "slower_each",
        mine=lang.seconds(mine.handler_mean),
        theirs=lang.seconds(theirs.handler_mean),
        ratio=lang.ratio(mine.handler_mean / theirs.handler_mean),
    )


def versus(run: RunEntry, others: Sequence[RunEntry], lang: Lang) -> list[str]:
    """Compare with the same workload on the other servers of the study."""
    sentences: list[str] = []
    s = run.summary
    if s is None or not s.makespan:
        return sentences
    for other in others:
        o = other.summary
        if o is None or not o.makespan:
            continue
        ratio = o.makespan / s.makespan
        how = (
            lang.t("longer", ratio=lang.ratio(ratio))
            if ratio >= 1
            else lang.t("shorter", ratio=lang.ratio(1 / ratio))
        )
        sentences.append(
            lang.t(
                "versus",
                other=lang.server(other.server),
                workload=run.workload,
                their=lang.seconds(o.makespan),
                mine=lang.seconds(s.makespan),
                how=how,
            )
        )
        if s.handlers is not None and o.handlers is not None:
            slower = _slower_each(run, s.handlers, o.handlers, lang)
            if slower:
                sentences.append(slower)
        mine, theirs = _cpu_seconds(run), _cpu_seconds(other)
        if mine and theirs and min(s.makespan, o.makespan) >= MIN_SPAN_FOR_CPU:
            sentences.append(
                lang.t(
                    "cpu_cost",
                    requests=lang.plural(s.requests, "prediction"),
                    mine=lang.seconds(mine),
                    theirs=lang.seconds(theirs),
                )
            )
    return sentences


def comment(run: RunEntry, study: Study, lang: Lang) -> list[str]:
    """Every sentence the report says about one run."""
    if not run.done or run.summary is None:
        error = lang.failure(run.error) if run.error is not None else lang.na
        return [lang.t("unfinished", error=error)]
    others = [
        other
        for other in study.runs
        if other is not run and other.done and other.workload == run.workload
    ]
    parts = [
        outcome(run.summary, lang),
        concurrency(run.summary, lang),
        cpu_use(run, run.summary, study.machine.cores, lang),
        *versus(run, others, lang),
    ]
    if run.guard is not None:
        parts.append(
            lang.t(
                "run_guard",
                budget=lang.mib(run.guard.memory_budget),
                too_big=run.guard.rejected_413,
                busy=run.guard.rejected_503,
            )
        )
    if run.server_survived is False:
        fate = lang.server_end(run.server_end) if run.server_end is not None else lang.na
        parts.append(lang.t("died", fate=fate))
    return [part for part in parts if part]


# --- critical n -----------------------------------------------------------------------


def effective_at_once(search: SearchEntry) -> float | None:
    """How many requests' worth of elements were in memory at the peak of the largest
    passing n: (peak - idle) / (bytes per element x n)."""
    n, peak = search.max_passing_n, search.peak_bytes
    if not n or peak is None or not search.bytes_per_element or search.idle_bytes is None:
        return None
    return float((peak - search.idle_bytes) / (search.bytes_per_element * n))


def critical_model(search: SearchEntry, lang: Lang) -> list[str]:
    """How the measured boundary compares with the model's prediction, and why."""
    if search.error is not None:
        return [lang.t("search_failed", error=lang.failure(search.error))]
    passing, failing = search.max_passing_n, search.min_failing_n
    predicted = search.predicted_n
    if predicted is None or search.bytes_per_element is None:
        return [lang.t("unconfirmed", reason=lang.stop(search.stop))]
    app = search.workload == APP_WORKLOAD
    model = {
        "cap": lang.size(search.limit_bytes),
        "idle": lang.mib(search.idle_bytes),
        "bpe": lang.quantity(search.bytes_per_element, 1, "byte"),
    }
    in_memory = lang.plural(search.in_memory_at_once, "request")
    fixed = lang.mib(search.fixed_bytes or 0)
    if app:
        points = lang.plural(len(search.calibration_points), "calibration_request")
        sentences = [
            lang.t(
                "model_app",
                points=points,
                fixed=fixed,
                predicted=lang.count(predicted),
                at_once=in_memory,
                **model,
            )
        ]
    elif search.overlap is not None:
        worst = lang.count(search.overlap.worst_case_n)
        sentences = [lang.t("model_worst", predicted=worst, at_once=in_memory, **model)]
        sentences.append(overlap_sentence(search, search.overlap, lang))
    else:
        sentences = [lang.t("model", predicted=lang.count(predicted), at_once=in_memory, **model)]
    if passing is None or failing is None:
        sentences.append(lang.t("unconfirmed", reason=lang.stop(search.stop)))
        return sentences
    middle = (passing * failing) ** 0.5
    error = middle / predicted - 1
    ends = {"passing": lang.count(passing), "failing": lang.count(failing)}
    measured = prediction_error(search)
    if measured is not None:
        n50, error = measured
        sentences.append(
            lang.t(
                "overlap_error",
                n50=lang.count(nice(n50)),
                predicted=lang.count(nice(predicted)),
                error=lang.signed_percent(error),
            )
        )
    elif abs(error) <= PREDICTION_CLOSE:
        sentences.append(lang.t("agrees", error=lang.percent(abs(error)), **ends))
    else:
        sentences.append(lang.t("off", ratio=lang.decimal(middle / predicted, 2), **ends))
        held = effective_at_once(search)
        at_once = search.in_memory_at_once
        if held is not None and at_once is not None and held < at_once:
            sentences.append(
                lang.t(
                    "held",
                    passing=lang.count(passing),
                    peak=lang.mib(search.peak_bytes),
                    held=lang.ratio(held),
                    at_once=at_once,
                )
            )
    seen, at_once = search.measured_at_once, search.in_memory_at_once
    if seen is not None and at_once is not None and seen != at_once:
        sentences.append(
            lang.t("seen_at_once", seen=lang.plural(seen, "handler_up_to"), at_once=at_once)
        )
    sentences += curve_sentences(search, lang)
    band = search.band()
    if band:
        rates = ", ".join(
            lang.t("band_rate", n=lang.count(e.n), failures=e.failures, trials=e.trials)
            for e in band
        )
        sentences.append(lang.t("band", rates=rates))
    if app:
        sentences.append(
            lang.t(
                "app_guard",
                size=lang.count(predicted),
                fixed=fixed,
                at_once=search.in_memory_at_once,
                **model,
            )
        )
    return sentences


def overlap_sentence(search: SearchEntry, overlap: Overlap, lang: Lang) -> str:
    """What the overlap bursts held and the band they predict; or that they gave no fit."""
    bursts = lang.plural(len(overlap.trials), "burst")
    held = sorted(
        t.peak_bytes - t.idle_bytes
        for t in overlap.trials
        if t.peak_bytes is not None and t.idle_bytes is not None
    )
    if overlap.deficit is None or overlap.at(0.5) is None or not held:
        return lang.t("overlap_none", bursts=bursts)
    n = overlap.trials[0].n
    median = statistics.median(held)
    predicted = {
        key: lang.count(nice(value)) if (value := overlap.at(p)) is not None else lang.na
        for key, p in (("n5", 0.05), ("n50", 0.5), ("n95", 0.95))
    }
    return lang.t(
        "overlap_fit",
        bursts=bursts,
        n=lang.count(n),
        held=lang.mib(median),
        arrays=lang.ratio(median / (search.bytes_per_element or 1.0) / n),
        spread=lang.percent(overlap.spread or 0.0),
        deficit=lang.mib(overlap.deficit),
        concurrency=search.concurrency,
        **predicted,
    )


def prediction_error(search: SearchEntry) -> tuple[int, float] | None:
    """The measured 50% point and the overlap prediction's relative error against it; None
    without both (a sync worker's search, or a curve the trials could not fit)."""
    if search.overlap is None or search.breaking is None:
        return None
    predicted, middle = search.overlap.at(0.5), search.breaking.at(0.5)
    if predicted is None or middle is None:
        return None
    return middle.n, predicted / middle.n - 1


def nice(n: int) -> int:
    """``n`` to 3 significant digits: a fitted point is not known to the last element."""
    if n < 1000:
        return n
    unit = 10 ** (len(str(n)) - 3)
    return int(round(n / unit) * unit)


def curve_sentences(search: SearchEntry, lang: Lang) -> list[str]:
    """The breaking point as a probability, and the trials behind the confirmed ends; none
    for a search made before curves were stored."""
    curve = search.breaking
    if curve is None:
        return []
    passing, failing = search.max_passing_n, search.min_failing_n
    sentences = []
    if passing is not None and failing is not None:
        trials = {t.n: t.trials for t in search.per_n}
        sentences.append(
            lang.t(
                "ends_trials",
                passing=lang.count(passing),
                pass_trials=lang.plural(trials.get(passing, 0), "trial"),
                failing=lang.count(failing),
                fail_trials=lang.plural(trials.get(failing, 0), "trial"),
            )
        )
    p5, p50, p95 = curve.at(0.05), curve.at(0.5), curve.at(0.95)
    if p5 is not None and p50 is not None and p95 is not None:
        high = lang.count(nice(p50.high)) if p50.high is not None else "∞"
        sentences.append(
            lang.t(
                "curve_line",
                count=curve.trials,
                n50=lang.count(nice(p50.n)),
                low50=lang.count(nice(p50.low)),
                high50=high,
                n5=lang.count(nice(p5.n)),
                n95=lang.count(nice(p95.n)),
            )
        )
    if curve.separated:
        sentences.append(lang.t("curve_sharp"))
    return sentences


def middle_n(search: SearchEntry) -> float | None:
    """The geometric middle of the measured bracket."""
    passing, failing = search.max_passing_n, search.min_failing_n
    if not passing or not failing:
        return None
    return float((passing * failing) ** 0.5)


def critical_comparisons(searches: Sequence[SearchEntry], lang: Lang) -> list[str]:
    """numpy vs cpu on each server, and each server vs the others on each workload."""
    done = [s for s in searches if s.error is None and middle_n(s) and s.bytes_per_element]
    sentences = []
    for search in done:
        if search.workload != "numpy":
            continue
        cpu = next(
            (s for s in done if s.workload == "cpu" and s.server.key == search.server.key), None
        )
        if cpu is None or not search.bytes_per_element or not cpu.bytes_per_element:
            continue
        sentences.append(
            lang.t(
                "numpy_vs_cpu",
                server=lang.server(search.server),
                ratio=lang.ratio((middle_n(search) or 0) / (middle_n(cpu) or 1)),
                numpy=lang.quantity(search.bytes_per_element, 1, "byte"),
                cpu=lang.decimal(cpu.bytes_per_element, 1),
                bpe_ratio=lang.ratio(cpu.bytes_per_element / search.bytes_per_element),
            )
        )
    for workload in ("cpu", "numpy"):
        group = [s for s in done if s.workload == workload]
        for a, b in itertools.pairwise(group):
            low, high = sorted((a, b), key=lambda s: middle_n(s) or 0)
            held = effective_at_once(low)
            sentences.append(
                lang.t(
                    "server_vs_server",
                    workload=workload,
                    high=lang.server(high.server),
                    low=lang.server(low.server),
                    ratio=lang.ratio((middle_n(high) or 0) / (middle_n(low) or 1)),
                    high_at_once=lang.plural(high.in_memory_at_once, "request"),
                    low_at_once=low.in_memory_at_once,
                    held="" if held is None else lang.t("held_note", held=lang.ratio(held)),
                )
            )
    return sentences


# --- the memory guard -----------------------------------------------------------------


def refused(side: Trial) -> str:
    """``7 (413: 0, 503: 7)``: requests the server refused on purpose, by status."""
    by_status = side.verdict.rejected_by_status
    return f"{side.rejected} (413: {by_status.get(413, 0)}, 503: {by_status.get(503, 0)})"


def correct_prices(side: Trial, lang: Lang) -> str:
    """``3/3``: correct prices among the requests served; n/a when none could be checked."""
    if side.prices is None:
        return lang.na
    return f"{side.prices.correct}/{side.prices.correct + side.prices.wrong}"


def _budget(guarded: GuardComparison, lang: Lang) -> str:
    n, budget = lang.count(guarded.n), lang.mib(guarded.budget_bytes)
    if guarded.budget_source == "derived":
        return lang.t(
            "guard_budget_derived",
            n=n,
            cap=lang.size(guarded.limit_bytes),
            idle=lang.mib(guarded.idle_bytes),
            processes=guarded.worker_processes,
            budget=budget,
        )
    return lang.t("guard_budget_option", n=n, budget=budget)


def guard_comparison(search: SearchEntry, lang: Lang) -> list[str]:
    """What the memory guard changed at the search's smallest failing n."""
    if search.guard_error is not None:
        return [lang.t("guard_failed", error=lang.failure(search.guard_error))]
    guarded = search.guarded
    if guarded is None:
        return []
    off, on = guarded.without_guard, guarded.with_guard
    budget, need = guarded.budget_bytes, guarded.estimate_bytes_per_request
    sentences = [_budget(guarded, lang)]
    bpe = lang.quantity(guarded.estimate_bytes_per_element, 0, "byte")
    workload, per_request = search.workload, lang.mib(need)
    if need > budget:
        sentences.append(
            lang.t("guard_estimate_too_big", bpe=bpe, workload=workload, need=per_request)
        )
    elif need:
        sentences.append(
            lang.t(
                "guard_estimate",
                fits=lang.plural(budget // need, "request"),
                bpe=bpe,
                workload=workload,
                need=per_request,
            )
        )
    kills = on.verdict.oom_kills
    if kills:
        sentences.append(lang.t("guard_killed", kills=lang.plural(kills, "process")))
    elif not on.verdict.server_died:
        sentences.append(
            lang.t(
                "guard_survived",
                served=on.ok_requests,
                requests=lang.plural(on.requests, "request_of"),
                correct=lang.na if on.prices is None else on.prices.correct,
                refused=refused(on),
            )
        )
    if on.failed_requests and not kills:
        sentences.append(
            lang.t(
                "guard_other_failures",
                failed=lang.plural(on.failed_requests, "request"),
                reason=lang.reason(on),
            )
        )
    sentences.append(
        lang.t("guard_without", reason=lang.reason(off), served=f"{off.ok_requests}/{off.requests}")
    )
    return sentences


def probes_noise(probes: Sequence[Trial], lang: Lang) -> str | None:
    """How many of a search's probes ran on a busy machine, and how busy; None when its
    probes have no noise readings (a folder written before them)."""
    measured = [p.noise for p in probes if p.noise is not None]
    if not measured:
        return None
    busy = [noise for noise in measured if noise.busy]
    if not busy:
        return lang.t(
            "noise_probes_quiet",
            probes=len(measured),
            max=lang.cores(max(noise.other_cores for noise in measured)),
        )
    # The busiest names the cause: other processes' CPU, steal, or the memory available.
    busiest = max(busy, key=lambda noise: (noise.other_cores, noise.steal))
    return lang.t(
        "noise_probes_busy", busy=len(busy), probes=len(measured), parts=lang.noise(busiest)
    )
