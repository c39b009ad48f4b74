"""Sentences about runs and searches, each derived from their measurements and only from them.

Every function returns finished sentences in the report's language (``Lang``); when the
data a statement needs is missing, the statement is left out rather than guessed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from .i18n import Lang

# Below this share of one core the server was waiting, not computing.
IDLE_CORES = 0.1
# CPU times tick in 10 ms steps: over a shorter run an average of cores means little.
MIN_SPAN_FOR_CPU = 0.5
# "About equal" for the statements below: within 15%.
CLOSE = 0.15
PREDICTION_CLOSE = 0.10  # the bar for "the model agrees with the measurement"


def _processes(lang: Lang, count: int) -> str:
    return lang.plural(count, ("process", "processes"), ("процесс", "процесса", "процессов"))


def _threads(lang: Lang, count: int) -> str:
    return lang.plural(count, ("thread", "threads"), ("поток", "потока", "потоков"))


def outcome(run: dict[str, Any], lang: Lang) -> str:
    s = run["summary"]
    if s["ok"] == s["requests"]:
        return lang.t("all_ok", requests=s["requests"])
    classes = ", ".join(f"{count} {name}" for name, count in sorted(s["errors_by_class"].items()))
    return lang.t("some_failed", ok=s["ok"], requests=s["requests"], classes=classes)


def concurrency(run: dict[str, Any], lang: Lang) -> str | None:
    s = run["summary"]
    if not s["served"]:
        return None
    if s["max_concurrent"] == 1 and s["served"] > 1:
        text = lang.t(
            "serial", fastest=lang.seconds(s["latency_min"]), slowest=lang.seconds(s["latency_max"])
        )
        if s["handler_sum"] and abs(s["makespan"] / s["handler_sum"] - 1) <= CLOSE:
            text += lang.t(
                "serial_sum",
                makespan=lang.seconds(s["makespan"]),
                handler_sum=lang.seconds(s["handler_sum"]),
            )
        return text
    text = lang.t(
        "overlap",
        at_once=s["max_concurrent"],
        threads=_threads(lang, s["distinct_workers"]),
        processes=_processes(lang, s["distinct_pids"]),
    )
    if s["handler_mean"] and abs(s["makespan"] / s["handler_mean"] - 1) <= CLOSE:
        text += lang.t(
            "overlap_one",
            makespan=lang.seconds(s["makespan"]),
            handler_mean=lang.seconds(s["handler_mean"]),
        )
    return text


def cpu_use(run: dict[str, Any], cores: int | None, lang: Lang) -> str | None:
    s = run["summary"]
    cpu = s.get("server_cpu_seconds")
    if cpu is None or not s["makespan"] or s["makespan"] < MIN_SPAN_FOR_CPU:
        return None
    busy = cpu / s["makespan"]
    makespan = lang.seconds(s["makespan"])
    if busy < IDLE_CORES:
        return lang.t("cpu_idle", cpu=f"{cpu:.2f}", makespan=makespan)
    text = lang.t(
        "cpu_busy",
        cpu=f"{cpu:.2f}",
        makespan=makespan,
        cores=f"{busy:.2f}",
        machine_cores=cores or lang.na,
    )
    if s["max_concurrent"] > 1 and abs(busy - 1) <= CLOSE and (cores or 1) > 1:
        key = "cpu_turns_gil" if run["workload"] == "cpu" else "cpu_turns"
        text += lang.t(key, at_once=s["max_concurrent"])
    return text


def versus(run: dict[str, Any], others: Sequence[dict[str, Any]], lang: Lang) -> list[str]:
    """Compare with the same workload on the other servers of the study."""
    sentences = []
    s = run["summary"]
    for other in others:
        o = other["summary"]
        if not (s["makespan"] and o["makespan"]):
            continue
        ratio = o["makespan"] / s["makespan"]
        how = (
            lang.t("longer", ratio=lang.ratio(ratio))
            if ratio >= 1
            else lang.t("shorter", ratio=lang.ratio(1 / ratio))
        )
        sentences.append(
            lang.t(
                "versus",
                other=lang.server(other["server"]),
                workload=run["workload"],
                their=lang.seconds(o["makespan"]),
                mine=lang.seconds(s["makespan"]),
                how=how,
            )
        )
        if (
            run["workload"] == "cpu"
            and s["max_concurrent"] > 1
            and o["max_concurrent"] == 1
            and s["handler_mean"]
            and o["handler_mean"]
            and s["handler_mean"] / o["handler_mean"] >= 1 + CLOSE
        ):
            sentences.append(
                lang.t(
                    "slower_each",
                    mine=lang.seconds(s["handler_mean"]),
                    theirs=lang.seconds(o["handler_mean"]),
                    ratio=lang.ratio(s["handler_mean"] / o["handler_mean"]),
                )
            )
        mine, theirs = s.get("server_cpu_seconds"), o.get("server_cpu_seconds")
        if mine and theirs and min(s["makespan"], o["makespan"]) >= MIN_SPAN_FOR_CPU:
            sentences.append(
                lang.t(
                    "cpu_cost", requests=s["requests"], mine=f"{mine:.2f}", theirs=f"{theirs:.2f}"
                )
            )
    return sentences


def comment(run: dict[str, Any], study: dict[str, Any], lang: Lang) -> list[str]:
    """Every sentence the report says about one run."""
    if run.get("status") != "done":
        return [lang.t("unfinished", error=run.get("error", lang.na))]
    others = [
        other
        for other in study["runs"]
        if other is not run
        and other.get("status") == "done"
        and other["workload"] == run["workload"]
    ]
    cores = study.get("machine", {}).get("cores")
    parts = [
        outcome(run, lang),
        concurrency(run, lang),
        cpu_use(run, cores, lang),
        *versus(run, others, lang),
    ]
    guard = run.get("guard")
    if guard:
        parts.append(
            lang.t(
                "run_guard",
                budget=lang.mib(guard["memory_budget"]),
                too_big=guard["rejected_413"],
                busy=guard["rejected_503"],
            )
        )
    if run.get("server_survived") is False:
        parts.append(lang.t("died", fate=run["server_exit"]["description"]))
    return [part for part in parts if part]


# --- critical n -----------------------------------------------------------------------


def effective_at_once(search: dict[str, Any]) -> float | None:
    """How many requests' worth of elements were in memory at the peak of the largest
    passing n: (peak - idle) / (bytes per element x n)."""
    n, peak = search.get("max_passing_n"), search.get("peak_bytes")
    if not n or peak is None or not search.get("bytes_per_element"):
        return None
    return float((peak - search["idle_bytes"]) / (search["bytes_per_element"] * n))


def critical_model(search: dict[str, Any], lang: Lang) -> list[str]:
    """How the measured boundary compares with the model's prediction, and why."""
    if "error" in search:
        return [lang.t("search_failed", error=search["error"])]
    passing, failing = search.get("max_passing_n"), search.get("min_failing_n")
    predicted = search["predicted_n"]
    sentences = [
        lang.t(
            "model",
            cap=lang.size(search["limit_bytes"]),
            idle=lang.mib(search["idle_bytes"]),
            bpe=f"{search['bytes_per_element']:.1f}",
            at_once=search["in_memory_at_once"],
            predicted=lang.count(predicted),
        )
    ]
    if passing is None or failing is None:
        sentences.append(lang.t("unconfirmed", reason=search["stop_reason"]))
        return sentences
    middle = (passing * failing) ** 0.5
    error = middle / predicted - 1
    ends = {"passing": lang.count(passing), "failing": lang.count(failing)}
    if abs(error) <= PREDICTION_CLOSE:
        sentences.append(lang.t("agrees", error=lang.percent(abs(error)), **ends))
    else:
        sentences.append(lang.t("off", ratio=f"{middle / predicted:.2f}", **ends))
        held = effective_at_once(search)
        if held is not None and held < search["in_memory_at_once"]:
            sentences.append(
                lang.t(
                    "held",
                    passing=lang.count(passing),
                    peak=lang.mib(search["peak_bytes"]),
                    held=lang.ratio(held),
                    at_once=search["in_memory_at_once"],
                )
            )
    band = [entry for entry in search["per_n"] if passing < entry["n"] < failing]
    if band:
        rates = ", ".join(
            lang.t(
                "band_rate",
                n=lang.count(entry["n"]),
                failures=entry["failures"],
                trials=entry["trials"],
            )
            for entry in band
        )
        sentences.append(lang.t("band", rates=rates))
    return sentences


