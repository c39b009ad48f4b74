"""A run's summary as a few lines of text for the terminal, for every mode."""

from __future__ import annotations

from servelab.load.summary import Distribution, LoadSummary

_LATENCY_KEYS = ("p50", "p90", "p99", "p99.9", "max")


def describe(summary: LoadSummary) -> list[str]:
    """What ``servelab load`` prints after a run (without ``--json``).

    A burst gets the one line it printed under the seed's log lines: its makespan, how many
    were ok, its errors and the most handlers the servers said ran at once.
    """
    lines = _describe(summary)
    client = summary.errors_by_class.get("client")
    if client:
        # Say so in words: a client out of descriptors or ports fails at thousands a second,
        # and those failures are no measure of the server.
        lines.append(
            f"client errors: {client:,} requests failed in this client (out of file "
            "descriptors, buffers or local ports) and never reached the server"
        )
    return lines


def _describe(summary: LoadSummary) -> list[str]:
    if summary.mode == "burst":
        makespan = f"{summary.makespan:.2f}" if summary.makespan is not None else "-"
        line = (
            f"makespan {makespan} s, {summary.ok}/{summary.requests} ok, "
            f"errors {summary.errors_by_class or 'none'}, {at_once(summary)}"
        )
        return [line] if _known(summary) else [line + ": " + _why_unknown(summary)]
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
    if not _known(summary):
        lines.append(f"who served: unknown: {_why_unknown(summary)}")
    lines.append(
        f"connections opened: {summary.connections_opened:,}, client CPU {_client_cost(summary)}"
    )
    lines += _workers(summary)
    return lines


def _workers(summary: LoadSummary) -> list[str]:
    """A distributed run's workers: what each sent, and a warning for each one lost."""
    if not summary.workers:
        return []
    shares = ", ".join(f"#{w.index} {w.requests:,}" for w in summary.workers)
    lines = [f"Locust workers: {len(summary.workers)}; requests each: {shares}"]
    expected = summary.parameters.get("workers")
    if isinstance(expected, int) and expected > len(summary.workers):
        lines.append(
            f"⚠ {expected - len(summary.workers)} of the {expected} expected workers never "
            "connected: their share of the load was not sent"
        )
    for worker in summary.workers:
        if worker.error is not None:
            lines.append(f"⚠ worker #{worker.index} ({worker.node}) could not run: {worker.error}")
        elif worker.lost:
            lines.append(
                f"⚠ worker #{worker.index} ({worker.node}) was lost mid-run: counted are the "
                f"{worker.requests:,} requests it had reported; its share after that was not sent"
            )
    return lines


def _client_cost(summary: LoadSummary) -> str:
    """``0.52 s: 0.087 ms per request, 0.26 cores``: what the load engine spent, which a
    server sharing its machine did not get (a distributed run: all workers together)."""
    cpu = summary.client_cpu_seconds
    if cpu is None:
        return "not measured"
    text = f"{cpu:.2f} s"
    parts = []
    if summary.sent:
        parts.append(f"{cpu / summary.sent * 1000:.3f} ms per request")
    if summary.elapsed > 0:
        parts.append(f"{cpu / summary.elapsed:.2f} cores")
    if summary.loop is not None:  # the pure loop costs more per request: say which ran
        parts.append(f"the {summary.loop} loop")
    return f"{text}: {', '.join(parts)}" if parts else text


def at_once(summary: LoadSummary) -> str:
    """``max 3 at once``: the most handlers the servers said ran at once, or that nobody said.

    Unknown is never written as 0: a server that sends no served-by headers ran its
    handlers all the same.
    """
    h = summary.handlers
    if h is None or h.max_concurrent is None:
        return "handlers at once unknown"
    return f"max {h.max_concurrent} at once"


def _known(summary: LoadSummary) -> bool:
    # A run that kept no records (handlers None) has nothing to say either way.
    return summary.handlers is None or summary.handlers.known or summary.requests == 0


def _why_unknown(summary: LoadSummary) -> str:
    if summary.by_status:
        return "the server does not send servelab's served-by headers"
    return "no response came back to say who served it"


def _row(values: Distribution) -> str:
    return "  ".join(f"{key} {_ms(values.get(key))}" for key in _LATENCY_KEYS)


def _ms(seconds: float | None) -> str:
    return f"{seconds * 1000:.3f}" if seconds is not None else "-"
