"""Exact N against the fake gateway: replacements for rejected candidates, systemic failures,
the judge, and uniqueness across shards running at once."""

from __future__ import annotations

import asyncio

import pytest

from datagems_core.datasets.definition import InferenceChoice
from datagems_core.errors import InferenceUnreachable
from datagems_core.jobs.repository import read_shard
from datagems_core.jobs.shard_run import SystemicFailure, run_shard
from datagems_core.jobs.stored_records import iter_result_chunks
from datagems_core.quality.gate_config import GateConfig, JudgeConfig
from datagems_core.quality.gates import exact_fingerprint, normalise_value
from datagems_core.quality.report import quality_report
from datagems_core.store.memory import MemoryStore
from tests.core.jobs.engine_factories import make_files, make_job
from tests.support.processes import free_port
from tests.support.settings import make_settings


@pytest.fixture
def store():
    return MemoryStore()


async def _candidates(store, files, job_id):
    return [r async for chunk in iter_result_chunks(store, files, job_id) for r in chunk]


async def test_invalid_and_duplicate_replies_are_replaced_until_exactly_n(
    store, tmp_path, fake_gateway
):
    fake_gateway.configure(rate_invalid=0.15, rate_duplicate=0.15)
    files = make_files(tmp_path)
    settings = make_settings(tmp_path, update_every_k=20)
    choice = InferenceChoice(base_url=fake_gateway.openai_base, model="m", concurrency=8)
    job = await make_job(store, files, total_records=300, inference=choice)

    shard = await run_shard(
        store=store, files=files, settings=settings, job_id=job.id, shard_key="local"
    )

    assert (shard.status, shard.generated_ok) == ("succeeded", 300)
    assert shard.rejected.get("duplicate", 0) > 0
    candidates = await _candidates(store, files, job.id)
    accepted = [r["data"] for r in candidates if r["ok"]]
    assert len(accepted) == 300
    assert len({exact_fingerprint(r) for r in accepted}) == 300
    rejected = [r for r in candidates if not r["ok"]]
    assert rejected and all(r["gate"] and r["error"] for r in rejected)
    # the budget of 2 x N is far from spent: each rejection cost one more candidate
    assert shard.generated_ok + shard.generated_failed == len(candidates) < 450

    report = await quality_report(store, files, await _job(store, job.id))
    assert report["accepted"] == 300 and report["candidates"] == len(candidates)
    assert report["duplicates"]["exact"] == shard.rejected["duplicate"]
    assert report["rejected"]["duplicate"]["examples"]
    assert report["fields"]["age"]["kind"] == "number"
    assert report["fields"]["plan"]["kind"] == "enum"
    assert sum(report["fields"]["plan"]["counts"].values()) == 300


async def _job(store, job_id):
    from datagems_core.jobs.repository import read_job

    return await read_job(store, job_id)


async def test_a_gateway_failing_every_call_fails_the_job_within_a_few_dozen_calls(
    store, tmp_path, fake_gateway
):
    fake_gateway.configure(rate_500=1.0)
    files = make_files(tmp_path)
    settings = make_settings(tmp_path, inference_max_attempts=3)
    choice = InferenceChoice(base_url=fake_gateway.openai_base, model="m", concurrency=16)
    job = await make_job(store, files, total_records=1000, inference=choice)

    with pytest.raises(SystemicFailure, match="model worker crashed"):
        await run_shard(
            store=store, files=files, settings=settings, job_id=job.id, shard_key="local"
        )

    calls = fake_gateway.stats()["requests"]
    assert calls <= settings.systemic_failure_limit * settings.inference_max_attempts
    shard = await read_shard(store, job.id, "local")
    assert shard.status == "failed" and "gateway error 500" in shard.error
    assert shard.rejected == {"gateway": shard.generated_failed}


async def test_a_judge_rejects_low_scores_and_keeps_its_reasons(store, tmp_path, fake_gateway):
    files = make_files(tmp_path)
    settings = make_settings(tmp_path)
    choice = InferenceChoice(base_url=fake_gateway.openai_base, model="m", concurrency=4)
    judge = JudgeConfig(rubric="Realistic customers", min_score=3, model="judge-model")
    job = await make_job(
        store, files, total_records=30, inference=choice, gates=GateConfig(judge=judge)
    )

    shard = await run_shard(
        store=store, files=files, settings=settings, job_id=job.id, shard_key="local"
    )

    assert (shard.status, shard.generated_ok) == ("succeeded", 30)
    candidates = await _candidates(store, files, job.id)
    accepted = [r for r in candidates if r["ok"]]
    assert all(r["verdict"]["score"] >= 3 for r in accepted)
    judged_out = [r for r in candidates if r.get("gate") == "judge"]
    assert judged_out and all(r["verdict"]["score"] < 3 for r in judged_out)
    assert all(r["error"].startswith("judge: judge score") for r in judged_out)
    models = [body.get("model") for body in fake_gateway.stats()["bodies"]]
    assert "judge-model" in models and "m" in models


