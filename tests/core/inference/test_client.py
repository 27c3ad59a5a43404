"""Records through a real HTTP gateway (the fake gateway process): success, faults, limits, logs."""

from __future__ import annotations

import asyncio
import logging

import pytest

from datagems_core.config.settings import load_settings
from datagems_core.datasets.record_maker import ModelRecordMaker, RecordSpec, open_record_maker
from datagems_core.datasets.schemas import record_validator, validate_record
from datagems_core.errors import InferenceRejected, InferenceUnreachable
from datagems_core.inference.gateway import GatewayConfig
from tests.support.processes import free_port

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 60},
        "email": {"type": "string", "format": "email"},
        "age": {"type": "integer", "minimum": 18, "maximum": 90},
        "label": {"type": "string", "enum": ["churn", "stay"]},
    },
    "required": ["name", "email", "age", "label"],
    "additionalProperties": False,
}
SPEC = RecordSpec(instructions="Customers of a telecom.", schema=SCHEMA, dataset_mode=True, seed=3)


def _gateway(base: str, **overrides) -> GatewayConfig:
    values = {
        "base_url": base,
        "max_attempts": 3,
        "timeout_seconds": 5.0,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        **overrides,
    }
    return GatewayConfig(**values)


async def _make(gateway, index=0, spec=SPEC, **settings):
    async with open_record_maker(
        settings=load_settings(None, **settings), spec=spec, gateway=gateway
    ) as maker:
        return await maker.make_record(index)


async def test_record_from_the_openai_flavour_with_usage(fake_gateway):
    result = await _make(_gateway(fake_gateway.openai_base))
    assert result.ok and result.error is None
    assert validate_record(record_validator(SCHEMA), result.data) == []
    assert result.attempts == 1
    assert result.usage.prompt > 0 and result.usage.completion > 0
    assert result.usage.total == result.usage.prompt + result.usage.completion
    assert result.variation["label"] in ("churn", "stay")
    stats = fake_gateway.stats()
    assert stats["by_path"] == {"/v1/chat/completions": 1}
    assert stats["by_format"] == {"json_schema": 1}
    body = stats["bodies"][0]
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert "Use these values" in body["messages"][-1]["content"]


async def test_record_from_the_ratio1_flavour(fake_gateway):
    result = await _make(_gateway(fake_gateway.ratio1_base))
    assert result.ok
    assert result.usage.total > 0
    assert fake_gateway.stats()["by_path"] == {"/create_chat_completion": 1}


async def test_fenced_prose_reply_is_parsed(fake_gateway):
    fake_gateway.configure(script=["fenced"])
    result = await _make(_gateway(fake_gateway.openai_base))
    assert result.ok and result.attempts == 1


async def test_429_with_retry_after_is_retried(fake_gateway):
    fake_gateway.configure(script=["429", "429"], retry_after="0")
    result = await _make(_gateway(fake_gateway.openai_base))
    assert result.ok
    assert result.attempts == 3
    assert fake_gateway.stats()["by_outcome"] == {"429": 2, "ok": 1}


async def test_500_is_retried_then_the_record_fails_with_the_gateway_message(fake_gateway):
    fake_gateway.configure(script=["500", "ok"])
    assert (await _make(_gateway(fake_gateway.openai_base))).attempts == 2
    fake_gateway.configure(rate_500=1.0)
    result = await _make(_gateway(fake_gateway.openai_base))
    assert not result.ok
    assert result.attempts == 3
    assert result.error == "gateway error 500: model worker crashed"


async def test_hang_times_out_is_retried_then_fails(fake_gateway):
    fake_gateway.configure(rate_hang=1.0, hang_seconds=3)
    result = await _make(_gateway(fake_gateway.openai_base, timeout_seconds=0.3, max_attempts=2))
    assert not result.ok
    assert result.attempts == 2
    assert "timed out" in (result.error or "")


async def test_hang_then_success(fake_gateway):
    fake_gateway.configure(script=["hang"], hang_seconds=3)
    result = await _make(_gateway(fake_gateway.openai_base, timeout_seconds=0.3))
    assert result.ok and result.attempts == 2


async def test_garbage_content_fails_the_record_with_its_reason(fake_gateway):
    fake_gateway.configure(rate_garbage=1.0)
    result = await _make(_gateway(fake_gateway.openai_base, max_attempts=2))
    assert not result.ok and result.data is None
    assert result.attempts == 2
    assert result.error.startswith("unparseable reply: the reply is not a JSON object")
    assert result.usage.total > 0  # the tokens were spent all the same


async def test_non_json_body_is_retried(fake_gateway):
    fake_gateway.configure(script=["non_json"])
    result = await _make(_gateway(fake_gateway.openai_base))
    assert result.ok and result.attempts == 2


