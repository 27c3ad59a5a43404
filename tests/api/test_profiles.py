"""Inference profiles through the API: keys never come back, owners only, SSRF guard, models."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from tests.support.api_fixtures import CSRF, start_harness
from tests.support.processes import free_port

KEY = "sk-profile-secret-987"


class _ModelsHandler(BaseHTTPRequestHandler):
    seen_auth: ClassVar[list[str | None]] = []

    def do_GET(self):
        type(self).seen_auth.append(self.headers.get("Authorization"))
        if self.path == "/v1/models":
            body = json.dumps({"object": "list", "data": [{"id": "tiny-1"}, {"id": "tiny-2"}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def models_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ModelsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    harness = start_harness(
        tmp_path_factory.mktemp("profiles"),
        users=("pia", "quinn"),
        allowed_inference_hosts="127.0.0.1",
        max_external_api_configs=3,
    )
    with harness.stack:
        yield harness


def _save(client, **body):
    return client.post("/api/user/settings", json=body, headers=CSRF)


def test_profile_round_trip_never_returns_the_key(harness, models_server):
    pia = harness.clients["pia"]
    response = _save(pia, name="Local", baseUrl=f"{models_server}/v1", apiKey=KEY, model="tiny-1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert KEY not in response.text
    assert body["activeProfile"]["name"] == "Local" and body["hasApiKey"] is True
    assert body["maxProfiles"] == 3 and body["baseUrl"] == f"{models_server}/v1"
    listed = pia.get("/api/user/settings")
    assert listed.json() == body and KEY not in listed.text


def test_other_users_profile_is_not_found(harness):
    pia, quinn = harness.clients["pia"], harness.clients["quinn"]
    profile_id = _save(pia, name="Mine").json()["profiles"][-1]["id"]
    assert _save(quinn, id=profile_id, name="Stolen").status_code == 404
    assert _save(quinn, mode="activate", id=profile_id).status_code == 404
    gone = quinn.request("DELETE", "/api/user/settings", json={"id": profile_id}, headers=CSRF)
    assert gone.status_code == 404
    assert (
        quinn.post("/api/user/models", json={"profileId": profile_id}, headers=CSRF).status_code
        == 404
    )
    assert profile_id not in quinn.get("/api/user/settings").text


def test_profile_limit_and_delete(harness):
    quinn = harness.clients["quinn"]
    ids = [_save(quinn, name=f"P{i}").json()["profiles"][-1]["id"] for i in range(3)]
    refused = _save(quinn, name="P4")
    assert refused.status_code == 400
    assert refused.json()["error"] == "Maximum external API profiles reached (3)"
    after = quinn.request("DELETE", "/api/user/settings", json={"id": ids[0]}, headers=CSRF)
    assert after.status_code == 200 and after.json()["activeProfileId"] == ids[1]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest",
        "http://10.0.0.2/v1",
        "ftp://127.0.0.2/",
        "http://u:p@8.8.8.8/",
        # IPv6 forms of loopback, link-local and metadata IPv4 addresses (issue 10 item 9)
        "http://[::127.0.0.1]/v1",
        "http://[::a9fe:a9fe]/v1",
        "http://[::ffff:0:a9fe:a9fe]/v1",
        "http://[64:ff9b:1::a9fe:a9fe]/v1",
        "http://[64:ff9b::a00:1]/v1",
        "http://[2002:a9fe:a9fe::1]/v1",
        "http://[fec0::1]/v1",
    ],
)
def test_profile_url_guard(harness, url):
    response = _save(harness.clients["pia"], baseUrl=url)
    assert response.status_code == 400 and response.json()["details"] == {"field": "baseUrl"}


def test_models_listing_uses_the_saved_key(harness, models_server):
    pia = harness.clients["pia"]
    saved = _save(pia, name="For models", baseUrl=f"{models_server}/v1", apiKey=KEY)
    profile_id = saved.json()["profiles"][-1]["id"]
    _ModelsHandler.seen_auth.clear()
    response = pia.post("/api/user/models", json={"profileId": profile_id}, headers=CSRF)
    assert response.status_code == 200, response.text
    assert response.json() == {"models": [{"id": "tiny-1"}, {"id": "tiny-2"}]}
    assert _ModelsHandler.seen_auth == [f"Bearer {KEY}"]


def test_models_listing_reports_a_dead_gateway(harness):
    response = harness.clients["pia"].post(
        "/api/user/models", json={"baseUrl": f"http://127.0.0.1:{free_port()}/v1"}, headers=CSRF
    )
    assert response.status_code == 502


def test_models_listing_needs_a_url(harness):
    response = harness.clients["pia"].post("/api/user/models", json={}, headers=CSRF)
    assert response.status_code == 400
