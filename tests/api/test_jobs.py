"""The jobs API at unit level: drafts, creation checks, ownership, reads, cancel, retry, delete,
export. The FlowRunner is a fake here; tests/e2e crosses the real Prefect boundary."""

from __future__ import annotations

import asyncio
import io
import json

import jwt
import polars as pl
import pytest

from datagems_core.clock import parse_iso
from datagems_core.datasets.definition import InferenceChoice
from datagems_core.datasets.definitions import gateway_for
from datagems_core.files.local import LocalFileStore
from datagems_core.inference.choice import resolve_gateway
from datagems_core.jobs.repository import read_details
from tests.api.flow_runner_fake import run_job_here, start_jobs_harness
from tests.support.api_fixtures import CSRF
from tests.support.schemas import PEOPLE_SCHEMA


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    harness, runner = start_jobs_harness(
        tmp_path_factory.mktemp("jobs-api"), max_records_per_job=500, update_every_k=5
    )
    with harness.stack:
        yield harness, runner


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


def _create(client, **body):
    return client.post("/api/jobs", json=body, headers=CSRF)


def _people_job(client, total=12, **overrides):
    body = {
        "title": "People",
        "description": "Fictional customers",
        "instructions": "Fictional customers of a software shop",
        "schema": PEOPLE_SCHEMA,
        "totalRecords": total,
        "seed": 7,
        **overrides,
    }
    response = _create(client, **body)
    assert response.status_code == 201, response.text
    return response.json()["job"]


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
    response = _create(api.alice, draftToken=draft["draftToken"], totalRecords=5)
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
    response = _create(api.alice, draftToken=draft["draftToken"], totalRecords=5)
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid or expired draft"


def test_create_job_refuses_an_invalid_schema_with_its_json_path(api):
    schema = {**PEOPLE_SCHEMA, "properties": {"age": {"type": "integr"}}}
    response = _create(
        api.alice, title="Bad", instructions="x", schema=schema, totalRecords=3, description=""
    )
    assert response.status_code == 400
    body = response.json()
    assert body["details"]["path"] == "$.properties.age.type"
    assert "integr" in body["error"] and "Invalid schema" in body["error"]


@pytest.mark.parametrize("total", [0, 501])
def test_create_job_bounds_the_record_count(api, total):
    response = _create(
        api.alice, title="P", instructions="x", schema=PEOPLE_SCHEMA, totalRecords=total
    )
    assert response.status_code == 400
    assert "DATAGEN_MAX_RECORDS_PER_JOB" in response.json()["error"]
    assert response.json()["details"]["field"] == "totalRecords"


@pytest.mark.parametrize("shards", [0, 8, 65, "2"])
def test_create_job_bounds_the_shards(api, shards):
    response = _create(
        api.alice, title="P", instructions="x", schema=PEOPLE_SCHEMA, totalRecords=7, shards=shards
    )
    assert response.status_code == 400, response.text
    assert "shards" in response.text


