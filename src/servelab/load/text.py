"""A closed- or open-loop run's summary as a few lines of text for the terminal."""

from __future__ import annotations

from servelab.load.recorder import LoadSummary

_LATENCY_KEYS = ("p50", "p90", "p99", "p99.9", "max")


def describe(summary: LoadSummary) -> list[str]:
    """What ``servelab load`` prints after a closed or open loop (without ``--json``)."""
    p = summary.parameters
    if summary.mode == "closed":
        what = f"closed loop, {p['concurrency']} users"
    else:
        what = f"open loop at {p['rate']} requests/s, at most {p['max_in_flight']} in flight"
    rps = f"{summary.throughput:,.1f}" if summary.throughput is not None else "-"
    lines = [
        f"{what}: {summary.requests:,} requests in {summary.elapsed:.2f} s, "
        f"{summary.ok:,} ok, {summary.errors:,} errors; {rps} requests/s",
        "latency ms  " + _row(summary.latency),
    ]
    if summary.mode == "open":
        lines.append("service ms  " + _row(summary.service_time))
    if summary.errors_by_class:
        lines.append(
            "errors: " + ", ".join(f"{n:,} {name}" for name, n in summary.errors_by_class.items())
        )
    if summary.by_status:
        lines.append(
            "statuses: " + ", ".join(f"{n:,} x {status}" for status, n in summary.by_status.items())
        )
    if summary.mode == "open":
        delay = summary.send_delay_mean
        lines.append(
            f"late sends: {summary.late_sends:,} (> {summary.late_threshold * 1000:g} ms late; "
            f"mean send delay {_ms(delay)} ms, max {_ms(summary.send_delay_max)} ms), "
            f"held back by the in-flight bound: {summary.held_back:,}, unsent: {summary.unsent:,}"
        )
    lines.append(
        f"connections opened: {summary.connections_opened:,}, "
        f"client CPU {summary.client_cpu_seconds:.2f} s"
    )
    return lines


def _row(values: dict[str, float | None]) -> str:
    return "  ".join(f"{key} {_ms(values.get(key))}" for key in _LATENCY_KEYS)


def _ms(seconds: float | None) -> str:
    return f"{seconds * 1000:.3f}" if seconds is not None else "-"
