"""Registration by email end to end, with a real SMTP server on 127.0.0.1 (STARTTLS, test CA)."""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from datagems_core.accounts.undelivered_mail import FAILURES_KEY
from datagems_core.accounts.user_directory import EMAIL_INDEX_KEY
from datagems_core.config.settings import get_settings
from datagems_core.store.memory import MemoryStore
from tests.support.api_fixtures import CSRF, login
from tests.support.processes import free_port
from tests.support.settings import ADMIN_PASSWORD, make_settings

GENERIC = "If credentials are eligible for resend, they were sent."


def _person(email, name="Ada Lovelace"):
    return {"name": name, "email": email, "country": "RO"}


def _credentials(message):
    body = message.get_payload()
    username = re.search(r"Username: (\S+)", body).group(1)
    password = re.search(r"Password: (\S+)", body).group(1)
    return username, password


def _smtp_values(server, **overrides):
    return {
        "smtp_host": server.host,
        "smtp_port": server.port,
        "smtp_user": server.user,
        "smtp_password": server.password,
        "smtp_from": "no-reply@datagems.test",
        "smtp_ca_file": server.ca_file,
        **overrides,
    }


def test_register_mails_credentials_that_sign_in(smtp_env):
    # configured only through the environment, on the embedded SQLite store
    assert get_settings().smtp_ca_file is not None
    with TestClient(create_app()) as client:
        response = client.post("/api/auth/register", json=_person(" Ada.L+dg@Example.COM "))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["message"] == "Account created. Credentials sent by email."
        assert re.fullmatch(r"ada_l_dg_[0-9a-f]{4}", body["username"])
        [mail] = smtp_env.received()
        assert mail["To"] == "ada.l+dg@example.com"
        assert mail["Subject"] == "Your DataGems account credentials"
        username, password = _credentials(mail)
        assert username == body["username"] and len(password) == 16
        assert password not in response.text
        login(client, username, password)
        assert client.get("/api/auth/me").json()["username"] == username
        again = client.post("/api/auth/register", json=_person("ada.l+dg@example.com"))
        assert again.status_code == 409 and again.json()["error"] == "Email already registered"


def test_racing_registrations_of_one_email_create_one_account(smtp_env):
    with TestClient(create_app()) as client:

        def register(_):
            return client.post("/api/auth/register", json=_person("twin@example.com")).status_code

        with ThreadPoolExecutor(2) as pool:
            codes = sorted(pool.map(register, range(2)))
        assert codes == [200, 409]
        assert len(smtp_env.received()) == 1


def test_register_without_mail_configured_creates_nothing(tmp_path):
    store = MemoryStore()
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings, store=store)) as client:
        response = client.post("/api/auth/register", json=_person("nomail@example.com"))
        assert response.status_code == 503
        assert response.json()["error"] == "Email delivery is not configured"
    assert list(await_all(store, settings.auth_hkey)) == ["admin"]
    assert await_all(store, "datagen:users") == {}
    assert await_all(store, EMAIL_INDEX_KEY) == {}


def await_all(store, key):
    return asyncio.run(store.hgetall(key))


def test_register_rate_limits_per_email_and_per_address(tmp_path, smtp_server):
    settings = make_settings(
        tmp_path,
        register_max_per_email=1,
        register_max_per_ip=2,
        # the TestClient's peer is a trusted proxy, as is the 10.0.0.0/8 hop it forwards from
        trust_proxy_headers=True,
        trusted_proxies="testclient,10.0.0.0/8",
        **_smtp_values(smtp_server),
    )
    with TestClient(create_app(settings, store=MemoryStore())) as client:
        ip = {"X-Forwarded-For": "198.51.100.1, 10.0.0.1"}
        assert (
            client.post(
                "/api/auth/register", json=_person("r1@example.com"), headers=ip
            ).status_code
            == 200
        )
        second = client.post("/api/auth/register", json=_person("r1@example.com"), headers=ip)
        assert second.status_code == 429
        assert 1 <= int(second.headers["Retry-After"]) <= settings.register_window_seconds
        assert second.json()["error"].startswith("Too many registration attempts")
        third = client.post("/api/auth/register", json=_person("r2@example.com"), headers=ip)
        assert third.status_code == 429  # the address used its 2 attempts
        other_ip = {"X-Forwarded-For": "198.51.100.2"}
        assert (
            client.post(
                "/api/auth/register", json=_person("r3@example.com"), headers=other_ip
            ).status_code
            == 200
        )


