"""Structured-output negotiation against the fake gateway process refusing forms the way real
gateways do: once per gateway and model, shared through the store, forced by a setting."""

from __future__ import annotations

import asyncio
import json

import pytest

from datagems_core.config.settings import load_settings
from datagems_core.datasets.record_maker import open_record_maker
from datagems_core.datasets.schema_drafts import draft_schema
from datagems_core.datasets.schemas import record_validator, validate_record
from datagems_core.errors import ConfigError, InferenceRejected
from datagems_core.inference.gateway import GatewayConfig
from datagems_core.inference.negotiation import (
    STORE_HKEY,
    Negotiation,
    forget_confirmed_forms,
    gateway_key,
)
from datagems_core.store.memory import MemoryStore
from tests.core.inference.test_client import SCHEMA, SPEC, _gateway


async def _make_many(gateway, count, *, store=None, **settings):
    async with open_record_maker(
        settings=load_settings(None, **settings), spec=SPEC, gateway=gateway, store=store
    ) as maker:
        results = await asyncio.gather(*(maker.make_record(i) for i in range(count)))
        return results, maker.structured_output


async def test_a_500_naming_response_format_moves_on_once_for_concurrent_records(fake_gateway):
    fake_gateway.configure(refuse_forms=["json_schema"], refusal="llama_cpp")
    store = MemoryStore()
    gateway = _gateway(fake_gateway.openai_base, model="llama-like", concurrency=16)
    results, form = await _make_many(gateway, 16, store=store)
    assert all(r.ok and r.attempts == 1 for r in results)
    assert all(validate_record(record_validator(SCHEMA), r.data) == [] for r in results)
    assert form == "json_object_schema"
    stats = fake_gateway.stats()
    # one refused call, not one per record, and the 500 was not retried
    assert stats["by_outcome"] == {"refused_form": 1, "ok": 16}
    assert stats["by_form"] == {"json_schema": 1, "json_object_schema": 16}
    remembered = await store.hget(STORE_HKEY, gateway_key(fake_gateway.openai_base, "llama-like"))
    assert remembered["form"] == "json_object_schema"


async def test_the_remembered_form_is_used_by_another_worker_without_a_refusal(fake_gateway):
    fake_gateway.configure(refuse_forms=["json_schema"], refusal="llama_cpp")
    store = MemoryStore()
    gateway = _gateway(fake_gateway.openai_base, model="shared")
    await _make_many(gateway, 1, store=store)
    forget_confirmed_forms()  # another worker process: only the store knows
    fake_gateway.reset()
    fake_gateway.configure(refuse_forms=["json_schema"], refusal="llama_cpp")
    results, form = await _make_many(gateway, 4, store=store)
    assert all(r.ok for r in results) and form == "json_object_schema"
    assert fake_gateway.stats()["by_form"] == {"json_object_schema": 4}


async def test_plain_400s_move_to_json_object_with_the_schema_in_the_prompt(fake_gateway):
    fake_gateway.configure(refuse_forms=["json_schema", "json_object_schema"], refusal="400")
    results, form = await _make_many(_gateway(fake_gateway.openai_base, model="m400"), 3)
    assert all(r.ok and r.attempts == 1 for r in results)
    assert form == "json_object"
    stats = fake_gateway.stats()
    assert stats["by_form"] == {"json_schema": 1, "json_object_schema": 1, "json_object": 3}
    body = stats["bodies"][-1]
    assert body["response_format"] == {"type": "json_object"}
    assert json.dumps(SCHEMA, separators=(",", ":")) in body["messages"][-2]["content"]


async def test_a_gateway_that_ignores_every_format_ends_with_the_prompt_only(fake_gateway):
    fake_gateway.configure(
        refuse_forms=["json_schema", "json_object_schema", "json_object"], refusal="ignore"
    )
    results, form = await _make_many(_gateway(fake_gateway.openai_base, model="deaf"), 4)
    assert all(r.ok and r.attempts == 1 for r in results)
    assert form == "prompt"
    stats = fake_gateway.stats()
    assert stats["by_form"] == {
        "json_schema": 1,
        "json_object_schema": 1,
        "json_object": 1,
        "prompt": 4,
    }
    assert "response_format" not in stats["bodies"][-1]


