"""Secrets never leave through error text (issue 10 item 3).

A real gateway on loopback answers 400 and echoes the profile's key, as some do ("invalid api
key provided: Bearer sk-..."). The key must appear nowhere: not in the API's answer, not in the
job or its shard records in the store, not in the log records written on the way.
"""

from __future__ import annotations

import json
import logging

import pytest

from datagems_core.errors import InferenceRejected
from datagems_core.inference.redaction import REDACTED, SecretMaskingFilter, mask_secrets
from tests.api.flow_runner_fake import run_job_here, start_jobs_harness
from tests.support.api_fixtures import CSRF
from tests.support.hit_server import json_server
from tests.support.schemas import PEOPLE_SCHEMA

# Two keys: one that looks like a key, one that only the key-in-use rule can catch.
SK_KEY = "sk-live-0123456789abcdefSECRET"
PLAIN_KEY = "plainkey0123456789ZYXW"


@pytest.fixture
def echo_gateway():
    """A gateway that refuses every call and quotes the Authorization header back."""

    def answer(request):
        auth = request.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ")
        message = f"invalid api key provided: {auth} (key {key} is not valid)"
        return 400, {"error": {"message": message, "key": key}}

    with json_server(answer) as url:
        yield f"{url}/v1"


def _store_text(store) -> str:
    return json.dumps([store._values, store._fields], default=str)


@pytest.mark.parametrize("key", [SK_KEY, PLAIN_KEY])
def test_a_gateway_echoing_the_key_leaks_it_nowhere(tmp_path, echo_gateway, caplog, key):
    harness, _ = start_jobs_harness(
        tmp_path, allowed_inference_hosts="127.0.0.1", log_inference_requests=True
    )
    caplog.set_level(logging.INFO)
    with harness.stack:
        saved = harness.alice.post(
            "/api/user/settings",
            json={"name": "mine", "baseUrl": echo_gateway, "apiKey": key, "model": "m"},
            headers=CSRF,
        )
        assert saved.status_code == 200, saved.text
        profile = {"profileId": saved.json()["profiles"][0]["id"]}
        drafted = harness.alice.post(
            "/api/jobs/schema",
            json={"title": "T", "instructions": "people", "inference": profile},
            headers=CSRF,
        )
        assert drafted.status_code == 502, drafted.text
        assert "invalid api key provided" in drafted.text and REDACTED in drafted.text
        assert key not in drafted.text
        created = harness.alice.post(
            "/api/jobs",
            json={
                "title": "T",
                "instructions": "people",
                "schema": PEOPLE_SCHEMA,
                "totalRecords": 2,
                "inference": profile,
            },
            headers=CSRF,
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["job"]["id"]
        with pytest.raises(InferenceRejected) as raised:
            run_job_here(harness, job_id)
        shown = harness.alice.get(f"/api/jobs/{job_id}")
        records = harness.alice.get(f"/api/jobs/{job_id}/records")
        store_text = _store_text(harness.store)
        files_text = "".join(
            p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()
        )
    assert "invalid api key provided" in json.dumps(shown.json())  # the reason is kept...
    assert "[redacted]" in str(raised.value)
    for text in (shown.text, records.text, store_text, files_text, caplog.text, str(raised.value)):
        assert key not in text  # ...without the key
    assert "inference request POST" in caplog.text  # LOG_INFERENCE_REQUESTS logged, redacted


def test_mask_secrets_covers_the_usual_shapes():
    assert mask_secrets("Bearer abc.def-ghi") == f"Bearer {REDACTED}"
    assert mask_secrets("key sk-proj-AbCd1234_x") == f"key {REDACTED}"
    assert mask_secrets('{"api_key": "hunter2hunter"}') == f'{{"api_key": "{REDACTED}"}}'
    assert mask_secrets("x my-own-key y", ["my-own-key"]) == f"x {REDACTED} y"
    assert mask_secrets("the token expired") == "the token expired"


def test_the_log_filter_masks_what_slips_through(caplog):
    logger = logging.getLogger("datagems.test_masking")
    handler = logging.Handler()
    seen: list[str] = []
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    handler.addFilter(SecretMaskingFilter())
    logger.addHandler(handler)
    try:
        logger.warning("gateway said %s", f"Bearer {SK_KEY}")
    finally:
        logger.removeHandler(handler)
    assert seen == [f"gateway said Bearer {REDACTED}"]
