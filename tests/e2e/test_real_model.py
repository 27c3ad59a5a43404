"""DataGems against a real model server nobody here wrote: llama-cpp-python's OpenAI-compatible
server with SmolLM2-135M-Instruct (tests/support/model_server.py; `make model` installs it).

That server answers `json_schema` with a 500 and enforces `json_object` + `schema` with its
grammar sampler: structured-output negotiation has to find that form on its own.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from datagems_core.datasets.schemas import record_validator, validate_record, validate_schema
from datagems_core.inference.negotiation import STORE_HKEY, gateway_key
from datagems_core.jobs.repository import read_job
from datagems_core.jobs.views import describe_job
from datagems_core.store.files.local import LocalFileStore
from datagems_core.store.sqlite import SqliteStore
from tests.cli.test_generate_command import JOB_LINE, cli_env, run_cli
from tests.e2e.conftest import Stack, wait_for
from tests.support.api_fixtures import CSRF, login
from tests.support.model_server import ModelMissing, ModelServer, model_server_command
from tests.support.schemas import CITY_SCHEMA
from tests.support.settings import ADMIN_PASSWORD, make_settings

EXPECTED_FORM = "json_object_schema"


def test_cli_generates_exactly_20_valid_records_against_the_real_model(
    tmp_path, prefect_server, model_server: ModelServer
):
    (tmp_path / "people.schema.json").write_text(json.dumps(CITY_SCHEMA))
    args = [
        "generate",
        "--instructions",
        "Fictional residents of European cities.",
        "--schema",
        "people.schema.json",
        "--records",
        "20",
        "--out",
        "people.jsonl",
        "--gateway",
        model_server.openai_base,
        "--model",
        model_server.model,
        "--concurrency",
        "2",
    ]
    result = run_cli(args, cwd=tmp_path, env=cli_env(), timeout=600)
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "people.jsonl").read_text().splitlines()
    assert len(lines) == 20, result.stderr
    validator = record_validator(CITY_SCHEMA)
    for line in lines:
        assert validate_record(validator, json.loads(line)) == [], line

    job_id = JOB_LINE.search(result.stderr).group(1)
    job, view, remembered = asyncio.run(
        _stored(Path(os.environ["DATAGEMS_DATA_DIR"]), job_id, model_server)
    )
    assert job.status == "succeeded" and job.total_ok == 20
    assert job.structured_output == EXPECTED_FORM
    assert view["job"]["structuredOutput"] == EXPECTED_FORM
    assert remembered["form"] == EXPECTED_FORM


async def _stored(data_dir: Path, job_id: str, server: ModelServer):
    store = SqliteStore(path=data_dir / "store.sqlite3")
    try:
        job = await read_job(store, job_id)
        view = await describe_job(store, LocalFileStore(root=data_dir / "files"), job)
        key = gateway_key(server.openai_base, server.model)
        return job, view, await store.hget(STORE_HKEY, key)
    finally:
        await store.close()


def test_schema_draft_against_the_real_model_is_valid_or_a_clear_error(
    tmp_path, model_server: ModelServer
):
    settings = make_settings(
        tmp_path,
        inference_base_url_raw=model_server.openai_base,
        inference_model=model_server.model,
        inference_max_attempts=2,
    )
    with TestClient(create_app(settings), headers=CSRF) as client:
        login(client, "admin", ADMIN_PASSWORD)
        response = client.post(
            "/api/jobs/schema",
            json={
                "title": "Residents",
                "instructions": "Residents of a city: a name, an age and a city.",
            },
        )
    assert response.status_code in (200, 400, 502), response.text
    if response.status_code == 200:
        validate_schema(response.json()["schema"])
    else:
        assert response.json()["error"], response.text


def test_a_rest_job_shows_the_form_its_gateway_took(stack: Stack, client, gateway):
    """The stack's fake gateway, refusing json_schema the way llama-cpp-python does."""
    gateway.configure(refuse_forms=["json_schema"], refusal="llama_cpp")
    response = client.post(
        "/api/jobs",
        json={
            "title": "Residents",
            "instructions": "Fictional residents of European cities.",
            "schema": CITY_SCHEMA,
            "totalRecords": 10,
            "inference": {"model": "llama-like", "concurrency": 4},
        },
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["job"]["id"]

    def finished():
        view = client.get(f"/api/jobs/{job_id}").json()
        return view if view["job"]["status"] in ("succeeded", "failed") else None

    view = wait_for(finished, timeout=90, what=f"job {job_id}", log=stack.runner_log)
    assert view["job"]["status"] == "succeeded", view["job"]
    assert view["job"]["structuredOutput"] == EXPECTED_FORM
    assert view["progress"]["ok"] == 10
    by_form = gateway.stats()["by_form"]
    assert by_form == {"json_schema": 1, "json_object_schema": 10}  # refused once, not per record


def test_a_missing_model_server_says_to_run_make_model(tmp_path):
    venv = tmp_path / ".venv-model"
    with pytest.raises(ModelMissing, match=r"is missing: run `make model`"):
        model_server_command(8000, venv=venv)
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    with pytest.raises(
        ModelMissing, match=r"SmolLM2-135M-Instruct.Q4_1.gguf is not in .*make model"
    ):
        model_server_command(8000, venv=venv)


def test_a_rest_job_with_a_judge_on_the_real_model_ends_with_a_quality_report(
    stack: Stack, client, model_server: ModelServer
):
    """A user's profile pointing at the real server; each candidate is judged by the same model
    with structured output, and the job's quality report has the judge's scores."""
    saved = client.post(
        "/api/user/settings",
        json={
            "name": "llama.cpp",
            "baseUrl": model_server.openai_base,
            "model": model_server.model,
            "setActive": True,
        },
    )
    assert saved.status_code == 200, saved.text
    profile_id = saved.json()["activeProfileId"]
    response = client.post(
        "/api/jobs",
        json={
            "title": "Judged residents",
            "instructions": "Fictional residents of European cities.",
            "schema": CITY_SCHEMA,
            "totalRecords": 4,
            "maxCandidates": 40,
            "inference": {"profileId": profile_id, "concurrency": 2},
            "judge": {"rubric": "A plausible resident of a European city.", "minScore": 1},
        },
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["job"]["id"]

    def finished():
        view = client.get(f"/api/jobs/{job_id}").json()
        return view if view["job"]["status"] in ("succeeded", "failed") else None

    view = wait_for(finished, timeout=600, what=f"job {job_id}", log=stack.runner_log)
    report = client.get(f"/api/jobs/{job_id}/quality").json()
    assert view["job"]["status"] == "succeeded", (view["job"].get("error"), report)
    assert report["accepted"] == 4
    assert sum(report["judgeScores"].values()) >= 4  # every accepted candidate was judged
    assert all(1 <= int(score) <= 5 for score in report["judgeScores"])
