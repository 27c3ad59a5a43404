"""Record schemas are hostile input: no retrieval, linear-time patterns, checked when given.

Issue 10 items 1, 2 and 6 (the schema parts): each request of the issue, sent through the API,
gets a 400 naming the path and keyword; a real HTTP server sees no request from the API nor
from the runner's validators; a catastrophic pattern no longer holds a record.
"""

from __future__ import annotations

import asyncio
import json
import time

import jsonschema_rs
import pytest
from referencing.exceptions import Unresolvable

from datagems_core.config.settings import load_settings
from datagems_core.datasets.record_maker import RecordSpec, open_record_maker
from datagems_core.datasets.schemas import (
    FORMAT_CHECKER,
    NO_RETRIEVAL,
    RecordValidator,
    ReferenceValidator,
    record_validator,
    validate_record,
)
from datagems_core.errors import SchemaError
from datagems_core.inference.gateway import GatewayConfig
from datagems_core.jobs.repository import JOBS_HKEY, read_details, read_job
from datagems_core.store.files.local import LocalFileStore
from tests.api.flow_runner_fake import run_job_here, start_jobs_harness
from tests.support.api_fixtures import CSRF
from tests.support.hit_server import json_server, recording_server
from tests.support.schemas import PEOPLE_SCHEMA


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    harness, runner = start_jobs_harness(tmp_path_factory.mktemp("schema-hardening"))
    with harness.stack:
        yield harness, runner


@pytest.fixture
def api(env):
    return env[0]


@pytest.fixture(scope="module")
def server():
    with recording_server() as recording:
        yield recording


def _with(**properties):
    return {**PEOPLE_SCHEMA, "properties": {**PEOPLE_SCHEMA["properties"], **properties}}


def _post_schema(client, schema):
    body = {"title": "T", "instructions": "x", "description": "", "totalRecords": 3}
    text = json.dumps({**body, "schema": schema}, allow_nan=True)
    return client.post(
        "/api/jobs", content=text, headers={**CSRF, "Content-Type": "application/json"}
    )


def _remote_refs(url):
    return [
        ({"x": {"$ref": f"{url}/r.json"}}, "$ref"),
        ({"x": {"$ref": "file:///etc/passwd"}}, "$ref"),
        ({"x": {"$ref": "other.json#/x"}}, "$ref"),
        ({"x": {"$ref": "http://[::1]:4200/api/health"}}, "$ref"),
        ({"x": {"$id": f"{url}/base/", "$ref": "r.json"}}, "$ref"),
        ({"x": {"$dynamicRef": f"{url}/d.json"}}, "$dynamicRef"),
        ({"x": {"$schema": f"{url}/meta.json", "type": "string"}}, "$schema"),
    ]


def test_remote_references_are_refused_at_the_api_and_nothing_is_fetched(api, server):
    for properties, keyword in _remote_refs(server.url):
        response = _post_schema(api.alice, _with(**properties))
        assert response.status_code == 400, (properties, response.text)
        body = response.json()
        assert body["details"]["keyword"] == keyword, body
        assert body["details"]["path"].startswith("$.properties.x"), body
        assert keyword in body["error"]
    assert server.hits == []


def test_local_references_still_work(api):
    schema = {
        **PEOPLE_SCHEMA,
        "$defs": {"plan": {"type": "string", "enum": ["free", "pro"]}},
        "properties": {**PEOPLE_SCHEMA["properties"], "plan": {"$ref": "#/$defs/plan"}},
    }
    assert _post_schema(api.alice, schema).status_code == 201


async def _make_one(schema):
    spec = RecordSpec(instructions="x", schema=schema)
    async with open_record_maker(settings=load_settings(None), spec=spec, gateway=None) as maker:
        return await maker.make_record(0)


def test_the_runner_refuses_a_stored_schema_with_a_remote_reference(server):
    # A job written to the store directly (not through the API) meets the same guard.
    schema = _with(x={"$ref": f"{server.url}/r.json"})
    with pytest.raises(SchemaError, match=r"\$ref"):
        asyncio.run(_make_one(schema))
    assert server.hits == []


def test_a_job_whose_stored_schema_was_changed_fetches_nothing(api, server):
    # Created through the API, then its details rewritten in the file store (as someone with
    # access to the store could): the run fails on the guard and the server sees no request.
    response = _post_schema(api.alice, PEOPLE_SCHEMA)
    assert response.status_code == 201, response.text
    job = asyncio.run(read_job(api.store, response.json()["job"]["id"]))
    files = LocalFileStore(root=api.settings.data_dir / "files")
    details = asyncio.run(read_details(files, job)).to_record()
    details["schema"] = _with(x={"$ref": f"{server.url}/r.json"})
    cid = asyncio.run(files.put_bytes("details.json", json.dumps(details).encode()))
    stored = {**job.to_record(), "jobDetailsCid": cid}
    asyncio.run(api.store.hset(JOBS_HKEY, job.id, stored))
    with pytest.raises(SchemaError, match=r"\$ref"):
        run_job_here(api, job.id)
    assert server.hits == []


