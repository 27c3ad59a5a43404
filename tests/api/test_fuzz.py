"""Schemathesis over every operation of /openapi.json, against the API served by uvicorn.

The API runs as its own process (the embedded SQLite store, the mock gateway, mail to a local
aiosmtpd, Prefect swapped for the fake runner) and the fuzzer signs in with an admin's API token, so admin-only
operations are reached too. No answer may be a 5xx, and every answer must match the document:
status, content type, headers and body. `FUZZ_EXAMPLES` sets the examples per
operation (`make fuzz` runs a longer pass); the seed is printed so a failure can be replayed.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ServerProcess, free_port, start_server
from tests.support.smtp_fixtures import SmtpServer

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",
)
# A gateway that cannot be reached is a 502 by contract; the fuzzer makes up gateway URLs. A
# body over DATAGEMS_MAX_BODY_BYTES is refused with 413 before it is read.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "409", "413", "429"]

[[operations]]
include-path = "/api/user/models"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "502"]

[[operations]]
include-path = "/api/jobs/schema"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "502"]
"""


@pytest.fixture(scope="module")
def served_api(tmp_path_factory: pytest.TempPathFactory, smtp_server: SmtpServer) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("fuzz-data")
    port = free_port()
    env = {
        "DATAGEMS_DATA_DIR": str(data_dir),
        "DATAGEN_MOCK_INFERENCE_API": "true",
        "DATAGEN_MAX_RECORDS_PER_JOB": "50",
        **smtp_server.env(),
    }
    server: ServerProcess = start_server(
        [
            "-m",
            "uvicorn",
            "tests.api.fuzz_app:create_fuzz_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        url=f"http://127.0.0.1:{port}",
        health_path="/health",
        log_path=data_dir / "api.log",
        env=env,
    )
    try:
        yield server.url
    finally:
        server.stop()
        assert "crashed" not in server.log(), server.log()


def _admin_token(url: str) -> str:
    with httpx.Client(base_url=url, headers={"X-Requested-With": "XMLHttpRequest"}) as client:
        client.post(
            "/api/auth/login", json={"username": "admin", "password": "admin"}
        ).raise_for_status()
        created = client.post("/api/auth/tokens", json={"name": "fuzz"})
        created.raise_for_status()
        return str(created.json()["token"])


@pytest.mark.timeout(3600)  # `make fuzz` runs long; the CI pass takes about a minute
def test_every_operation_survives_fuzzing_and_matches_the_document(
    served_api: str, tmp_path: Path
) -> None:
    token = _admin_token(served_api)
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    examples = os.environ.get("FUZZ_EXAMPLES", "5")
    seed = os.environ.get("FUZZ_SEED") or str(random.randrange(2**31))
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{served_api}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        examples,
        "--seed",
        seed,
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "all",
        "--output-sanitize",
        "true",
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=3500, cwd=tmp_path, check=False
    )
    report = result.stdout[-20_000:] + result.stderr[-5_000:]
    (tmp_path / "report.txt").write_text(report)
    assert result.returncode == 0, f"schemathesis (seed {seed}) found problems:\n{report}"
