"""Factories for engine tests: a file store and a created job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datagems_core.datasets.definition import (
    DEFINITION_FIELDS,
    DatasetDefinition,
    InferenceChoice,
)
from datagems_core.jobs.models import Job
from datagems_core.jobs.repository import create_job
from datagems_core.store.base import KVStore
from datagems_core.store.files.local import LocalFileStore
from tests.support.schemas import PERSON_SCHEMA


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
    definition = DatasetDefinition(
        title=overrides.pop("title", "People"),
        description="test people",
        instructions="Fictional customers of a software shop",
        schema=overrides.pop("schema", PERSON_SCHEMA),
        seed=overrides.pop("seed", 7),
        inference=inference or InferenceChoice(),
        **{name: overrides.pop(name) for name in DEFINITION_FIELDS if name in overrides},
    )
    return await create_job(
        store,
        files,
        definition,
        owner=owner,
        total_records=total_records,
        peers=peers or ["local"],
        **overrides,
    )
