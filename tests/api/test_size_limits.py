"""Bounded sizes (issue 10 item 7): caps on replies, records and strings, for the mock and for a
real gateway; record pages bounded in bytes; deleting a job deletes its files."""

from __future__ import annotations

import asyncio

import pytest

from datagems_core.config.settings import load_settings
from datagems_core.datasets.record_maker import RecordSpec, open_record_maker
from datagems_core.datasets.schemas import record_validator, validate_record
from datagems_core.datasets.size_limits import SizeLimits
from datagems_core.inference.gateway import GatewayConfig
from tests.api.flow_runner_fake import run_job_here, start_jobs_harness
from tests.support.api_fixtures import CSRF
from tests.support.schemas import PEOPLE_SCHEMA


def _object(**properties):
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


async def _make(schema, gateway=None, **settings):
    spec = RecordSpec(instructions="x", schema=schema)
    async with open_record_maker(
        settings=load_settings(None, **settings), spec=spec, gateway=gateway
    ) as maker:
        return await maker.make_record(0)


def test_the_mock_stops_at_the_record_cap():
    item = {"type": "string", "minLength": 10}
    schema = _object(x={"type": "array", "minItems": 1000, "items": item})
    result = asyncio.run(_make(schema, max_record_bytes=4096))
    assert not result.ok
    assert "DATAGEMS_MAX_RECORD_BYTES" in result.error


def test_a_gateway_reply_over_the_cap_is_refused_unread(fake_gateway):
    schema = _object(x={"type": "string", "minLength": 3000, "maxLength": 3000})
    gateway = GatewayConfig(
        base_url=fake_gateway.openai_base,
        max_attempts=2,
        timeout_seconds=5.0,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.02,
    )
    result = asyncio.run(_make(schema, gateway, max_reply_bytes=2048))
    assert not result.ok and "DATAGEMS_MAX_REPLY_BYTES" in result.error
    assert fake_gateway.stats()["requests"] == 2  # each attempt was made, and refused


def test_records_over_the_caps_are_refused_before_validation():
    validator = record_validator(
        _object(x={"type": "string"}), SizeLimits(max_record_bytes=1000, max_string_length=100)
    )
    assert validate_record(validator, {"x": "a" * 100}) == []
    [error] = validate_record(validator, {"x": "a" * 101})
    assert error.startswith("$.x: ") and "DATAGEMS_MAX_STRING_LENGTH (100)" in error
    [error] = validate_record(validator, {"x": "a" * 100, "y": ["b" * 99] * 10})
    assert error.startswith("$: ") and "DATAGEMS_MAX_RECORD_BYTES (1000)" in error


@pytest.fixture
def harness(tmp_path):
    harness, _ = start_jobs_harness(tmp_path, max_records_page_bytes=2048, update_every_k=4)
    with harness.stack:
        yield harness


def _job(harness, total):
    response = harness.alice.post(
        "/api/jobs",
        json={"title": "P", "instructions": "x", "schema": PEOPLE_SCHEMA, "totalRecords": total},
        headers=CSRF,
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["job"]["id"]
    run_job_here(harness, job_id)
    return job_id


def test_record_pages_are_bounded_in_bytes(harness):
    job_id = _job(harness, 30)
    page = harness.alice.get(f"/api/jobs/{job_id}/records?limit=100").json()
    assert 1 <= len(page["records"]) < 30  # the byte cap, not the count, ended the page
    # Exact N may have made replacement candidates: the page counts every candidate made.
    made = page["count"]
    assert page["nextOffset"] == len(page["records"]) and made >= 30
    seen = list(page["records"])
    while page["nextOffset"] is not None:
        page = harness.alice.get(
            f"/api/jobs/{job_id}/records?limit=100&offset={page['nextOffset']}"
        ).json()
        seen += page["records"]
    indexes = [r["index"] for r in seen]
    assert len(seen) == made and indexes == sorted(set(indexes))  # each once, in order
    assert sum(r["ok"] for r in seen) == 30


def test_deleting_a_job_deletes_its_files(harness):
    files_dir = harness.settings.data_dir / "files"
    kept = _job(harness, 3)
    before = {p for p in files_dir.rglob("*") if p.is_file()}
    job_id = _job(harness, 12)
    made = {p for p in files_dir.rglob("*") if p.is_file()} - before
    assert len(made) >= 3  # its details file and checkpoint blocks
    response = harness.alice.delete(f"/api/jobs/{job_id}", headers=CSRF)
    assert response.status_code == 200, response.text
    left = {p for p in files_dir.rglob("*") if p.is_file()}
    assert not made & left
    assert before <= left  # the other job's files stay
    assert harness.alice.get(f"/api/jobs/{kept}/records").status_code == 200
