"""Creating jobs over REST: drafts, creation checks, shards and a profile's own gateway."""

from __future__ import annotations

import asyncio
import json

import jwt
import pytest

from datagems_core.clock import parse_iso
from datagems_core.datasets.definition import InferenceChoice
from datagems_core.datasets.definitions import gateway_for
from datagems_core.inference.choice import resolve_gateway
from datagems_core.jobs.repository import read_details
from datagems_core.store.files.local import LocalFileStore
from tests.api.flow_runner_fake import run_job_here, start_jobs_harness
from tests.api.job_requests import create_job, jobs_env, people_job
from tests.support.api_fixtures import CSRF
from tests.support.schemas import PEOPLE_SCHEMA


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from jobs_env(tmp_path_factory)


@pytest.fixture
def api(env):
    harness, runner = env
    runner.unavailable = None
    return harness


@pytest.fixture
def runner(env):
    return env[1]


def _draft(client, **overrides):
    body = {
        "title": "Support tickets",
        "description": "Tickets for a help desk demo",
        "instructions": "Customer support tickets with a priority label",
        "datasetMode": True,
        **overrides,
    }
    response = client.post("/api/jobs/schema", json=body, headers=CSRF)
    assert response.status_code == 200, response.text
    return response.json()


def test_draft_schema_returns_a_signed_draft_with_timing(api):
    draft = _draft(api.alice)
    assert set(draft) >= {
        "schema",
        "schemaGeneratedAt",
        "schemaDurationMs",
        "schemaRefreshes",
        "draftToken",
        "warnings",
    }
    assert draft["schema"]["type"] == "object"
    assert "label" in draft["schema"]["properties"]  # dataset mode asks for a label
    assert draft["schemaRefreshes"] == 0
    assert draft["schemaDurationMs"] >= 0
    assert draft["schemaGeneratedAt"].endswith("Z")
    claims = jwt.decode(draft["draftToken"], options={"verify_signature": False})
    expires = parse_iso(draft["draftExpiresAt"])
    assert expires is not None and expires.timestamp() == claims["exp"]
    assert claims["exp"] - claims["iat"] == 30 * 60


def test_draft_schema_counts_refreshes_with_the_previous_token(api):
    first = _draft(api.alice)
    second = _draft(api.alice, previousDraftToken=first["draftToken"])
    third = _draft(api.alice, previousDraftToken=second["draftToken"])
    assert (second["schemaRefreshes"], third["schemaRefreshes"]) == (1, 2)
    assert _draft(api.alice, previousDraftToken="not-a-token")["schemaRefreshes"] == 0
    bobs = _draft(api.bob)
    assert _draft(api.alice, previousDraftToken=bobs["draftToken"])["schemaRefreshes"] == 0


def test_create_job_from_draft_starts_a_flow_run_and_answers_at_once(api, runner):
    draft = _draft(api.alice)
    response = create_job(api.alice, draftToken=draft["draftToken"], totalRecords=5)
    assert response.status_code == 201, response.text
    job = response.json()["job"]
    assert job["status"] == "queued"
    assert job["owner"] == "alice" and job["title"] == "Support tickets"
    assert job["totalRecords"] == 5 and job["datasetMode"] is True
    assert runner.started[-1].id == job["id"]
    assert job["flowRunId"] == runner_flow_run_id(runner)
    listed = api.alice.get("/api/jobs").json()
    assert listed["jobs"][0]["id"] == job["id"]


def runner_flow_run_id(runner):
    return f"00000000-0000-4000-8000-{len(runner.started):012d}"


def test_create_job_refuses_someone_elses_draft(api):
    draft = _draft(api.bob)
    response = create_job(api.alice, draftToken=draft["draftToken"], totalRecords=5)
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid or expired draft"


def test_create_job_refuses_an_invalid_schema_with_its_json_path(api):
    schema = {**PEOPLE_SCHEMA, "properties": {"age": {"type": "integr"}}}
    response = create_job(
        api.alice, title="Bad", instructions="x", schema=schema, totalRecords=3, description=""
    )
    assert response.status_code == 400
    body = response.json()
    assert body["details"]["path"] == "$.properties.age.type"
    assert "integr" in body["error"] and "Invalid schema" in body["error"]


@pytest.mark.parametrize("total", [0, 501])
def test_create_job_bounds_the_record_count(api, total):
    response = create_job(
        api.alice, title="P", instructions="x", schema=PEOPLE_SCHEMA, totalRecords=total
    )
    assert response.status_code == 400
    assert "DATAGEN_MAX_RECORDS_PER_JOB" in response.json()["error"]
    assert response.json()["details"]["field"] == "totalRecords"


