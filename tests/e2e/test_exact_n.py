"""Exact N through the real API, Prefect server and runner: a gateway that sends invalid and
duplicate replies still gives exactly N unique valid records, and one that answers 500 to every
call fails the job fast, with its reason, in the job and in Prefect."""

from __future__ import annotations

import io
import json

import polars as pl

from datagems_core.datasets.schemas import record_validator, validate_record
from datagems_core.quality.gates import exact_fingerprint
from tests.e2e.test_rest_generation import _create, _wait_for_final_run, _wait_for_status
from tests.support.schemas import PEOPLE_SCHEMA


def test_a_300_record_job_against_invalid_and_duplicate_replies_delivers_exactly_300(
    stack, client, gateway
):
    gateway.configure(rate_invalid=0.15, rate_duplicate=0.15)
    job = _create(client, title="Noisy people", totalRecords=300, inference={"concurrency": 8})

    view = _wait_for_status(
        stack, client, job["id"], "succeeded", "failed", "cancelled", timeout=180
    )

    assert view["job"]["status"] == "succeeded", view["job"]
    assert view["job"]["totalOk"] == 300 and view["rejected"]["duplicate"] > 0
    assert _wait_for_final_run(stack, job["flowRunId"]).state.is_completed()
    response = client.get(f"/api/jobs/{job['id']}/export", params={"format": "jsonl"})
    assert response.headers["x-datagems-partial"] == "false"
    rows = [json.loads(line) for line in response.content.splitlines()]
    assert len(rows) == 300
    assert len({exact_fingerprint(row) for row in rows}) == 300
    validator = record_validator(PEOPLE_SCHEMA)
    assert all(validate_record(validator, row) == [] for row in rows)
    assert pl.read_ndjson(io.BytesIO(response.content)).height == 300

    quality = client.get(f"/api/jobs/{job['id']}/quality").json()
    assert quality["accepted"] == 300
    assert quality["duplicates"]["exact"] == view["rejected"]["duplicate"]
    candidates = quality["candidates"]
    # Each rejection costs one more candidate, no more: the ideal is 300 / acceptance rate.
    assert candidates == 300 + sum(view["rejected"].values())
    rejected = client.get(f"/api/jobs/{job['id']}/records", params={"status": "rejected"})
    gates = {r["gate"] for r in rejected.json()["records"]}
    assert gates <= {"invalid", "duplicate", "near_duplicate"}  # short names repeat


def test_a_gateway_answering_500_fails_a_1000_record_job_within_a_few_dozen_calls(
    stack, client, gateway
):
    gateway.configure(rate_500=1.0)
    job = _create(client, title="Doomed people", totalRecords=1000, inference={"concurrency": 16})

    view = _wait_for_status(stack, client, job["id"], "succeeded", "failed", "cancelled")

    assert view["job"]["status"] == "failed"
    assert "gateway error 500: model worker crashed" in view["job"]["error"]
    assert gateway.stats()["requests"] <= 40
    state = _wait_for_final_run(stack, job["flowRunId"]).state
    assert state.is_failed(), state
    assert "gateway error 500" in (state.message or "")
    metrics = client.get("/api/metrics").json()
    assert metrics["metrics"]["failedJobs"] >= 1
