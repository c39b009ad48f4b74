# The C closed loop (_speedups.c); servelab.load.speedups loads it.
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
    concurrency: int,
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
