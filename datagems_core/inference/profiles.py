"""Per-user inference profiles: the user's own OpenAI-compatible gateways (seed 4.4).

Stored at `datagen:user:{username}:settings` as {activeProfileId, profiles: [{id, name, baseUrl,
apiKeyEncrypted, model, path, createdAt, updatedAt}]}. API keys are sealed with AES-256-GCM (the
seed kept them in plain text; such a key still reads, and is sealed at the next write) and never
leave this module except through `resolve_profile`, for the engine. The seed's legacy flat shape
{baseUrl, apiKey, model, path} reads as one profile "default". Only the owner writes this key.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from datagems_core.billing.pricing import Price, check_price, price_of
from datagems_core.clock import now_iso
from datagems_core.config.settings import Settings
from datagems_core.errors import BadRequest, NotFound
from datagems_core.inference.url_guard import check_base_url
from datagems_core.secret_box import PROFILE_API_KEY_PURPOSE, SecretBox, SecretBoxError
from datagems_core.store.base import JSONValue, KVStore

Profile = dict[str, JSONValue]
_PUBLIC_FIELDS = (
    "id",
    "name",
    "baseUrl",
    "model",
    "path",
    "inputPricePerMTok",
    "outputPricePerMTok",
)


@dataclass(frozen=True)
class ResolvedProfile:
    """A profile ready for `GatewayConfig(base_url=..., path=..., model=..., api_key=...)`."""

    profile_id: str
    name: str
    base_url: str
    path: str | None
    model: str | None
    api_key: SecretStr | None
    price: Price | None = None

    def gateway_overrides(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "path": self.path,
            "model": self.model,
            "api_key": self.api_key,
        }


@dataclass
class ProfileChange:
    """Fields of an upsert; None leaves a field as it is, "" clears it."""

    name: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str | None = None
    path: str | None = None
    # (input, output) USD per million tokens; None leaves them, (None, None) clears them
    prices: tuple[float | None, float | None] | None = None


def settings_key(username: str) -> str:
    return f"datagen:user:{username}:settings"


def _box(settings: Settings) -> SecretBox:
    return SecretBox(
        secret=settings.session_secret.get_secret_value(), purpose=PROFILE_API_KEY_PURPOSE
    )


async def read_profiles(store: KVStore, username: str) -> tuple[list[Profile], str | None]:
    """(profiles, active id) with the legacy flat shape migrated."""
    doc = await store.get(settings_key(username))
    if not isinstance(doc, dict):
        return [], None
    raw = doc.get("profiles")
    if isinstance(raw, list):
        profiles = [p for p in raw if isinstance(p, dict) and isinstance(p.get("id"), str)]
    elif any(doc.get(k) for k in ("baseUrl", "apiKey", "model", "path")):
        stamp = now_iso()
        legacy = {k: doc[k] for k in ("baseUrl", "apiKey", "model", "path") if doc.get(k)}
        profiles = [
            {"id": "default", "name": "Default", **legacy, "createdAt": stamp, "updatedAt": stamp}
        ]
    else:
        profiles = []
    active = doc.get("activeProfileId")
    return profiles, active if isinstance(active, str) else None


def _active(profiles: list[Profile], active_id: str | None) -> Profile | None:
    for profile in profiles:
        if profile["id"] == active_id:
            return profile
    return profiles[0] if profiles else None


def public_profile(profile: Profile) -> dict[str, JSONValue]:
    public: dict[str, JSONValue] = {k: profile.get(k) for k in _PUBLIC_FIELDS}
    public["hasApiKey"] = bool(profile.get("apiKeyEncrypted") or profile.get("apiKey"))
    public["createdAt"] = profile.get("createdAt")
    public["updatedAt"] = profile.get("updatedAt")
    return public


def public_settings(
    profiles: list[Profile], active_id: str | None, *, max_profiles: int
) -> dict[str, JSONValue]:
    """The seed's `toPublicSettings`: no API key, ever."""
    active = _active(profiles, active_id)
    active_public = public_profile(active) if active else None
    return {
        "activeProfileId": active["id"] if active else None,
        "maxProfiles": max_profiles,
        "profiles": [public_profile(p) for p in profiles],
        "activeProfile": active_public,
        "baseUrl": active_public["baseUrl"] if active_public else None,
        "model": active_public["model"] if active_public else None,
        "path": active_public["path"] if active_public else None,
        "hasApiKey": bool(active_public and active_public["hasApiKey"]),
    }


async def read_public_settings(
    store: KVStore, settings: Settings, username: str
) -> dict[str, JSONValue]:
    profiles, active = await read_profiles(store, username)
    return public_settings(profiles, active, max_profiles=settings.max_external_api_configs)


async def _write(
    store: KVStore, username: str, profiles: list[Profile], active: str | None
) -> None:
    doc: dict[str, JSONValue] = {"activeProfileId": active, "profiles": list(profiles)}
    await store.set(settings_key(username), doc)


def _find(profiles: list[Profile], profile_id: str) -> Profile:
    for profile in profiles:
        if profile["id"] == profile_id:
            return profile
    raise NotFound(f"Profile {profile_id} not found")


