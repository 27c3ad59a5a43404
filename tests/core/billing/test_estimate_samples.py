"""An estimate's sample kept for the job made from it: single use, expiry, and never more
accepted records than the job asked for."""

from __future__ import annotations

import pytest

from datagems_core.billing.estimate_samples import keep_sample, sample_key, seed_job, take_sample
from datagems_core.billing.estimates import SampleRun
from datagems_core.datasets.definition import DatasetDefinition, InferenceChoice
from datagems_core.datasets.record_maker import RecordResult
from datagems_core.errors import BadRequest
from datagems_core.jobs.repository import read_shards
from datagems_core.jobs.stored_records import iter_result_chunks
from datagems_core.store.memory import MemoryStore
from tests.core.jobs.engine_factories import make_files, make_job
from tests.support.schemas import PERSON_SCHEMA
from tests.support.settings import make_settings

DEFINITION = DatasetDefinition(
    title="People",
    description="",
    instructions="Fictional customers of a software shop",
    schema=PERSON_SCHEMA,
    dataset_mode=False,
    inference=InferenceChoice(),
)


def _run(count: int) -> SampleRun:
    results = [
        RecordResult(index=i, ok=True, data={"name": f"N{i}"}, error=None, attempts=1)
        for i in range(count)
    ]
    return SampleRun(results=results, seconds=[0.1] * count, seed=42)


async def test_an_expired_estimate_is_a_400_naming_estimate_id():
    store = MemoryStore()
    estimate_id = await keep_sample(
        store, owner="ann", definition=DEFINITION, run=_run(2), ledger_field=None
    )
    record = await store.get(sample_key(estimate_id))
    await store.set(sample_key(estimate_id), {**record, "expiresMs": 1})
    with pytest.raises(BadRequest, match=r"estimateId: estimate .* expired"):
        await take_sample(store, estimate_id=estimate_id, owner="ann", definition=DEFINITION)
    with pytest.raises(BadRequest, match="estimateId: not an estimate id"):
        await take_sample(store, estimate_id="../x", owner="ann", definition=DEFINITION)


async def test_a_sample_larger_than_the_job_gives_it_no_more_than_n_accepted(tmp_path):
    store, files = MemoryStore(), make_files(tmp_path)
    estimate_id = await keep_sample(
        store, owner="alice", definition=DEFINITION, run=_run(5), ledger_field=None
    )
    sample = await take_sample(store, estimate_id=estimate_id, owner="alice", definition=DEFINITION)
    assert sample.seed == 42 and len(sample.results) == 5
    job = await make_job(store, files, total_records=3)
    job = await seed_job(store, files, make_settings(tmp_path), job, sample)
    [shard] = await read_shards(store, job.id)
    assert (shard.generated_ok, shard.next_index) == (3, 3) and job.total_ok == 3
    stored = [r async for chunk in iter_result_chunks(store, files, job.id) for r in chunk]
    assert [r["index"] for r in stored] == [0, 1, 2]
