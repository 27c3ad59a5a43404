"""The automations `datagems deploy` installs, on a real Prefect server: kept by name, and a
DataGems run whose heartbeats stop is marked Crashed by the server (another flow's is not)."""

from __future__ import annotations

import asyncio
import contextvars
import time
from datetime import timedelta

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.events import emit_event
from prefect.events.worker import EventsWorker
from prefect.states import Pending, Running

from datagems_core.config.settings import load_settings
from deployments.automations import (
    CRASH_SILENT_RUNS,
    RESUME_CRASHED_JOBS,
    ensure_automations,
    silent_runs_automation,
)
from deployments.worker import child_environment


@flow(name="generate-shard")
def shard_flow() -> None:
    """Stands for the real flow: only its name matters to the automation."""


@flow(name="not-datagems")
def other_flow() -> None:
    """Someone else's flow on the same server."""


@pytest.fixture
def settings(tmp_path, prefect_server):
    del prefect_server
    return load_settings(None, data_dir=tmp_path)


async def _automations(client, name):
    return await client.read_automations_by_name(name)


async def test_deploy_keeps_one_automation_of_each_name(settings):
    async with get_client() as client:
        flow_id = await client.create_flow_from_name("generate-dataset")
        deployment_id = await client.create_deployment(flow_id=flow_id, name="default")
        names = await ensure_automations(client, settings)
        assert names == [CRASH_SILENT_RUNS, RESUME_CRASHED_JOBS]
        await ensure_automations(client, settings.model_copy(update={"heartbeat_seconds": 60}))
        silent = await _automations(client, CRASH_SILENT_RUNS)
        resume = await _automations(client, RESUME_CRASHED_JOBS)
        await client.delete_deployment(deployment_id)
    assert len(silent) == 1 and len(resume) == 1
    assert silent[0].trigger.within == timedelta(seconds=150)  # updated, not added
    action = resume[0].actions[0]
    assert action.deployment_id == deployment_id
    assert action.parameters == {"job_id": "{{ flow_run.parameters['job_id'] }}"}


def _beat(flow_run, flow_id, flow_name):
    # In an empty context: `emit_event` adds the current run context's flow and flow run to an
    # event's related resources, and earlier tests' flow runs in this process can leave one.
    contextvars.Context().run(_emit_beat, flow_run, flow_id, flow_name)


def _emit_beat(flow_run, flow_id, flow_name):
    emit_event(
        event="prefect.flow-run.heartbeat",
        resource={"prefect.resource.id": f"prefect.flow-run.{flow_run.id}"},
        related=[
            {
                "prefect.resource.id": f"prefect.flow.{flow_id}",
                "prefect.resource.role": "flow",
                "prefect.resource.name": flow_name,
            }
        ],
    )


def test_a_run_killed_before_its_first_heartbeat_is_watched_from_pending_and_running(settings):
    trigger = silent_runs_automation(settings).trigger
    assert trigger.after == {
        "prefect.flow-run.heartbeat",
        "prefect.flow-run.Running",
        "prefect.flow-run.Pending",
    }
    assert "prefect.flow-run.Pending" not in trigger.expect, "Pending must be followed"
    assert {"prefect.flow-run.Running", "prefect.flow-run.heartbeat"} <= trigger.expect


async def _wait_crashed(client, flow_run_id, seconds=120):
    deadline = time.monotonic() + seconds
    while True:
        state = (await client.read_flow_run(flow_run_id)).state
        if (state is not None and state.is_crashed()) or time.monotonic() > deadline:
            return state
        await asyncio.sleep(2)


@pytest.mark.timeout(180)
async def test_a_run_whose_worker_died_while_starting_it_is_crashed_by_the_server(settings):
    """A worker killed between taking a run (Pending) and the run's process starting: no
    Running state nor heartbeat ever comes; the run must not stay Pending for ever."""
    automation = silent_runs_automation(settings)
    automation.trigger.within = timedelta(seconds=10)  # the shortest Prefect allows
    automation.name = "test: crash silent pending runs"
    async with get_client() as client:
        automation_id = await client.create_automation(automation)
        try:
            await asyncio.sleep(1)  # the triggers service loads the new automation
            ours = await client.create_flow_run(shard_flow, state=Pending())
            state = await _wait_crashed(client, ours.id)
            assert state is not None and state.is_crashed(), state
        finally:
            await client.delete_automation(automation_id)


@pytest.mark.timeout(180)
async def test_a_datagems_run_whose_heartbeats_stop_is_crashed_by_the_server(settings):
    automation = silent_runs_automation(settings)
    automation.trigger.within = timedelta(seconds=10)  # the shortest Prefect allows
    automation.name = "test: crash silent runs"
    automation.actions[0].message = "test automation: no heartbeat"
    async with get_client() as client:
        automation_id = await client.create_automation(automation)
        try:
            ours = await client.create_flow_run(shard_flow, state=Running())
            theirs = await client.create_flow_run(other_flow, state=Running())
            _beat(ours, ours.flow_id, "generate-shard")
            _beat(theirs, theirs.flow_id, "not-datagems")
            await asyncio.to_thread(EventsWorker.drain_all, timeout=10)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                state = (await client.read_flow_run(ours.id)).state
                if state is not None and state.is_crashed():
                    break
                await asyncio.sleep(2)
            assert state is not None and state.is_crashed(), state
            assert "test automation: no heartbeat" in (state.message or "")
            assert (await client.read_flow_run(theirs.id)).state.is_running()
        finally:
            await client.delete_automation(automation_id)


def test_worker_flow_runs_send_heartbeats_every_datagems_heartbeat_seconds(tmp_path):
    settings = load_settings(None, data_dir=tmp_path, heartbeat_seconds=45)
    assert child_environment(settings)["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "45"
