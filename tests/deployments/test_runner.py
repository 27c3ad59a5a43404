"""The local runner: serves prefect.yaml's deployments and runs what run_deployment starts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

from datagems_core.config.settings import load_settings
from datagems_core.errors import ConfigError
from deployments.prefect_server import PrefectServer, stop_process_group
from deployments.runner import (
    PROJECT_DIR,
    process_limit,
    read_deployment_specs,
    to_runner_deployment,
)

HELLO_FLOW = """
from prefect import flow


@flow(name="hello-datagems")
def hello(name: str = "world") -> str:
    print(f"hello {name}")
    return f"hello {name}"
"""

PROJECT_YAML = """
name: runner-test
definitions:
  tags: &tags [datagems, test]
deployments:
  - name: default
    entrypoint: hello_flow.py:hello
    tags: *tags
    parameters: {name: runner}
"""


def write_project(root: Path, yaml_text: str = PROJECT_YAML) -> Path:
    (root / "hello_flow.py").write_text(textwrap.dedent(HELLO_FLOW))
    project_file = root / "prefect.yaml"
    project_file.write_text(textwrap.dedent(yaml_text))
    return project_file


async def test_runner_serves_a_deployment_and_runs_what_run_deployment_starts(
    prefect_server: PrefectServer, tmp_path
):
    project_file = write_project(tmp_path)
    log_path = tmp_path / "runner.log"
    with log_path.open("wb") as log:
        runner = subprocess.Popen(
            [sys.executable, "-m", "deployments.runner", "--project-file", str(project_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        async with get_client() as client:
            deployment = None
            deadline = time.monotonic() + 60
            while deployment is None and time.monotonic() < deadline:
                assert runner.poll() is None, log_path.read_text()
                deployments = await client.read_deployments()
                found = [d for d in deployments if d.name == "default" and "test" in d.tags]
                deployment = found[0] if found else None
                await asyncio.sleep(0.2)
            assert deployment is not None, log_path.read_text()

            flow_run = await run_deployment("hello-datagems/default", timeout=0)
            state = flow_run.state
            deadline = time.monotonic() + 60
            while not (state and state.is_final()) and time.monotonic() < deadline:
                await asyncio.sleep(0.3)
                state = (await client.read_flow_run(flow_run.id)).state

        assert state is not None and state.is_completed(), log_path.read_text()
        assert flow_run.parameters == {"name": "runner"}
        assert "hello runner" in log_path.read_text()
    finally:
        stop_process_group(runner, timeout=10)


def test_runner_refuses_a_flow_module_that_does_not_exist_with_a_clear_error(tmp_path):
    project_file = write_project(
        tmp_path, PROJECT_YAML.replace("hello_flow.py:hello", "flows/missing.py:missing")
    )
    specs = read_deployment_specs(project_file)

    with pytest.raises(ConfigError, match=r"flows/missing\.py does not exist"):
        to_runner_deployment(specs[0], project_dir=tmp_path, settings=load_settings())


def test_runner_reports_a_missing_project_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_deployment_specs(tmp_path / "prefect.yaml")


def test_project_yaml_lists_the_three_datagems_deployments_on_the_datagems_pool():
    specs = read_deployment_specs(PROJECT_DIR / "prefect.yaml")

    assert [(s.name, s.entrypoint) for s in specs] == [
        ("default", "flows/generate_dataset.py:generate_dataset"),
        ("default", "flows/generate_shard.py:generate_shard"),
        ("default", "flows/build_recurring_dataset.py:build_recurring_dataset"),
    ]
    assert all("datagems" in s.tags for s in specs)


def test_process_limit_leaves_room_for_shard_runs_and_a_recurring_build(monkeypatch):
    monkeypatch.setenv("DATAGEN_MAX_CONCURRENT_JOBS_PER_INSTANCE", "2")
    assert process_limit(load_settings()) == 3
    monkeypatch.setenv("R1EN_CHAINSTORE_PEERS", '["a", "b", "c"]')
    assert process_limit(load_settings()) == 2 * (1 + 3) + 1
    monkeypatch.delenv("R1EN_CHAINSTORE_PEERS")
    monkeypatch.setenv("DATAGEMS_SHARDS", "4")
    assert process_limit(load_settings()) == 2 * (1 + 4) + 1
    # a worker's share of a job's shards, so the first worker to poll does not take them all
    monkeypatch.setenv("DATAGEMS_WORKER_SHARD_SLOTS", "2")
    assert process_limit(load_settings()) == 2 * (1 + 2) + 1


def test_project_deployments_load_from_their_entrypoints(monkeypatch):
    monkeypatch.chdir(PROJECT_DIR)
    settings = load_settings()
    specs = read_deployment_specs(PROJECT_DIR / "prefect.yaml")

    loaded = [to_runner_deployment(s, project_dir=PROJECT_DIR, settings=settings) for s in specs]

    assert [d.flow_name for d in loaded] == [
        "generate-dataset",
        "generate-shard",
        "build-recurring-dataset",
    ]
    assert loaded[0].concurrency_limit == settings.max_concurrent_jobs
    assert loaded[2]._parameter_openapi_schema.required == ["schedule_id"]
