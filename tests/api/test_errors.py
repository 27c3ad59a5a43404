"""One error shape for every failure; validation says which field; bodies are size-limited."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.main import create_app
from datagems_core.store.memory import MemoryStore
from tests.support.settings import make_settings


def test_unknown_route_and_wrong_method_use_the_error_shape(api):
    client = api.client()
    assert client.get("/api/nope").json() == {"error": "Not Found", "details": None}
    wrong = client.get("/api/auth/login")
    assert wrong.status_code == 405
    assert wrong.json() == {"error": "Method Not Allowed", "details": None}
    assert "POST" in wrong.headers["allow"]


def test_validation_error_is_400_naming_fields_without_echoing_input(api):
    response = api.client().post(
        "/api/auth/login", json={"username": "x", "password": "", "extra": "ignored"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Invalid request: check password (must be at least 1 character long)"
    assert body["details"] == [
        {"field": "password", "in": "body", "problem": "must be at least 1 character long"}
    ]


def test_malformed_json_is_400(api):
    response = api.client().post(
        "/api/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["details"][0]["problem"] == (
        "the body is not valid JSON at character 2: Expecting property name enclosed in double quotes"
    )


def test_json_syntax_error_names_a_character_position_not_a_field(api):
    response = api.client().post(
        "/api/auth/login",
        content=b'{"username": "x",\n "password": }',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == (
        "Invalid request: check body (the body is not valid JSON at character 32: Expecting value)"
    )
    assert body["details"] == [
        {
            "field": None,
            "in": "body",
            "problem": "the body is not valid JSON at character 32: Expecting value",
        }
    ]


def test_a_validator_message_has_no_value_error_prefix(api):
    response = api.alice.post(
        "/api/jobs", json={"totalRecords": 1}, headers={"X-Requested-With": "test"}
    )
    assert response.status_code == 400
    problem = response.json()["details"][0]["problem"]
    assert problem.startswith("give a draftToken from POST /api/jobs/schema")


def test_secrets_in_a_bad_request_are_not_echoed(api):
    response = api.client().post(
        "/api/auth/login", json={"username": "", "password": "top-secret-password"}
    )
    assert response.status_code == 400 and "top-secret-password" not in response.text


def test_body_over_the_limit_is_413(tmp_path):
    settings = make_settings(tmp_path, max_body_bytes=2048)
    with TestClient(create_app(settings, store=MemoryStore())) as client:
        big = {"username": "x", "password": "y" * 5000}
        response = client.post("/api/auth/login", json=big)
        assert response.status_code == 413
        assert response.json() == {"error": "Request body larger than 2048 bytes", "details": None}

        def chunks():  # no Content-Length: the limit applies while reading
            yield b'{"username": "x", "password": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}'

        streamed = client.post(
            "/api/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert streamed.json()["error"] == "Request body larger than 2048 bytes"


def test_a_schema_that_is_not_an_object_must_be_one(api):
    body = {"title": "t", "description": "d", "instructions": "i", "schema": [1], "totalRecords": 1}
    response = api.alice.post("/api/jobs", json=body, headers={"X-Requested-With": "test"})
    assert response.status_code == 400
    assert response.json()["details"] == [
        {"field": "schema", "in": "body", "problem": "must be a JSON object ({...})"}
    ]
