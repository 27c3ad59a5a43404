"""Sign-in, sessions, sign-out and password change through the API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from datagems_core.sessions import SESSION_COOKIE
from datagems_core.store.memory import MemoryStore
from tests.support.api_fixtures import (
    ADMIN_PASSWORD,
    CSRF,
    USER_PASSWORD,
    login,
    make_settings,
    start_harness,
)


def test_login_sets_session_cookie_and_returns_user(api):
    client = api.client()
    response = client.post(
        "/api/auth/login", json={"username": "  Alice ", "password": USER_PASSWORD}
    )
    assert response.status_code == 200
    assert response.json() == {"username": "alice", "role": "user"}
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for attribute in (
        "HttpOnly",
        "Path=/",
        "SameSite=lax",
        f"Max-Age={api.settings.session_ttl_seconds}",
    ):
        assert attribute in cookie
    assert "Secure" not in cookie  # development; production adds it (see below)


def test_login_cookie_is_secure_in_production(tmp_path):
    settings = make_settings(
        tmp_path,
        env="production",
        session_secret="a-production-session-secret",
        auth_pepper="a-production-pepper",
        bootstrap_admin_password="a-production-admin-pw",
    )
    with TestClient(create_app(settings, store=MemoryStore())) as client:
        response = client.post(
            "/api/auth/login", json={"username": "admin", "password": "a-production-admin-pw"}
        )
        assert response.status_code == 200
        assert "Secure" in response.headers["set-cookie"]


def test_login_refuses_wrong_password(api):
    response = api.client().post(
        "/api/auth/login",
        json={"username": "alice", "password": "wrong"},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid credentials", "details": None}
    assert SESSION_COOKIE not in response.cookies


def test_me_answers_the_signed_in_user(api):
    body = api.alice.get("/api/auth/me").json()
    assert body["username"] == "alice" and body["role"] == "user" and body["auth"] == "session"
    assert body["exp"] - body["iat"] == api.settings.session_ttl_seconds
    assert api.client().get("/api/auth/me").status_code == 401


def test_logout_ends_the_session_for_good(api):
    client = api.client()
    token = login(client, "bob", USER_PASSWORD)
    response = client.post("/api/auth/logout", headers=CSRF)
    assert response.status_code == 200 and response.json() == {"success": True}
    assert "Max-Age=0" in response.headers["set-cookie"]
    replay = api.client()
    replay.cookies.set(SESSION_COOKIE, token)
    assert replay.get("/api/auth/me").status_code == 401
    assert api.bob.get("/api/auth/me").status_code == 200  # bob's other session lives on


def test_logout_without_session_still_succeeds(api):
    assert api.client().post("/api/auth/logout").json() == {"success": True}


def test_password_change_ends_other_sessions_and_keeps_caller_signed_in(tmp_path):
    harness = start_harness(tmp_path, users=("carl",))
    with harness.stack:
        other = harness.signed_in("carl", "user-password-for-tests")
        me = harness.clients["carl"]
        response = me.post(
            "/api/auth/password",
            json={"currentPassword": USER_PASSWORD, "newPassword": "brand-new-password"},
            headers=CSRF,
        )
        assert response.status_code == 200, response.text
        assert me.get("/api/auth/me").status_code == 200  # fresh cookie
        assert other.get("/api/auth/me").status_code == 401
        fresh = harness.client()
        assert (
            fresh.post(
                "/api/auth/login", json={"username": "carl", "password": USER_PASSWORD}
            ).status_code
            == 401
        )
        login(fresh, "carl", "brand-new-password")


def test_password_change_needs_the_current_password(api):
    response = api.alice.post(
        "/api/auth/password",
        json={"currentPassword": "not-it", "newPassword": "another-password"},
        headers={**CSRF, "X-Forwarded-For": "203.0.113.10"},
    )
    assert response.status_code == 401
    assert api.alice.get("/api/auth/me").status_code == 200


def test_password_change_refuses_short_new_password(api):
    response = api.alice.post(
        "/api/auth/password",
        json={"currentPassword": USER_PASSWORD, "newPassword": "short"},
        headers=CSRF,
    )
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "newPassword"


def test_failed_logins_are_throttled_per_username(tmp_path):
    harness = start_harness(tmp_path, users=("dana",), login_max_failures=3)
    with harness.stack:
        client = harness.client()
        for i in range(3):
            response = client.post(
                "/api/auth/login",
                json={"username": "dana", "password": f"guess-{i}"},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            )
            assert response.status_code == 401
        response = client.post(
            "/api/auth/login",
            json={"username": "dana", "password": USER_PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.99"},
        )
        assert response.status_code == 429
        assert 1 <= int(response.headers["Retry-After"]) <= harness.settings.login_window_seconds
        assert "Too many failed sign-in attempts" in response.json()["error"]
        # other accounts are unaffected
        login(harness.client(), "admin", ADMIN_PASSWORD)


def test_failed_logins_are_throttled_per_address(tmp_path):
    harness = start_harness(tmp_path, login_max_failures_per_address=2)
    with harness.stack:
        client = harness.client()
        address = {"X-Forwarded-For": "192.0.2.77"}
        for name in ("nobody-1", "nobody-2"):
            response = client.post(
                "/api/auth/login", json={"username": name, "password": "x"}, headers=address
            )
            assert response.status_code == 401
        response = client.post(
            "/api/auth/login",
            json={"username": "admin", "password": ADMIN_PASSWORD},
            headers=address,
        )
        assert response.status_code == 429 and "Retry-After" in response.headers


def test_login_from_a_foreign_site_is_refused(api):
    response = api.client().post(
        "/api/auth/login",
        json={"username": "alice", "password": USER_PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


def test_mock_mode_has_seed_users_and_hint(tmp_path):
    settings = make_settings(tmp_path, mock_cstore=True)
    with TestClient(create_app(settings)) as client:
        bad = client.post("/api/auth/login", json={"username": "admin", "password": "nope"})
        assert bad.status_code == 401 and "admin/admin" in bad.json()["error"]
        login(client, "test_user", "testtest")
        assert client.get("/api/auth/me").json()["role"] == "user"
        login(client, "admin", "admin")
        assert client.get("/api/auth/me").json()["role"] == "admin"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "", "password": "x"},
        {"username": "a", "password": ""},
        {"username": "a" * 201, "password": "x"},
    ],
)
def test_login_validates_the_body(api, body):
    response = api.client().post("/api/auth/login", json=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid request")
