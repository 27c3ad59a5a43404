"""Jobs on a priced fake gateway: the harness and the requests the usage test modules share."""

from __future__ import annotations

from tests.api.flow_runner_fake import run_job_here, start_jobs_harness
from tests.support.api_fixtures import CSRF
from tests.support.schemas import PEOPLE_SCHEMA

INPUT_PRICE, OUTPUT_PRICE = 2.0, 8.0


def priced_env(tmp_path_factory, fake_gateway_process):
    """A jobs harness whose gateway is the fake gateway process at INPUT_PRICE and OUTPUT_PRICE."""
    # the fake gateway is a real server process that reports token usage like a real gateway
    fake_gateway_process.reset()
    harness, _ = start_jobs_harness(
        tmp_path_factory.mktemp("usage-api"),
        update_every_k=5,
        inference_base_url_raw=fake_gateway_process.openai_base,
        inference_model="fake-model",
        inference_input_price_per_mtok=INPUT_PRICE,
        inference_output_price_per_mtok=OUTPUT_PRICE,
    )
    with harness.stack:
        yield harness


def post_job(client, total=6, **overrides):
    body = {
        "title": "People",
        "instructions": "Fictional customers of a software shop",
        "schema": PEOPLE_SCHEMA,
        "totalRecords": total,
        "seed": 3,
        **overrides,
    }
    return client.post("/api/jobs", json=body, headers=CSRF)


def made_job(env, client, total=6):
    response = post_job(client, total)
    assert response.status_code == 201, response.text
    job = response.json()["job"]
    run_job_here(env, job["id"])
    return client.get(f"/api/jobs/{job['id']}").json()


def wait_finished(env, client, job_id):
    run_job_here(env, job_id)
    return client.get(f"/api/jobs/{job_id}").json()
