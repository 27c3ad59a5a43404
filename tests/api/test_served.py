"""The newcomer's path against the API served by a real uvicorn process: register, receive the
mail, sign in, make an API token, read metrics with it, sign out for good."""

from __future__ import annotations

import re

import httpx
import pytest

from datagems_core.accounts.sessions import SESSION_COOKIE
from tests.support.processes import free_port, start_server


@pytest.fixture
def served(smtp_env, tmp_path):
    port = free_port()
    server = start_server(
        [
            "-m",
            "uvicorn",
            "api.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        url=f"http://127.0.0.1:{port}",
        health_path="/health",
        log_path=tmp_path / "uvicorn.log",
        env={"R1EN_CSTORE_AUTH_BOOTSTRAP_ADMIN_PWD": "served-admin-password"},
    )
    try:
        yield server
    finally:
        server.stop()
    assert "served-admin-password" not in server.log()


def test_newcomer_flow_over_http(served, smtp_env):
    with httpx.Client(base_url=served.url, timeout=30) as client:
        health = client.get("/api/health").json()
        assert health["ok"] is True
        registered = client.post(
            "/api/auth/register", json={"name": "Nia", "email": "nia@example.com", "country": "KE"}
        )
        assert registered.status_code == 200, registered.text
        [mail] = smtp_env.received()
        body = mail.get_payload()
        username = re.search(r"Username: (\S+)", body).group(1)
        password = re.search(r"Password: (\S+)", body).group(1)
        signed_in = client.post(
            "/api/auth/login", json={"username": username, "password": password}
        )
        assert signed_in.status_code == 200
        cookie = signed_in.cookies[SESSION_COOKIE]
        token = client.post(
            "/api/auth/tokens", json={"name": "laptop"}, headers={"Origin": served.url}
        ).json()["token"]
        with httpx.Client(base_url=served.url, timeout=30) as script:
            metrics = script.get("/api/metrics", headers={"Authorization": f"Bearer {token}"})
            assert metrics.status_code == 200 and metrics.json()["metrics"]["totalJobs"] == 0
        assert client.post("/api/auth/logout", headers={"Origin": served.url}).status_code == 200
        with httpx.Client(base_url=served.url, timeout=30) as replay:
            replay.cookies.set(SESSION_COOKIE, cookie)
            assert replay.get("/api/auth/me").status_code == 401
        big = client.post("/api/auth/login", content=b"x" * 2_000_000)
        assert big.status_code == 413 and big.json()["error"].startswith("Request body larger")
