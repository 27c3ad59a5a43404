"""The Prefect server process and the session fixture that points the client at it."""

from __future__ import annotations

import httpx
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from datagems_core.config.settings import get_settings
from deployments.prefect_server import PrefectServer, server_environment, wait_until_healthy


@flow(name="fixture-check")
def add(a: int, b: int) -> int:
    return a + b


async def test_prefect_server_fixture_runs_a_flow_visible_through_the_api(
    prefect_server: PrefectServer,
):
    state = add(2, 3, return_state=True)

    assert await state.result() == 5
    run_id = state.state_details.flow_run_id
    async with get_client() as client:
        assert client.api_url.host == httpx.URL(prefect_server.api_url).host
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
        )
    assert [r.state_type.value for r in runs] == ["COMPLETED"]
    assert get_settings().prefect_api_url == prefect_server.api_url


def test_prefect_server_serves_the_ui_and_health(prefect_server: PrefectServer):
    wait_until_healthy(prefect_server.api_url, 5, process=prefect_server.process)

    ui = httpx.get(prefect_server.ui_url, timeout=10)

    assert ui.status_code == 200
    assert "<html" in ui.text.lower()
    assert prefect_server.env()["PREFECT_API_URL"] == prefect_server.api_url


def test_server_environment_keeps_data_in_the_data_dir_and_analytics_off(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_DATABASE_CONNECTION_URL", raising=False)
    monkeypatch.delenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", raising=False)

    env = server_environment(data_dir=tmp_path, host="0.0.0.0", port=4321)

    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"].endswith(
        str(tmp_path / "prefect" / "prefect.db")
    )
    assert env["PREFECT_HOME"] == str(tmp_path / "prefect")
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert int(env["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE"]) > 1
    assert float(env["PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS"]) <= 5
    assert env["PREFECT_SERVER_UI_API_URL"] == "http://127.0.0.1:4321/api"
    assert (env["PREFECT_SERVER_API_HOST"], env["PREFECT_SERVER_API_PORT"]) == ("0.0.0.0", "4321")


def test_server_environment_leaves_an_operators_database_url_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "postgresql+asyncpg://db/prefect")

    env = server_environment(data_dir=tmp_path, host="127.0.0.1", port=4200)

    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] == "postgresql+asyncpg://db/prefect"
