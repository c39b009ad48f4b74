"""The house-price model behind Flask: POST a batch of flats, get their prices.

    gunicorn --chdir examples/house_prices flask_app:app
    flask --app examples/house_prices/flask_app.py run

GET /health  -> 200 {"status": "ok", "features": [...]}; never needs the token.
POST /predict with {"rows": [[area_m2, rooms, floor, age_years, metro_km], ...]}
             -> 200 {"prices": [RUB, ...], "rows": n}
             -> 400 {"error": "..."} for a body that is not such a batch (contract.py)
             -> 401 {"error": "..."} without "Authorization: Bearer $API_TOKEN" when it is set
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request

try:
    from . import contract
    from . import model as house_model
except ImportError:  # served from this folder (--app-dir, --chdir): modules are top-level
    import contract  # type: ignore[import-not-found, no-redef]
    import model as house_model  # type: ignore[import-not-found, no-redef]

Reply = tuple[dict[str, Any], int]


def create_app() -> Flask:
    """The app, with its model loaded (and trained first if its file is missing)."""
    app = Flask(__name__)
    model = house_model.load()
    token = contract.api_token()
    limit = contract.max_rows()

    @app.get("/health")
    def health() -> Reply:
        return {"status": "ok", "features": list(house_model.FEATURES)}, 200

    @app.post("/predict")
    def predict() -> Reply:
        if not contract.authorized(request.headers.get("Authorization"), token):
            return {"error": "a valid 'Authorization: Bearer <API_TOKEN>' header is needed"}, 401
        # force: clients (curl -d, load tools) often omit Content-Type; the body decides.
        body = request.get_json(force=True, silent=True)
        if body is None:
            return {"error": "the body must be JSON"}, 400
        try:
            rows = contract.rows_matrix(body, limit)
        except contract.BadRows as error:
            return {"error": str(error)}, 400
        prices = house_model.predict_prices(model, rows)
        return {"prices": prices, "rows": len(prices)}, 200

    return app


app = create_app()
