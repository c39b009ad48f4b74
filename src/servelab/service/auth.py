"""Bearer-token authentication of ``POST /predict``.

When ``ServiceConfig.token`` is set (``SERVELAB_TOKEN``), a prediction needs the header
``Authorization: Bearer <token>``; anything else gets 401 with a JSON ``{"error": ...}`` and
a ``WWW-Authenticate: Bearer`` challenge (RFC 6750). ``/``, ``/health``, ``/metrics`` and
``/openapi.json`` stay open: probes and scrapers carry no token. Without a token set,
nothing is checked.

The check runs before the body is read, so a client without the token cannot make the
server parse JSON or do prediction work.
"""

from __future__ import annotations

import hmac

from flask import Flask, Response, g, jsonify, request

from .config import ServiceConfig

PROTECTED_ENDPOINTS = frozenset({"predict"})
REALM = "servelab"
# Metrics count refused requests by ``g.rejected``, as the memory guard's "too-big", "busy".
REJECTED_REASON = "unauthorized"


def init_app(app: Flask, settings: ServiceConfig) -> None:
    """Require ``Authorization: Bearer <token>`` on /predict when ``settings.token`` is set."""
    if settings.token is None:
        return
    expected = settings.token.encode("utf-8")

    @app.before_request
    def _require_token() -> Response | None:
        # Flask answers OPTIONS itself without running the view; a CORS preflight carries no
        # credentials, and refusing it would keep browsers from sending the real request.
        if request.endpoint not in PROTECTED_ENDPOINTS or request.method == "OPTIONS":
            return None
        problem = check_authorization(request.headers.get("Authorization"), expected)
        if problem is None:
            return None
        g.rejected = REJECTED_REASON
        return _challenge(*problem)


def check_authorization(header: str | None, expected: bytes) -> tuple[str, str | None] | None:
    """None if ``header`` carries the ``expected`` bearer token, else (message, RFC 6750 error).

    The token is compared in constant time, as bytes: the header as it came over the wire
    (WSGI hands it over decoded as latin-1) against the token encoded as UTF-8.
    """
    if not header or not header.strip():
        return "missing Authorization header: send 'Authorization: Bearer <token>'", None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return "Authorization must use the Bearer scheme: 'Authorization: Bearer <token>'", None
    given = credentials.strip().encode("latin-1", errors="replace")
    if not given:
        return "the Bearer token is empty", "invalid_request"
    if not hmac.compare_digest(given, expected):
        return "invalid token", "invalid_token"
    return None


def _challenge(message: str, error: str | None) -> Response:
    response = jsonify(error=message)
    response.status_code = 401
    # RFC 6750 section 3: no error code when the client sent no credentials of this scheme.
    challenge = f'Bearer realm="{REALM}"'
    if error is not None:
        challenge += f', error="{error}"'
    response.headers["WWW-Authenticate"] = challenge
    return response