async def test_a_request_refused_in_every_form_fails_with_the_gateway_message(fake_gateway):
    fake_gateway.configure(
        refuse_forms=["json_schema", "json_object_schema", "json_object", "prompt"],
        refusal="422",
    )
    with pytest.raises(InferenceRejected, match=r"\(422\): unsupported: prompt"):
        await _make_many(_gateway(fake_gateway.openai_base, model="m422"), 2)
    by_form = fake_gateway.stats()["by_form"]
    # each form refused once; the prompt-only form's 422 is the request's own fault
    assert by_form["json_schema"] == by_form["json_object_schema"] == by_form["json_object"] == 1


async def test_a_forced_form_is_sent_as_is_and_its_refusal_fails_fast(fake_gateway):
    fake_gateway.configure(refuse_forms=["json_schema"], refusal="llama_cpp")
    gateway = _gateway(fake_gateway.openai_base, model="forced", max_attempts=5)
    with pytest.raises(InferenceRejected, match="DATAGEMS_STRUCTURED_OUTPUT forces"):
        await _make_many(gateway, 1, structured_output="json_schema")
    assert fake_gateway.stats()["requests"] == 1
    fake_gateway.reset()
    results, form = await _make_many(gateway, 2, structured_output="prompt")
    assert all(r.ok for r in results) and form == "prompt"
    assert fake_gateway.stats()["by_form"] == {"prompt": 2}


def test_an_unknown_forced_form_stops_start_up_naming_the_variable(monkeypatch):
    monkeypatch.setenv("DATAGEMS_STRUCTURED_OUTPUT", "xml")
    with pytest.raises(ConfigError, match="DATAGEMS_STRUCTURED_OUTPUT"):
        load_settings(None)


async def test_an_ordinary_500_is_still_retried_in_the_same_form(fake_gateway):
    fake_gateway.configure(script=["500", "ok"])
    gateway = _gateway(fake_gateway.openai_base, model="flaky")
    results, form = await _make_many(gateway, 1)
    assert results[0].ok and results[0].attempts == 2
    assert form == "json_schema"
    assert fake_gateway.stats()["by_form"] == {"json_schema": 2}


async def test_schema_draft_negotiates_like_records(fake_gateway):
    fake_gateway.configure(refuse_forms=["json_schema"], refusal="llama_cpp")
    store = MemoryStore()
    gateway = _gateway(fake_gateway.openai_base, model="drafter")
    schema, _ = await draft_schema(
        settings=load_settings(None),
        instructions="Customers with a name and an age.",
        dataset_mode=False,
        gateway=gateway,
        store=store,
    )
    assert schema["type"] == "object" and schema["properties"]
    assert fake_gateway.stats()["by_form"] == {"json_schema": 1, "json_object_schema": 1}
    remembered = await store.hget(STORE_HKEY, gateway_key(fake_gateway.openai_base, "drafter"))
    assert remembered["form"] == "json_object_schema"


def test_gateway_key_hides_credentials():
    key = gateway_key("https://user:secret@gw.example.com/v1", "m")
    assert "secret" not in key and key.endswith(" m")
    assert GatewayConfig(base_url="http://a/v1").base_url == "http://a/v1"


async def test_calls_that_waited_for_a_trial_run_side_by_side_once_it_ends():
    negotiation = Negotiation(base_url="http://gw.example.com/v1", model="m")
    on_trial = asyncio.Event()

    async def trial():
        async with negotiation.turn() as turn:
            assert turn.is_trial
            on_trial.set()
            await asyncio.sleep(0.01)
            await negotiation.confirm(turn)

    async def waiting():
        await on_trial.wait()
        async with negotiation.turn() as turn:
            return turn, negotiation._lock.locked()

    _, *waited = await asyncio.gather(trial(), waiting(), waiting())
    assert [(turn.form, turn.is_trial, locked) for turn, locked in waited] == [
        ("json_schema", False, False)
    ] * 2
