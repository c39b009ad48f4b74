"""``results.json`` → the Markdown tables of ``results.md``.

Every number printed is computed here from the raw runs; nothing is typed in by hand. Pure
functions, except ``regenerate`` and ``main``, which read ``results.json`` and write
``results.md`` beside it, for ``bench.run`` and by hand:

    .venv/bin/python -m bench.report bench/results.json

Reads the matrix's files (a cell per target and concurrency, one or two servelab tools) and
the one-cell files written before it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# The tool the goals are about; the other servelab tools ("servelab (pure Python)") are
# shown beside it with the same ratios, as information.
SERVELAB = "servelab"


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


def versus(
    runs: list[dict[str, Any]],
    rows: dict[str, dict[str, Any]],
    tool: str,
    ref: str | None,
) -> dict[str, Any]:
    """``tool`` against ``ref`` in one cell (``runs``, summarized as ``rows``): its mean
    requests/s and steady CPU per 1000 requests, their ratios to ``ref``'s, and each round's
    own requests/s ratio."""
    mine, theirs = rows.get(tool), rows.get(ref or "")
    return {
        "rps": _get(mine, "rps_mean"),
        "cpu_ms_per_1k": _get(mine, "steady_cpu_ms_per_1k"),
        "ratio": _ratio(_get(mine, "rps_mean"), _get(theirs, "rps_mean")),
        "paired": round_ratios(runs, tool, ref) if ref else [],
        "cpu": _ratio(_get(mine, "steady_cpu_ms_per_1k"), _get(theirs, "steady_cpu_ms_per_1k")),
    }


def _spread(paired: list[float]) -> str:
    return f" ({', '.join(f'{r:.2f}' for r in paired)})" if len(paired) > 1 else ""


def _engines_line(meta: dict[str, Any]) -> str:
    """Which closed loop each servelab tool ran (``meta["engines"]``; files from before the C
    loop have none), and the environment it ran with."""
    engines: dict[str, dict[str, Any]] = meta.get("engines") or {}
    said = [
        f"{name} ran the {engine['runs']} loop"
        + "".join(f" (`{k}={v}`)" for k, v in engine.get("environment", {}).items())
        for name, engine in engines.items()
    ]
    if not said:
        return ""
    built = any(engine.get("built") for engine in engines.values())
    return " " + "; ".join(said) + ("." if built else "; no C loop was built.")


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
    extra = [t for t in tools if t.startswith(SERVELAB) and t != SERVELAB]
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
        f" ({meta.get('servelab_version', '?')}).{_engines_line(meta)}",
        "",
    ]
    ref = ref_name or "wrk"
    others = [t for t in tools if t not in (SERVELAB, ref_name, *extra)]
    lines += [
        f"| target | connections | servelab req/s | {ref} req/s | servelab ÷ {ref}"
        f" (rounds) | servelab CPU ms / 1000 req | {ref} CPU ms / 1000 req | CPU ÷ {ref}"
        + "".join(
            f" | {t} req/s | {t} ÷ {ref} (rounds) | {t} CPU ms / 1000 req | {t} CPU ÷ {ref}"
            for t in extra
        )
        + "".join(f" | {t} req/s" for t in others)
        + " | errors |",
        "|---|--:|--:|--:|--:|--:|--:|--:|" + "--:|" * (4 * len(extra) + len(others)) + "--:|",
    ]
    matrix: list[dict[str, Any]] = []  # servelab's ratios per cell, for the goals
    informative: dict[str, list[dict[str, Any]]] = {t: [] for t in extra}
    for cell in cells(runs):
        mine = in_cell(runs, cell)
        rows = {row["tool"]: row for row in summarize_throughput(mine)}
        theirs = rows.get(ref_name or "")
        ours = versus(mine, rows, SERVELAB, ref_name)
        matrix.append({"cell": cell, **ours})
        target, concurrency = cell
        line = (
            f"| {target or s.get('worker_class', '?')} | {concurrency or s.get('concurrency', '?')}"
            f" | {_num(ours['rps'])} | {_num(_get(theirs, 'rps_mean'))}"
            f" | {_num(ours['ratio'], 2)}{_spread(ours['paired'])}"
            f" | {_num(ours['cpu_ms_per_1k'], 1)}"
            f" | {_num(_get(theirs, 'steady_cpu_ms_per_1k'), 1)} | {_num(ours['cpu'], 2)}"
        )
        for t in extra:
            theirs_too = versus(mine, rows, t, ref_name)
            informative[t].append({"cell": cell, **theirs_too})
            line += (
                f" | {_num(theirs_too['rps'])}"
                f" | {_num(theirs_too['ratio'], 2)}{_spread(theirs_too['paired'])}"
                f" | {_num(theirs_too['cpu_ms_per_1k'], 1)} | {_num(theirs_too['cpu'], 2)}"
            )
        lines.append(
            line
            + "".join(f" | {_num(rows[t]['rps_mean']) if t in rows else '—'}" for t in others)
            + f" | {sum(row['errors'] for row in rows.values())} |"
        )
    lines += [
        "",
        "requests/s: each tool's own count over its own measured time, the mean over rounds;"
        f" servelab ÷ {ref}: of the means, with each round's own ratio in brackets (the two"
        " ran seconds apart: a paired comparison)"
        + "".join(f"; {t} ÷ {ref} likewise" for t in extra)
        + ". CPU: the tool's process tree over a steady"
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
    by_tool = {row["tool"]: row for row in timing}
    lines += ["", "Goals, as measured here:", ""]
    lines += _goals(matrix, ref, by_tool)
    for t in extra:
        lines += ["", f"{t}, the same ratios as information (the goals are servelab's):", ""]
        lines += _ratios(t, informative[t], ref, by_tool)
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


def _ratios(
    tool: str, matrix: list[dict[str, Any]], ref: str, timing: dict[str, dict[str, Any]]
) -> list[str]:
    """The goals' ratios for another servelab tool, without a verdict: it has no goals."""
    out = []
    for key, what in (("ratio", f"req/s ÷ {ref} req/s"), ("cpu", f"CPU per request ÷ {ref}'s")):
        known = [m for m in matrix if m[key] is not None]
        if known:
            out.append(f"- {tool} {what}: {_span(known, key)}")
    if tool in timing and timing[tool]["p50"] is not None:
        out.append(f"- {tool} median timing error = {timing[tool]['p50']:.3f} ms")
    return out


