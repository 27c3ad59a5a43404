"""The API as the fuzz test serves it with uvicorn: settings from the environment, Prefect
swapped for the fake runner (jobs stay queued; the Prefect boundary is crossed in tests/e2e).

    uvicorn tests.api.fuzz_app:create_fuzz_app --factory
"""

from __future__ import annotations

from fastapi import FastAPI

from api.flow_runner import get_flow_runner
from api.main import create_app
from tests.api.flow_runner_fake import FakeFlowRunner


def create_fuzz_app() -> FastAPI:
    app = create_app()
    runner = FakeFlowRunner()
    app.dependency_overrides[get_flow_runner] = lambda: runner
    return app
