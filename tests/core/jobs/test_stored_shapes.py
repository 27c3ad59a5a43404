"""Records written before the redesign (by commit a0ccffd: a job, its shard, its details file and
a schedule, as that code's models wrote them) still load and read the same after it."""

from __future__ import annotations

import json
from pathlib import Path

from datagems_core.jobs.models import Job, JobDetails, Shard
from datagems_core.jobs.schedules import Schedule

OLD = json.loads((Path(__file__).parent / "data" / "records_before_the_redesign.json").read_text())


def test_an_old_job_loads_with_its_totals_and_no_new_limits():
    job = Job.model_validate(OLD["job"])
    assert (job.id, job.status, job.total_records, job.total_ok) == (
        "job_1764496800000_abc123",
        "succeeded",
        10,
        9,
    )
    assert job.tokens.total == 150 and job.dataset_cid == "d1"
    assert job.max_candidates is None and job.max_tokens is None and job.price is None
    assert job.resumes == 0 and job.structured_output is None and job.takeovers == 0


def test_an_old_shard_and_details_load():
    shard = Shard.model_validate(OLD["shard"])
    assert (shard.generated_ok, shard.generated_failed, shard.next_index) == (9, 1, 10)
    assert (shard.takeovers, shard.lease_owner, shard.taken_over_from) == (0, None, None)
    details = JobDetails.model_validate(OLD["details"])
    assert details.inference.profile_id == "p1" and details.inference.concurrency == 4
    assert details.gates.lint is True  # gates an old job never had: the defaults
    assert details.json_schema["properties"]["name"]["type"] == "string"


def test_an_old_schedule_loads_with_default_gates():
    schedule = Schedule.model_validate(OLD["schedule"])
    assert (schedule.cron, schedule.total_records, schedule.active) == ("0 6 * * 1", 5, True)
    assert schedule.inference.model == "m"
    assert schedule.max_candidates is None
