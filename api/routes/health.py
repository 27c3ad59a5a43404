"""Public liveness answer at /health and /api/health, in the seed's shape."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import SettingsDep
from api.schemas import Health
from datagems_core.health import health_report

router = APIRouter(tags=["health"])


@router.get("/health", summary="Check health", operation_id="health")
@router.get("/api/health", summary="Check health", operation_id="api_health")
def health(settings: SettingsDep) -> Health:
    return Health.model_validate(health_report(settings))