async def test_a_judge_that_stays_down_fails_the_job_and_accepts_nothing_unjudged(
    store, tmp_path, fake_gateway
):
    from pydantic import SecretStr

    from datagems_core.inference.profiles import ProfileChange, read_profiles, upsert_profile

    files = make_files(tmp_path)
    settings = make_settings(
        tmp_path, inference_max_attempts=1, allowed_inference_hosts="127.0.0.1"
    )
    closed = f"http://127.0.0.1:{free_port()}/v1"
    change = ProfileChange(name="judge", base_url=closed, api_key=SecretStr("k"), model="j")
    await upsert_profile(store, settings, "alice", change)
    profiles, _ = await read_profiles(store, "alice")
    judge = JudgeConfig(rubric="Realistic", min_score=2, profile_id=str(profiles[0]["id"]))
    choice = InferenceChoice(base_url=fake_gateway.openai_base, model="m")
    job = await make_job(
        store, files, total_records=5, inference=choice, gates=GateConfig(judge=judge)
    )

    with pytest.raises(InferenceUnreachable):
        await run_shard(
            store=store, files=files, settings=settings, job_id=job.id, shard_key="local"
        )
    shard = await read_shard(store, job.id, "local")
    assert shard.status == "failed" and shard.generated_ok == 0


async def test_shards_running_at_once_never_accept_the_same_record(store, tmp_path, fake_gateway):
    # A pool of 32 records served round-robin: both shards see the same records.
    fake_gateway.configure(unique_records=False)
    files = make_files(tmp_path)
    settings = make_settings(tmp_path, update_every_k=4)
    choice = InferenceChoice(base_url=fake_gateway.openai_base, model="m", concurrency=4)
    gates = GateConfig(unique_fields=["name"], near_duplicate_threshold=None)
    job = await make_job(
        store, files, total_records=24, peers=["a", "b"], inference=choice, gates=gates
    )

    shards = await asyncio.gather(
        *(
            run_shard(store=store, files=files, settings=settings, job_id=job.id, shard_key=key)
            for key in ("a", "b")
        )
    )

    accepted = [r["data"] for r in await _candidates(store, files, job.id) if r["ok"]]
    assert len(accepted) == sum(s.generated_ok for s in shards) <= 24
    assert len({exact_fingerprint(r) for r in accepted}) == len(accepted)
    assert len({normalise_value(r["name"]) for r in accepted}) == len(accepted)


async def test_a_killed_shard_resumes_with_its_gates_rebuilt_from_checkpoints(
    store, tmp_path, fake_gateway
):
    fake_gateway.configure(unique_records=False)  # 32 distinct records, then repeats
    files = make_files(tmp_path)
    settings = make_settings(tmp_path, update_every_k=4)
    choice = InferenceChoice(base_url=fake_gateway.openai_base, model="m", concurrency=2)
    gates = GateConfig(near_duplicate_threshold=None)
    job = await make_job(store, files, total_records=30, inference=choice, gates=gates)
    enough = asyncio.Event()

    async def on_checkpoint(shard):
        if shard.generated_ok >= 12:
            enough.set()

    run = asyncio.create_task(
        run_shard(
            store=store,
            files=files,
            settings=settings,
            job_id=job.id,
            shard_key="local",
            on_checkpoint=on_checkpoint,
        )
    )
    await enough.wait()
    run.cancel()  # like a kill
    with pytest.raises(asyncio.CancelledError):
        await run
    committed = (await read_shard(store, job.id, "local")).generated_ok
    assert 12 <= committed < 30
    fake_gateway.reset()
    fake_gateway.configure(unique_records=False)  # the same records again, from the first

    shard = await run_shard(
        store=store, files=files, settings=settings, job_id=job.id, shard_key="local"
    )

    assert (shard.status, shard.generated_ok) == ("succeeded", 30)
    accepted = [r["data"] for r in await _candidates(store, files, job.id) if r["ok"]]
    assert len(accepted) == 30 == len({exact_fingerprint(r) for r in accepted})
    assert shard.rejected["duplicate"] >= committed  # the repeats of what was committed


async def test_a_recurring_dataset_never_repeats_a_record_of_its_earlier_versions(
    store, tmp_path, fake_gateway
):
    from datagems_core.jobs.schedules import Schedule, create_version_job, write_schedule
    from tests.support.schemas import PERSON_SCHEMA

    fake_gateway.configure(unique_records=False)  # the same 32 records for every version
    files = make_files(tmp_path)
    settings = make_settings(tmp_path, update_every_k=4)
    schedule = Schedule(
        id="sched_1",
        owner="alice",
        title="People",
        instructions="Fictional customers",
        schema=PERSON_SCHEMA,
        inference=InferenceChoice(base_url=fake_gateway.openai_base, model="m", concurrency=2),
        total_records=12,
        gates=GateConfig(near_duplicate_threshold=None),
        max_candidates=40,
        cron="0 6 * * 1",
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
    )
    await write_schedule(store, schedule)
    seen = set()
    for build in ("first", "second"):
        job = await create_version_job(store, files, settings, schedule, build_id=build)
        fake_gateway.reset()
        fake_gateway.configure(unique_records=False)
        shard = await run_shard(
            store=store, files=files, settings=settings, job_id=job.id, shard_key="local"
        )
        assert (shard.status, shard.generated_ok) == ("succeeded", 12)
        prints = {
            exact_fingerprint(r["data"]) for r in await _candidates(store, files, job.id) if r["ok"]
        }
        assert not prints & seen  # nothing the earlier version accepted
        seen |= prints
    assert shard.rejected["duplicate"] == 12  # the second version skipped the first's twelve
