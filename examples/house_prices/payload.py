"""Request bodies for servelab: ``make_body(size)`` is a /predict body of ``size`` flats.

    servelab study --app flask_app:app --app-dir examples/house_prices \\
        --payload payload:make_body --size 1000

Stdlib only, so it runs wherever servelab runs, with or without this app's dependencies.
The rows are plausible flats from a fixed seed: the same size gives the same bytes, and a
smaller body is the start of a bigger one (row i never depends on the size).
"""

from __future__ import annotations

import json
import random

SEED = 13


def make_rows(size: int) -> list[list[float]]:
    """``size`` flats: [area_m2, rooms, floor, age_years, metro_km]."""
    if size < 0:
        raise ValueError(f"size must be 0 or more rows, got {size}")
    rng = random.Random(SEED)
    rows: list[list[float]] = []
    for _ in range(size):
        area = round(min(250.0, max(15.0, rng.lognormvariate(4.0, 0.35))), 1)
        rooms = min(6, max(1, round(area / 22 + rng.gauss(0, 0.5))))
        floor = rng.randint(1, 25)
        age = rng.randint(0, 80)
        metro = round(min(15.0, max(0.1, rng.expovariate(1 / 1.5))), 2)
        rows.append([area, rooms, floor, age, metro])
    return rows


def make_body(size: int) -> bytes:
    """The JSON body ``{"rows": [...]}`` with ``size`` rows, about 30 bytes a row."""
    return json.dumps({"rows": make_rows(size)}, separators=(",", ":")).encode()
