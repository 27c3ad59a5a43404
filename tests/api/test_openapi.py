"""/openapi.json describes the API as it answers: both security schemes, the real error answers
(400, never 422), the settings' ceilings, and every operation's real answers match it."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api.flow_runner_fake import run_job_here, start_jobs_harness
from tests.api.openapi_check import OpenApiChecker
from tests.support.api_fixtures import CSRF, USER_PASSWORD, bearer
from tests.support.schemas import PEOPLE_SCHEMA

MAX_RECORDS = 50


@pytest.fixture(scope="module")
def env(tmp_path_factory, smtp_server):
    harness, runner = start_jobs_harness(
        tmp_path_factory.mktemp("openapi"),
        max_records_per_job=MAX_RECORDS,
        update_every_k=5,
        allowed_inference_hosts="127.0.0.1",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_user=smtp_server.user,
        smtp_password=smtp_server.password,
        smtp_from="no-reply@datagems.test",
        smtp_ca_file=smtp_server.ca_file,
    )
    with harness.stack:
        yield harness, runner


@pytest.fixture(scope="module")
def document(env):
    harness, _ = env
    return harness.client().get("/openapi.json").json()


def test_document_lists_both_security_schemes(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["session"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "datagen_session",
        "description": "The session cookie set by POST /api/auth/login",
    }
    assert schemes["apiToken"]["type"] == "http" and schemes["apiToken"]["scheme"] == "bearer"
    me = document["paths"]["/api/auth/me"]["get"]
    assert {"session": []} in me["security"] and {"apiToken": []} in me["security"]
    assert "security" not in document["paths"]["/api/auth/login"]["post"]


def test_document_has_real_errors_and_no_422(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= set(responses), (method, path)
            if operation.get("security"):
                assert "401" in responses, (method, path)
            for status, answer in responses.items():
                if status.startswith(("4", "5")):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "429" in document["paths"]["/api/auth/login"]["post"]["responses"]


def test_document_summaries_read_like_sentences(document):
    summaries = [op["summary"] for ops in document["paths"].values() for op in ops.values()]
    assert "Create a job" in summaries
    for summary in summaries:
        assert not re.search(r"\b(Route|Api)\b", summary), summary


def test_document_limits_match_the_settings(document):
    schemas = document["components"]["schemas"]
    total = schemas["JobCreate"]["properties"]["totalRecords"]
    assert (total["type"], total["minimum"], total["maximum"]) == ("integer", 1, MAX_RECORDS)
    concurrency = schemas["InferenceRequest"]["properties"]["concurrency"]["anyOf"][0]
    assert concurrency["minimum"] == 1 and concurrency["maximum"] >= 1
    # responses are typed: no bare objects where a job or a record is sent
    assert schemas["JobPublic"]["properties"]["job"] == {"$ref": "#/components/schemas/Job"}
    records = schemas["RecordsPublic"]["properties"]["records"]["items"]
    assert records == {"$ref": "#/components/schemas/RecordPublic"}
    schedule = schemas["SchedulePublic"]["properties"]["schedule"]
    assert schedule == {"$ref": "#/components/schemas/ScheduleView"}


def _checked_client(harness, checker, client: TestClient | None = None) -> TestClient:
    client = client or harness.client()
    checker.watch(client)
    return client


def test_every_operation_answers_as_documented(env, document, fake_gateway, smtp_server):
    harness, _ = env
    checker = OpenApiChecker(document)
    anonymous = _checked_client(harness, checker)
    alice, admin = harness.alice, harness.admin
    checker.watch(alice)
    checker.watch(admin)

    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/api/health").status_code == 200
    assert anonymous.get("/api/jobs").status_code == 401
    assert anonymous.post("/api/auth/login", json={"username": "bob"}).status_code == 400

    bob = _checked_client(harness, checker)
    login = bob.post(
        "/api/auth/login", json={"username": "bob", "password": USER_PASSWORD}, headers=CSRF
    )
    assert login.status_code == 200
    assert bob.get("/api/auth/me").status_code == 200
    token = bob.post("/api/auth/tokens", json={"name": "ci"}, headers=CSRF)
    assert token.status_code == 201
    assert bob.get("/api/auth/tokens").status_code == 200
    assert bob.get("/api/auth/me", headers=bearer(token.json()["token"])).status_code == 200
    assert bob.post("/api/auth/tokens", json={"name": "x"}).status_code == 403  # CSRF
    revoked = bob.delete(f"/api/auth/tokens/{token.json()['id']}", headers=CSRF)
    assert revoked.status_code == 200
    assert bob.delete("/api/auth/tokens/nope", headers=CSRF).status_code == 404

    person = {"name": "Ada Lovelace", "email": "ada@example.com", "country": "UK"}
    assert anonymous.post("/api/auth/register", json=person).status_code == 200
    assert anonymous.post("/api/auth/register", json=person).status_code == 409
    resend = anonymous.post("/api/auth/register/resend", json={"email": person["email"]})
    assert resend.status_code == 200
    accounts = admin.get("/api/admin/accounts")
    assert accounts.status_code == 200
    registered = next(a for a in accounts.json()["accounts"] if a["email"] == person["email"])
    removed = admin.request(
        "DELETE", "/api/admin/accounts", json={"username": registered["username"]}, headers=CSRF
    )
    assert removed.status_code == 200
    assert alice.get("/api/admin/accounts").status_code == 403
    assert admin.get("/metrics").status_code == 200
    assert alice.get("/api/metrics").status_code == 200

    saved = alice.post(
        "/api/user/settings",
        json={"name": "Fake", "baseUrl": fake_gateway.openai_base, "model": "m", "setActive": True},
        headers=CSRF,
    )
    assert saved.status_code == 200
    profile_id = saved.json()["profiles"][0]["id"]
    assert alice.get("/api/user/settings").status_code == 200
    models = alice.post("/api/user/models", json={"profileId": profile_id}, headers=CSRF)
    assert models.status_code == 200
    activated = alice.post(
        "/api/user/settings", json={"mode": "activate", "id": profile_id}, headers=CSRF
    )
    assert activated.status_code == 200
    deleted = alice.request("DELETE", "/api/user/settings", json={"id": profile_id}, headers=CSRF)
    assert deleted.status_code == 200

    draft = alice.post(
        "/api/jobs/schema",
        json={"title": "Tickets", "instructions": "Help desk tickets", "datasetMode": False},
        headers=CSRF,
    )
    assert draft.status_code == 200
    created = alice.post(
        "/api/jobs",
        json={"draftToken": draft.json()["draftToken"], "totalRecords": 3},
        headers=CSRF,
    )
    assert created.status_code == 201
    job_id = created.json()["job"]["id"]
    assert alice.get(f"/api/jobs/{job_id}/export").status_code == 409
    run_job_here(harness, job_id)
    assert alice.get("/api/jobs").status_code == 200
    assert admin.get("/api/jobs", params={"all": "true"}).status_code == 200
    assert alice.get("/api/jobs", params={"all": "true"}).status_code == 403
    assert alice.get(f"/api/jobs/{job_id}").status_code == 200
    assert alice.get(f"/api/jobs/{job_id}/records", params={"limit": 2}).status_code == 200
    rejected = alice.get(f"/api/jobs/{job_id}/records", params={"status": "rejected"})
    assert rejected.status_code == 200
    assert alice.get(f"/api/jobs/{job_id}/quality").status_code == 200
    estimate = alice.post(
        "/api/jobs/estimate",
        json={"draftToken": draft.json()["draftToken"], "totalRecords": 3},
        headers=CSRF,
    )
    assert estimate.status_code == 200
    assert alice.get("/api/usage").status_code == 200
    assert admin.get("/api/usage", params={"user": "*"}).status_code == 200
    assert admin.get("/api/admin/users/alice/quota").status_code == 200
    assert admin.get("/api/admin/quotas").status_code == 200
    quota = admin.put("/api/admin/users/alice/quota", json={"records": 1000}, headers=CSRF)
    assert quota.status_code == 200
    assert admin.get("/api/admin/users/nobody/quota").status_code == 404
    for fmt in ("json", "jsonl", "csv", "parquet"):
        assert alice.get(f"/api/jobs/{job_id}/export", params={"format": fmt}).status_code == 200
    assert alice.get("/api/jobs/nope").status_code == 404

    failing = alice.post(
        "/api/jobs",
        json={"title": "P", "instructions": "p", "schema": PEOPLE_SCHEMA, "totalRecords": 2},
        headers=CSRF,
    ).json()["job"]["id"]
    settings = harness.settings.model_copy(
        update={"inference_base_url_raw": fake_gateway.openai_base, "mock_inference": False}
    )
    fake_gateway.configure(rate_invalid=1.0)
    run_job_here(harness, failing, settings)
    fake_gateway.configure(rate_invalid=0.0)
    assert alice.post(f"/api/jobs/{failing}/retry", headers=CSRF).status_code == 400
    more = alice.post(f"/api/jobs/{failing}/retry", json={"maxCandidates": 10}, headers=CSRF)
    assert more.status_code == 200
    assert alice.post(f"/api/jobs/{failing}/cancel", headers=CSRF).status_code == 200
    assert alice.post(f"/api/jobs/{failing}/cancel", headers=CSRF).status_code == 409
    assert alice.delete(f"/api/jobs/{job_id}", headers=CSRF).status_code == 200

    schedule = alice.post(
        "/api/schedules",
        json={
            "draftToken": draft.json()["draftToken"],
            "totalRecords": 2,
            "cron": "0 6 * * 1",
            "timezone": "Europe/Bucharest",
        },
        headers=CSRF,
    )
    assert schedule.status_code == 201
    schedule_id = schedule.json()["schedule"]["id"]
    assert alice.get("/api/schedules").status_code == 200
    assert alice.get(f"/api/schedules/{schedule_id}").status_code == 200
    patched = alice.patch(f"/api/schedules/{schedule_id}", json={"active": False}, headers=CSRF)
    assert patched.status_code == 200
    assert alice.get(f"/api/schedules/{schedule_id}/jobs").status_code == 200
    assert alice.delete(f"/api/schedules/{schedule_id}", headers=CSRF).status_code == 200

    changed = bob.post(
        "/api/auth/password",
        json={"currentPassword": USER_PASSWORD, "newPassword": "another-password-1"},
        headers=CSRF,
    )
    assert changed.status_code == 200
    assert bob.post("/api/auth/logout", headers=CSRF).status_code == 200

    assert not checker.problems, checker.problems
    assert not checker.missing_successes(), sorted(checker.missing_successes())


def test_checker_catches_an_answer_that_breaks_the_document(document):
    checker = OpenApiChecker(document)
    request = httpx.Request("GET", "http://testserver/api/auth/me")
    wrong_body = httpx.Response(200, json={"username": 1, "role": "user"}, request=request)
    with pytest.raises(AssertionError, match="does not match"):
        checker.check(wrong_body)
    undocumented = httpx.Response(422, json={"detail": []}, request=request)
    with pytest.raises(AssertionError, match="not documented"):
        checker.check(undocumented)
