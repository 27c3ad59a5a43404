"""What a job shows in the Prefect UI: its run's name and tags, a progress bar, a dataset summary.

Artifact calls go to the Prefect server; they run in the background and coalesce (the latest
progress wins, at most one update a second), so a slow server never holds up a checkpoint. A failed artifact call is logged
and does not fail the job: the store, not the UI, is the job's truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from contextvars import ContextVar
from uuid import UUID

import httpx
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    aupdate_progress_artifact,
)
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.exceptions import PrefectException
from prefect.logging import get_run_logger

from datagems_core.jobs.models import Job

_NOT_KEY = re.compile(r"[^a-z0-9-]+")
_UI_ERRORS = (PrefectException, httpx.HTTPError, OSError, RuntimeError, ValueError)
UPDATE_SECONDS = 1.0


def artifact_key(kind: str, job_id: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return _NOT_KEY.sub("-", f"{kind}-{job_id}".lower()).strip("-")


def current_flow_run_id() -> str | None:
    context = FlowRunContext.get()
    return str(context.flow_run.id) if context and context.flow_run else None


# False while a flow runs against a Prefect server that ends with the command (`datagems
# generate` without PREFECT_API_URL): its run ids would be links that lead nowhere.
links_last: ContextVar[bool] = ContextVar("datagems_links_last", default=True)


def linkable_flow_run_id() -> str | None:
    """The current flow run's id, to keep on the job or shard; None when the server is
    temporary."""
    return current_flow_run_id() if links_last.get() else None


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except PrefectException:
        return logging.getLogger("datagems.flows")


async def label_flow_run(job: Job, *, suffix: str = "") -> None:
    """Name the current flow run after the job and tag it with its owner and id."""
    run_id = current_flow_run_id()
    if run_id is None:
        return
    context = FlowRunContext.get()
    existing = list(context.flow_run.tags) if context and context.flow_run else []
    tags = list(dict.fromkeys([*existing, *job.run_tags()]))
    name = job.run_name(suffix)
    try:
        async with get_client() as client:
            await client.update_flow_run(UUID(run_id), name=name, tags=tags)
    except _UI_ERRORS as exc:
        _logger().warning("could not name the flow run after job %s: %s", job.id, exc)


class ProgressArtifact:
    """A Prefect progress artifact for one job or shard, moved without blocking the caller."""

    def __init__(self, *, key: str, description: str, total: int) -> None:
        self.key, self.description, self.total = key, description, max(total, 0)
        self.artifact_id: UUID | None = None
        self._latest: float | None = None
        self._sender: asyncio.Task[None] | None = None
        self._sent_at = float("-inf")
        self._finishing = asyncio.Event()

    async def start(self, done: int = 0) -> None:
        if current_flow_run_id() is None:
            return
        try:
            self.artifact_id = await acreate_progress_artifact(
                progress=self._percent(done), key=self.key, description=self.description
            )
        except _UI_ERRORS as exc:
            _logger().warning("could not create progress artifact %s: %s", self.key, exc)

    def move(self, done: int) -> None:
        """Schedule an update to `done` records; updates in flight coalesce."""
        if self.artifact_id is None:
            return
        self._latest = self._percent(done)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send())

    async def finish(self, done: int) -> None:
        self._finishing.set()  # the last value goes out now, not at the next interval
        self.move(done)
        if self._sender is not None:
            await self._sender

    async def _send(self) -> None:
        while self._latest is not None and self.artifact_id is not None:
            # At most one update per UPDATE_SECONDS: each is an API call costing ~1 ms of CPU,
            # and a checkpoint comes every K records (a few a second).
            wait = self._sent_at + UPDATE_SECONDS - time.monotonic()
            if wait > 0 and not self._finishing.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._finishing.wait(), wait)
            progress, self._latest = self._latest, None
            self._sent_at = time.monotonic()
            try:
                await aupdate_progress_artifact(self.artifact_id, progress)
            except _UI_ERRORS as exc:
                _logger().warning("could not move progress artifact %s: %s", self.key, exc)
                return

    def _percent(self, done: int) -> float:
        return 100.0 if self.total == 0 else round(min(done, self.total) * 100 / self.total, 2)


async def publish_summary(job: Job, markdown: str) -> None:
    """The final markdown artifact describing the dataset."""
    if current_flow_run_id() is None:
        return
    try:
        await acreate_markdown_artifact(
            markdown=markdown,
            key=artifact_key("dataset", job.id),
            description=f"Dataset summary of {job.title}",
        )
    except _UI_ERRORS as exc:
        _logger().warning("could not publish the summary of job %s: %s", job.id, exc)