def middle_n(search: dict[str, Any]) -> float | None:
    """The geometric middle of the measured bracket."""
    passing, failing = search.get("max_passing_n"), search.get("min_failing_n")
    if not passing or not failing:
        return None
    return float((passing * failing) ** 0.5)


def critical_comparisons(searches: Sequence[dict[str, Any]], lang: Lang) -> list[str]:
    """numpy vs cpu on each server, and each server vs the others on each workload."""
    done = [s for s in searches if "error" not in s and middle_n(s)]
    sentences = []
    for search in done:
        if search["workload"] != "numpy":
            continue
        cpu = next(
            (s for s in done if s["workload"] == "cpu" and s["server"] == search["server"]), None
        )
        if cpu is None:
            continue
        sentences.append(
            lang.t(
                "numpy_vs_cpu",
                server=lang.server(search["server"]),
                ratio=lang.ratio((middle_n(search) or 0) / (middle_n(cpu) or 1)),
                numpy=f"{search['bytes_per_element']:.1f}",
                cpu=f"{cpu['bytes_per_element']:.1f}",
                bpe_ratio=lang.ratio(cpu["bytes_per_element"] / search["bytes_per_element"]),
            )
        )
    for workload in ("cpu", "numpy"):
        group = [s for s in done if s["workload"] == workload]
        for a, b in itertools.pairwise(group):
            low, high = sorted((a, b), key=lambda s: middle_n(s) or 0)
            held = effective_at_once(low)
            sentences.append(
                lang.t(
                    "server_vs_server",
                    workload=workload,
                    high=lang.server(high["server"]),
                    low=lang.server(low["server"]),
                    ratio=lang.ratio((middle_n(high) or 0) / (middle_n(low) or 1)),
                    high_at_once=high["in_memory_at_once"],
                    low_at_once=low["in_memory_at_once"],
                    held="" if held is None else lang.t("held_note", held=lang.ratio(held)),
                )
            )
    return sentences


