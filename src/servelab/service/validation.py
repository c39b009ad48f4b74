"""Turn a ``POST /predict`` request into checked values, or a 4xx that names what was wrong.

The checks, in the order they run, and what each failure answers (``field`` in the JSON error):

- a query string over ``MAX_QUERY_BYTES`` bytes, on any route: 414, field ``query``.
- Content-Type other than ``application/json`` (charset absent or utf-8), or a
  Content-Encoding other than identity: 415, field ``Content-Type``/``Content-Encoding``.
- a body over ``max_body_bytes`` (Flask's ``MAX_CONTENT_LENGTH``), declared in Content-Length
  or found while reading a chunked body: 413, field ``body``.
- a body that is not one UTF-8 JSON object: syntax, NaN/Infinity, integer literals of more than
  ``MAX_INT_DIGITS`` digits, nesting too deep, broken chunked encoding, a key given twice:
  400, field ``body`` (or the key).
- a field the contract does not have, or one of the wrong type (``floor: 2.0`` and
  ``floor: null`` included) or out of range, or a floor above floors_count: 400, that field.
- a query parameter that is unknown, repeated, or out of range: 400, that parameter.

``openapi.py`` describes the same rules; ``tests/test_contract.py`` holds them to it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from .config import WORKLOADS, ServiceConfig

# A flat larger than this is a typo, not a flat; it also keeps prices far from overflow.
MAX_AREA = 100_000.0
MAX_FLOORS = 300
BODY_FIELDS = ("area", "floor", "floors_count")
QUERY_PARAMETERS = ("workload", "n")
JSON_MEDIA_TYPE = "application/json"
# No number in the contract needs more; and Python refuses int literals over 4300 digits with
# a bare ValueError, which must not reach the client as a 500.
MAX_INT_DIGITS = 64
# Every parameter of the contract fits in a few dozen bytes; this leaves room for clients that
# add their own (tracking, cache busting) and refuses the rest before anything parses it.
MAX_QUERY_BYTES = 2048
_READ_SIZE = 64 * 1024
# Error messages quote what the client sent; a quote is for recognising it, not for echoing it.
_QUOTE = 40


class InvalidInput(ValueError):
    """Bad input; ``field`` names what was wrong (``body`` for the request as a whole).

    ``status`` is the HTTP status it answers: 400, or 413/415 for the body's size and type.
    """

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


@dataclass(frozen=True)
class PredictRequest:
    area: float
    floor: int | None
    floors_count: int | None
    workload: str
    n: int


def _quote(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _QUOTE else text[: _QUOTE - 3] + "..."


def _reject_constant(name: str) -> float:
    raise InvalidInput("body", f"body must be valid JSON; {name} is not a number in JSON")


def _parse_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise InvalidInput("body", f"body has an integer of more than {MAX_INT_DIGITS} digits")
    return int(literal)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidInput(key[:_QUOTE], f"{_quote(key)} is given more than once")
            seen.add(key)
    return data


def check_query_length(query_string: bytes) -> None:
    """InvalidInput (414) for a query string over ``MAX_QUERY_BYTES`` bytes."""
    if len(query_string) > MAX_QUERY_BYTES:
        raise InvalidInput(
            "query", f"the query string must be at most {MAX_QUERY_BYTES} bytes", 414
        )


def parse_body(raw: bytes) -> dict[str, object]:
    """The JSON object in ``raw``; InvalidInput (400) for anything else."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInput("body", f"body is not UTF-8: {error}") from None
    if not text.strip():
        raise InvalidInput("body", 'body must be a JSON object such as {"area": 42}')
    try:
        data = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
            object_pairs_hook=_unique_keys,
        )
    except InvalidInput:
        raise
    except RecursionError:
        raise InvalidInput("body", "body is nested too deeply to be a prediction request") from None
    except ValueError as error:  # JSONDecodeError is one
        raise InvalidInput("body", f"body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidInput("body", 'body must be a JSON object such as {"area": 42}')
    return data


def check_content_type(request: Request) -> None:
    """415 unless the body is declared ``application/json`` in UTF-8, without compression."""
    if request.mimetype != JSON_MEDIA_TYPE:
        sent = request.headers.get("Content-Type")
        what = f"not {_quote(sent)}" if sent else "and the request has none"
        raise InvalidInput("Content-Type", f"Content-Type must be {JSON_MEDIA_TYPE}, {what}", 415)
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise InvalidInput(
            "Content-Type", f"JSON must be sent as UTF-8, not charset={_quote(charset)}", 415
        )
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise InvalidInput(
            "Content-Encoding", f"Content-Encoding {_quote(encoding)} is not supported", 415
        )


def _read_body(request: Request) -> bytes:
    limit = request.max_content_length
    chunked = request.content_length is None and "wsgi.input_terminated" in request.environ
    if limit is None or not chunked:
        # A declared Content-Length over the limit raises RequestEntityTooLarge unread.
        return request.get_data(cache=False)
    # Without a length, werkzeug's own limit stops reading at ``limit`` bytes and returns what
    # it has, so an oversized chunked body would be cut short, not refused: read one byte past.
    stream = request.environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        try:
            chunk = stream.read(min(_READ_SIZE, limit + 1 - size))
        except Exception as error:
            # A malformed chunk: OSError from werkzeug, gunicorn's own ParseException, and
            # whatever another server raises; it is the client's error, not a 500.
            raise InvalidInput("body", f"body is not valid chunked encoding: {error}") from None
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise RequestEntityTooLarge()
    return b"".join(chunks)


def parse_request(request: Request) -> dict[str, object]:
    """The JSON object of a ``POST /predict`` request: type (415), size (413), then JSON (400)."""
    check_content_type(request)
    try:
        raw = _read_body(request)
    except RequestEntityTooLarge:
        limit = request.max_content_length
        raise InvalidInput(
            "body", f"body must be at most {limit} bytes" if limit else "body is too large", 413
        ) from None
    return parse_body(raw)


def _number(data: Mapping[str, object], field: str) -> float | None:
    value = data.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(field, f"{field} must be a number, not {_quote(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float: out of every range we have
        number = math.inf
    if not math.isfinite(number):
        raise InvalidInput(field, f"{field} must be a finite number")
    return number


def _whole(data: Mapping[str, object], field: str) -> int | None:
    if field not in data:
        return None
    value = data[field]
    # A JSON integer, as the document says (2.0 is a number, not an integer, in OpenAPI 3.0);
    # null is not one either: an optional field is left out, not sent empty.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_FLOORS:
        raise InvalidInput(field, f"{field} must be a whole number from 1 to {MAX_FLOORS}")
    return value


def _single(args: MultiDict[str, str], name: str) -> str | None:
    values = args.getlist(name)
    if len(values) > 1:
        raise InvalidInput(name, f"{name} is given {len(values)} times; give it once")
    return values[0] if values else None


def parse_query(args: MultiDict[str, str], config: ServiceConfig) -> tuple[str, int]:
    """``workload`` and ``n`` from the query string, defaulting to ``config``."""
    unknown = [name for name in args if name not in QUERY_PARAMETERS]
    if unknown:
        raise InvalidInput(
            unknown[0][:_QUOTE],
            f"unknown query parameter {_quote(unknown[0])}; /predict takes workload and n",
        )
    workload = _single(args, "workload")
    if workload is None:
        workload = config.workload
    elif workload not in WORKLOADS:
        raise InvalidInput("workload", f"workload must be one of {', '.join(WORKLOADS)}")
    n = config.n
    raw = _single(args, "n")
    if raw is not None:
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses; and a length
        # check first, so that a 5000-digit n is refused without converting it.
        digits = raw.lstrip("0") or "0"
        if (
            not (raw.isascii() and raw.isdigit())
            or len(digits) > len(str(config.max_n))
            or not 1 <= int(digits) <= config.max_n
        ):
            raise InvalidInput("n", f"n must be a whole number from 1 to {config.max_n}")
        n = int(digits)
    return workload, n


def parse_predict(
    body: Mapping[str, object], args: MultiDict[str, str], config: ServiceConfig
) -> PredictRequest:
    """Check the JSON body and the ``workload``/``n`` query parameters against ``config``."""
    unknown = [name for name in body if name not in BODY_FIELDS]
    if unknown:
        raise InvalidInput(
            unknown[0][:_QUOTE],
            f"unknown field {_quote(unknown[0])}; the body takes area, floor and floors_count",
        )
    if "area" not in body:
        raise InvalidInput("area", "area is required (square metres, a number > 0)")
    area = _number(body, "area")
    if area is None or not 0 < area <= MAX_AREA:
        raise InvalidInput("area", f"area must be a number > 0 and <= {MAX_AREA:g}")
    floor = _whole(body, "floor")
    floors_count = _whole(body, "floors_count")
    if floor is not None and floors_count is not None and floor > floors_count:
        raise InvalidInput("floor", "floor must not be above floors_count")
    workload, n = parse_query(args, config)
    return PredictRequest(area, floor, floors_count, workload, n)
