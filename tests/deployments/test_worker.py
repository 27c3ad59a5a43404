"""Beyond one machine: `datagems deploy` registers prefect.yaml on the pool, `datagems worker` runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

from datagems_core.config.settings import load_settings
from deployments.prefect_server import PrefectServer, stop_process_group
from deployments.worker import worker_command, worker_queues
from tests.deployments.test_runner import HELLO_FLOW

DATAGEMS = str(Path(sys.executable).parent / "datagems")

POOL_YAML = """
name: worker-test
pull:
  - prefect.deployments.steps.set_working_directory:
      directory: "{{ $DATAGEMS_PROJECT_DIR }}"
definitions:
  work_pools:
    pool: &pool
      name: datagems
      work_queue_name: default
deployments:
  - name: pooled
    entrypoint: hello_flow.py:hello
    parameters: {name: worker}
    work_pool: *pool
"""


async def test_deploy_registers_the_yaml_on_the_pool_and_a_worker_runs_it(
    prefect_server: PrefectServer, tmp_path, monkeypatch
):
    (tmp_path / "hello_flow.py").write_text(HELLO_FLOW)
    (tmp_path / "prefect.yaml").write_text(POOL_YAML)
    pool = f"test-pool-{os.getpid()}"
    monkeypatch.setenv("DATAGEMS_PROJECT_DIR", str(tmp_path))
    monkeypatch.setenv("DATAGEMS_WORK_POOL", pool)

    deployed = subprocess.run([DATAGEMS, "deploy"], capture_output=True, text=True, timeout=120)

    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    async with get_client() as client:
        deployment = await client.read_deployment_by_name("hello-datagems/pooled")
        assert (await client.read_work_pool(pool)).type == "process"
    assert deployment.work_pool_name == pool
    assert deployment.pull_steps == [
        {
            "prefect.deployments.steps.set_working_directory": {
                "directory": "{{ $DATAGEMS_PROJECT_DIR }}"
            }
        }
    ]

    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        # From another directory: the worker finds the code through DATAGEMS_PROJECT_DIR.
        worker = subprocess.Popen(
            [DATAGEMS, "worker"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        flow_run = await run_deployment("hello-datagems/pooled", timeout=0)
        async with get_client() as client:
            state = flow_run.state
            deadline = time.monotonic() + 60
            while not (state and state.is_final()) and time.monotonic() < deadline:
                assert worker.poll() is None, log_path.read_text()
                await asyncio.sleep(0.5)
                state = (await client.read_flow_run(flow_run.id)).state
        assert state is not None and state.is_completed(), log_path.read_text()
    finally:
        os.killpg(worker.pid, signal.SIGINT)
        stop_process_group(worker, timeout=20)


def test_worker_polls_the_default_queue_and_its_own_peer_queue(monkeypatch):
    monkeypatch.setenv("R1EN_HOST_ADDR", "0xai_peer_b")
    monkeypatch.setenv("R1EN_CHAINSTORE_PEERS", '["0xai_peer_a", "0xai_peer_b"]')
    settings = load_settings()

    command = worker_command(settings)

    assert worker_queues(settings) == ["default", "0xai_peer_b"]
    assert command[command.index("--pool") + 1] == "datagems"
    assert command[command.index("--type") + 1] == "process"
    assert int(command[command.index("--limit") + 1]) >= 2
