"""The jobs API harness and the job requests the jobs test modules share."""

from __future__ import annotations

from tests.api.flow_runner_fake import start_jobs_harness
from tests.support.api_fixtures import CSRF
from tests.support.schemas import PEOPLE_SCHEMA


def jobs_env(tmp_path_factory):
    """A jobs harness (up to 500 records a job) with its fake FlowRunner."""
    harness, runner = start_jobs_harness(
        tmp_path_factory.mktemp("jobs-api"), max_records_per_job=500, update_every_k=5
    )
    with harness.stack:
        yield harness, runner


def create_job(client, **body):
    return client.post("/api/jobs", json=body, headers=CSRF)


def people_job(client, total=12, **overrides):
    body = {
        "title": "People",
        "description": "Fictional customers",
        "instructions": "Fictional customers of a software shop",
        "schema": PEOPLE_SCHEMA,
        "totalRecords": total,
        "seed": 7,
        **overrides,
    }
    response = create_job(client, **body)
    assert response.status_code == 201, response.text
    return response.json()["job"]
