"""``results.json`` → the Markdown tables of ``results.md``: pure functions, no I/O.

Every number printed is computed here from the raw runs; nothing is typed in by hand.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of sorted values, interpolating linearly (numpy's default)."""
    if not sorted_values:
        raise ValueError("no values")
    position = q * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _sd(values: Sequence[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _num(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def summarize_throughput(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per tool, in the order the tools ran: means over the rounds that worked."""
    names = list(dict.fromkeys(r["tool"] for r in runs))
    rows = []
    for name in names:
        mine = [r for r in runs if r["tool"] == name]
        ok = [r for r in mine if "failure" not in r]
        rps = [r["rps"] for r in ok]
        steady = [r["steady"] for r in ok if r.get("steady")]
        rows.append(
            {
                "tool": name,
                "rounds": len(mine),
                "failed": len(mine) - len(ok),
                "rps_mean": _mean(rps),
                "rps_sd": _sd(rps),
                "served_rps": _mean([s["served_rps"] for s in steady]),
                "cpu_ms_per_1k": _mean([r["cpu_ms_per_1k"] for r in ok if "cpu_ms_per_1k" in r]),
                "steady_cpu_ms_per_1k": _mean(
                    [s["client_cpu_ms_per_1k"] for s in steady if s["client_cpu_ms_per_1k"]]
                ),
                "client_cores": _mean([s["client_cores"] for s in steady]),
                "server_cores": _mean([s["server_cores"] for s in steady]),
                "other_cores": _mean([s["other_cores"] for s in steady]),
                "errors": sum(r["errors"] for r in ok),
                "requests": sum(r["requests"] for r in ok),
            }
        )
    return rows


def summarize_timing(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per tool: the median over rounds of each round's error percentiles."""
    names = list(dict.fromkeys(r["tool"] for r in runs))
    rows = []
    for name in names:
        mine = [r for r in runs if r["tool"] == name]
        ok = [r for r in mine if "error_ms" in r]
        late = [r["server_lateness"] for r in ok if r["server_lateness"].get("responses")]
        rows.append(
            {
                "tool": name,
                "rounds": len(mine),
                "failed": len(mine) - len(ok),
                "requests": sum(r["timed_requests"] for r in ok),
                "errors": sum(r.get("errors", 0) for r in ok),
                "source": ok[0]["error_source"] if ok else None,
                **{
                    q: statistics.median([r["error_ms"][q] for r in ok]) if ok else None
                    for q in ("p50", "p90", "p99")
                },
                "server_late_p50": statistics.median([x["late_ms_median"] for x in late])
                if late
                else None,
                "server_late_p99": max(x["late_ms_p99"] for x in late) if late else None,
                "other_cores": _mean([r["other_cores"] for r in ok if "other_cores" in r]),
            }
        )
    return rows


def round_ratios(runs: list[dict[str, Any]], tool: str, ref: str) -> list[float]:
    """``tool``'s requests/s over ``ref``'s, round by round: the two ran minutes apart at
    most, so each ratio is a paired comparison that a drift of the machine touches less."""
    rates: dict[tuple[str, int], float] = {
        (r["tool"], r["round"]): r["rps"] for r in runs if "failure" not in r and r.get("rps")
    }
    return [
        rates[tool, n] / rates[ref, n]
        for n in sorted({n for _, n in rates})
        if (tool, n) in rates and (ref, n) in rates
    ]


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def render(results: dict[str, Any]) -> str:
    """The Markdown for ``results.md`` (and the terminal)."""
    meta = results["meta"]
    s = meta["settings"]
    w = meta["steady_window"]
    tput = summarize_throughput(results["throughput"])
    timing = summarize_timing(results["timing"])
    by_name = {row["tool"]: row for row in tput}
    ref_name = next((n for n in by_name if n.startswith("wrk")), None)
    ref = by_name[ref_name]["rps_mean"] if ref_name else None
    lines = [
        f"### Load engines side by side ({meta['date_utc']} UTC)",
        "",
        f"Target: `gunicorn -w {s['workers']} -k {s['worker_class']} bench.target_app:app`"
        f" ({meta['versions'].get('gunicorn', '?')}) on 127.0.0.1, a WSGI app answering `ok`."
        f" {s['concurrency']} concurrent connections/users (closed loop),"
        f" {_rounds(s['rounds'])} × {s['duration']} s per tool, the tools alternating within"
        " each round;"
        f" {meta['cores']} cores shared by client and server."
        f" servelab: `{' '.join(_short(meta['servelab_command']))}`"
        f" ({meta.get('servelab_version', '?')}).",
        "",
        "| tool | requests/s (mean ± sd) | server-counted req/s | client CPU ms / 1000 req"
        " (whole run) | client CPU ms / 1000 req (steady) | client cores | server cores"
        " | other cores | errors | vs " + (ref_name or "wrk") + " |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in tput:
        failed = f" ({row['failed']} of {row['rounds']} runs failed)" if row["failed"] else ""
        lines.append(
            f"| {row['tool']}{failed} | {_num(row['rps_mean'])} ± {_num(row['rps_sd'])}"
            f" | {_num(row['served_rps'])} | {_num(row['cpu_ms_per_1k'], 1)}"
            f" | {_num(row['steady_cpu_ms_per_1k'], 1)} | {_num(row['client_cores'], 2)}"
            f" | {_num(row['server_cores'], 2)} | {_num(row['other_cores'], 2)} | {row['errors']}"
            f" | {_num(_ratio(row['rps_mean'], ref), 2)} |"
        )
    lines += [
        "",
        "requests/s: each tool's own count over its own measured time. Server-counted: the"
        " target's request counter over the steady window"
        f" (from {w['after_start_s']:g} s after the tool started to {w['before_end_s']:g} s"
        " before its set duration ended). Whole run: the tool's user+system CPU from"
        " `os.wait4`, start-up included, over the requests it reports. Steady: CPU of the"
        " tool's process tree over the steady window, per request the server counted in it.",
    ]
    lines.append(
        "Cores: CPU seconds per second of the steady window, of the client, of gunicorn, and"
        " of every other process on the machine (busy time minus client, server and this"
        " harness): other work there is noise that the alternation spreads over all tools."
    )
    lines += ["", _quiet_line(results["throughput"] + results["timing"], s)]
    d = s["delay_ms"]
    lines += [
        "",
        f"### Timing error: measured latency − {d:g} ms, against a server that answers"
        f" exactly {d:g} ms after a request arrives",
        "",
        f"{s['timing_concurrency']} concurrent users, {_rounds(s['rounds'])} × "
        f"{s['timing_duration']} s per tool; each cell is the median over rounds (lateness"
        " p99: the worst round's; other cores: the mean over the whole runs).",
        "",
        "| tool | requests | error median (ms) | error p90 (ms) | error p99 (ms)"
        " | server's own lateness median / p99 (ms) | other cores | from |",
        "|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in timing:
        failed = f" ({row['failed']} of {row['rounds']} runs failed)" if row["failed"] else ""
        lines.append(
            f"| {row['tool']}{failed} | {row['requests']} | {_num(row['p50'], 3)}"
            f" | {_num(row['p90'], 3)} | {_num(row['p99'], 3)}"
            f" | {_num(row['server_late_p50'], 3)} / {_num(row['server_late_p99'], 3)}"
            f" | {_num(row['other_cores'], 2)}"
            f" | {row['source'] or '—'} |"
        )
    lines += ["", "Goals of the issue, as measured here:", ""]
    paired = round_ratios(results["throughput"], "servelab", ref_name) if ref_name else []
    lines += _goals(by_name, ref_name, {row["tool"]: row for row in timing}, paired)
    lines += [
        "",
        f"Raw runs: `results.json` beside this file. Bench took {meta.get('bench_seconds')} s.",
    ]
    return "\n".join(lines) + "\n"


def _quiet_line(runs: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    waits = [r["before_run"] for r in runs if "before_run" in r]
    if not waits:
        return ""
    busy = [w for w in waits if w["waited_s"] >= settings["quiet_wait"]]
    text = (
        f"Before each run the harness waited for the machine to go idle (at most"
        f" {settings['quiet_wait']:g} s; {sum(w['waited_s'] for w in waits):.0f} s in all)."
    )
    if busy:
        worst = max(w["busy_cores"] for w in busy)
        text += (
            f" {len(busy)} of {len(waits)} runs started with other work still running"
            f" (up to {worst:.2f} cores)."
        )
    else:
        text += " Every run started on an idle machine."
    return text


def _rounds(n: int) -> str:
    return "1 round" if n == 1 else f"{n} rounds"


def _short(argv: list[str]) -> list[str]:
    return [a.rsplit("/", 1)[-1] if "/" in a and a.startswith("/") else a for a in argv]


def _goals(
    tput: dict[str, dict[str, Any]],
    ref_name: str | None,
    timing: dict[str, dict[str, Any]],
    paired: list[float],
) -> list[str]:
    mine, locust = tput.get("servelab"), tput.get("locust")
    ref = tput.get(ref_name) if ref_name else None
    out = []

    def line(text: str, value: float | None, goal: float, below: bool = False) -> None:
        if value is None:
            out.append(f"- {text}: not measured")
            return
        met = value < goal if below else value >= goal
        sign = "<" if below else "≥"
        out.append(f"- {text} = {value:.3f} (goal {sign} {goal:g}): {'met' if met else 'NOT met'}")

    if mine and locust:
        line("servelab req/s ÷ Locust req/s", _ratio(mine["rps_mean"], locust["rps_mean"]), 1.0)
    if mine and ref:
        line(f"servelab req/s ÷ {ref_name} req/s", _ratio(mine["rps_mean"], ref["rps_mean"]), 0.85)
        if paired:
            rounds = ", ".join(f"{ratio:.3f}" for ratio in paired)
            out.append(f"  - the same ratio round by round: {rounds}")
        cpu = _ratio(ref["steady_cpu_ms_per_1k"], mine["steady_cpu_ms_per_1k"])
        if cpu is not None:
            out.append(
                f"  - {ref_name}'s client CPU per request ÷ servelab's (steady) = {cpu:.3f}:"
                " where client and server share the cores, the two ratios go together"
            )
    if mine and locust:
        line(
            "servelab client CPU per request ÷ Locust's (steady)",
            _ratio(mine["steady_cpu_ms_per_1k"], locust["steady_cpu_ms_per_1k"]),
            1.0,
            below=True,
        )
        line(
            "servelab client CPU per request ÷ Locust's (whole run)",
            _ratio(mine["cpu_ms_per_1k"], locust["cpu_ms_per_1k"]),
            1.0,
            below=True,
        )
    if "servelab" in timing:
        line("servelab median timing error (ms)", timing["servelab"]["p50"], 1.0, below=True)
    return out
