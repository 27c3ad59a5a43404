"""Job metrics: JSON for the dashboard, Prometheus text for monitoring (admins only)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from api.deps import AdminUser, CurrentUser, KVStoreDep, SettingsDep
from api.openapi import errors
from api.schemas import MetricsPublic, MetricsValues
from datagems_core.accounts.administration import list_accounts
from datagems_core.billing.ledger import usage_by_user_and_model
from datagems_core.health import version
from datagems_core.jobs.metrics import compute_metrics, render_prometheus

router = APIRouter(tags=["metrics"])

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/api/metrics", summary="Read job metrics")
async def read_metrics(user: CurrentUser, store: KVStoreDep) -> MetricsPublic:
    """Your jobs' metrics; an admin sees everyone's."""
    metrics = await compute_metrics(store, owner=None if user.is_admin else user.username)
    return MetricsPublic(metrics=MetricsValues.model_validate(metrics.to_json()))


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Prometheus metrics",
    responses=errors(403),
)
async def prometheus_metrics(
    admin: AdminUser, settings: SettingsDep, store: KVStoreDep
) -> PlainTextResponse:
    del admin  # the dependency is the check
    metrics = await compute_metrics(store, owner=None)
    users = len(await list_accounts(store, settings))
    usage = await usage_by_user_and_model(store)
    text = render_prometheus(metrics, users=users, version=version(), usage=usage)
    return PlainTextResponse(text, media_type=PROMETHEUS_CONTENT_TYPE)
