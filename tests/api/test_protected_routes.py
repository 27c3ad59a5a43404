"""Every route answers 401 without credentials, except the public ones listed here.

The routes come from the app's own OpenAPI schema (FastAPI 0.165 keeps included routers lazily
in `app.routes`, the schema lists every route), so a route added later is covered without
editing this test; a new public route must be added to PUBLIC on purpose.
"""

from __future__ import annotations

import re

from tests.support.api_fixtures import bearer

PUBLIC = {
    ("GET", "/health"),
    ("GET", "/api/health"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/logout"),
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/register/resend"),
}


def _routes(app):
    """(method, path) of every documented route, from the app's own OpenAPI schema."""
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            yield method.upper(), path


def test_every_protected_route_needs_credentials(api):
    routes = [
        (m, re.sub(r"\{[^}]+\}", "x1", p)) for m, p in _routes(api.app) if (m, p) not in PUBLIC
    ]
    assert ("GET", "/api/auth/me") in routes and ("GET", "/metrics") in routes
    client = api.client()
    for method, path in routes:
        for headers in ({}, bearer("dgm_" + "0" * 43), {"Cookie": "datagen_session=forged"}):
            response = client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers, response.text)
            assert set(response.json()) == {"error", "details"}


def test_public_routes_exist_and_answer_without_credentials(api):
    assert set(_routes(api.app)) >= PUBLIC
    assert api.client().get("/health").status_code == 200
