"""Personal API tokens through the API, and bearer authentication."""

from __future__ import annotations

from tests.support.api_fixtures import CSRF, bearer


def _create(client, name="script"):
    response = client.post("/api/auth/tokens", json={"name": name}, headers=CSRF)
    assert response.status_code == 201, response.text
    return response.json()


def test_token_is_shown_once_and_works_as_bearer(api):
    created = _create(api.alice)
    assert created["token"].startswith("dgm_") and created["name"] == "script"
    listed = api.alice.get("/api/auth/tokens").json()["tokens"]
    assert {"id": created["id"], "name": "script", "createdAt": created["createdAt"]} in listed
    assert all("token" not in t for t in listed)
    me = api.client().get("/api/auth/me", headers=bearer(created["token"]))
    assert (
        me.status_code == 200 and me.json()["auth"] == "token" and me.json()["username"] == "alice"
    )


def test_bearer_requests_need_no_csrf_header(api):
    token = _create(api.alice, "writer")["token"]
    response = api.client().post(
        "/api/auth/tokens",
        json={"name": "made-by-token"},
        headers={**bearer(token), "Origin": "https://elsewhere.example"},
    )
    assert response.status_code == 201


def test_revoked_token_is_refused(api):
    created = _create(api.alice, "short-lived")
    assert api.alice.delete(f"/api/auth/tokens/{created['id']}", headers=CSRF).json() == {
        "ok": True
    }
    response = api.client().get("/api/auth/me", headers=bearer(created["token"]))
    assert response.status_code == 401
    assert response.json()["error"] == "Invalid or revoked API token"


def test_another_users_token_is_not_found(api):
    created = _create(api.alice, "private")
    response = api.bob.delete(f"/api/auth/tokens/{created['id']}", headers=CSRF)
    assert response.status_code == 404
    assert created["id"] not in str(api.bob.get("/api/auth/tokens").json())
    assert api.client().get("/api/auth/me", headers=bearer(created["token"])).status_code == 200


def test_unknown_bearer_is_refused_even_with_a_valid_cookie(api):
    response = api.alice.get("/api/auth/me", headers=bearer("dgm_" + "x" * 43))
    assert response.status_code == 401


def test_token_name_is_validated(api):
    response = api.alice.post("/api/auth/tokens", json={"name": "x" * 121}, headers=CSRF)
    assert response.status_code == 400 and response.json()["details"][0]["field"] == "name"
