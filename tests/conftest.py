"""Suite-wide fixtures: every test starts from a clean DataGems environment."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from datagems_core.config.settings import get_settings
from datagems_core.inference.negotiation import forget_confirmed_forms

pytest_plugins = [
    "tests.support.ratio1_fixtures",
    "tests.support.gateway_fixtures",
    "tests.support.smtp_fixtures",
    "tests.support.prefect_fixtures",
    "tests.support.api_fixtures",
    "tests.support.postgres",
    "tests.support.model_server",
]

_PREFIXES = ("DATAGEN_", "DATAGEMS_", "EE_", "R1EN_", "CSTORE_", "R1FS_")
_NAMES = (
    "LOG_INFERENCE_REQUESTS",
    "RETRY_INFERENCE_ON_FAILURE",
    "API_PORT",
    "NEXT_PUBLIC_SHOW_FAILURES",
)


@pytest.fixture(autouse=True)
def clean_environ(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Strip DataGems' variables, point the data dir at a temp dir and re-read settings."""
    for name in list(os.environ):
        if name.startswith(_PREFIXES) or name in _NAMES:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATAGEMS_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))  # no stray .env is read
    get_settings.cache_clear()
    forget_confirmed_forms()  # the forms gateways took live in the process; tests start afresh
    yield
    get_settings.cache_clear()
