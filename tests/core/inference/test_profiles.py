"""Inference profiles: seed shape, sealed keys, limits, and resolve_profile for the engine."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from datagems_core.config.settings import load_settings
from datagems_core.errors import BadRequest, NotFound
from datagems_core.inference import profiles
from datagems_core.inference.profiles import ProfileChange
from datagems_core.store.memory import MemoryStore

KEY = "sk-live-secret-key-123"


@pytest.fixture
def settings(tmp_path):
    return load_settings(
        None,
        data_dir=tmp_path,
        max_external_api_configs=2,
        allowed_inference_hosts="127.0.0.1",
    )


def _change(**values):
    return ProfileChange(**{k: SecretStr(v) if k == "api_key" else v for k, v in values.items()})


async def test_upsert_profile_creates_active_profile_with_sealed_key(settings):
    store = MemoryStore()
    public = await profiles.upsert_profile(
        store, settings, "ann", _change(base_url="http://127.0.0.1:9000/v1/", api_key=KEY)
    )
    [profile] = public["profiles"]
    assert public["activeProfileId"] == profile["id"] and len(profile["id"]) == 12
    assert profile["name"] == "Profile 1" and profile["hasApiKey"] is True
    assert profile["baseUrl"] == "http://127.0.0.1:9000/v1"
    assert public["maxProfiles"] == 2 and public["hasApiKey"] is True
    assert KEY not in json.dumps(public)
    assert KEY not in json.dumps(await store.get(profiles.settings_key("ann")))


async def test_resolve_profile_decrypts_key_for_the_engine(settings):
    store = MemoryStore()
    public = await profiles.upsert_profile(
        store,
        settings,
        "ann",
        _change(base_url="http://127.0.0.1:9000/v1", api_key=KEY, model="m-1", path="/chat"),
    )
    resolved = await profiles.resolve_profile(store, settings, "ann", None)
    assert resolved.profile_id == public["activeProfileId"]
    assert resolved.api_key is not None and resolved.api_key.get_secret_value() == KEY
    assert (resolved.base_url, resolved.path, resolved.model) == (
        "http://127.0.0.1:9000/v1",
        "/chat",
        "m-1",
    )
    assert KEY not in repr(resolved)
    with pytest.raises(NotFound):
        await profiles.resolve_profile(store, settings, "bob", resolved.profile_id)


async def test_upsert_changes_only_given_fields_and_clears_with_empty(settings):
    store = MemoryStore()
    created = await profiles.upsert_profile(
        store, settings, "ann", _change(base_url="http://127.0.0.1:1/v1", api_key=KEY, model="a")
    )
    pid = created["activeProfileId"]
    changed = await profiles.upsert_profile(
        store, settings, "ann", _change(model="b", api_key=""), profile_id=pid
    )
    [profile] = changed["profiles"]
    assert profile["model"] == "b" and profile["baseUrl"] == "http://127.0.0.1:1/v1"
    assert profile["hasApiKey"] is False


async def test_profile_limit_activation_and_delete(settings):
    store = MemoryStore()
    first = await profiles.upsert_profile(store, settings, "ann", _change(name="One"))
    second = await profiles.upsert_profile(store, settings, "ann", _change(name="Two"))
    one, two = (p["id"] for p in second["profiles"])
    assert second["activeProfileId"] == first["activeProfileId"] == one
    with pytest.raises(BadRequest, match=r"Maximum external API profiles reached \(2\)"):
        await profiles.upsert_profile(store, settings, "ann", _change(name="Three"))
    assert (await profiles.activate_profile(store, settings, "ann", two))["activeProfileId"] == two
    after = await profiles.delete_profile(store, settings, "ann", two)
    assert after["activeProfileId"] == one and len(after["profiles"]) == 1
    with pytest.raises(NotFound):
        await profiles.delete_profile(store, settings, "ann", two)


async def test_upsert_refuses_internal_url(settings):
    with pytest.raises(BadRequest, match="non-public"):
        await profiles.upsert_profile(
            MemoryStore(), settings, "ann", _change(base_url="http://10.0.0.1/v1")
        )


async def test_legacy_flat_settings_read_as_default_profile_and_get_sealed(settings):
    store = MemoryStore()
    legacy = {"baseUrl": "http://127.0.0.1:5/v1", "apiKey": KEY, "model": "m"}
    await store.set(profiles.settings_key("ann"), legacy)
    public = await profiles.read_public_settings(store, settings, "ann")
    assert public["activeProfileId"] == "default" and public["hasApiKey"] is True
    resolved = await profiles.resolve_profile(store, settings, "ann", "default")
    assert resolved.api_key.get_secret_value() == KEY
    await profiles.upsert_profile(
        store, settings, "ann", _change(name="Renamed"), profile_id="default"
    )
    assert KEY not in json.dumps(await store.get(profiles.settings_key("ann")))
    resolved = await profiles.resolve_profile(store, settings, "ann", "default")
    assert resolved.api_key.get_secret_value() == KEY
