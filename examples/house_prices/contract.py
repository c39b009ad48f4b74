"""What both apps accept and refuse, in one place: settings, the bearer token, a batch of rows.

Settings come from the environment (servelab passes an ``--env-file``'s lines into the
server's environment; by hand, ``set -a; . ./.env; set +a``):

    API_TOKEN   the bearer token /predict requires; unset or empty: auth is off
    MAX_ROWS    the most rows one request may carry (default 1,000,000); more is a 400

Stdlib and numpy only, like a module an ML engineer shares between two apps.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping

import numpy as np

try:
    from . import model as house_model
except ImportError:  # served from this folder (--app-dir, --chdir): modules are top-level
    import model as house_model  # type: ignore[import-not-found, no-redef]

DEFAULT_MAX_ROWS = 1_000_000
N_FEATURES = len(house_model.FEATURES)


class BadRows(ValueError):
    """The body is not a batch this model can predict: the message says why, for a 400."""


def max_rows(env: Mapping[str, str] = os.environ) -> int:
    """MAX_ROWS from ``env``; a bad value stops the app at start-up, not at the first request."""
    raw = env.get("MAX_ROWS", "").strip()
    if not raw:
        return DEFAULT_MAX_ROWS
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"MAX_ROWS must be a positive whole number, got {raw!r}")
    return int(raw)


def api_token(env: Mapping[str, str] = os.environ) -> str | None:
    """API_TOKEN from ``env``, or None when auth is off."""
    return env.get("API_TOKEN") or None


def authorized(header: str | None, token: str | None) -> bool:
    """Whether an Authorization header carries ``token`` (always true when auth is off)."""
    if token is None:
        return True
    scheme, _, given = (header or "").partition(" ")
    # compare_digest: the time taken does not tell how much of a guessed token was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def rows_matrix(body: object, limit: int) -> np.ndarray:
    """``{"rows": [[area_m2, rooms, floor, age_years, metro_km], ...]}`` as an (n, 5) matrix.

    Raises BadRows for anything else: a body that is not such an object, no rows, more than
    ``limit`` rows, a row of the wrong length, a value that is not a finite number (booleans
    and numeric strings included: a client sending them has a bug worth hearing about).
    """
    if not isinstance(body, dict) or "rows" not in body:
        raise BadRows('the body must be a JSON object {"rows": [[...], ...]}')
    rows = body["rows"]
    if not isinstance(rows, list) or not rows:
        raise BadRows('"rows" must be a non-empty list of rows')
    if len(rows) > limit:
        raise BadRows(f"{len(rows)} rows in one request; the limit is {limit} (MAX_ROWS)")
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != N_FEATURES:
            raise BadRows(f"row {index} must be a list of {N_FEATURES} numbers: {names()}")
        # type(), not isinstance(): bool is an int subclass, and true is not a floor number.
        if not all(type(value) is float or type(value) is int for value in row):
            raise BadRows(f"row {index} has a value that is not a number")
    return finite_matrix(rows)


def finite_matrix(rows: list[list[float]]) -> np.ndarray:
    """Checked rows as a float64 matrix, if every value is finite (JSON's NaN and Infinity
    parse as floats, but they are no flat's area)."""
    matrix = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(matrix).all():
        raise BadRows("rows must hold finite numbers, not NaN or Infinity")
    return matrix


def names() -> str:
    return ", ".join(house_model.FEATURES)
