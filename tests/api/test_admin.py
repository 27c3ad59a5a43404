"""Account administration: admins only; removal ends sessions and tokens everywhere."""

from __future__ import annotations

import asyncio
import json

from datagems_core.accounts.users import create_user
from tests.support.api_fixtures import CSRF, USER_PASSWORD, bearer


def _delete(client, username, headers=CSRF):
    return client.request(
        "DELETE", "/api/admin/accounts", json={"username": username}, headers=headers
    )


def test_list_accounts_for_admin(api):
    response = api.admin.get("/api/admin/accounts")
    assert response.status_code == 200
    names = [a["username"] for a in response.json()["accounts"]]
    assert names == sorted(names) and {"admin", "alice", "bob"} <= set(names)
    alice = next(a for a in response.json()["accounts"] if a["username"] == "alice")
    assert set(alice) == {"username", "role", "email", "country", "createdAt"}


def test_admin_routes_refuse_non_admins(api):
    assert api.alice.get("/api/admin/accounts").status_code == 403
    response = _delete(api.alice, "bob")
    assert response.status_code == 403 and response.json()["error"] == "Admin access required"


def test_admin_cannot_remove_themselves(api):
    response = _delete(api.admin, "ADMIN")
    assert response.status_code == 400
    assert response.json()["error"] == "You cannot delete your own account"


def test_remove_unknown_account_is_not_found(api):
    assert _delete(api.admin, "no-such-user").status_code == 404


def test_remove_account_ends_sessions_and_tokens_and_refuses_login(api):
    asyncio.run(create_user(api.store, api.settings, "gone", USER_PASSWORD))
    client = api.signed_in("gone", USER_PASSWORD)
    token = client.post("/api/auth/tokens", json={"name": "t"}, headers=CSRF).json()["token"]
    assert api.client().get("/api/auth/me", headers=bearer(token)).status_code == 200
    assert _delete(api.admin, "gone").json() == {"ok": True}
    assert client.get("/api/auth/me").status_code == 401
    assert api.client().get("/api/auth/me", headers=bearer(token)).status_code == 401
    relogin = api.client().post(
        "/api/auth/login", json={"username": "gone", "password": USER_PASSWORD}
    )
    assert relogin.status_code == 401
    raw = asyncio.run(api.store.hget(api.settings.auth_hkey, "gone"))
    record = json.loads(raw)  # still a cstore-auth record: TS apps refuse it too
    assert record["password"] is None and record["metadata"]["__datagemsDeleted"] is True
    listed = [a["username"] for a in api.admin.get("/api/admin/accounts").json()["accounts"]]
    assert "gone" not in listed
    assert _delete(api.admin, "gone").status_code == 404
