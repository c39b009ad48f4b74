"""A real, small house-price model: Moscow flats, price from area, floor and floors count.

The training data is generated here from a fixed seed (a stated, reproducible market
model with noise), so the project ships no data file and needs no network. The model is
a log-linear regression fitted by least squares; predicting is a handful of float
operations in pure Python, a few microseconds, which is what a light model costs a server.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

DATASET_SEED = 2024
DATASET_ROWS = 3000
# Used when a request gives no floor information: a middle floor of a 9-storey block,
# the most common Moscow building.
DEFAULT_FLOORS_COUNT = 9


@dataclass(frozen=True)
class Dataset:
    area: np.ndarray
    floor: np.ndarray
    floors_count: np.ndarray
    price: np.ndarray

    def __len__(self) -> int:
        return len(self.price)


def generate_dataset(rows: int = DATASET_ROWS, seed: int = DATASET_SEED) -> Dataset:
    """Synthetic listings: about 300k RUB/m2, cheaper per m2 for big flats, first and last
    floors at a discount, taller buildings slightly dearer, and 12% log-normal noise."""
    rng = np.random.default_rng(seed)
    area = np.round(rng.lognormal(mean=math.log(55), sigma=0.4, size=rows).clip(12, 400), 1)
    floors_count = rng.choice([5, 9, 12, 14, 17, 22, 25, 30], size=rows)
    floor = np.floor(rng.uniform(1, floors_count + 1)).astype(int)
    log_price = (
        math.log(300_000)
        + 0.93 * np.log(area)
        - 0.08 * (floor == 1)
        - 0.04 * (floor == floors_count)
        + 0.05 * np.log(floors_count / DEFAULT_FLOORS_COUNT)
        + rng.normal(0, 0.12, size=rows)
    )
    return Dataset(area, floor, floors_count, np.round(np.exp(log_price), -3))


def _features(area: float, floor: float, floors_count: float) -> list[float]:
    return [
        1.0,
        math.log(area),
        1.0 if floor == 1 else 0.0,
        1.0 if floor == floors_count else 0.0,
        math.log(floors_count),
    ]


@dataclass(frozen=True)
class HousePriceModel:
    """log(price) = w . [1, log area, first floor, last floor, log floors_count]."""

    weights: tuple[float, ...]
    train_rows: int

    def predict(
        self, area: float, floor: int | None = None, floors_count: int | None = None
    ) -> int:
        """Price in RUB. Without floor data, assume a middle floor of a 9-storey block."""
        if floors_count is None:
            floors_count = max(DEFAULT_FLOORS_COUNT, floor or 0)
        if floor is None:
            floor = (floors_count + 1) // 2 if floors_count > 2 else 2
        x = _features(area, floor, floors_count)
        return int(round(math.exp(sum(w * v for w, v in zip(self.weights, x, strict=True))), -3))


def fit(data: Dataset) -> HousePriceModel:
    """Least-squares fit of the log-linear model."""
    rows = [
        _features(float(a), float(f), float(c))
        for a, f, c in zip(data.area, data.floor, data.floors_count, strict=True)
    ]
    weights, *_ = np.linalg.lstsq(np.array(rows), np.log(data.price), rcond=None)
    return HousePriceModel(tuple(float(w) for w in weights), len(data))


@lru_cache(maxsize=1)
def default_model() -> HousePriceModel:
    """The model every server process trains once, on first use (a few milliseconds)."""
    return fit(generate_dataset())