def test_a_job_of_several_shards_makes_each_index_once(api):
    job = _people_job(api.alice, total=7, shards=3)
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
    response = _create(
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
    response = _create(
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
    response = _create(api.alice, title="Only a title", totalRecords=3)
    assert response.status_code == 400
    assert "draftToken" in response.text and "instructions" in response.text


def test_create_job_fails_the_job_clearly_when_no_run_can_start(api, runner):
    runner.unavailable = "deployment generate-dataset/default is not registered: `datagems up`"
    response = _create(
        api.alice, title="Stuck", instructions="x", schema=PEOPLE_SCHEMA, totalRecords=3
    )
    assert response.status_code == 503
    body = response.json()
    assert "generate-dataset/default" in body["error"] and "datagems up" in body["error"]
    job = body["details"]["job"]
    assert job["status"] == "failed" and "datagems up" in job["error"]
    saved = api.alice.get(f"/api/jobs/{job['id']}").json()["job"]
    assert saved["status"] == "failed"  # the job is kept, with its reason


def test_list_jobs_is_paginated_newest_first(api):
    ids = [_people_job(api.bob, total=2, title=f"Bob {n}")["id"] for n in range(3)]
    page = api.bob.get("/api/jobs", params={"offset": 1, "limit": 1}).json()
    assert page["count"] >= 3 and page["offset"] == 1 and page["limit"] == 1
    assert [j["id"] for j in page["jobs"]] == [ids[1]]
    newest = api.bob.get("/api/jobs", params={"limit": 3}).json()["jobs"]
    assert [j["id"] for j in newest] == ids[::-1]


def test_other_users_jobs_are_not_found_but_admins_see_all(api):
    job = _people_job(api.alice, total=2)
    for method, path in (
        ("get", f"/api/jobs/{job['id']}"),
        ("get", f"/api/jobs/{job['id']}/records"),
        ("get", f"/api/jobs/{job['id']}/export?format=json"),
        ("post", f"/api/jobs/{job['id']}/cancel"),
        ("post", f"/api/jobs/{job['id']}/retry"),
        ("delete", f"/api/jobs/{job['id']}"),
    ):
        response = getattr(api.bob, method)(path, headers=CSRF)
        assert response.status_code == 404, (method, path, response.text)
    assert api.admin.get(f"/api/jobs/{job['id']}").status_code == 200
    everyone = api.admin.get("/api/jobs", params={"all": "true", "limit": 500}).json()
    assert job["id"] in {j["id"] for j in everyone["jobs"]}
    assert api.alice.get("/api/jobs", params={"all": "true"}).status_code == 403


def test_read_job_shows_progress_shards_timings_and_prefect_link(api):
    job = _people_job(api.alice, total=6)
    run_job_here(api, job["id"])
    view = api.alice.get(f"/api/jobs/{job['id']}").json()
    assert view["job"]["status"] == "succeeded"
    assert view["progress"] == {
        "done": 6,
        "ok": 6,
        "failed": 0,
        "candidates": 6,
        "total": 6,
        "percent": 100.0,
        "retryPass": 0,
    }
    assert len(view["shards"]) == 1 and view["shards"][0]["assigned"] == 6
    assert view["timings"]["startedAt"] and view["timings"]["finishedAt"]
    assert view["failureReasons"] == {}
    assert view["details"]["instructions"] == "Fictional customers of a software shop"
    assert view["flowRunId"] == job["flowRunId"]
    assert view["prefectUrl"] == (f"{api.settings.prefect_ui_url}/runs/flow-run/{job['flowRunId']}")


def test_records_come_with_provenance_and_paginate(api):
    job = _people_job(api.alice, total=7)
    run_job_here(api, job["id"])
    page = api.alice.get(f"/api/jobs/{job['id']}/records", params={"offset": 2, "limit": 3})
    body = page.json()
    assert body["count"] == 7 and body["offset"] == 2 and body["limit"] == 3
    assert [r["index"] for r in body["records"]] == [2, 3, 4]
    record = body["records"][0]
    assert record["ok"] is True and record["error"] is None
    assert record["attempts"] >= 1
    assert isinstance(record["variation"], dict) and set(record["tokens"]) >= {"total"}
    assert set(record["data"]) == {"name", "age", "plan"}


def test_export_of_a_title_in_another_script_is_named_in_filename_star(api):
    job = _people_job(api.alice, total=2, title="Заявки банка")
    run_job_here(api, job["id"])
    response = api.alice.get(f"/api/jobs/{job['id']}/export", params={"format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{job["id"]}.csv"; '
        "filename*=UTF-8''%D0%B7%D0%B0%D1%8F%D0%B2%D0%BA%D0%B8-%D0%B1%D0%B0%D0%BD%D0%BA%D0%B0.csv"
    )


def test_export_streams_all_four_formats(api):
    job = _people_job(api.alice, total=9, title="Bank tickets")
    run_job_here(api, job["id"])
    frames = {}
    for fmt in ("json", "jsonl", "csv", "parquet"):
        response = api.alice.get(f"/api/jobs/{job['id']}/export", params={"format": fmt})
        assert response.status_code == 200, response.text
        disposition = response.headers["content-disposition"]
        assert disposition == f'attachment; filename="bank-tickets.{fmt}"'
        assert response.headers["x-datagems-partial"] == "false"
        assert response.headers["x-datagems-records-ok"] == "9"
        data = io.BytesIO(response.content)
        frames[fmt] = {
            "json": lambda d: pl.DataFrame(json.load(d)),
            "jsonl": pl.read_ndjson,
            "csv": pl.read_csv,
            "parquet": pl.read_parquet,
        }[fmt](data)
    for frame in frames.values():
        assert frame.height == 9
        assert set(frame.columns) == {"name", "age", "plan"}
    assert frames["csv"]["name"].to_list() == frames["parquet"]["name"].to_list()
    assert frames["json"]["age"].to_list() == frames["jsonl"]["age"].to_list()


def test_export_is_refused_while_the_job_runs_and_for_unknown_formats(api):
    job = _people_job(api.alice, total=2)
    response = api.alice.get(f"/api/jobs/{job['id']}/export", params={"format": "csv"})
    assert response.status_code == 409 and "queued" in response.json()["error"]
    run_job_here(api, job["id"])
    response = api.alice.get(f"/api/jobs/{job['id']}/export", params={"format": "xlsx"})
    assert response.status_code == 400 and "json, jsonl, csv or parquet" in response.text


def test_cancel_a_queued_job_stops_its_run_and_exports_what_it_has(api, runner):
    job = _people_job(api.alice, total=4)
    response = api.alice.post(f"/api/jobs/{job['id']}/cancel", headers=CSRF)
    assert response.status_code == 200, response.text
    assert response.json()["job"]["status"] == "cancelled"
    assert runner.cancelled[-1] == job["flowRunId"]
    export = api.alice.get(f"/api/jobs/{job['id']}/export", params={"format": "jsonl"})
    assert export.status_code == 200
    assert export.headers["x-datagems-partial"] == "true" and export.content == b""
    again = api.alice.post(f"/api/jobs/{job['id']}/cancel", headers=CSRF)
    assert again.status_code == 409


def test_cancel_still_saves_the_request_when_prefect_is_down(api, runner):
    job = _people_job(api.alice, total=4)
    runner.unavailable = "the Prefect server at http://127.0.0.1:1/api cannot be reached"
    response = api.alice.post(f"/api/jobs/{job['id']}/cancel", headers=CSRF)
    assert response.status_code == 200
    assert response.json()["job"]["status"] == "cancelled"
    assert "next checkpoint" in response.json()["warnings"][0]


def test_retry_continues_a_spent_budget_with_a_larger_one(api, runner, fake_gateway):
    settings = api.settings.model_copy(
        update={"inference_base_url_raw": fake_gateway.openai_base, "mock_inference": False}
    )
    job = _people_job(api.alice, total=10, inference={"concurrency": 1})
    fake_gateway.configure(rate_invalid=1.0)  # every answer breaks the schema, re-asks too
    failed = run_job_here(api, job["id"], settings)
    # The default budget is DATAGEMS_MAX_CANDIDATES_FACTOR (2) x N candidates.
    assert (failed.status, failed.total_failed, failed.total_ok) == ("failed", 20, 0)
    assert failed.error == "candidate budget spent: 0 of 10 accepted; rejected: 20 invalid"
    view = api.alice.get(f"/api/jobs/{job['id']}").json()
    assert sum(view["failureReasons"].values()) == 20
    fake_gateway.configure(rate_invalid=0.0)
    too_small = api.alice.post(
        f"/api/jobs/{job['id']}/retry", json={"maxCandidates": 5}, headers=CSRF
    )
    assert too_small.status_code == 400 and "maxCandidates" in too_small.text
    response = api.alice.post(
        f"/api/jobs/{job['id']}/retry", json={"maxCandidates": 30}, headers=CSRF
    )
    assert response.status_code == 200, response.text
    assert response.json()["job"]["status"] == "queued"
    assert response.json()["job"]["maxCandidates"] == 30
    assert runner.started[-1].id == job["id"] and runner.started[-1].retry_pass == 1
    healed = run_job_here(api, job["id"], settings)
    assert (healed.status, healed.total_ok, healed.total_failed) == ("succeeded", 10, 20)
    nothing_left = api.alice.post(f"/api/jobs/{job['id']}/retry", headers=CSRF)
    assert nothing_left.status_code == 409


def test_retry_goes_on_with_the_records_a_stopped_job_never_made(api, runner):
    job = _people_job(api.alice, total=4)
    cancelled = api.alice.post(f"/api/jobs/{job['id']}/cancel", headers=CSRF)
    assert cancelled.json()["job"]["status"] == "cancelled"  # before any record was made

    response = api.alice.post(f"/api/jobs/{job['id']}/retry", headers=CSRF)

    assert response.status_code == 200, response.text
    queued = response.json()["job"]
    # continuing is a new pass of the same job; the crash-resume count starts again
    assert (queued["status"], queued["retryPass"], queued["resumes"]) == ("queued", 1, 0)
    assert runner.started[-1].id == job["id"] and runner.started[-1].retry_pass == 1
    done = run_job_here(api, job["id"])
    assert (done.status, done.total_ok, done.total_failed) == ("succeeded", 4, 0)
    nothing_left = api.alice.post(f"/api/jobs/{job['id']}/retry", headers=CSRF)
    assert nothing_left.status_code == 409


def test_delete_job_removes_it(api):
    job = _people_job(api.alice, total=2)
    run_job_here(api, job["id"])
    response = api.alice.delete(f"/api/jobs/{job['id']}", headers=CSRF)
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert api.alice.get(f"/api/jobs/{job['id']}").status_code == 404
    assert job["id"] not in {j["id"] for j in api.alice.get("/api/jobs").json()["jobs"]}


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
        job = _create(harness.alice, draftToken=draft["draftToken"], totalRecords=3)
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


def test_delete_a_queued_job_calls_off_its_run(api, runner):
    job = _people_job(api.alice, total=2)
    response = api.alice.delete(f"/api/jobs/{job['id']}", headers=CSRF)
    assert response.status_code == 200
    assert runner.cancelled[-1] == job["flowRunId"]
    assert api.alice.get(f"/api/jobs/{job['id']}").status_code == 404