def test_failed_delivery_is_kept_sealed_and_resend_delivers(tmp_path, smtp_server):
    store = MemoryStore()
    broken = make_settings(
        tmp_path, resend_max_per_email=5, **_smtp_values(smtp_server, smtp_port=free_port())
    )
    with TestClient(create_app(broken, store=store)) as client:
        response = client.post("/api/auth/register", json=_person("late@example.com", "Late"))
        assert response.status_code == 502
        body = response.json()
        assert body["canResend"] is True and body["details"] == {"canResend": True}
        assert body["error"].startswith("Account created, but email delivery failed")
        record = await_all(store, FAILURES_KEY)["late@example.com"]
        assert record["status"] == "pending" and record["passwordEncrypted"].count(".") == 2
        assert "password" not in json.dumps(
            {k: v for k, v in record.items() if k != "passwordEncrypted"}
        )
        failed_resend = client.post("/api/auth/register/resend", json={"email": "late@example.com"})
        assert failed_resend.status_code == 502
    smtp_server.clear()
    working = make_settings(tmp_path, resend_max_per_email=5, **_smtp_values(smtp_server))
    with TestClient(create_app(working, store=store)) as client:
        response = client.post("/api/auth/register/resend", json={"email": "LATE@example.com"})
        assert response.status_code == 200 and response.json() == {"message": GENERIC}
        [mail] = smtp_server.received()
        username, password = _credentials(mail)
        assert "Hello Late" in mail.get_payload()
        login(client, username, password)
        record = await_all(store, FAILURES_KEY)["late@example.com"]
        assert record["status"] == "sent" and "passwordEncrypted" not in record
        smtp_server.clear()
        again = client.post("/api/auth/register/resend", json={"email": "late@example.com"})
        assert again.json() == {"message": GENERIC} and smtp_server.received() == []


def test_resend_reveals_nothing_for_unknown_email(tmp_path, smtp_server):
    settings = make_settings(tmp_path, **_smtp_values(smtp_server))
    smtp_server.clear()
    with TestClient(create_app(settings, store=MemoryStore())) as client:
        response = client.post("/api/auth/register/resend", json={"email": "who@example.com"})
        assert response.status_code == 200 and response.json() == {"message": GENERIC}
        assert smtp_server.received() == []


def test_resend_has_its_own_limits(tmp_path, smtp_server):
    settings = make_settings(tmp_path, resend_max_per_email=1, **_smtp_values(smtp_server))
    with TestClient(create_app(settings, store=MemoryStore())) as client:
        body = {"email": "again@example.com"}
        assert client.post("/api/auth/register/resend", json=body).status_code == 200
        refused = client.post("/api/auth/register/resend", json=body)
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        assert refused.json()["error"].startswith("Too many resend attempts")


def test_resend_without_mail_configured_is_503(tmp_path):
    with TestClient(create_app(make_settings(tmp_path), store=MemoryStore())) as client:
        response = client.post("/api/auth/register/resend", json={"email": "x@example.com"})
        assert response.status_code == 503


def test_removed_account_email_can_register_again(tmp_path, smtp_server):
    settings = make_settings(tmp_path, **_smtp_values(smtp_server))
    smtp_server.clear()
    with TestClient(create_app(settings, store=MemoryStore())) as client:
        first = client.post("/api/auth/register", json=_person("back@example.com"))
        assert first.status_code == 200
        username = first.json()["username"]
        login(client, "admin", ADMIN_PASSWORD)
        removed = client.request(
            "DELETE", "/api/admin/accounts", json={"username": username}, headers=CSRF
        )
        assert removed.status_code == 200
        again = client.post("/api/auth/register", json=_person("back@example.com"))
        assert again.status_code == 200 and again.json()["username"] != username


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "email": "a@example.com", "country": "RO"}, "name"),
        ({"name": "A", "email": "not-an-email", "country": "RO"}, "email"),
        ({"name": "A", "email": "a@example.com", "country": "x" * 121}, "country"),
        (
            {
                "name": "A",
                "email": "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".eeeeeeeeee.io",
                "country": "RO",
            },
            "email",
        ),
    ],
)
def test_register_validates_fields(tmp_path, body, field):
    with TestClient(create_app(make_settings(tmp_path), store=MemoryStore())) as client:
        response = client.post("/api/auth/register", json=body)
        assert response.status_code == 400
        assert [d["field"] for d in response.json()["details"]] == [field]
