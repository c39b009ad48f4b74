"""The burst: N independent POSTs fired by C threads released at the same instant.

Each request opens its own connection and sends ``Connection: close``, so requests share
nothing, like the seed's process pool of ``requests.post`` calls. A request that fails
becomes a record with an ``error_class``; the burst itself raises only when it cannot run
at all (a malformed URL: ``LoadError``) or when ``on_record`` raises.

Not for throughput measurements: one thread per in-flight request and a fresh connection
each time cap the request rate far below what a server can take.
"""

from __future__ import annotations

import http.client
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from servelab._io import JsonlWriter
from servelab.errors import LoadError
from servelab.load.records import BODY_LIMIT, RequestRecord
from servelab.service import headers

_READ_CHUNK = 64 * 1024
# Threads start in well under a second; this only stops a broken burst from hanging.
_BARRIER_TIMEOUT = 30.0
# The engine's own request headers: a request must stay one JSON POST on its own connection.
_ENGINE_HEADERS = frozenset({"connection", "content-length", "content-type", "host"})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field-name


@dataclass(frozen=True)
class Target:
    """Where requests go: a validated ``http://host[:port]/path?query`` URL."""

    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Target:
        """Validate ``url``; a ``LoadError`` says what is wrong with it."""
        parts = urlsplit(url.strip())
        if parts.scheme != "http":
            raise LoadError(
                f"URL must start with http:// (got {url!r}); "
                "e.g. http://127.0.0.1:5000/predict?workload=io"
            )
        try:
            port = parts.port or 80
        except ValueError:
            raise LoadError(f"URL has an invalid port: {url!r}") from None
        if not parts.hostname:
            raise LoadError(f"URL has no host: {url!r}")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return cls(host=parts.hostname, port=port, path=path)


def default_area(index: int) -> int:
    """The seed's areas: 10, 20, ... 100, then again from 10."""
    return 10 * (index % 10 + 1)


