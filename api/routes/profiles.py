"""Inference profiles: the user's own gateways (`/api/user/settings`) and their model lists."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import CurrentUser, KVStoreDep, SettingsDep
from api.openapi import errors
from api.schemas import ModelsPublic, ModelsRequest, ProfileDelete, ProfileUpsert, SettingsPublic
from datagems_core.errors import BadRequest
from datagems_core.inference import profiles
from datagems_core.inference.model_listing import list_models
from datagems_core.inference.profiles import ProfileChange
from datagems_core.inference.url_guard import check_base_url

router = APIRouter(prefix="/api/user", tags=["profiles"])


def _public(settings: dict[str, Any]) -> SettingsPublic:
    return SettingsPublic.model_validate(settings)


@router.get("/settings", summary="Read your inference profiles")
async def read_settings(
    user: CurrentUser, settings: SettingsDep, store: KVStoreDep
) -> SettingsPublic:
    return _public(await profiles.read_public_settings(store, settings, user.username))


@router.post("/settings", summary="Save or activate an inference profile", responses=errors(404))
async def save_settings(
    body: ProfileUpsert, user: CurrentUser, settings: SettingsDep, store: KVStoreDep
) -> SettingsPublic:
    """Create or change a profile (`mode: upsert`), or make one active (`mode: activate`)."""
    if body.mode == "activate":
        if body.id is None:
            raise BadRequest("id is required to activate a profile", details={"field": "id"})
        result = await profiles.activate_profile(store, settings, user.username, body.id)
        return _public(result)
    change = ProfileChange(
        name=body.name,
        base_url=body.base_url,
        api_key=body.api_key,
        model=body.model,
        path=body.path,
        prices=_prices(body),
    )
    result = await profiles.upsert_profile(
        store, settings, user.username, change, profile_id=body.id, set_active=body.set_active
    )
    return _public(result)


def _prices(body: ProfileUpsert) -> tuple[float | None, float | None] | None:
    given = {"input_price_per_mtok", "output_price_per_mtok"} & body.model_fields_set
    if not given:
        return None
    if len(given) == 1:
        missing = "outputPricePerMTok" if "input_price_per_mtok" in given else "inputPricePerMTok"
        raise BadRequest(
            "give inputPricePerMTok and outputPricePerMTok together (USD per million tokens)",
            details={"field": missing},
        )
    return body.input_price_per_mtok, body.output_price_per_mtok


@router.delete("/settings", summary="Delete an inference profile", responses=errors(404))
async def delete_settings(
    body: ProfileDelete, user: CurrentUser, settings: SettingsDep, store: KVStoreDep
) -> SettingsPublic:
    return _public(await profiles.delete_profile(store, settings, user.username, body.id))


@router.post("/models", summary="List a gateway's models", responses=errors(404, 502))
async def read_models(
    body: ModelsRequest, user: CurrentUser, settings: SettingsDep, store: KVStoreDep
) -> ModelsPublic:
    """List a gateway's models, from the body's URL and key or a saved profile's."""
    base_url, api_key = None, body.api_key
    if body.profile_id:
        resolved = await profiles.resolve_profile(store, settings, user.username, body.profile_id)
        base_url, api_key = resolved.base_url, body.api_key or resolved.api_key
    if body.base_url:
        base_url = body.base_url
    if not base_url:
        raise BadRequest("baseUrl or profileId is required", details={"field": "baseUrl"})
    checked = await check_base_url(base_url, allowed_hosts=settings.allowed_inference_hosts)
    models = await list_models(
        base_url=checked, api_key=api_key, allowed_hosts=settings.allowed_inference_hosts
    )
    return ModelsPublic(models=models)