async def upsert_profile(
    store: KVStore,
    settings: Settings,
    username: str,
    change: ProfileChange,
    *,
    profile_id: str | None = None,
    set_active: bool = False,
) -> dict[str, JSONValue]:
    """Create a profile (no id) or change the given fields of one; returns the public settings."""
    profiles, active = await read_profiles(store, username)
    stamp = now_iso()
    if profile_id is None:
        if len(profiles) >= settings.max_external_api_configs:
            raise BadRequest(
                f"Maximum external API profiles reached ({settings.max_external_api_configs})"
            )
        profile: Profile = {"id": secrets.token_hex(6), "name": f"Profile {len(profiles) + 1}"}
        profile["createdAt"] = stamp
        profiles.append(profile)
    else:
        profile = _find(profiles, profile_id)
    if change.name is not None and change.name.strip():
        profile["name"] = change.name.strip()
    if change.base_url is not None:
        profile["baseUrl"] = (
            await check_base_url(change.base_url, allowed_hosts=settings.allowed_inference_hosts)
            if change.base_url.strip()
            else None
        )
    for key, value in (("model", change.model), ("path", change.path)):
        if value is not None:
            profile[key] = value.strip() or None
    if change.prices is not None:
        profile["inputPricePerMTok"] = check_price(change.prices[0], field="inputPricePerMTok")
        profile["outputPricePerMTok"] = check_price(change.prices[1], field="outputPricePerMTok")
    if change.api_key is not None:
        secret = change.api_key.get_secret_value().strip()
        profile.pop("apiKey", None)
        profile["apiKeyEncrypted"] = _box(settings).seal(secret) if secret else None
    elif "apiKey" in profile:  # a plain-text key from the seed: seal it now
        plain = profile.pop("apiKey")
        profile["apiKeyEncrypted"] = _box(settings).seal(str(plain)) if plain else None
    profile["updatedAt"] = stamp
    if set_active or active not in {p["id"] for p in profiles}:
        active = str(profile["id"])
    await _write(store, username, profiles, active)
    return public_settings(profiles, active, max_profiles=settings.max_external_api_configs)


async def activate_profile(
    store: KVStore, settings: Settings, username: str, profile_id: str
) -> dict[str, JSONValue]:
    profiles, _ = await read_profiles(store, username)
    _find(profiles, profile_id)
    await _write(store, username, profiles, profile_id)
    return public_settings(profiles, profile_id, max_profiles=settings.max_external_api_configs)


async def delete_profile(
    store: KVStore, settings: Settings, username: str, profile_id: str
) -> dict[str, JSONValue]:
    profiles, active = await read_profiles(store, username)
    profiles.remove(_find(profiles, profile_id))
    if active == profile_id or active not in {p["id"] for p in profiles}:
        active = str(profiles[0]["id"]) if profiles else None
    await _write(store, username, profiles, active)
    return public_settings(profiles, active, max_profiles=settings.max_external_api_configs)


def profile_api_key(settings: Settings, profile: Profile) -> SecretStr | None:
    sealed, plain = profile.get("apiKeyEncrypted"), profile.get("apiKey")
    if isinstance(sealed, str) and sealed:
        try:
            return SecretStr(_box(settings).open(sealed))
        except SecretBoxError:
            raise BadRequest(
                f"the API key of profile {profile['id']} cannot be decrypted (the session secret "
                "changed?): save the key again"
            ) from None
    return SecretStr(plain) if isinstance(plain, str) and plain else None


async def resolve_profile(
    store: KVStore, settings: Settings, username: str, profile_id: str | None
) -> ResolvedProfile:
    """`username`'s profile (the active one for None) with its key decrypted and its URL re-checked.

    NotFound when there is no such profile; BadRequest when it has no base URL or the URL is no
    longer safe to call.
    """
    profiles, active = await read_profiles(store, username)
    profile = _find(profiles, profile_id) if profile_id else _active(profiles, active)
    if profile is None:
        raise NotFound("no inference profile saved: add one in the settings first")
    base_url = profile.get("baseUrl")
    if not isinstance(base_url, str) or not base_url:
        raise BadRequest(f"profile {profile['id']} has no base URL")
    checked = await check_base_url(base_url, allowed_hosts=settings.allowed_inference_hosts)
    path, model = profile.get("path"), profile.get("model")
    return ResolvedProfile(
        profile_id=str(profile["id"]),
        name=str(profile.get("name") or profile["id"]),
        base_url=checked,
        path=path if isinstance(path, str) and path else None,
        model=model if isinstance(model, str) and model else None,
        api_key=profile_api_key(settings, profile),
        price=profile_price(profile),
    )


def profile_price(profile: Profile) -> Price | None:
    """The profile's price per million tokens, None when it has none (cost unknown)."""
    values = [profile.get("inputPricePerMTok"), profile.get("outputPricePerMTok")]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return None
    return price_of(float(values[0]), float(values[1]))  # type: ignore[arg-type]
