"""What a job will cost, asked before creating it (`POST /api/jobs/estimate`)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, KVStoreDep, SettingsDep
from api.job_checks import check_job_create
from api.job_schemas import JobCreate
from api.openapi import errors
from datagems_core.billing.estimate_samples import keep_sample
from datagems_core.billing.estimates import Estimate, count_sample_usage, estimate_job

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.post(
    "/estimate", summary="Estimate a job's tokens, cost and time", responses=errors(403, 502)
)
async def estimate_job_route(
    body: JobCreate, user: CurrentUser, settings: SettingsDep, store: KVStoreDep
) -> Estimate:
    """Takes the body of `POST /api/jobs`, makes `DATAGEMS_ESTIMATE_SAMPLE` candidates through
    the real path (counted as your usage), and projects tokens, cost and time for N accepted
    records with a range (docs/cost.md says how). Its `estimateId`, given to `POST /api/jobs`
    with the same definition within the hour, makes the sample the job's first candidates."""
    checked = await check_job_create(body, user, settings, store)
    estimate, run = await estimate_job(
        store,
        settings,
        owner=user.username,
        definition=checked.definition,
        total_records=checked.total_records,
    )
    choice = checked.definition.inference
    ledger_field = await count_sample_usage(
        store,
        owner=user.username,
        model=choice.billed_model,
        price=choice.price,
        results=run.results,
    )
    estimate_id = await keep_sample(
        store,
        owner=user.username,
        definition=checked.definition,
        run=run,
        ledger_field=ledger_field,
    )
    return estimate.model_copy(update={"estimate_id": estimate_id})
