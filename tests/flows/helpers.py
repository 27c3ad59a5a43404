"""Helpers for flow tests: create jobs in the configured store, read what Prefect recorded."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
)

from datagems_core.config.settings import get_settings
from datagems_core.datasets.definition import DatasetDefinition, InferenceChoice
from datagems_core.jobs.models import Job
from datagems_core.jobs.repository import create_job
from datagems_core.store.factory import open_store
from datagems_core.store.files.factory import open_file_store
from tests.support.schemas import PERSON_SCHEMA


async def create_stored_job(
    total_records: int,
    *,
    peers: list[str] | None = None,
    inference: InferenceChoice | None = None,
    title: str = "Shop customers",
    on_peers: bool = True,
) -> Job:
    settings = get_settings()
    store, files = open_store(settings), open_file_store(settings)
    try:
        definition = DatasetDefinition(
            title=title,
            instructions="Fictional customers of a software shop",
            schema=PERSON_SCHEMA,
            seed=11,
            inference=inference or InferenceChoice(),
        )
        return await create_job(
            store,
            files,
            definition,
            owner="alice",
            total_records=total_records,
            peers=peers or ["local"],
            on_peers=on_peers,
        )
    finally:
        await files.close()
        await store.close()


async def task_run_names(flow_run_id: str, *, expected: int) -> list[str]:
    """Names of the flow run's task runs (the server records them shortly after they run)."""
    names: list[str] = []
    async with get_client() as client:
        for _ in range(100):
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])),
                limit=expected + 10,
            )
            names = sorted(r.name for r in runs)
            if len(names) >= expected:
                break
            await asyncio.sleep(0.1)
    return names


async def flow_run_and_artifacts(flow_run_id: str) -> tuple[Any, list[Any]]:
    async with get_client() as client:
        run = await client.read_flow_run(UUID(flow_run_id))
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(flow_run_id)])
            )
        )
    return run, artifacts