def run_burst(
    url: str,
    *,
    requests: int = 10,
    concurrency: int = 10,
    areas: Sequence[float] | None = None,
    timeout: float = 60.0,
    records_path: Path | None = None,
    on_record: Callable[[RequestRecord], None] | None = None,
    cancel: threading.Event | None = None,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    body: bytes | None = None,
) -> list[RequestRecord]:
    """POST ``{"area": a}`` to ``url`` ``requests`` times from ``concurrency`` threads.

    The first ``concurrency`` requests leave together (a barrier releases the threads);
    each thread then takes the next unsent request until none is left. Request ``i`` sends
    ``areas[i % len(areas)]`` (default 10, 20, ... 100). ``timeout`` bounds each request
    as a whole (connect, send, wait, read). Records are appended to ``records_path`` and
    passed to ``on_record`` as requests complete; the list comes back in that same order.
    Setting ``cancel`` sends no further request; those in flight finish (or fail) and the
    burst returns the records it has, fewer than ``requests``. ``headers`` are added to every
    request (e.g. ``{"Authorization": "Bearer <token>"}``); they never reach the records.
    ``method`` and ``body`` send something else: ``body`` as it is to every request, and no
    body at all for a method other than POST without one (e.g. GET).
    """
    target = Target.parse(url)
    extra_headers = check_header_fields(headers)
    if not _TOKEN.fullmatch(method):
        raise LoadError(f"not a valid HTTP method: {method!r}")
    if requests < 0:
        raise LoadError(f"requests must be >= 0, not {requests}")
    if concurrency < 1:
        raise LoadError(f"concurrency must be >= 1, not {concurrency}")
    if not timeout > 0:
        raise LoadError(f"timeout must be > 0 seconds, not {timeout}")
    if areas is not None and len(areas) == 0:
        raise LoadError("areas must not be empty")
    area_list = [
        areas[i % len(areas)] if areas is not None else default_area(i) for i in range(requests)
    ]
    try:
        payloads = [json.dumps({"area": area}).encode() for area in area_list]
    except (TypeError, ValueError) as exc:
        raise LoadError(f"areas must be numbers: {exc}") from None
    if body is not None or method != "POST":
        payloads = [body or b""] * requests
    if requests == 0:
        return []

    threads = min(concurrency, requests)
    next_index = iter(range(requests))
    take_lock = threading.Lock()
    done: queue.Queue[RequestRecord] = queue.Queue()
    stop = threading.Event()
    released: list[float] = []
    barrier = threading.Barrier(threads, action=lambda: released.append(time.time()))

    def worker() -> None:
        try:
            barrier.wait(_BARRIER_TIMEOUT)
        except threading.BrokenBarrierError:
            return
        while not stop.is_set() and not (cancel is not None and cancel.is_set()):
            with take_lock:
                index = next(next_index, None)
            if index is None:
                return
            record = send_one(
                target,
                index,
                area_list[index],
                released[0],
                timeout,
                payloads[index],
                headers=extra_headers,
                method=method,
            )
            done.put(record)

    pool = [
        threading.Thread(target=worker, name=f"servelab-burst-{n}", daemon=True)
        for n in range(threads)
    ]
    records: list[RequestRecord] = []
    writer = JsonlWriter(records_path) if records_path is not None else None
    # A request ends within `timeout` of leaving, and a thread sends at most
    # ceil(requests / threads) of them in turn: past that the burst is broken, not slow.
    deadline = time.monotonic() + _BARRIER_TIMEOUT + timeout * (-(-requests // threads) + 1)
    finished = False
    try:
        for thread in pool:
            thread.start()
        while len(records) < requests:
            if barrier.broken:
                raise LoadError("the burst's threads did not all start")
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise LoadError(f"the burst did not finish: {len(records)}/{requests} completed")
            try:
                record = done.get(timeout=min(wait, 0.05 if cancel is not None else 0.5))
            except queue.Empty:
                cancelled = cancel is not None and cancel.is_set()
                if cancelled and done.empty() and not any(t.is_alive() for t in pool):
                    break
                continue
            records.append(record)
            if writer is not None:
                writer.write(record.to_dict())
            if on_record is not None:
                on_record(record)
        finished = True
    finally:
        stop.set()
        if not finished:
            barrier.abort()  # threads still waiting to start give up at once
        if writer is not None:
            writer.close()
        # After the last record the threads are only returning. On an error or Ctrl-C,
        # do not wait out requests in flight: the threads are daemons and end with them.
        join_until = time.monotonic() + (timeout + 1.0 if finished else 1.0)
        for thread in pool:
            if thread.ident is not None:
                thread.join(timeout=max(0.0, join_until - time.monotonic()))
    return records


def send_one(
    target: Target,
    index: int,
    area: float,
    intended_start: float,
    timeout: float,
    payload: bytes | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
) -> RequestRecord:
    """Send one POST on a fresh connection and turn whatever happens into a record.

    ``headers`` are sent besides the engine's own (checked by ``run_burst``, not here).
    ``method`` with an empty ``payload`` sends no body.
    """
    if payload is None:
        payload = json.dumps({"area": area}).encode()
    status: int | None = None
    response_headers: http.client.HTTPMessage | None = None
    text: str | None = None
    error_class: str | None = None
    error: str | None = None

    start = time.time()
    t0 = time.perf_counter()
    deadline = t0 + timeout
    conn: http.client.HTTPConnection | None = None
    response: http.client.HTTPResponse | None = None
    try:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
        conn.connect()
        sock = conn.sock
        _set_remaining(sock, deadline)
        conn.request(
            method,
            target.path,
            body=payload or None,
            headers={
                **(headers or {}),
                **({"Content-Type": content_type_of(payload)} if payload else {}),
                "Connection": "close",
            },
        )
        _set_remaining(sock, deadline)
        response = conn.getresponse()
        status = response.status
        response_headers = response.msg
        raw = _read_body(response, sock, deadline)
        text = raw.decode("utf-8", errors="replace")
    except Exception as exc:  # every failure of one request becomes its record
        error_class = classify_exception(exc)
        error = describe_exception(exc)
    finally:
        if response is not None:
            response.close()
        if conn is not None:
            conn.close()
    latency = time.perf_counter() - t0

    if error_class is None and status is not None and not 200 <= status < 300:
        error_class = classify_status(status)
        error = _http_error(status, text or "")

    pid, thread, handler_start, handler_duration = _served_by(response_headers)
    return RequestRecord(
        index=index,
        area=area,
        intended_start=intended_start,
        start=start,
        end=start + latency,
        latency=latency,
        status=status,
        ok=error_class is None,
        error_class=error_class,
        error=error,
        body=text[:BODY_LIMIT] if text is not None else None,
        served_pid=pid,
        served_thread=thread,
        handler_start=handler_start,
        handler_duration=handler_duration,
    )


def content_type_of(body: bytes) -> str:
    """``application/json`` for a body that parses as JSON, else ``application/octet-stream``."""
    try:
        json.loads(body)
    except ValueError:
        return "application/octet-stream"
    return "application/json"


def check_header_fields(
    headers: Mapping[str, str] | None, reserved: frozenset[str] = _ENGINE_HEADERS
) -> dict[str, str]:
    """Validate extra request headers; ``reserved`` (lower case) are the sender's own.

    A ``LoadError`` names a bad header, never its value (it may be a token).
    """
    checked: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise LoadError(f"not a valid header name: {name!r}")
        if name.lower() in reserved:
            raise LoadError(f"header {name!r} is set by the load engine itself")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            # The value may be a secret (a token): name the header, never show the value.
            raise LoadError(f"header {name!r} has a value that is not one line of text")
        checked[name] = value
    return checked


def describe_exception(exc: BaseException) -> str:
    """``"ClassName: message"``, or the class name alone when there is no message."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def classify_exception(exc: BaseException) -> str:
    """The ``error_class`` of an exception raised while sending or reading a request."""
    # RemoteDisconnected is also a ConnectionResetError: test it first.
    if isinstance(exc, http.client.RemoteDisconnected | http.client.IncompleteRead):
        return "disconnected"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "reset"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "other"


def classify_status(status: int) -> str:
    """The ``error_class`` of a response that is not 2xx."""
    if 400 <= status < 500:
        return "http-4xx"
    if 500 <= status < 600:
        return "http-5xx"
    return "other"


def _http_error(status: int, text: str) -> str:
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and "error" in payload:
        return str(payload["error"])
    snippet = " ".join(text.split())[:BODY_LIMIT]
    reason = http.client.responses.get(status, "")
    return f"HTTP {status} {reason}: {snippet}" if snippet else f"HTTP {status} {reason}"


def _set_remaining(sock: object, deadline: float) -> None:
    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        raise TimeoutError("timed out")
    settimeout = getattr(sock, "settimeout", None)
    if settimeout is not None:
        settimeout(remaining)


def _read_body(response: http.client.HTTPResponse, sock: object, deadline: float) -> bytes:
    # Per-read socket timeouts alone would let a slowly dripping server run past the
    # request's timeout; shrinking the timeout before each read keeps the total bounded.
    chunks: list[bytes] = []
    while True:
        _set_remaining(sock, deadline)
        chunk = response.read1(_READ_CHUNK)
        if not chunk:
            break
        chunks.append(chunk)
    body = b"".join(chunks)
    # read1 returns b"" when the server closes early; read() would raise this itself.
    if response.length:
        raise http.client.IncompleteRead(body, response.length)
    return body


def _served_by(
    msg: http.client.HTTPMessage | None,
) -> tuple[int | None, int | None, float | None, float | None]:
    if msg is None:
        return None, None, None, None
    return served_by(msg.get)


def served_by(
    get: Callable[[str], str | None],
) -> tuple[int | None, int | None, float | None, float | None]:
    """(pid, thread, handler start, handler duration) from the servelab headers ``get`` finds.

    ``get(name)`` returns a response header's value by its name, or None.
    """
    return (
        _as_int(get(headers.PID)),
        _as_int(get(headers.THREAD)),
        _as_float(get(headers.START)),
        _handler_duration(get(headers.SERVER_TIMING)),
    )


def _handler_duration(value: str | None) -> float | None:
    """Seconds from ``Server-Timing: handler;dur=<ms>`` (other metrics are skipped)."""
    if not value:
        return None
    for metric in value.split(","):
        name, *params = (part.strip() for part in metric.split(";"))
        if name != headers.SERVER_TIMING_METRIC:
            continue
        for param in params:
            key, _, raw = param.partition("=")
            if key.strip() == "dur":
                ms = _as_float(raw.strip().strip('"'))
                return ms / 1000.0 if ms is not None else None
    return None


def _as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _as_float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
