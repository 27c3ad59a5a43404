"""The Prefect server of `datagems server` / `datagems up` takes API calls only with its secret."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from deployments.prefect_auth import auth_string_path, read_auth_string
from deployments.prefect_server import client_environment, server_environment
from tests.support.processes import free_port

DATAGEMS = str(Path(sys.executable).parent / "datagems")


def test_the_auth_string_is_made_once_owner_only_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_SERVER_API_AUTH_STRING", raising=False)
    first = read_auth_string(tmp_path)

    path = auth_string_path(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert first.startswith("datagems:") and len(first) > 40
    assert read_auth_string(tmp_path) == first
    path.chmod(0o644)
    assert read_auth_string(tmp_path) == first and path.stat().st_mode & 0o777 == 0o600
    assert read_auth_string(tmp_path / "elsewhere") != first


def test_an_operators_auth_string_wins_and_reaches_server_and_clients(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_SERVER_API_AUTH_STRING", "ops:chosen")
    secret = read_auth_string(tmp_path)

    assert secret == "ops:chosen" and not auth_string_path(tmp_path).exists()
    server = server_environment(data_dir=tmp_path, host="127.0.0.1", port=1, auth_string=secret)
    assert server["PREFECT_SERVER_API_AUTH_STRING"] == secret
    assert client_environment("http://x/api", secret)["PREFECT_API_AUTH_STRING"] == secret


def test_datagems_server_refuses_calls_without_its_secret_and_dies_with_its_parent(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"DATAGEMS_DATA_DIR": str(tmp_path / "data"), "DATAGEMS_PREFECT_PORT": str(port)}
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        command = subprocess.Popen(
            [DATAGEMS, "server"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path
        )
    try:
        deadline = time.monotonic() + 120
        while "Press Ctrl-C" not in log_path.read_text():
            assert command.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        api = f"http://127.0.0.1:{port}/api"
        secret = auth_string_path(tmp_path / "data").read_text().strip()
        user, _, password = secret.partition(":")
        assert str(auth_string_path(tmp_path / "data")) in log_path.read_text()

        assert httpx.post(f"{api}/flows/filter", json={}).status_code == 401
        assert httpx.post(f"{api}/flows/filter", json={}, auth=(user, password)).is_success
        assert httpx.get(f"{api}/health").status_code == 200
        settings = httpx.get(f"http://127.0.0.1:{port}/ui-settings").json()
        assert settings["auth"] == "BASIC"  # the UI asks for the secret

        children = psutil.Process(command.pid).children(recursive=True)
        assert children
        command.send_signal(signal.SIGKILL)
        command.wait()
        _, alive = psutil.wait_procs(children, timeout=30)
        assert alive == []
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
