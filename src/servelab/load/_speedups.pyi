# The C closed loop (_speedups.c); servelab.load.speedups loads it.
from collections.abc import Iterator
from typing import Any

def setup(
    heads: dict[bytes, Any],
    heads_head_only: dict[bytes, Any],
    parser_type: type,
    head_type: type,
    response_type: type,
    protocol_error: type[BaseException],
    server_disconnected: type[BaseException],
    incomplete_read: type[BaseException],
    body_keep: int,
    /,
) -> None: ...
def run_closed(
    family: int,
    host: str,
    port: int,
    payloads: list[tuple[float, bytes]],
    users: int,
    limit: int,
    end_ns: int,
    think_ns: int,
    timeout_ns: int,
    sweep_ns: int,
    reuse: bool,
    head_only: bool,
    recorder: Any,
    fast_record: bool,
    /,
) -> tuple[int, int]: ...
def run_open(
    family: int,
    host: str,
    port: int,
    payloads: list[tuple[float, bytes]],
    offsets: Iterator[int],
    t0: int,
    give_up_ns: int,
    end_by_ns: int,
    max_in_flight: int,
    timeout_ns: int,
    sweep_ns: int,
    reuse: bool,
    head_only: bool,
    recorder: Any,
    fast_record: bool,
    late_ns: int,
    why_unsent: str,
    /,
) -> tuple[int, int, int, int, int, int]: ...
