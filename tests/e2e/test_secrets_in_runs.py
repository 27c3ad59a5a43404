"""A profile's key stays out of everything a real job run writes (issue 10 item 3).

The job runs in the runner's flow-run process against a gateway that answers 400 and echoes
the key. The key must not appear in the job (API and store), the runner's log (where the
flow-run process logs its inference calls with LOG_INFERENCE_REQUESTS), the flow run's state
or its Prefect logs.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from uuid import UUID

import pytest
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

from tests.e2e.conftest import Stack, wait_for
from tests.support.schemas import PEOPLE_SCHEMA

KEY = "sk-e2e-echoed-0123456789abcdef"


@pytest.fixture
def echo_gateway():
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            auth = self.headers.get("Authorization", "")
            body = json.dumps({"error": {"message": f"invalid api key provided: {auth}"}})
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_a_key_echoed_by_the_gateway_stays_out_of_the_run(stack: Stack, client, echo_gateway):
    saved = client.post(
        "/api/user/settings",
        json={"name": "echo", "baseUrl": echo_gateway, "apiKey": KEY, "model": "m"},
    )
    assert saved.status_code == 200, saved.text
    profile_id = saved.json()["profiles"][-1]["id"]
    response = client.post(
        "/api/jobs",
        json={
            "title": "Echo",
            "instructions": "people",
            "schema": PEOPLE_SCHEMA,
            "totalRecords": 3,
            "inference": {"profileId": profile_id},
        },
    )
    assert response.status_code == 201, response.text
    job = response.json()["job"]

    def finished():
        view = client.get(f"/api/jobs/{job['id']}").json()
        return view if view["job"]["status"] in ("failed", "succeeded") else None

    view = wait_for(finished, timeout=90, what="the job to end", log=stack.runner_log)
    assert view["job"]["status"] == "failed"
    assert "invalid api key provided: Bearer [redacted]" in view["job"]["error"]

    def final_run():
        run = stack.ask_prefect(lambda c: c.read_flow_run(UUID(job["flowRunId"])))
        return run if run.state.is_final() else None

    flow_run = wait_for(final_run, timeout=60, what="the flow run to end", log=stack.runner_log)
    logs = stack.ask_prefect(
        lambda c: c.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id]))
        )
    )
    runner_log = (stack.data_dir / "runner.log").read_text(errors="replace")
    assert "inference request POST" in runner_log  # logged by the process making the calls
    store_file = b"".join(p.read_bytes() for p in stack.data_dir.glob("store.sqlite3*"))
    texts = [
        json.dumps(view),
        runner_log,
        flow_run.state.message or "",
        "\n".join(log.message for log in logs),
    ]
    for text in texts:
        assert KEY not in text
    assert KEY.encode() not in store_file
