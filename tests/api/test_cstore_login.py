"""Accounts shared with the TypeScript apps: the official package's records sign in through
POST /api/auth/login against the Ratio1 CStore stand-in, and ours land in the same format."""

from __future__ import annotations

import asyncio
import json
import secrets

import httpx
from fastapi.testclient import TestClient

from api.main import create_app
from datagems_core.config.settings import get_settings
from datagems_core.store.base import hash_field_key
from tests.core.accounts.test_passwords import VECTORS
from tests.support.api_fixtures import CSRF


def test_official_vectors_sign_in_against_cstore(ratio1_env, monkeypatch):
    hkey = f"{VECTORS['hkey']}:{secrets.token_hex(4)}"  # the stand-in lives for the session
    monkeypatch.setenv("R1EN_CSTORE_AUTH_HKEY", hkey)
    monkeypatch.setenv("R1EN_CSTORE_AUTH_SECRET", VECTORS["pepper"])
    monkeypatch.setenv("R1EN_CSTORE_AUTH_BOOTSTRAP_ADMIN_PWD", "not-used-admin-exists")
    get_settings.cache_clear()
    for entry in VECTORS["users"]:  # exactly what the TS package stored
        response = httpx.post(
            f"{ratio1_env.url}/hset",
            json={"hkey": hkey, "key": entry["username"], "value": entry["record"]},
            timeout=10,
        )
        assert response.json()["result"] is True
    with TestClient(create_app()) as client:
        for entry in VECTORS["users"]:
            name = entry["username"]
            password = VECTORS["passwords"][name]
            role = json.loads(entry["record"])["role"]
            wrong = client.post(
                "/api/auth/login", json={"username": name, "password": password + "x"}
            )
            assert wrong.status_code == 401, name
            right = client.post("/api/auth/login", json={"username": name, "password": password})
            assert right.status_code == 200, (name, right.text)
            assert right.json() == {"username": name, "role": role}
            assert client.get("/api/auth/me").json()["username"] == name
        # the admin vector's bootstrap record was kept, not replaced
        admin = httpx.get(
            f"{ratio1_env.url}/hget", params={"hkey": hkey, "key": "admin"}, timeout=10
        ).json()["result"]
        assert admin == VECTORS["users"][0]["record"]
        # a password changed here is stored as a JSON string the TS package can parse
        client.post(
            "/api/auth/login", json={"username": "bob_2", "password": VECTORS["passwords"]["bob_2"]}
        )
        changed = client.post(
            "/api/auth/password",
            json={
                "currentPassword": VECTORS["passwords"]["bob_2"],
                "newPassword": "a new pässword",
            },
            headers=CSRF,
        )
        assert changed.status_code == 200, changed.text
    stored = ratio1_env.state()["cstore"][hash_field_key(hkey, "bob_2")]
    assert isinstance(stored, str)
    record = json.loads(stored)
    assert list(record) == ["type", "password", "role", "metadata", "createdAt", "updatedAt"]
    assert record["password"]["algo"] == "argon2id" and record["role"] == "admin"


def test_bootstrap_admin_on_cstore(ratio1_env, monkeypatch):
    hkey = f"datagems:auth:boot:{secrets.token_hex(4)}"
    monkeypatch.setenv("R1EN_CSTORE_AUTH_HKEY", hkey)
    monkeypatch.setenv("EE_CSTORE_AUTH_BOOTSTRAP_ADMIN_PW", "legacy-name-admin-pw")
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        response = client.post(
            "/api/auth/login", json={"username": "admin", "password": "legacy-name-admin-pw"}
        )
        assert response.status_code == 200 and response.json()["role"] == "admin"
    stored = asyncio.run(_hget(ratio1_env.url, hkey, "admin"))
    assert isinstance(stored, str) and json.loads(stored)["type"] == "simple"


async def _hget(url, hkey, field):
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{url}/hget", params={"hkey": hkey, "key": field})
        return response.json()["result"]
