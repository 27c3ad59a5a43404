"""Schema drafting: the mock's deterministic draft, a gateway's draft, and a model that cannot."""

from __future__ import annotations

import pytest

from datagems_core.config.settings import load_settings
from datagems_core.datasets.schema_drafts import draft_schema
from datagems_core.datasets.schemas import validate_schema
from datagems_core.errors import InferenceError
from datagems_core.inference.gateway import GatewayConfig
from datagems_core.inference.usage import TokenUsage


async def test_draft_schema_with_the_mock_is_a_valid_deterministic_schema():
    settings = load_settings(None, mock_inference=True)
    instructions = "Product reviews with title, rating and price; labels: positive, negative"
    schema, usage = await draft_schema(
        settings=settings, instructions=instructions, dataset_mode=True, gateway=None
    )
    validate_schema(schema)
    assert schema["properties"]["label"]["enum"] == ["positive", "negative"]
    assert {"title", "rating", "price", "record_id"} <= set(schema["properties"])
    assert usage == TokenUsage()
    again, _ = await draft_schema(
        settings=settings, instructions=instructions, dataset_mode=True, gateway=None
    )
    assert again == schema


def _gateway(base, **overrides):
    return GatewayConfig(
        base_url=base,
        max_attempts=2,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.02,
        **overrides,
    )


async def test_draft_schema_through_a_gateway(fake_gateway):
    schema, usage = await draft_schema(
        settings=load_settings(None),
        instructions="Loan applications with name, age and amount; classes: approve, deny",
        dataset_mode=True,
        gateway=_gateway(fake_gateway.openai_base),
    )
    validate_schema(schema)
    assert schema["properties"]["label"]["enum"] == ["approve", "deny"]
    assert usage.total > 0
    body = fake_gateway.stats()["bodies"][0]
    assert body["temperature"] == 0.2
    assert body["response_format"]["json_schema"]["name"] == "record_schema"


async def test_draft_schema_fails_with_the_reason_when_the_model_cannot(fake_gateway):
    fake_gateway.configure(rate_garbage=1.0)
    with pytest.raises(InferenceError, match="did not draft a usable schema: unparseable reply"):
        await draft_schema(
            settings=load_settings(None),
            instructions="anything",
            dataset_mode=False,
            gateway=_gateway(fake_gateway.openai_base),
        )
