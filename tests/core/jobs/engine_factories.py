"""Factories for engine tests: a schema, a store pair, settings and a created job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datagems_core.config.settings import Settings, load_settings
from datagems_core.files.local import LocalFileStore
from datagems_core.jobs.models import InferenceChoice, Job
from datagems_core.jobs.repository import create_job
from datagems_core.store.base import KVStore

PERSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 1, "maximum": 99},
        "plan": {"type": "string", "enum": ["free", "pro", "team"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "age", "plan", "tags", "address"],
    "additionalProperties": False,
}


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    return load_settings(None, data_dir=data_dir, **overrides)


def make_files(data_dir: Path) -> LocalFileStore:
    return LocalFileStore(root=data_dir / "files")


async def make_job(
    store: KVStore,
    files: LocalFileStore,
    *,
    total_records: int = 20,
    peers: list[str] | None = None,
    owner: str = "alice",
    inference: InferenceChoice | None = None,
    **overrides: Any,
) -> Job:
    return await create_job(
        store,
        files,
        owner=owner,
        title=overrides.pop("title", "People"),
        description="test people",
        instructions="Fictional customers of a software shop",
        schema=overrides.pop("schema", PERSON_SCHEMA),
        total_records=total_records,
        peers=peers or ["local"],
        seed=overrides.pop("seed", 7),
        inference=inference,
        **overrides,
    )
