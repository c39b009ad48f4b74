"""The house-price model: synthetic flats, a polynomial ridge regression, saved with joblib.

    python model.py train        # (re)build the model file beside this one
    python -m examples.house_prices.model train     # the same, from the repository root

The apps call ``load()``, which trains and saves the model first if its file is missing, so
a fresh clone needs no step by hand. The file name carries the scikit-learn version: a pickle
is only safe to load with the version that wrote it, and the same folder may be served from
several environments.

Why polynomial features: prices are not linear in area, age and distance, and degree-3 terms
let a ridge regression bend. It is also what makes a big batch expensive: 5 features become
55 columns of float64, and the pipeline holds two such matrices at once while predicting
(about 880 bytes a row before the request's own JSON; README.md has the measured total).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

FEATURES = ("area_m2", "rooms", "floor", "age_years", "metro_km")
TRAIN_ROWS = 5000
SEED = 13
MODEL_PATH = Path(__file__).with_name(f"model-sklearn{sklearn.__version__}.joblib")


def make_dataset(rows: int = TRAIN_ROWS, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic city flats (features in FEATURES' order) and their prices in RUB.

    About 250k RUB/m2, less per m2 for big flats, a discount for old buildings, for the first
    floor and for every km to the metro, and 10% log-normal noise.
    """
    rng = np.random.default_rng(seed)
    area = rng.lognormal(mean=np.log(55), sigma=0.35, size=rows).clip(15, 250)
    rooms = np.clip(np.round(area / 22 + rng.normal(0, 0.5, rows)), 1, 6)
    floor = rng.integers(1, 26, size=rows).astype(float)
    age = rng.uniform(0, 80, size=rows)
    metro = rng.exponential(1.5, size=rows).clip(0.1, 15)
    log_price = (
        np.log(250_000)
        + 0.95 * np.log(area)
        + 0.03 * rooms
        - 0.004 * age
        - 0.06 * metro
        - 0.07 * (floor == 1)
        + rng.normal(0, 0.10, size=rows)
    )
    features = np.column_stack([area, rooms, floor, age, metro])
    return features, np.exp(log_price)


def train(rows: int = TRAIN_ROWS, seed: int = SEED) -> Pipeline:
    """Fit the pipeline on ``rows`` synthetic flats (a second or so)."""
    features, prices = make_dataset(rows, seed)
    pipeline = make_pipeline(
        PolynomialFeatures(degree=3, include_bias=False), StandardScaler(), Ridge(alpha=1.0)
    )
    fitted: Pipeline = pipeline.fit(features, prices)
    return fitted


def build(path: Path = MODEL_PATH) -> Path:
    """Train and save the model to ``path``; return the path.

    Written to a temporary file and renamed, so servers importing the app at the same moment
    (gunicorn's workers) never read a half-written model.
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".model-", suffix=".tmp")
    os.close(handle)
    try:
        joblib.dump(train(), temporary)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from a server of another user
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load(path: Path = MODEL_PATH) -> Pipeline:
    """The saved model, built first if its file does not exist yet."""
    if not path.exists():
        build(path)
    model: Pipeline = joblib.load(path)
    return model


def predict_prices(model: Any, rows: np.ndarray) -> list[int]:
    """Prices in RUB, rounded to thousands, for an (n, len(FEATURES)) float matrix."""
    prices = np.round(model.predict(rows), -3).astype(np.int64)
    result: list[int] = prices.tolist()
    return result


def main(argv: list[str]) -> int:
    if argv != ["train"]:
        print("usage: python model.py train", file=sys.stderr)
        return 2
    print(f"model saved to {build()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