def test_every_validator_refuses_retrieval_even_unguarded(server):
    # The second line: validators built without the guard still fetch nothing.
    schema = _with(x={"$ref": f"{server.url}/r.json"})
    with pytest.raises(jsonschema_rs.ValidationError, match="refused to retrieve"):
        RecordValidator(schema)
    reference = ReferenceValidator(schema, format_checker=FORMAT_CHECKER, registry=NO_RETRIEVAL)
    with pytest.raises(Unresolvable):
        list(reference.iter_errors({"name": "a", "age": 3, "plan": "pro", "x": 1}))
    assert server.hits == []


def test_a_catastrophic_pattern_is_matched_in_linear_time():
    schema = _with(x={"type": "string", "pattern": "^(a+)+$"})
    validator = record_validator(schema)
    record = {"name": "a", "age": 3, "plan": "pro", "x": "a" * 29 + "!"}
    started = time.perf_counter()
    errors = validate_record(validator, record)
    elapsed = time.perf_counter() - started
    assert errors == ["$.x: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaa!' does not match '^(a+)+$'"]
    assert elapsed < 5  # Python's re took 53 s here; a generous bound, not a benchmark


def test_a_model_reply_against_a_catastrophic_pattern_fails_fast():
    # The issue's request: a gateway answers 29 `a`s and a `!` for `^(a+)+$`.
    reply = json.dumps({"name": "a", "age": 3, "plan": "pro", "x": "a" * 29 + "!"})

    reply_body = {"choices": [{"message": {"content": reply}}]}
    with json_server(lambda request: (200, reply_body)) as url:
        gateway = GatewayConfig(base_url=f"{url}/v1", max_attempts=2)
        spec = RecordSpec(
            instructions="x", schema=_with(x={"type": "string", "pattern": "^(a+)+$"})
        )

        async def make():
            settings = load_settings(None)
            async with open_record_maker(settings=settings, spec=spec, gateway=gateway) as maker:
                return await maker.make_record(0)

        started = time.perf_counter()
        result = asyncio.run(make())
        elapsed = time.perf_counter() - started
    assert not result.ok and result.attempts == 2  # the reply, then the one re-ask
    assert "does not match '^(a+)+$'" in result.error
    assert elapsed < 10  # 53 s, doubling per character, before; a bound, not a benchmark


def test_format_checks_are_linear_too():
    validator = record_validator(_with(x={"type": "string", "format": "email"}))
    record = {"name": "a", "age": 3, "plan": "pro", "x": "a@" + "." * 60000 + "@"}
    started = time.perf_counter()
    assert validate_record(validator, record) != []
    assert time.perf_counter() - started < 5  # the regex took ~80 s at this length


def _nested(levels):
    node = {"type": "string"}
    for _ in range(levels):
        node = {"type": "object", "properties": {"n": node}}
    return node


@pytest.mark.parametrize(
    ("properties", "keyword", "says"),
    [
        ({"x": _nested(100)}, "depth", "64 levels"),
        ({"x": {"type": "number", "maximum": float("nan")}}, "number", "NaN"),
        ({"x": {"type": "number", "maximum": float("inf")}}, "number", "finite"),
        ({"x": {"type": "integer", "maximum": 2**70}}, "integer", "64 bits"),
        ({"x": {"type": "string", "pattern": "^a{999999999}$"}}, "pattern", "above the limit"),
        ({"x": {"type": "string", "pattern": "^(?=a)b$"}}, "pattern", "linear-time"),
        ({"x": {"allOf": [{"$ref": "#/properties/x"}]}}, "$ref", "cycle"),
        ({"x": {"type": "string", "minLength": 500000000}}, "minLength", "65536"),
        ({"x": {"type": "array", "minItems": 10000000}}, "minItems", "DATAGEMS_MAX_RECORD"),
    ],
)
def test_bad_schemas_get_a_400_naming_the_field_and_the_limit(api, properties, keyword, says):
    response = _post_schema(api.alice, _with(**properties))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["details"]["field"] == "schema"
    assert body["details"]["keyword"] == keyword, body
    assert body["details"]["path"].startswith("$.properties.x"), body
    assert says in body["error"], body


def test_1e400_in_a_schema_is_refused(api):
    text = json.dumps(
        {"title": "T", "instructions": "x", "totalRecords": 3, "schema": _with(x={"maximum": 7})}
    ).replace('"maximum": 7', '"maximum": 1e400')
    response = api.alice.post(
        "/api/jobs", content=text, headers={**CSRF, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["details"]["path"] == "$.properties.x.maximum"


def test_a_self_referencing_root_allof_is_refused(api):
    response = _post_schema(api.alice, {**PEOPLE_SCHEMA, "allOf": [{"$ref": "#"}]})
    assert response.status_code == 400, response.text
    assert "cycle" in response.json()["error"]


@pytest.mark.parametrize(
    "properties",
    [
        {"x": {"type": "string", "description": "\udc00"}},
        {"x": {"type": "string", "enum": ["ok", "\ud800"]}},
    ],
)
def test_lone_surrogates_in_a_schema_get_a_400_naming_where(api, properties):
    # Refused when the request is read (every string of every body), before the schema checks.
    response = _post_schema(api.alice, {"type": "object", "properties": properties})
    assert response.status_code == 400, response.text
    assert "schema.properties.x" in response.json()["error"]
    assert "surrogate" in response.text
