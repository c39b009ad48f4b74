"""``servelab load URL``: a burst, a closed loop or an open loop against any HTTP endpoint."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click

from .._io import atomic_write_json, atomic_write_text
from ..errors import ConfigError, LoadError
from ..load import (
    DEFAULT_MAX_IN_FLIGHT,
    LoadSummary,
    RequestSpec,
    RequestTemplate,
    Slo,
    Target,
    check_reachable,
    check_slos,
    describe,
    format_seed_line,
    parse_header,
    run_burst,
    run_closed,
    run_open,
)
from ..load.limits import check_seconds
from ..load.summary import Parameters, summarize
from ..units import parse_size
from .distributed import check_engine_options, engine_options, run_on_locust
from .options import LOOP_DURATION, open_loop_rate

LOAD_MODES = ("burst", "closed", "open")
_LOOP_TIMEOUT = 10.0
_BURST_TIMEOUT = 60.0
# Options that only one mode reads, and the modes that read them.
_MODE_OPTIONS = {
    "duration": ("closed", "open"),
    "rate": ("open",),
    "think_time": ("closed",),
    "max_in_flight": ("open",),
    "keep_alive": ("closed", "open"),
}


# An env file's setting; the value is read as the app would, without shell expansion.
_ENV_LINE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)")


class SloFailed(click.ClickException):
    """Some --slo did not hold: exit status 3, so scripts can tell it from a failed run."""

    exit_code = 3


@click.command()
@click.argument("url")
@click.option(
    "--mode",
    type=click.Choice(LOAD_MODES),
    default="burst",
    show_default=True,
    help="burst: --requests all due at once, at most --concurrency in flight, each on its own "
    "connection (the seed's test; prints its log lines). closed: --concurrency users send "
    "back to back. open: requests arrive at --rate whatever the server does, and latency "
    "counts from each one's intended send time, so a stalled server cannot hide its stall.",
)
@click.option(
    "--method",
    default="POST",
    show_default=True,
    help="HTTP method. POST without a body (--body, --body-file, --payload) sends the seed's "
    '{"area": ...} bodies; other methods send none unless given (GET works anywhere).',
)
@click.option(
    "--header",
    "header_texts",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="An extra request header; repeat for more.",
)
@click.option(
    "--body",
    default=None,
    help="Request body (UTF-8 text), e.g. '{\"rows\": {size}}': every {size} becomes --size.",
)
@click.option(
    "--body-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSONL file: each line one JSON body, sent in turn (cycling).",
)
@click.option(
    "--payload",
    default=None,
    metavar="MODULE:FUNCTION",
    help="A hook that makes the body: FUNCTION(size) returns bytes (str, dict, list are "
    "encoded). It runs in --python, in --app-dir, once before the run.",
)
@click.option(
    "--size",
    "size_text",
    default=None,
    metavar="N",
    help="The input size: fills {size} in --body, and is passed to the --payload hook.",
)
@click.option(
    "--python",
    "python",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The interpreter of the app's environment the --payload hook runs with "
    "[default: servelab's own].",
)
@click.option(
    "--app-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The --payload hook's working directory, first on its import path [default: .].",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The app's settings (KEY=VALUE lines, as a .env file): --token env:NAME reads NAME "
    "here first, then in the environment.",
)
@click.option(
    "--requests",
    "requests_",
    type=int,
    default=None,
    help="burst: how many requests [default: 10]. closed/open: stop after this many.",
)
@click.option(
    "--concurrency",
    type=int,
    default=10,
    show_default=True,
    help="burst: most requests in flight at once. closed: users, each with its own connection.",
)
@click.option(
    "--duration",
    type=float,
    default=None,
    help=f"closed/open: seconds of load [default: {LOOP_DURATION:g}, or until --requests "
    "when only that is given].",
)
@click.option(
    "--rate",
    default=None,
    metavar="R|R1:R2",
    help="open (required): requests per second, or a linear ramp from R1 to R2 over --duration.",
)
@click.option(
    "--think-time",
    type=float,
    default=0.0,
    show_default=True,
    help="closed: seconds a user waits between a response and its next request.",
)
@click.option(
    "--max-in-flight",
    type=int,
    default=DEFAULT_MAX_IN_FLIGHT,
    show_default=True,
    help="open: most requests in flight at once, one connection each (the pool's bound); a "
    "request due beyond it waits, counted as held back, and as a late send if it leaves more "
    "than 5 ms after its intended time.",
)
@click.option(
    "--timeout",
    type=float,
    default=None,
    help=f"Seconds one request may take, connect to last byte [default: {_BURST_TIMEOUT:g} "
    f"for burst, {_LOOP_TIMEOUT:g} for closed/open, checked every 50 ms or timeout/10]. "
    "Every number of seconds is > 0 (--think-time >= 0) and at most a day; the client's "
    "open-file limit and memory are checked against the run before it starts.",
)
@click.option(
    "--keep-alive/--no-keep-alive",
    default=True,
    show_default=True,
    help="closed/open: reuse connections (HTTP/1.1 keep-alive) or send 'Connection: close'. "
    "A burst always opens one connection per request.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep OUT/records.jsonl (one row per request), OUT/timeseries.jsonl (one row per "
    "second) and OUT/summary.json.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option(
    "--slo",
    "slo_texts",
    multiple=True,
    metavar="SLO",
    help="An objective to check, e.g. p99<500ms, errors<1%, rps>100 (metrics: p50 p90 p99 "
    "p99.9 max mean errors rps; ops < <= > >=); repeat for more. Exit status 3 if any fails.",
)
@click.option(
    "--token",
    envvar="SERVELAB_TOKEN",
    show_envvar=True,
    default=None,
    help="Send 'Authorization: Bearer TOKEN' with every request; env:NAME takes it from "
    "--env-file or the environment variable NAME. Never printed.",
)
@engine_options
@click.pass_context
def load(
    ctx: click.Context,
    url: str,
    mode: str,
    method: str,
    header_texts: tuple[str, ...],
    body: str | None,
    body_file: Path | None,
    payload: str | None,
    size_text: str | None,
    python: Path | None,
    app_dir: Path | None,
    env_file: Path | None,
    requests_: int | None,
    concurrency: int,
    duration: float | None,
    rate: str | None,
    think_time: float,
    max_in_flight: int,
    timeout: float | None,
    keep_alive: bool,
    out: Path | None,
    as_json: bool,
    slo_texts: tuple[str, ...],
    token: str | None,
    engine: str,
    processes: int | None,
    master: bool,
    expect_workers: int | None,
    master_bind_host: str | None,
    master_port: int | None,
    workers_wait: float,
) -> None:
    """Load URL (any HTTP endpoint, e.g. http://127.0.0.1:5000/predict) and summarise.

    Exit status: 0 the run was made (and every --slo held), 3 some --slo failed, 2 bad usage,
    1 the run could not be made (e.g. nothing listens at URL).
    """
    # The summary's percentiles import numpy after the run; OpenBLAS would start a thread
    # per core for it that spins a while (70 ms of CPU here) and is never used for a sort.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    for name, modes in _MODE_OPTIONS.items():
        source = ctx.get_parameter_source(name)
        if source is not None and source.name == "COMMANDLINE" and mode not in modes:
            option = "--" + name.replace("_", "-")
            raise click.UsageError(f"{option} is for --mode {' or '.join(modes)}, not {mode}")
    check_engine_options(ctx, engine, mode)
    if (requests_ is not None and requests_ < 1) or concurrency < 1:
        raise click.BadParameter("--requests and --concurrency must be at least 1")
    _check_options(url, timeout=timeout, duration=duration, think_time=think_time)
    try:
        slos = [Slo.parse(text) for text in slo_texts]
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="'--slo'") from None
    try:
        for header in header_texts:
            parse_header(header)
    except LoadError as error:
        raise click.BadParameter(str(error), param_hint="'--header'") from None
    size = _size(size_text)
    _check_utf8(body)
    try:
        template = RequestTemplate.build(
            method=method,
            path=Target.parse(url).path,
            headers=header_texts,
            token=token or None,
            body=body,
            body_file=body_file,
            payload=payload,
            env=_env_settings(env_file) if env_file is not None else None,
        )
    except LoadError as error:
        raise click.UsageError(str(error)) from None
    if template.uses_size() and size is None:
        raise click.UsageError("the body depends on the size ({size} or --payload): give --size")
    if size is not None and not template.uses_size():
        raise click.UsageError("--size fills {size} in --body or is passed to --payload: give one")
    if (python is not None or app_dir is not None) and payload is None:
        raise click.UsageError("--python and --app-dir are for the --payload hook")
    # Built once before the run: a hook runs here, not per request.
    bodies = template.bodies(size, python=python, app_dir=app_dir) if template.has_body() else None
    headers = dict(template.headers)
    if out is not None:
        for name in ("records.jsonl", "timeseries.jsonl", "summary.json"):
            (out / name).unlink(missing_ok=True)
    records_path = out / "records.jsonl" if out else None
    request = RequestSpec(method=method, headers=headers, bodies=bodies or ())
    loop_timeout = _LOOP_TIMEOUT if timeout is None else timeout

    if engine == "locust":
        result = run_on_locust(
            url,
            mode=mode,
            request=request,
            requests=requests_,
            concurrency=concurrency,
            duration=duration,
            rate=rate,
            think_time=think_time,
            max_in_flight=max_in_flight,
            timeout=loop_timeout,
            keep_alive=keep_alive,
            out=out,
            processes=processes,
            master=master,
            expect_workers=expect_workers,
            master_bind_host=master_bind_host,
            master_port=master_port,
            workers_wait=workers_wait,
        )
    elif mode == "burst":
        burst_timeout = _BURST_TIMEOUT if timeout is None else timeout
        records = run_burst(
            url,
            requests=requests_ or 10,
            concurrency=concurrency,
            timeout=burst_timeout,
            records_path=records_path,
            on_record=None if as_json else lambda record: click.echo(format_seed_line(record)),
            headers=headers or None,
            method=method,
            bodies=bodies,
        )
        parameters: Parameters = {
            "requests": requests_ or 10,
            "concurrency": concurrency,
            "timeout": burst_timeout,
        }
        result = summarize(
            records,
            mode="burst",
            url=url,
            method=method,
            parameters=parameters,
            client_cpu_seconds=records.client_cpu_seconds,
        )
    else:
        result = _run_loop(
            url,
            mode=mode,
            request=request,
            requests=requests_,
            concurrency=concurrency,
            duration=duration,
            rate=rate,
            think_time=think_time,
            max_in_flight=max_in_flight,
            timeout=loop_timeout,
            keep_alive=keep_alive,
            records_path=records_path,
        )
    if result.sent and result.errors_by_class.get("refused") == result.sent:
        raise click.ClickException(f"nothing is listening at {url}: every connection was refused")
    summary = result.to_json()
    text = describe(result)
    checked = check_slos(slos, result)
    if checked:
        summary = {**summary, "slo": [c.to_dict() for c in checked]}
        text += [c.line() for c in checked]
    if out is not None:
        atomic_write_json(out / "summary.json", summary)
        atomic_write_text(
            out / "timeseries.jsonl", "".join(json.dumps(row) + "\n" for row in result.series)
        )
    if as_json:
        click.echo(json.dumps(summary))
    else:
        for line in text:
            click.echo(line)
    failed = [c for c in checked if not c.held]
    if failed:
        raise SloFailed(
            f"{len(failed)} of {len(checked)} SLOs failed: " + ", ".join(c.slo.text for c in failed)
        )


def _check_options(
    url: str, *, timeout: float | None, duration: float | None, think_time: float
) -> None:
    """Refuse a malformed URL and out-of-range seconds before anything starts (exit 2)."""
    try:
        Target.parse(url)
    except LoadError as error:
        raise click.BadParameter(str(error), param_hint="'URL'") from None
    seconds = (("--timeout", timeout, False), ("--duration", duration, False))
    for option, value, zero_ok in (*seconds, ("--think-time", think_time, True)):
        if value is None:
            continue
        try:
            check_seconds("", value, zero_ok=zero_ok)
        except LoadError as error:
            raise click.BadParameter(str(error), param_hint=f"'{option}'") from None


def _check_utf8(body: str | None) -> None:
    """Bytes that are not UTF-8 (the shell passed them as they were) are refused rather
    than sent as something else."""
    try:
        (body or "").encode()
    except UnicodeEncodeError as error:
        raise click.BadParameter(
            f"not valid UTF-8 at character {error.start + 1}: give the body as UTF-8 text",
            param_hint="'--body'",
        ) from None


def _size(text: str | None) -> int | None:
    """``--size`` as a whole number (``1000``, ``10k``, ``1M``): a count of rows, items..."""
    if text is None:
        return None
    try:
        return parse_size(text)
    except ConfigError:
        raise click.BadParameter(
            f"not a size: {text!r} (a whole number, e.g. 1000, 10k or 1M)", param_hint="'--size'"
        ) from None


def _env_settings(path: Path) -> dict[str, str]:
    """The KEY=VALUE settings of an env file, for ``--token env:NAME``.

    Lines: ``KEY=value``, ``export KEY=value``, values in single or double quotes, ``#``
    comments and blank lines. A bad line is named by its number, never shown: it may hold a
    secret.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise click.BadParameter(f"cannot read {path}: {why}", param_hint="'--env-file'") from None
    settings: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.fullmatch(line)
        if match is None:
            raise click.BadParameter(
                f"{path}, line {number}: not KEY=VALUE", param_hint="'--env-file'"
            )
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        settings[match.group(1)] = value
    return settings


def _run_loop(
    url: str,
    *,
    mode: str,
    request: RequestSpec,
    requests: int | None,
    concurrency: int,
    duration: float | None,
    rate: str | None,
    think_time: float,
    max_in_flight: int,
    timeout: float,
    keep_alive: bool,
    records_path: Path | None,
) -> LoadSummary:
    """A closed or open loop from the command line's options; a dead target fails fast."""
    if duration is None and requests is None:
        duration = LOOP_DURATION
    if mode == "open":
        schedule = open_loop_rate(rate)
    check_reachable(url, timeout)
    if mode == "closed":
        result = run_closed(
            url,
            concurrency=concurrency,
            requests=requests,
            duration=duration,
            think_time=think_time,
            request=request,
            timeout=timeout,
            keep_alive=keep_alive,
            records_path=records_path,
        )
    else:
        result = run_open(
            url,
            rate=schedule,
            duration=duration,
            requests=requests,
            max_in_flight=max_in_flight,
            request=request,
            timeout=timeout,
            keep_alive=keep_alive,
            records_path=records_path,
        )
    return result
