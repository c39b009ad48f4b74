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


def cells(runs: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """The matrix's cells (target, concurrency), in the order they ran; runs written before
    the matrix (one target, one concurrency) are one cell ``("", 0)``."""
    return list(dict.fromkeys((r.get("target", ""), r.get("concurrency", 0)) for r in runs))


def in_cell(runs: list[dict[str, Any]], cell: tuple[str, int]) -> list[dict[str, Any]]:
    return [r for r in runs if (r.get("target", ""), r.get("concurrency", 0)) == cell]


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


def _get(row: dict[str, Any] | None, key: str) -> Any:
    return None if row is None else row[key]


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def render(results: dict[str, Any]) -> str:
    """The Markdown for ``results.md`` (and the terminal)."""
    meta = results["meta"]
    s = meta["settings"]
    w = meta["steady_window"]
    runs = results["throughput"]
    timing = summarize_timing(results["timing"])
    tools = list(dict.fromkeys(r["tool"] for r in runs))
    ref_name = next((n for n in tools if n.startswith("wrk")), None)
    lines = [
        f"### Load engines side by side ({meta['date_utc']} UTC)",
        "",
        f"Targets: `gunicorn -w {s['workers']} -k sync|gthread bench.target_app:app`"
        f" ({meta['versions'].get('gunicorn', '?')}) on 127.0.0.1, a WSGI app answering `ok`:"
        " sync workers close the connection after every response, gthread"
        f" (`--threads {s.get('threads', 4)}`) keeps it alive. Closed loops,"
        f" {_rounds(s['rounds'])} × {s['duration']} s per tool and cell, the tools"
        " alternating within each cell;"
        f" {meta['cores']} cores shared by client and server."
        f" servelab: `{' '.join(_short(meta['servelab_command']))}`"
        f" ({meta.get('servelab_version', '?')}).",
        "",
    ]
    ref = ref_name or "wrk"
    others = [t for t in tools if t not in ("servelab", ref_name)]
    lines += [
        f"| target | connections | servelab req/s | {ref} req/s | servelab ÷ {ref}"
        f" (rounds) | servelab CPU ms / 1000 req | {ref} CPU ms / 1000 req | CPU ÷ {ref}"
        + "".join(f" | {t} req/s" for t in others)
        + " | errors |",
        "|---|--:|--:|--:|--:|--:|--:|--:|" + "--:|" * len(others) + "--:|",
    ]
    matrix: list[dict[str, Any]] = []
    for cell in cells(runs):
        mine = in_cell(runs, cell)
        rows = {row["tool"]: row for row in summarize_throughput(mine)}
        ours, theirs = rows.get("servelab"), rows.get(ref_name or "")
        ratio = _ratio(_get(ours, "rps_mean"), _get(theirs, "rps_mean"))
        paired = round_ratios(mine, "servelab", ref_name) if ref_name else []
        cpu = _ratio(_get(ours, "steady_cpu_ms_per_1k"), _get(theirs, "steady_cpu_ms_per_1k"))
        matrix.append({"cell": cell, "ratio": ratio, "cpu": cpu})
        spread = f" ({', '.join(f'{r:.2f}' for r in paired)})" if len(paired) > 1 else ""
        target, concurrency = cell
        lines.append(
            f"| {target or s.get('worker_class', '?')} | {concurrency or s.get('concurrency', '?')}"
            f" | {_num(_get(ours, 'rps_mean'))} | {_num(_get(theirs, 'rps_mean'))}"
            f" | {_num(ratio, 2)}{spread}"
            f" | {_num(_get(ours, 'steady_cpu_ms_per_1k'), 1)}"
            f" | {_num(_get(theirs, 'steady_cpu_ms_per_1k'), 1)} | {_num(cpu, 2)}"
            + "".join(f" | {_num(rows[t]['rps_mean']) if t in rows else '—'}" for t in others)
            + f" | {sum(row['errors'] for row in rows.values())} |"
        )
    lines += [
        "",
        "requests/s: each tool's own count over its own measured time, the mean over rounds;"
        f" servelab ÷ {ref}: of the means, with each round's own ratio in brackets (the two"
        " ran seconds apart: a paired comparison). CPU: the tool's process tree over a steady"
        f" window (from {w['after_start_s']:g} s after the tool started to"
        f" {w['before_end_s']:g} s before its set duration ended), per request the server"
        " counted in it. Every run's whole numbers (server-counted requests, cores of client,"
        " server and other processes) are in `results.json`.",
    ]
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
    lines += ["", "Goals, as measured here:", ""]
    lines += _goals(matrix, ref, {row["tool"]: row for row in timing})
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


def _goals(matrix: list[dict[str, Any]], ref: str, timing: dict[str, dict[str, Any]]) -> list[str]:
    """Issue 17's goals: in every cell, servelab's requests/s at least 0.95 of the reference
    wrk's and its CPU per request at most 1.1x; a median timing error under 0.5 ms."""
    out = []
    ratios = [m for m in matrix if m["ratio"] is not None]
    if ratios:
        short = [m for m in ratios if m["ratio"] < 0.95]
        worst = min(ratios, key=lambda m: m["ratio"])
        out.append(
            f"- servelab req/s ÷ {ref} req/s ≥ 0.95 in every cell: "
            + ("met" if not short else f"NOT met in {len(short)} of {len(ratios)} cells")
            + f" (lowest {worst['ratio']:.3f}, {_cell(worst['cell'])})"
        )
    cpus = [m for m in matrix if m["cpu"] is not None]
    if cpus:
        over = [m for m in cpus if m["cpu"] > 1.1]
        worst = max(cpus, key=lambda m: m["cpu"])
        out.append(
            f"- servelab CPU per request ÷ {ref}'s ≤ 1.1 in every cell: "
            + ("met" if not over else f"NOT met in {len(over)} of {len(cpus)} cells")
            + f" (highest {worst['cpu']:.3f}, {_cell(worst['cell'])})"
        )
    if "servelab" in timing and timing["servelab"]["p50"] is not None:
        error = timing["servelab"]["p50"]
        out.append(
            f"- servelab median timing error = {error:.3f} ms (goal ≤ 0.5):"
            f" {'met' if error <= 0.5 else 'NOT met'}"
        )
    return out


def _cell(cell: tuple[str, int]) -> str:
    target, concurrency = cell
    return f"{target}, {concurrency} connections" if target else "the one cell"
