"""Sentences about a run, each derived from its measurements and only from them.

Every function returns plain sentences with the numbers in them; when the data needed
for a statement is missing, the statement is left out rather than guessed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

# Below this share of one core the server was waiting, not computing.
IDLE_CORES = 0.1
MIN_SPAN_FOR_CPU = 0.5
# "About equal" for the statements below: within 15%.
CLOSE = 0.15


def seconds(value: float | None) -> str:
    """Seconds as the report prints them everywhere (tables and text agree)."""
    return "n/a" if value is None else f"{value:.2f}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def outcome(run: dict[str, Any]) -> str:
    s = run["summary"]
    if s["ok"] == s["requests"]:
        return f"All {s['requests']} requests succeeded."
    classes = ", ".join(f"{count} {name}" for name, count in sorted(s["errors_by_class"].items()))
    return f"{s['ok']} of {s['requests']} requests succeeded; the others failed ({classes})."


def concurrency(run: dict[str, Any]) -> str | None:
    s = run["summary"]
    if not s["served"]:
        return None
    if s["max_concurrent"] == 1 and s["served"] > 1:
        text = (
            f"The server never ran two handlers at once: it served the requests one after "
            f"another, the fastest response after {seconds(s['latency_min'])} s and the "
            f"slowest after {seconds(s['latency_max'])} s."
        )
        if s["handler_sum"] and abs(s["makespan"] / s["handler_sum"] - 1) <= CLOSE:
            text += (
                f" The makespan ({seconds(s['makespan'])} s) is about the sum of the handler "
                f"times ({seconds(s['handler_sum'])} s)."
            )
        return text
    where = _plural(s["distinct_pids"], "process")
    text = (
        f"Up to {s['max_concurrent']} handlers ran at the same time "
        f"({_plural(s['distinct_workers'], 'thread')} in {where} served the requests)."
    )
    if s["handler_mean"] and abs(s["makespan"] / s["handler_mean"] - 1) <= CLOSE:
        text += (
            f" The makespan ({seconds(s['makespan'])} s) is about one handler's time "
            f"({seconds(s['handler_mean'])} s on average): the requests overlapped."
        )
    return text


def cpu_use(run: dict[str, Any], cores: int | None) -> str | None:
    s = run["summary"]
    cpu = s.get("server_cpu_seconds")
    # CPU times tick in 10 ms steps: over a shorter run an average of cores means little.
    if cpu is None or not s["makespan"] or s["makespan"] < MIN_SPAN_FOR_CPU:
        return None
    busy = cpu / s["makespan"]
    if busy < IDLE_CORES:
        return (
            f"The server used {cpu:.2f} CPU-seconds in {seconds(s['makespan'])} s: its handlers "
            f"were waiting, not computing."
        )
    text = (
        f"The server's processes used {cpu:.2f} CPU-seconds in {seconds(s['makespan'])} s, "
        f"{busy:.2f} cores on average"
    )
    text += f" of the machine's {cores}." if cores else "."
    if s["max_concurrent"] > 1 and abs(busy - 1) <= CLOSE and (cores or 1) > 1:
        text += (
            f" Although {s['max_concurrent']} handlers ran at once, together they used about "
            f"one core: the threads took turns rather than running in parallel"
        )
        text += (
            ", as pure-Python code does under the GIL (one thread runs Python at a time)."
            if run["workload"] == "cpu"
            else "."
        )
    return text


def versus(run: dict[str, Any], others: Sequence[dict[str, Any]]) -> list[str]:
    """Compare with the same workload on the other servers of the study."""
    sentences = []
    s = run["summary"]
    for other in others:
        o = other["summary"]
        if not (s["makespan"] and o["makespan"]):
            continue
        ratio = o["makespan"] / s["makespan"]
        how = f"{ratio:.1f}x longer" if ratio >= 1 else f"{1 / ratio:.1f}x shorter"
        sentences.append(
            f"On {other['server_description']} the same {run['workload']} burst took "
            f"{seconds(o['makespan'])} s against {seconds(s['makespan'])} s here ({how})."
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
                f"Each handler here took {seconds(s['handler_mean'])} s on average against "
                f"{seconds(o['handler_mean'])} s when they ran one at a time there: running "
                f"them together made each {s['handler_mean'] / o['handler_mean']:.1f}x slower."
            )
        mine, theirs = s.get("server_cpu_seconds"), o.get("server_cpu_seconds")
        if mine and theirs and min(s["makespan"], o["makespan"]) >= MIN_SPAN_FOR_CPU:
            sentences.append(
                f"The same {s['requests']} predictions cost the server {mine:.2f} CPU-seconds "
                f"here and {theirs:.2f} there."
            )
    return sentences


def comment(run: dict[str, Any], study: dict[str, Any]) -> list[str]:
    """Every sentence the report says about one finished run."""
    if run.get("status") != "done":
        return [f"This run did not finish: {run.get('error', 'no result was recorded')}."]
    others = [
        other
        for other in study["runs"]
        if other is not run
        and other.get("status") == "done"
        and other["workload"] == run["workload"]
    ]
    cores = study.get("machine", {}).get("cores")
    parts = [outcome(run), concurrency(run), cpu_use(run, cores), *versus(run, others)]
    if run.get("server_survived") is False:
        parts.append(f"The server did not survive the burst: {run['server_exit']['description']}.")
    return [part for part in parts if part]


# --- critical n -----------------------------------------------------------------------

PREDICTION_CLOSE = 0.10  # the bar for "the model agrees with the measurement"


def mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.1f} MiB"


def effective_at_once(search: dict[str, Any]) -> float | None:
    """How many requests' worth of elements were in memory at the peak of the largest
    passing n: (peak - idle) / (bytes per element x n)."""
    n, peak = search.get("max_passing_n"), search.get("peak_bytes")
    if not n or peak is None or not search.get("bytes_per_element"):
        return None
    return float((peak - search["idle_bytes"]) / (search["bytes_per_element"] * n))


def critical_model(search: dict[str, Any]) -> list[str]:
    """How the measured boundary compares with the model's prediction, and why."""
    passing, failing = search.get("max_passing_n"), search.get("min_failing_n")
    predicted = search["predicted_n"]
    sentences = [
        f"The model: ({mib(search['limit_bytes'])} cap - {mib(search['idle_bytes'])} idle) / "
        f"({search['bytes_per_element']:.1f} bytes per element x "
        f"{search['in_memory_at_once']} request(s) in memory at once) = {predicted:,}."
    ]
    if passing is None or failing is None:
        sentences.append(f"The search did not confirm both ends: {search['stop_reason']}.")
        return sentences
    middle = (passing * failing) ** 0.5
    error = middle / predicted - 1
    if abs(error) <= PREDICTION_CLOSE:
        sentences.append(
            f"The measured boundary ({passing:,} never failed, {failing:,} always failed) "
            f"agrees with the prediction within {abs(error):.0%}."
        )
    else:
        sentences.append(
            f"The measured boundary ({passing:,} never failed, {failing:,} always failed) is "
            f"{middle / predicted:.2f}x the prediction."
        )
        held = effective_at_once(search)
        if held is not None and held < search["in_memory_at_once"]:
            sentences.append(
                f"At {passing:,} the peak was {mib(search['peak_bytes'])}: "
                f"{held:.1f} requests' worth of elements at once, not "
                f"{search['in_memory_at_once']}. The parallel requests did not all hold their "
                f"full arrays at the same moment."
            )
    band = [entry for entry in search["per_n"] if passing < entry["n"] < failing]
    if band:
        rates = ", ".join(
            f"{entry['n']:,}: {entry['failures']}/{entry['trials']} failed" for entry in band
        )
        sentences.append(f"Between them the outcome varied from run to run ({rates}).")
    return sentences


