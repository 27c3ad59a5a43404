"""Reading jobs over REST: listing, ownership, a job's view, its records and its exports."""

from __future__ import annotations

import io
import json

import polars as pl
import pytest

from tests.api.flow_runner_fake import run_job_here
from tests.api.job_requests import jobs_env, people_job
from tests.support.api_fixtures import CSRF


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


def test_list_jobs_is_paginated_newest_first(api):
    ids = [people_job(api.bob, total=2, title=f"Bob {n}")["id"] for n in range(3)]
    page = api.bob.get("/api/jobs", params={"offset": 1, "limit": 1}).json()
    assert page["count"] >= 3 and page["offset"] == 1 and page["limit"] == 1
    assert [j["id"] for j in page["jobs"]] == [ids[1]]
    newest = api.bob.get("/api/jobs", params={"limit": 3}).json()["jobs"]
    assert [j["id"] for j in newest] == ids[::-1]


def test_other_users_jobs_are_not_found_but_admins_see_all(api):
    job = people_job(api.alice, total=2)
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
    job = people_job(api.alice, total=6)
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
    job = people_job(api.alice, total=7)
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
    job = people_job(api.alice, total=2, title="Заявки банка")
    run_job_here(api, job["id"])
    response = api.alice.get(f"/api/jobs/{job['id']}/export", params={"format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{job["id"]}.csv"; '
        "filename*=UTF-8''%D0%B7%D0%B0%D1%8F%D0%B2%D0%BA%D0%B8-%D0%B1%D0%B0%D0%BD%D0%BA%D0%B0.csv"
    )


def test_export_streams_all_four_formats(api):
    job = people_job(api.alice, total=9, title="Bank tickets")
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
    job = people_job(api.alice, total=2)
    response = api.alice.get(f"/api/jobs/{job['id']}/export", params={"format": "csv"})
    assert response.status_code == 409 and "queued" in response.json()["error"]
    run_job_here(api, job["id"])
    response = api.alice.get(f"/api/jobs/{job['id']}/export", params={"format": "xlsx"})
    assert response.status_code == 400 and "json, jsonl, csv or parquet" in response.text
