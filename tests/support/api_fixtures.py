"""The API under test: apps on a MemoryStore shared with the test, signed-in clients, helpers.

Argon2 at 64 MiB costs ~0.1 s per hash, so `api` (module-scoped) makes its users once: the
bootstrap admin, `alice` and `bob`, each with a signed-in TestClient of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from datagems_core.accounts.sessions import SESSION_COOKIE
from datagems_core.accounts.users import create_user
from datagems_core.config.settings import Settings
from datagems_core.store.memory import MemoryStore
from tests.support.settings import ADMIN_PASSWORD, make_settings

USER_PASSWORD = "user-password-for-tests"
CSRF = {"X-Requested-With": "XMLHttpRequest"}


def login(client: TestClient, username: str, password: str, **kwargs: Any) -> str:
    """Sign `client` in; returns the session token from the cookie."""
    response = client.post(
        "/api/auth/login", json={"username": username, "password": password}, **kwargs
    )
    assert response.status_code == 200, response.text
    token = response.cookies.get(SESSION_COOKIE)
    assert token
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class ApiHarness:
    app: FastAPI
    store: MemoryStore
    settings: Settings
    stack: ExitStack
    clients: dict[str, TestClient] = field(default_factory=dict)

    def client(self) -> TestClient:
        """A new, signed-out client (closed with the harness)."""
        return self.stack.enter_context(TestClient(self.app))

    def signed_in(self, username: str, password: str) -> TestClient:
        client = self.client()
        login(client, username, password)
        return client

    @property
    def admin(self) -> TestClient:
        return self.clients["admin"]

    @property
    def alice(self) -> TestClient:
        return self.clients["alice"]

    @property
    def bob(self) -> TestClient:
        return self.clients["bob"]


def start_harness(data_dir: Path, *, users: tuple[str, ...] = (), **overrides: Any) -> ApiHarness:
    """An app on a fresh MemoryStore with `users` (password USER_PASSWORD) made up front and the
    admin and each user signed in. Close it with `harness.stack.close()`."""
    store = MemoryStore()
    settings = make_settings(data_dir, **overrides)
    for name in users:
        asyncio.run(create_user(store, settings, name, USER_PASSWORD))
    harness = ApiHarness(create_app(settings, store=store), store, settings, ExitStack())
    harness.clients["admin"] = harness.signed_in("admin", ADMIN_PASSWORD)
    for name in users:
        harness.clients[name] = harness.signed_in(name, USER_PASSWORD)
    return harness


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiHarness]:
    """An app on a MemoryStore with the admin, alice and bob signed in (one client each)."""
    harness = start_harness(tmp_path_factory.mktemp("api-data"), users=("alice", "bob"))
    with harness.stack:
        yield harness