@pytest.mark.parametrize("shards", [0, 8, 65, "2"])
def test_create_job_bounds_the_shards(api, shards):
    response = create_job(
        api.alice, title="P", instructions="x", schema=PEOPLE_SCHEMA, totalRecords=7, shards=shards
    )
    assert response.status_code == 400, response.text
    assert "shards" in response.text


def test_a_job_of_several_shards_makes_each_index_once(api):
    job = people_job(api.alice, total=7, shards=3)
    view = api.alice.get(f"/api/jobs/{job['id']}").json()
    assert [(s["shardKey"], s["peerId"], s["assigned"]) for s in view["shards"]] == [
        ("s0", "default", 3),
        ("s1", "default", 2),
        ("s2", "default", 2),
    ]
    assert view["shards"][0]["takeovers"] == 0 and view["shards"][0]["leaseOwner"] is None
    run_job_here(api, job["id"])
    view = api.alice.get(f"/api/jobs/{job['id']}").json()
    assert view["job"]["status"] == "succeeded" and view["progress"]["ok"] == 7
    records = api.alice.get(f"/api/jobs/{job['id']}/records?limit=50").json()["records"]
    assert sorted(r["index"] for r in records if r["ok"]) == list(range(7))


def test_create_job_bounds_the_concurrency(api):
    response = create_job(
        api.alice,
        title="P",
        instructions="x",
        schema=PEOPLE_SCHEMA,
        totalRecords=3,
        inference={"concurrency": 100_000},
    )
    assert response.status_code == 400
    assert "DATAGEMS_INFERENCE_MAX_CONCURRENCY" in response.json()["error"]


def test_create_job_refuses_an_unknown_profile(api):
    response = create_job(
        api.alice,
        title="P",
        instructions="x",
        schema=PEOPLE_SCHEMA,
        totalRecords=3,
        inference={"profileId": "nope"},
    )
    assert response.status_code == 400
    assert response.json()["details"]["field"] == "inference.profileId"


def test_create_job_needs_a_draft_or_the_written_out_definition(api):
    response = create_job(api.alice, title="Only a title", totalRecords=3)
    assert response.status_code == 400
    assert "draftToken" in response.text and "instructions" in response.text


def test_create_job_fails_the_job_clearly_when_no_run_can_start(api, runner):
    runner.unavailable = "deployment generate-dataset/default is not registered: `datagems up`"
    response = create_job(
        api.alice, title="Stuck", instructions="x", schema=PEOPLE_SCHEMA, totalRecords=3
    )
    assert response.status_code == 503
    body = response.json()
    assert "generate-dataset/default" in body["error"] and "datagems up" in body["error"]
    job = body["details"]["job"]
    assert job["status"] == "failed" and "datagems up" in job["error"]
    saved = api.alice.get(f"/api/jobs/{job['id']}").json()["job"]
    assert saved["status"] == "failed"  # the job is kept, with its reason


def test_profile_jobs_draft_on_the_users_own_gateway(tmp_path, fake_gateway):
    harness, runner = start_jobs_harness(tmp_path, allowed_inference_hosts="127.0.0.1")
    with harness.stack:
        fake_gateway.configure(api_key="sk-users-own-key")
        saved = harness.alice.post(
            "/api/user/settings",
            json={
                "name": "mine",
                "baseUrl": fake_gateway.openai_base,
                "apiKey": "sk-users-own-key",
                "model": "tiny-1",
                "setActive": True,
            },
            headers=CSRF,
        ).json()
        profile_id = saved["profiles"][0]["id"]
        draft = _draft(harness.alice, inference={"profileId": profile_id})
        assert fake_gateway.stats()["requests"] == 1  # drafted by the profile's gateway, key sent
        assert fake_gateway.stats()["bodies"][0]["model"] == "tiny-1"
        job = create_job(harness.alice, draftToken=draft["draftToken"], totalRecords=3)
        assert job.status_code == 201, job.text
        started = runner.started[-1]
        assert job.json()["job"]["id"] == started.id
        details = harness.alice.get(f"/api/jobs/{started.id}").json()["details"]
        assert details["inference"]["profileId"] == profile_id
        assert "sk-users-own-key" not in json.dumps(details)  # keys never leave the profile
        # What the engine resolves when the job runs: the profile's gateway, key and model.
        files = LocalFileStore(root=harness.settings.data_dir / "files")
        job_details = asyncio.run(read_details(files, started))
        gateway = asyncio.run(resolve_gateway(harness.store, harness.settings, job_details))
        assert gateway is not None and gateway.base_url == fake_gateway.openai_base
        assert gateway.api_key.get_secret_value() == "sk-users-own-key"
        assert gateway.model == "tiny-1"
        choice = InferenceChoice(profile_id=profile_id, concurrency=3)
        drafting = asyncio.run(gateway_for(harness.store, harness.settings, "alice", choice))
        assert (drafting.base_url, drafting.concurrency) == (fake_gateway.openai_base, 3)
