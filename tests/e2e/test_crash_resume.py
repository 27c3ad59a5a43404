"""A job whose own flow-run process is killed (kill -9, as the out-of-memory killer does) resumes
from its checkpoint in a new run without anyone asking, and ends with every record made once and
every call billed at most once: what the job and the usage ledger count is what the gateway
reported, less only the calls whose records the crash lost.
"""

from __future__ import annotations

import os
import signal
from uuid import UUID

import psutil

from tests.e2e.conftest import Stack, wait_for
from tests.support.schemas import PEOPLE_SCHEMA


def _view(client, job_id):
    response = client.get(f"/api/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _create(client, title, total, concurrency=2):
    response = client.post(
        "/api/jobs",
        json={
            "title": title,
            "instructions": "Fictional customers of a software shop",
            "schema": PEOPLE_SCHEMA,
            "totalRecords": total,
            "inference": {"concurrency": concurrency},
            # the fake gateway's records share their words: near-duplicate rejections would
            # replace candidates, and this test counts every record made
            "nearDuplicateThreshold": None,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["job"]


def _flow_run_process(stack: Stack, flow_run_id: str) -> psutil.Process:
    """The runner's child process running `flow_run_id` (`python -m prefect.engine`)."""
    assert stack.runner is not None

    def find():
        found = []
        for process in psutil.Process(stack.runner.pid).children(recursive=True):
            try:
                if process.environ().get("PREFECT__FLOW_RUN_ID") == flow_run_id:
                    found.append(process)
            except psutil.Error:
                continue
        return found if len(found) == 1 else None

    return wait_for(find, timeout=30, what="the flow-run process", log=stack.runner_log)[0]


def _wait_until_done(stack, client, job_id, done):
    def reached():
        view = _view(client, job_id)
        return view if view["progress"]["done"] >= done else None

    return wait_for(reached, timeout=60, what=f"{done} records", log=stack.runner_log)


def _wait_for_end(stack, client, job_id, timeout=120):
    def ended():
        view = _view(client, job_id)
        return view if view["job"]["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_for(ended, timeout=timeout, what=f"job {job_id} to end", log=stack.runner_log)


def _records(client, job_id):
    body = client.get(f"/api/jobs/{job_id}/records", params={"limit": 500}).json()
    return body["records"]


def _assert_each_once(records, total: int, failed: int) -> None:
    """Each candidate index once and `total` accepted. A rejected candidate is replaced, with its
    reason: the fake answers two prompts that read the same with the same record, a duplicate."""
    indices = [r["index"] for r in records]
    assert indices == sorted(set(indices)) and len(indices) == total + failed
    assert sum(r["ok"] for r in records) == total
    assert all(r["error"] for r in records if not r["ok"]), records


def _month_tokens(client) -> int:
    return int(client.get("/api/usage").json()["reports"][0]["totals"]["totalTokens"])


def test_a_killed_flow_run_process_resumes_makes_every_record_once_and_bills_each_call_once(
    stack, client, gateway
):
    gateway.configure(latency_ms=60)
    total, concurrency = 100, 2
    ledger_before = _month_tokens(client)
    job = _create(client, "Crash-proof people", total, concurrency)
    _wait_until_done(stack, client, job["id"], 10)
    process = _flow_run_process(stack, job["flowRunId"])
    os.kill(process.pid, signal.SIGKILL)  # as the out-of-memory killer does

    view = _wait_for_end(stack, client, job["id"])
    assert view["job"]["status"] == "succeeded", view["job"]
    assert view["job"]["resumes"] == 1
    assert view["job"]["totalOk"] == total
    assert view["job"]["flowRunId"] != job["flowRunId"]
    records = _records(client, job["id"])  # every candidate, accepted or not
    _assert_each_once(records, total, view["job"]["totalFailed"])

    # Billing: the gateway's own count against the job's and the ledger's.
    reported = gateway.stats()["usage"]
    billed = view["tokens"]
    assert billed["estimated"] == 0 and billed["total"] > 0
    assert billed["total"] == sum(r["tokens"]["total"] for r in records)
    assert _month_tokens(client) - ledger_before == billed["total"]  # the ledger agrees
    calls = sum(r["attempts"] for r in records)
    lost = reported["replies"] - calls
    # never counted twice; lost: at most the calls not yet checkpointed when the process died
    window = (stack.settings.update_every_k + concurrency) * len(view["shards"])
    assert 0 <= lost <= window, (reported, calls, window)
    gateway_tokens = reported["prompt_tokens"] + reported["completion_tokens"]
    per_call = max(r["tokens"]["total"] for r in records)
    assert 0 <= gateway_tokens - billed["total"] <= lost * per_call, (gateway_tokens, billed)
    crashed = stack.ask_prefect(lambda c: c.read_flow_run(UUID(job["flowRunId"])))
    assert crashed.state.is_crashed(), crashed.state
    resumed_id = UUID(view["job"]["flowRunId"])

    def resumed_run_completed():
        run = stack.ask_prefect(lambda c: c.read_flow_run(resumed_id))
        # the job is written succeeded before the run publishes its summary and completes
        return run if run.state.is_completed() else None

    resumed = wait_for(resumed_run_completed, timeout=60, what="the resumed run to complete")
    assert "resumed" in resumed.tags


def test_a_job_that_keeps_crashing_fails_with_the_reason_and_retry_finishes_it(
    stack, client, gateway
):
    gateway.configure(latency_ms=150)
    total = 200
    job = _create(client, "Fragile people", total)
    budget = stack.settings.job_max_resumes
    done = 0
    for crash in range(budget + 1):
        view = _wait_until_done(stack, client, job["id"], done + 5)
        done = view["progress"]["done"]
        os.kill(_flow_run_process(stack, view["job"]["flowRunId"]).pid, signal.SIGKILL)
        if crash < budget:

            def resumed(crash: int = crash):
                current = _view(client, job["id"])["job"]
                return current["resumes"] == crash + 1 and current["status"] == "running"

            wait_for(resumed, timeout=60, what=f"resume {crash + 1}", log=stack.runner_log)

    failed = _wait_for_end(stack, client, job["id"])["job"]
    assert failed["status"] == "failed", failed
    assert "status code" in failed["error"] and "DATAGEMS_JOB_MAX_RESUMES" in failed["error"]
    assert failed["totalOk"] < total

    gateway.configure(latency_ms=0)
    response = client.post(f"/api/jobs/{job['id']}/retry")  # the records never made
    assert response.status_code == 200, response.text
    assert response.json()["job"]["retryPass"] == 1  # continuing is a new pass
    view = _wait_for_end(stack, client, job["id"])
    assert view["job"]["status"] == "succeeded", view["job"]
    assert view["job"]["totalOk"] == total
    _assert_each_once(_records(client, job["id"]), total, view["job"]["totalFailed"])
