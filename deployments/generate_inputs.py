"""What `datagems generate | resume` read from the command line, checked before a job exists:
instructions, the record schema, the gateway choice, the whole definition, and continuing a job
that stopped short."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from datagems_core.config.settings import Settings
from datagems_core.datasets.definition import InferenceChoice
from datagems_core.datasets.definitions import CheckedDefinition, build_definition
from datagems_core.errors import BadRequest, ConfigError, SchemaError
from datagems_core.inference.gateway import GatewayConfig
from datagems_core.jobs.repository import read_job
from datagems_core.jobs.transitions import continue_job
from datagems_core.store.base import KVStore
from datagems_core.store.factory import open_store


def read_instructions(text: str | None, path: Path | None) -> str:
    if (text is None) == (path is None):
        raise BadRequest(
            "give the instructions with exactly one of --instructions or --instructions-file"
        )
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BadRequest(f"cannot read --instructions-file {path}: {exc.strerror}") from None
    if not text or not text.strip():
        raise BadRequest("the instructions are empty")
    return text.strip()


def read_schema(path: Path) -> Any:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadRequest(f"cannot read --schema {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise SchemaError(
            f"--schema {path} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    return raw  # checked with the rest of the definition (`check_cli_definition`)


async def check_cli_definition(
    store: KVStore,
    settings: Settings,
    owner: str,
    changes: dict[str, Any],
    *,
    records: int,
    schema_path: Path,
) -> CheckedDefinition:
    """The definition the options give, checked as the API checks one; schema problems name
    the file."""
    try:
        return await build_definition(
            store, settings, owner, base=None, changes=changes, total_records=records
        )
    except SchemaError as exc:
        problem = exc.message.removeprefix("Invalid schema: ")
        raise SchemaError(f"--schema {schema_path}: {problem}", details=exc.details) from None


def check_gateway(settings: Settings, choice: InferenceChoice) -> None:
    """Refuse a malformed URL or a missing key variable before anything is written."""
    if choice.api_key_env and not os.environ.get(choice.api_key_env):
        raise ConfigError(f"--api-key-env {choice.api_key_env}: that variable is not set")
    if choice.base_url:
        GatewayConfig.from_settings(settings, base_url=choice.base_url, model=choice.model)


def continue_if_short(settings: Settings, job_id: str, max_candidates: int | None) -> None:
    """A finished job that lacks records is queued to go on (with a larger budget if given)."""

    async def run() -> None:
        store = open_store(settings)
        try:
            job = await read_job(store, job_id)
            if job.is_finished and job.status != "succeeded":
                await continue_job(store, job_id, max_candidates=max_candidates)
            elif max_candidates is not None:
                raise BadRequest(
                    f"--max-candidates raises the budget of a failed or cancelled job; job "
                    f"{job_id} is {job.status}"
                )
        finally:
            await store.close()

    asyncio.run(run())