# --- the memory guard -----------------------------------------------------------------


def refused(side: dict[str, Any]) -> str:
    """``7 (413: 0, 503: 7)``: requests the server refused on purpose, by status."""
    return f"{side['rejected']} (413: {side['rejected_413']}, 503: {side['rejected_503']})"


def correct_prices(side: dict[str, Any], lang: Lang) -> str:
    """``3/3``: correct prices among the requests served; n/a when none could be checked."""
    if side.get("correct_prices") is None:
        return lang.na
    return f"{side['correct_prices']}/{side['correct_prices'] + side['wrong_prices']}"


def guard_comparison(search: dict[str, Any], lang: Lang) -> list[str]:
    """What the memory guard changed at the search's smallest failing n."""
    guarded = search.get("guarded")
    if not guarded:
        return []
    if "error" in guarded:
        return [lang.t("guard_failed", error=guarded["error"])]
    off, on = guarded["without_guard"], guarded["with_guard"]
    budget, need, n = guarded["budget_bytes"], guarded["estimate_bytes_per_request"], guarded["n"]
    if guarded["budget_source"] == "derived":
        sentences = [
            lang.t(
                "guard_budget_derived",
                n=lang.count(n),
                cap=lang.size(guarded["limit_bytes"]),
                idle=lang.mib(guarded["idle_bytes"]),
                processes=guarded["worker_processes"],
                budget=lang.mib(budget),
            )
        ]
    else:
        sentences = [lang.t("guard_budget_option", n=lang.count(n), budget=lang.mib(budget))]
    estimate = {
        "bpe": guarded["estimate_bytes_per_element"],
        "workload": search["workload"],
        "need": lang.mib(need),
    }
    if need > budget:
        sentences.append(lang.t("guard_estimate_too_big", **estimate))
    elif need:
        sentences.append(lang.t("guard_estimate", fits=budget // need, **estimate))
    if on["oom_kills"]:
        kills = lang.plural(
            on["oom_kills"], ("process", "processes"), ("процесс", "процесса", "процессов")
        )
        sentences.append(lang.t("guard_killed", kills=kills))
    elif not on["server_died"]:
        sentences.append(
            lang.t(
                "guard_survived",
                served=on["served"],
                requests=on["requests"],
                correct=lang.na if on["correct_prices"] is None else on["correct_prices"],
                refused=refused(on),
            )
        )
    if on["failed"] and not on["oom_kills"]:
        sentences.append(lang.t("guard_other_failures", failed=on["failed"], reason=on["reason"]))
    sentences.append(
        lang.t(
            "guard_without", reason=lang.reason(off), served=f"{off['served']}/{off['requests']}"
        )
    )
    return sentences
