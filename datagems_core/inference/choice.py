"""Which gateway a job's inference choice means, resolved when it is needed.

Keys are never part of a job: a profile's key is decrypted when the job runs (so a rotated key
applies to queued jobs), and the CLI's `apiKeyEnv` is read from the running process' environment.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import SecretStr

from datagems_core.billing.pricing import price_of
from datagems_core.config.settings import Settings
from datagems_core.datasets.definition import InferenceChoice
from datagems_core.errors import ConfigError
from datagems_core.inference.gateway import GatewayConfig
from datagems_core.inference.profiles import profile_price, read_profiles, resolve_profile
from datagems_core.inference.url_guard import is_allowed_host
from datagems_core.jobs.models import JobDetails
from datagems_core.quality.gate_config import JudgeConfig
from datagems_core.store.base import KVStore


async def gateway_for_choice(
    store: KVStore, settings: Settings, owner: str, choice: InferenceChoice
) -> GatewayConfig | None:
    """The gateway `owner`'s choice points at, key included; None means the built-in mock.

    Raises NotFound when the choice names a profile the owner does not have.
    """
    overrides = _choice_overrides(choice)
    if choice.profile_id:
        profile = await resolve_profile(store, settings, owner, choice.profile_id)
        overrides.update(
            base_url=profile.base_url,
            path=choice.path or profile.path,
            model=choice.model or profile.model,
            api_key=profile.api_key,
            # checked again when connecting: the name may answer differently by then
            guard_addresses=not is_allowed_host(profile.base_url, settings.allowed_inference_hosts),
        )
    return GatewayConfig.from_settings(settings, **overrides)


async def bill_choice(
    store: KVStore, settings: Settings, owner: str, choice: InferenceChoice
) -> InferenceChoice:
    """`choice` with the price per million tokens and the model name its usage is counted under.

    The price is the profile's own, else the server's settings (which also price a gateway given
    on the command line); None = unknown. The model is the one the choice names, else the
    profile's or the server's default, else `mock` for the built-in mock gateway.
    """
    price = price_of(
        settings.inference_input_price_per_mtok, settings.inference_output_price_per_mtok
    )
    model = choice.model
    if choice.profile_id:
        price, profile_model = None, None
        profiles, _ = await read_profiles(store, owner)
        for profile in profiles:
            if profile["id"] == choice.profile_id:
                price = profile_price(profile)
                found = profile.get("model")
                profile_model = found if isinstance(found, str) and found else None
        model = model or profile_model
    elif GatewayConfig.from_settings(settings, **_plain_overrides(choice)) is None:
        model = model or "mock"
    model = model or settings.inference_model or "default"
    return choice.model_copy(update={"price": price, "billed_model": model})


async def resolve_gateway(
    store: KVStore, settings: Settings, details: JobDetails
) -> GatewayConfig | None:
    """The gateway of a job, as its owner chose it."""
    return await gateway_for_choice(store, settings, details.owner, details.inference)


def _plain_overrides(choice: InferenceChoice) -> dict[str, Any]:
    overrides = _choice_overrides(choice.model_copy(update={"api_key_env": None}))
    return overrides


async def resolve_judge_gateway(
    store: KVStore, settings: Settings, details: JobDetails, judge: JudgeConfig
) -> GatewayConfig | None:
    """The judge's gateway: its own profile or model when it names one, else the job's."""
    choice = details.inference
    if judge.profile_id:
        choice = InferenceChoice(profile_id=judge.profile_id, model=judge.model)
    elif judge.model:
        choice = choice.model_copy(update={"model": judge.model})
    return await gateway_for_choice(store, settings, details.owner, choice)


def _choice_overrides(choice: InferenceChoice) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "base_url": choice.base_url,
        "path": choice.path,
        "flavour": choice.flavour,
        "model": choice.model,
        "parameters": choice.parameters or None,
        "concurrency": choice.concurrency,
    }
    if choice.api_key_env:
        value = os.environ.get(choice.api_key_env, "")
        if not value:
            raise ConfigError(
                f"the job reads its API key from ${choice.api_key_env}, which is not set here"
            )
        overrides["api_key"] = SecretStr(value)
    return overrides
