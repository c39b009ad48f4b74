"""Turn a ``POST /predict`` request into checked values, or a 400 that names the field."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import WORKLOADS, ServiceConfig

# A flat larger than this is a typo, not a flat; it also keeps prices far from overflow.
MAX_AREA = 100_000.0
MAX_FLOORS = 300


class InvalidInput(ValueError):
    """Bad input; ``field`` names what was wrong (``body`` for the request as a whole)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PredictRequest:
    area: float
    floor: int | None
    floors_count: int | None
    workload: str
    n: int


def _reject_constant(name: str) -> float:
    raise InvalidInput("body", f"body must be valid JSON; {name} is not a number in JSON")


def parse_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise InvalidInput("body", 'body must be a JSON object such as {"area": 42}')
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInput("body", f"body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidInput("body", 'body must be a JSON object such as {"area": 42}')
    return data


def _number(data: Mapping[str, Any], field: str) -> float | None:
    value = data.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(field, f"{field} must be a number, not {json.dumps(value)[:40]}")
    if not math.isfinite(value):
        raise InvalidInput(field, f"{field} must be a finite number")
    return float(value)


def _whole(data: Mapping[str, Any], field: str) -> int | None:
    value = _number(data, field)
    if value is None:
        return None
    if not value.is_integer() or not 1 <= value <= MAX_FLOORS:
        raise InvalidInput(field, f"{field} must be a whole number from 1 to {MAX_FLOORS}")
    return int(value)


def parse_predict(
    body: Mapping[str, Any], args: Mapping[str, str], config: ServiceConfig
) -> PredictRequest:
    """Check the JSON body and the ``workload``/``n`` query parameters against ``config``."""
    if "area" not in body:
        raise InvalidInput("area", "area is required (square metres, a number > 0)")
    area = _number(body, "area")
    if area is None or not 0 < area <= MAX_AREA:
        raise InvalidInput("area", f"area must be a number > 0 and <= {MAX_AREA:g}")
    floor = _whole(body, "floor")
    floors_count = _whole(body, "floors_count")
    if floor is not None and floors_count is not None and floor > floors_count:
        raise InvalidInput("floor", "floor must not be above floors_count")

    workload = args.get("workload", config.workload)
    if workload not in WORKLOADS:
        raise InvalidInput("workload", f"workload must be one of {', '.join(WORKLOADS)}")
    n = config.n
    if "n" in args:
        raw = args["n"].replace("_", "")
        if not raw.isdigit() or not 1 <= int(raw) <= config.max_n:
            raise InvalidInput("n", f"n must be a whole number from 1 to {config.max_n}")
        n = int(raw)
    return PredictRequest(area, floor, floors_count, workload, n)
