"""Draft a record schema from a user's instructions: one model call (or the mock's draft)."""

from __future__ import annotations

import logging
from typing import Any

from datagems_core.config.settings import Settings
from datagems_core.datasets.prompts import schema_messages
from datagems_core.datasets.schemas import SCHEMA_DRAFT_SHAPE, sanitize_schema, validate_schema
from datagems_core.errors import InferenceError, SchemaError
from datagems_core.inference.client import open_inference_client
from datagems_core.inference.gateway import GatewayConfig
from datagems_core.inference.mock_schema import draft_mock_schema
from datagems_core.inference.structured import ask_for_object
from datagems_core.inference.usage import TokenUsage
from datagems_core.inference.wire import BodyTemplate
from datagems_core.store.base import KVStore

logger = logging.getLogger("datagems.inference")
# Drafting wants a careful, complete answer; a user's parameters still win.
_DRAFT_PARAMETERS = {"temperature": 0.2, "max_tokens": 2000}


async def draft_schema(
    *,
    settings: Settings,
    instructions: str,
    dataset_mode: bool,
    gateway: GatewayConfig | None,
    store: KVStore | None = None,
) -> tuple[dict[str, Any], TokenUsage]:
    """A JSON Schema for the instructions, sanitised and validated, and the tokens it took.

    Raises InferenceError when the model cannot produce a usable schema (after one re-ask).
    """
    if gateway is None:
        return draft_mock_schema(instructions, dataset_mode=dataset_mode), TokenUsage()
    template = BodyTemplate(
        messages=schema_messages(instructions=instructions, dataset_mode=dataset_mode),
        model=gateway.model,
        parameters={**_DRAFT_PARAMETERS, **gateway.parameters},
        schema=SCHEMA_DRAFT_SHAPE,
        schema_name="record_schema",
        prompt_schema=True,
    )

    def check(value: dict[str, Any]) -> list[str]:
        return _schema_problems(value, dataset_mode=dataset_mode)

    async with open_inference_client(settings=settings, gateway=gateway, store=store) as client:
        answer = await ask_for_object(client, template, [], check)
    if answer.value is None:
        raise InferenceError(
            f"the model did not draft a usable schema: {answer.error}",
            details={"attempts": answer.attempts},
        )
    schema, warnings = sanitize_schema(answer.value)
    for warning in warnings:
        logger.info("drafted schema sanitised: %s", warning)
    return schema, answer.usage


def _schema_problems(value: dict[str, Any], *, dataset_mode: bool) -> list[str]:
    try:
        schema, _ = sanitize_schema(value)
        validate_schema(schema)
    except SchemaError as exc:
        return [exc.message]
    if dataset_mode and "label" not in schema["properties"]:
        return ["$.properties: a dataset schema needs a required 'label' property"]
    return []