async def test_schema_violation_is_reasked_once_quoting_the_validator(fake_gateway):
    fake_gateway.configure(script=["invalid", "ok"])
    result = await _make(_gateway(fake_gateway.openai_base))
    assert result.ok and result.attempts == 2
    reask = fake_gateway.stats()["bodies"][1]["messages"]
    assert reask[-2]["role"] == "assistant"
    assert reask[-1]["role"] == "user"
    assert "does not validate" in reask[-1]["content"]
    assert "$.name: [] is not of type 'string'" in reask[-1]["content"]


async def test_schema_violation_twice_fails_without_inventing_values(fake_gateway):
    fake_gateway.configure(rate_invalid=1.0)
    result = await _make(_gateway(fake_gateway.openai_base, max_attempts=5))
    assert not result.ok and result.data is None
    assert result.attempts == 2  # one call, one re-ask, no more
    assert result.error.startswith("schema validation failed: $.name: [] is not of type")
    assert fake_gateway.stats()["requests"] == 2


async def test_reask_happens_even_on_the_last_attempt(fake_gateway):
    fake_gateway.configure(script=["invalid", "ok"])
    result = await _make(_gateway(fake_gateway.openai_base, max_attempts=1))
    assert result.ok and result.attempts == 2


async def test_a_schema_instead_of_a_record_is_rejected(fake_gateway):
    fake_gateway.configure(script=["schema", "schema"])
    result = await _make(_gateway(fake_gateway.openai_base))
    assert not result.ok
    assert "the reply is a JSON Schema, not a record" in result.error


async def test_rejected_json_schema_falls_back_to_json_object_and_is_remembered(fake_gateway):
    fake_gateway.configure(reject_json_schema=True)
    first = await _make(_gateway(fake_gateway.openai_base))
    assert first.ok and first.attempts == 1
    second = await _make(_gateway(fake_gateway.openai_base), index=1)  # a new maker: no refusal
    assert second.ok
    stats = fake_gateway.stats()
    assert stats["by_outcome"] == {"rejected_format": 1, "ok": 2}
    assert stats["by_format"] == {"json_schema": 1, "json_object": 2}
    assert stats["bodies"][-1]["response_format"] == {"type": "json_object", "schema": SCHEMA}


async def test_401_fails_fast_with_the_gateway_message(fake_gateway):
    fake_gateway.configure(api_key="right-key")
    with pytest.raises(InferenceRejected, match=r"rejected the request \(401\): invalid API key"):
        await _make(_gateway(fake_gateway.openai_base, api_key="wrong-key"))
    assert fake_gateway.stats()["requests"] == 1


async def test_unreachable_gateway_raises_with_the_url():
    base = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(
        InferenceUnreachable, match=r"cannot reach the gateway at http://127\.0\.0\.1"
    ):
        await _make(_gateway(base, max_attempts=2))


async def test_secrets_never_reach_the_logs(fake_gateway, caplog):
    secret = "sk-test-9f8e7d6c5b4a"
    fake_gateway.configure(api_key=secret)
    gateway = _gateway(
        fake_gateway.openai_base, api_key=secret, parameters={"api_key": secret, "top_p": 0.9}
    )
    with caplog.at_level(logging.INFO, logger="datagems.inference"):
        result = await _make(gateway, log_inference_requests=True)
    assert result.ok
    assert "inference request POST" in caplog.text
    assert "inference response 200" in caplog.text
    assert "[redacted]" in caplog.text
    assert secret not in caplog.text


async def test_no_request_logs_unless_asked(fake_gateway, caplog):
    with caplog.at_level(logging.INFO, logger="datagems.inference"):
        assert (await _make(_gateway(fake_gateway.openai_base))).ok
    assert "inference request" not in caplog.text


async def test_aimd_cuts_concurrency_on_429s(fake_gateway):
    fake_gateway.configure(script=["429"] * 8, retry_after="0")
    gateway = _gateway(fake_gateway.openai_base, concurrency=8, max_attempts=4)
    async with open_record_maker(settings=load_settings(None), spec=SPEC, gateway=gateway) as maker:
        results = await asyncio.gather(*(maker.make_record(i) for i in range(8)))
        assert isinstance(maker, ModelRecordMaker)
        limiter = maker.client.limiter
        assert limiter.cuts >= 1
        assert limiter.limit < 8
        assert limiter.in_flight == 0
    assert all(r.ok for r in results)


async def test_many_records_concurrently_are_all_valid_and_distinct(fake_gateway):
    gateway = _gateway(fake_gateway.openai_base, concurrency=16)
    async with open_record_maker(settings=load_settings(None), spec=SPEC, gateway=gateway) as maker:
        results = await asyncio.gather(*(maker.make_record(i) for i in range(64)))
    assert [r.index for r in results] == list(range(64))
    assert all(r.ok for r in results)
    labels = [r.variation["label"] for r in results]
    assert labels.count("churn") == labels.count("stay") == 32  # balanced classes
