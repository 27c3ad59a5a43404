"""Sign-in, sessions, sign-out and password change through the API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from datagems_core.accounts import login_throttle
from datagems_core.accounts.sessions import SESSION_COOKIE
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


def _try(client, username, password, address=None):
    headers = {"X-Forwarded-For": address} if address else {}
    return client.post(
        "/api/auth/login", json={"username": username, "password": password}, headers=headers
    )


# Behind a proxy: the TestClient's peer ("testclient") is the trusted proxy.
_PROXIED = {"trust_proxy_headers": True, "trusted_proxies": "testclient"}


def test_failed_logins_are_throttled_per_username_and_address(tmp_path):
    harness = start_harness(tmp_path, users=("dana",), login_max_failures=3, **_PROXIED)
    with harness.stack:
        client = harness.client()
        for i in range(3):
            assert _try(client, "dana", f"guess-{i}", "198.51.100.1").status_code == 401
        response = _try(client, "dana", USER_PASSWORD, "198.51.100.1")
        assert response.status_code == 429
        retry_after = int(response.headers["Retry-After"])
        assert 1 <= retry_after <= harness.settings.login_window_seconds
        error = response.json()["error"]
        assert "Too many failed sign-in attempts" in error
        assert f"Try again in {login_throttle.wait_text(retry_after)}." in error
        assert login_throttle.wait_text(900) == "15 minutes"
        # other accounts from the same address are unaffected
        login(
            harness.client(), "admin", ADMIN_PASSWORD, headers={"X-Forwarded-For": "198.51.100.1"}
        )


def test_a_known_username_cannot_lock_its_owner_out(tmp_path):
    harness = start_harness(tmp_path, users=("erin",), login_max_failures=3, **_PROXIED)
    with harness.stack:
        attacker = harness.client()
        for i in range(12):  # many guesses from many addresses
            _try(attacker, "erin", f"guess-{i}", f"198.51.100.{i // 3}")
        # the owner, from an address that has not been failing, gets in at once
        assert _try(harness.client(), "erin", USER_PASSWORD, "203.0.113.5").status_code == 200


def test_the_username_wide_delay_is_short_and_says_when(tmp_path):
    harness = start_harness(
        tmp_path,
        users=("fay",),
        login_max_failures=2,
        login_user_delay_max_seconds=8,
        **_PROXIED,
    )
    with harness.stack:
        client = harness.client()
        for i in range(2):
            assert _try(client, "fay", "x", f"198.51.100.{i}").status_code == 401
        # a third address fails once (its first attempt skips the delay) ...
        assert _try(client, "fay", "x", "198.51.100.9").status_code == 401
        # ... and from then on must wait between guesses at this account
        response = _try(client, "fay", USER_PASSWORD, "198.51.100.9")
        assert response.status_code == 429
        assert 1 <= int(response.headers["Retry-After"]) <= 8
    settings = harness.settings
    delays = [login_throttle.user_delay_seconds(settings, n) for n in range(2, 10)]
    assert delays == [0, 1, 2, 4, 8, 8, 8, 8]  # short, growing, capped


def test_rotating_forwarded_for_does_not_bypass_the_address_limit(tmp_path):
    # Default: proxy headers are not trusted, the socket peer is the address.
    harness = start_harness(tmp_path, login_max_failures_per_address=2)
    with harness.stack:
        client = harness.client()
        for i in range(2):
            assert _try(client, f"nobody-{i}", "x", f"192.0.2.{i}").status_code == 401
        assert _try(client, "nobody-9", "x", "192.0.2.99").status_code == 429


def test_only_the_trusted_proxys_entry_counts(tmp_path):
    harness = start_harness(tmp_path, login_max_failures_per_address=2, **_PROXIED)
    with harness.stack:
        client = harness.client()
        # the client writes its own X-Forwarded-For; the proxy appends the real address
        for i in range(2):
            forged = f"10.{i}.0.1, 192.0.2.7"
            assert _try(client, f"nobody-{i}", "x", forged).status_code == 401
        assert _try(client, "nobody-9", "x", "10.9.9.9, 192.0.2.7").status_code == 429
        assert _try(client, "nobody-9", "x", "192.0.2.8").status_code == 401
    untrusted = start_harness(
        tmp_path / "untrusted",
        login_max_failures_per_address=1,
        trust_proxy_headers=True,
        trusted_proxies="10.0.0.1",
    )
    with untrusted.stack:
        client = untrusted.client()
        assert _try(client, "nobody", "x", "192.0.2.1").status_code == 401
        # the peer is not a trusted proxy: its header is ignored
        assert _try(client, "nobody", "x", "192.0.2.2").status_code == 429


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