def _span(matrix: list[dict[str, Any]], key: str) -> str:
    low = min(matrix, key=lambda m: m[key])
    high = max(matrix, key=lambda m: m[key])
    if len(matrix) == 1:
        return f"{low[key]:.3f} ({_cell(low['cell'])})"
    return f"from {low[key]:.3f} ({_cell(low['cell'])}) to {high[key]:.3f} ({_cell(high['cell'])})"


def regenerate(results_json: Path, out: Path | None = None) -> str:
    """Write ``results.md`` (beside ``results_json`` unless ``out``) from ``results_json``;
    return its text."""
    markdown = render(json.loads(results_json.read_text()))
    (out or results_json.with_name("results.md")).write_text(markdown)
    return markdown


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.report",
        description="results.json (bench.run's, the matrix's or an older one-cell file)"
        " → results.md beside it, printed too",
    )
    parser.add_argument("results", type=Path, help="a results.json written by bench.run")
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write (default: results.md beside it)"
    )
    args = parser.parse_args(argv)
    try:
        print(regenerate(args.results, args.out), end="")
    except (OSError, ValueError, KeyError) as exc:
        print(f"bench.report: {args.results}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def _cell(cell: tuple[str, int]) -> str:
    target, concurrency = cell
    if not target:
        return "the one cell"
    return f"{target}, {concurrency} connection{'' if concurrency == 1 else 's'}"


if __name__ == "__main__":
    sys.exit(main())