def _middle(search: dict[str, Any]) -> float | None:
    passing, failing = search.get("max_passing_n"), search.get("min_failing_n")
    if not passing or not failing:
        return None
    return float((passing * failing) ** 0.5)


def critical_comparisons(searches: Sequence[dict[str, Any]]) -> list[str]:
    """numpy vs cpu on each server, and each server vs the others on each workload."""
    done = [s for s in searches if "error" not in s and _middle(s)]
    sentences = []
    for search in done:
        if search["workload"] != "numpy":
            continue
        cpu = next(
            (s for s in done if s["workload"] == "cpu" and s["server"] == search["server"]), None
        )
        if cpu is None:
            continue
        ratio = (_middle(search) or 0) / (_middle(cpu) or 1)
        sentences.append(
            f"On {search['server_description']} numpy's critical n is {ratio:.1f}x the pure-"
            f"Python one: numpy keeps {search['bytes_per_element']:.1f} bytes per element, the "
            f"Python list {cpu['bytes_per_element']:.1f} "
            f"({cpu['bytes_per_element'] / search['bytes_per_element']:.1f}x more)."
        )
    for workload in ("cpu", "numpy"):
        group = [s for s in done if s["workload"] == workload]
        for a, b in itertools.pairwise(group):
            low, high = sorted((a, b), key=lambda s: _middle(s) or 0)
            ratio = (_middle(high) or 0) / (_middle(low) or 1)
            sentences.append(
                f"For {workload}, {high['server_description']} survives {ratio:.1f}x the n of "
                f"{low['server_description']}. By the model it holds "
                f"{high['in_memory_at_once']} request(s) in memory at once, the other "
                f"{low['in_memory_at_once']}" + _held_note(low) + "."
            )
    return sentences


def _held_note(search: dict[str, Any]) -> str:
    held = effective_at_once(search)
    return "" if held is None else f" ({held:.1f} measured at its peak)"
