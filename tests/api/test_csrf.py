"""Cross-site request forgery: cookie-authenticated writes must show they come from our pages."""

from __future__ import annotations

import pytest

from tests.support.api_fixtures import bearer, start_harness


def _create_token(client, headers):
    return client.post("/api/auth/tokens", json={"name": "csrf-check"}, headers=headers)


def test_cookie_write_without_proof_is_refused(api):
    response = _create_token(api.alice, {})
    assert response.status_code == 403
    assert response.json()["details"] == {"reason": "csrf"}
    assert "X-Requested-With" in response.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Requested-With": "XMLHttpRequest"},
        {"Origin": "http://testserver"},
        {"Referer": "http://testserver/settings"},
    ],
)
def test_cookie_write_from_own_pages_is_accepted(api, headers):
    assert _create_token(api.alice, headers).status_code == 201


_FORWARDED = {"Origin": "https://datagems.example", "X-Forwarded-Host": "datagems.example"}


def test_forwarded_host_counts_only_from_a_trusted_proxy(api, tmp_path):
    # By default proxy headers are not trusted: anyone could send X-Forwarded-Host.
    assert _create_token(api.alice, _FORWARDED).status_code == 403
    harness = start_harness(
        tmp_path, users=("alice",), trust_proxy_headers=True, trusted_proxies="testclient"
    )
    with harness.stack:
        assert _create_token(harness.alice, _FORWARDED).status_code == 201


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        {"Origin": "http://testserver.evil.example"},
    ],
)
def test_cookie_write_from_elsewhere_is_refused(api, headers):
    assert _create_token(api.alice, headers).status_code == 403


def test_cookie_reads_need_no_proof(api):
    assert api.alice.get("/api/auth/tokens").status_code == 200


def test_bearer_write_is_exempt(api):
    token = _create_token(api.alice, {"X-Requested-With": "x"}).json()["token"]
    response = api.client().post(
        "/api/auth/tokens", json={"name": "from-script"}, headers=bearer(token)
    )
    assert response.status_code == 201
