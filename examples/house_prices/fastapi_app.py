"""The house-price model behind FastAPI: the same contract as flask_app.py, on ASGI.

    uvicorn --app-dir examples/house_prices fastapi_app:app
    gunicorn --chdir examples/house_prices -k uvicorn_worker.UvicornWorker fastapi_app:app

GET /health and POST /predict answer as in flask_app.py, with two differences. The 422
FastAPI sends for a body that fails validation is mapped to 400, with pydantic's message
(where and what), so both apps answer a bad batch with 400. And FastAPI parses the JSON
before it solves dependencies: a body that is not JSON gets 400 even without the token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StrictFloat

try:
    from . import contract
    from . import model as house_model
except ImportError:  # served from this folder (--app-dir, --chdir): modules are top-level
    import contract  # type: ignore[import-not-found, no-redef]
    import model as house_model  # type: ignore[import-not-found, no-redef]

# StrictFloat takes ints and floats but not "1.5" or true, like contract.rows_matrix.
Row = Annotated[
    list[StrictFloat], Field(min_length=contract.N_FEATURES, max_length=contract.N_FEATURES)
]
LIMIT = contract.max_rows()


class Unauthorized(Exception):
    """/predict without the token API_TOKEN asks for."""


class Batch(BaseModel):
    """A batch of flats, one row each: area_m2, rooms, floor, age_years, metro_km."""

    rows: Annotated[list[Row], Field(min_length=1, max_length=LIMIT)]


def create_app() -> FastAPI:
    """The app, with its model loaded (and trained first if its file is missing)."""
    app = FastAPI(title="House prices")
    model = house_model.load()
    token = contract.api_token()

    # A dependency, not a check in predict(): FastAPI solves dependencies before it validates
    # the body, so a request without the token gets its 401 whatever its batch looks like.
    def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
        if not contract.authorized(authorization, token):
            raise Unauthorized

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, error: Unauthorized) -> JSONResponse:
        message = "a valid 'Authorization: Bearer <API_TOKEN>' header is needed"
        return JSONResponse({"error": message}, 401)

    @app.exception_handler(RequestValidationError)
    async def bad_batch(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        if first.get("type") == "json_invalid":
            return JSONResponse({"error": "the body must be JSON"}, 400)
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        message = first.get("msg", "invalid body")
        return JSONResponse({"error": f"{where}: {message}" if where else message}, 400)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "features": list(house_model.FEATURES)}

    # A plain def: FastAPI runs it in its thread pool, so predicting does not block the loop.
    @app.post("/predict", dependencies=[Depends(require_token)])
    def predict(batch: Batch) -> JSONResponse:
        try:
            rows = contract.finite_matrix(batch.rows)
        except contract.BadRows as error:
            return JSONResponse({"error": str(error)}, 400)
        prices = house_model.predict_prices(model, rows)
        # JSONResponse straight away: returning a dict would walk every price through
        # jsonable_encoder first, seconds for a big batch.
        return JSONResponse({"prices": prices, "rows": len(prices)})

    return app


app = create_app()
