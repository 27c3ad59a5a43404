"""Input is checked when it is given: values that used to answer 500, or were accepted and failed
later, get a 400 naming the field and the limit."""

from __future__ import annotations

import json

import pytest

from tests.api.flow_runner_fake import start_jobs_harness
from tests.support.api_fixtures import CSRF
from tests.support.schemas import PEOPLE_SCHEMA

JOB = {"title": "People", "instructions": "Customers", "schema": PEOPLE_SCHEMA, "totalRecords": 3}
SCHEDULE = {**JOB, "cron": "0 6 * * 1"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    harness, runner = start_jobs_harness(tmp_path_factory.mktemp("input-checks"))
    with harness.stack:
        yield harness, runner


@pytest.fixture
def alice(env):
    return env[0].alice


@pytest.fixture(scope="module")
def schedule_id(env):
    response = env[0].alice.post("/api/schedules", json=SCHEDULE, headers=CSRF)
    assert response.status_code == 201, response.text
    return response.json()["schedule"]["id"]


def _problem(response, field):
    assert response.status_code == 400, response.text
    body = response.json()
    fields = [p["field"] for p in body["details"]]
    assert field in fields, body
    problem = next(p["problem"] for p in body["details"] if p["field"] == field)
    assert f"{field} ({problem})" in body["error"]
    return problem


def _send_raw(client, method, url, text):
    """Send JSON text as written (json= would refuse to encode a lone surrogate)."""
    return client.request(
        method, url, content=text.encode(), headers={**CSRF, "Content-Type": "application/json"}
    )


@pytest.mark.parametrize(("concurrency", "says"), [(0, "at least 1"), (-5, "at least 1")])
@pytest.mark.parametrize("where", ["job", "schedule", "draft", "patch"])
def test_concurrency_below_one_is_a_400(alice, schedule_id, where, concurrency, says):
    inference = {"inference": {"concurrency": concurrency}}
    if where == "job":
        response = alice.post("/api/jobs", json={**JOB, **inference}, headers=CSRF)
    elif where == "schedule":
        response = alice.post("/api/schedules", json={**SCHEDULE, **inference}, headers=CSRF)
    elif where == "draft":
        body = {"title": "T", "instructions": "I", **inference}
        response = alice.post("/api/jobs/schema", json=body, headers=CSRF)
    else:
        response = alice.patch(f"/api/schedules/{schedule_id}", json=inference, headers=CSRF)
    assert says in _problem(response, "inference.concurrency")


@pytest.mark.parametrize("where", ["job", "schedule", "draft", "patch"])
def test_concurrency_false_is_not_a_number(alice, schedule_id, where):
    inference = {"inference": {"concurrency": False}}
    urls = {
        "job": ("POST", "/api/jobs", {**JOB, **inference}),
        "schedule": ("POST", "/api/schedules", {**SCHEDULE, **inference}),
        "draft": ("POST", "/api/jobs/schema", {"title": "T", "instructions": "I", **inference}),
        "patch": ("PATCH", f"/api/schedules/{schedule_id}", inference),
    }
    method, url, body = urls[where]
    response = alice.request(method, url, json=body, headers=CSRF)
    assert "whole number" in _problem(response, "inference.concurrency")


def test_record_count_true_is_not_one(alice, schedule_id):
    response = alice.post("/api/jobs", json={**JOB, "totalRecords": True}, headers=CSRF)
    assert "whole number" in _problem(response, "totalRecords")
    response = alice.patch(
        f"/api/schedules/{schedule_id}", json={"totalRecords": True}, headers=CSRF
    )
    assert "whole number" in _problem(response, "totalRecords")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**JOB, "description": "a\udc00b"}, "description"),
        ({**JOB, "inference": {"parameters": {"stop": ["\udc00"]}}}, "inference.parameters.stop.0"),
        ({**JOB, "schema": {**PEOPLE_SCHEMA, "title": "\ud800"}}, "schema.title"),
    ],
)
def test_lone_surrogates_are_a_400_naming_the_field(env, alice, body, field):
    runner = env[1]
    started = len(runner.started)
    response = _send_raw(alice, "POST", "/api/jobs", json.dumps(body))
    assert "lone surrogate" in _problem(response, field)
    assert len(runner.started) == started


def test_lone_surrogate_in_a_schedule_patch(alice, schedule_id):
    text = json.dumps({"description": "\udc00"})
    response = _send_raw(alice, "PATCH", f"/api/schedules/{schedule_id}", text)
    assert "lone surrogate" in _problem(response, "description")


def test_huge_offset_is_a_400(alice):
    response = alice.get("/api/jobs", params={"offset": 2**63})
    assert "at most" in _problem(response, "offset")
    assert alice.get("/api/jobs", params={"offset": 10**9}).status_code == 200


@pytest.mark.parametrize("cron", ["* * * * * *", "0 0 6 * * 1", "0 6 * * 1 2030"])
def test_cron_must_have_five_fields(alice, cron):
    response = alice.post("/api/schedules", json={**SCHEDULE, "cron": cron}, headers=CSRF)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["details"]["field"] == "cron"
    assert "use five fields" in body["error"]


def test_seed_and_flags_are_strict(alice):
    response = alice.post("/api/jobs", json={**JOB, "seed": True}, headers=CSRF)
    assert "whole number" in _problem(response, "seed")
    response = alice.post("/api/jobs", json={**JOB, "datasetMode": "yes"}, headers=CSRF)
    assert "true or false" in _problem(response, "datasetMode")


@pytest.mark.parametrize("url", ["/api/user/settings", "/api/user/models"])
def test_gateway_host_that_is_not_an_internet_name_is_a_400(alice, url):
    # found by the fuzzer: the IDNA codec refused the name inside the URL guard (500)
    body = {"name": "odd", "baseUrl": "http://\U000f93ed\u00d1.example/v1"}
    response = alice.post(url, json=body, headers=CSRF)
    assert response.status_code == 400, response.text
    assert response.json()["details"]["field"] == "baseUrl"
