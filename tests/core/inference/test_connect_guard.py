"""Connect-time SSRF guard: a user's gateway name that resolves (or rebinds) to an internal
address is refused when connecting, while the server's own gateway is not checked."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from pydantic import SecretStr

from datagems_core.config.settings import load_settings
from datagems_core.datasets.definition import InferenceChoice
from datagems_core.datasets.record_maker import RecordSpec, open_record_maker
from datagems_core.errors import BadRequest, InferenceRejected
from datagems_core.inference import profiles
from datagems_core.inference.choice import gateway_for_choice
from datagems_core.inference.connect_guard import PublicAddressResolver
from datagems_core.inference.gateway import GatewayConfig
from datagems_core.inference.model_listing import list_models
from datagems_core.inference.profiles import ProfileChange
from datagems_core.store.memory import MemoryStore

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
    "additionalProperties": False,
}
SPEC = RecordSpec(instructions="People.", schema=SCHEMA, dataset_mode=True, seed=1)


class FakeResolver(AbstractResolver):
    """Answers from a fixed table, without the network; counts closes."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.closed = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=0,
            )
            for address in self.table[host]
        ]

    async def close(self) -> None:
        self.closed += 1


TABLE = {
    "public.example": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "rebound.example": ["127.0.0.1"],
    "mixed.example": ["93.184.216.34", "10.0.0.7"],
    "metadata.example": ["169.254.169.254"],
    "mapped.example": ["::ffff:192.168.1.1"],
    "linklocal.example": ["fe80::1%eth0"],
}


async def test_public_answers_pass_through_unchanged():
    inner = FakeResolver(TABLE)
    resolver = PublicAddressResolver(inner)
    results = await resolver.resolve("public.example", 443)
    assert [r["host"] for r in results] == TABLE["public.example"]
    assert {r["port"] for r in results} == {443}
    await resolver.close()
    assert inner.closed == 1


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("rebound.example", "127.0.0.1"),
        ("mixed.example", "10.0.0.7"),
        ("metadata.example", "169.254.169.254"),
        ("mapped.example", "::ffff:192.168.1.1"),
        ("linklocal.example", "fe80::1%eth0"),
    ],
)
async def test_any_non_public_answer_refuses_the_host(host, address):
    resolver = PublicAddressResolver(FakeResolver(TABLE))
    with pytest.raises(InferenceRejected, match="is not public") as caught:
        await resolver.resolve(host, 80)
    assert host in caught.value.message and address in caught.value.message
    assert caught.value.details["host"] == host


async def _make(gateway: GatewayConfig):
    async with open_record_maker(settings=load_settings(None), spec=SPEC, gateway=gateway) as maker:
        return await maker.make_record(0)


def _gateway(base: str, **overrides) -> GatewayConfig:
    return GatewayConfig(base_url=base, max_attempts=3, timeout_seconds=5.0, **overrides)


async def test_guarded_gateway_on_a_loopback_name_is_refused_at_connect_time(fake_gateway):
    # `localhost` stands in for a name that passed url_guard and then rebound to 127.0.0.1.
    port = fake_gateway.url.rsplit(":", 1)[1]
    base = f"http://localhost:{port}/v1"
    with pytest.raises(InferenceRejected, match=r"'localhost'.*is not public"):
        await _make(_gateway(base, guard_addresses=True))
    assert fake_gateway.stats()["requests"] == 0  # refused before connecting, not retried

    result = await _make(_gateway(base))  # the server's own gateway: trusted, not checked
    assert result.ok and result.attempts == 1
    assert fake_gateway.stats()["requests"] == 1


async def test_guarded_gateway_on_a_private_ip_literal_is_refused(fake_gateway):
    with pytest.raises(InferenceRejected, match=r"'127\.0\.0\.1'.*is not public"):
        await _make(_gateway(fake_gateway.openai_base, guard_addresses=True))
    assert fake_gateway.stats()["requests"] == 0


async def test_model_listing_refuses_a_loopback_name_unless_the_host_is_allowed(fake_gateway):
    port = fake_gateway.url.rsplit(":", 1)[1]
    base = f"http://localhost:{port}/v1"
    with pytest.raises(BadRequest, match=r"'localhost'.*is not public") as caught:
        await list_models(base_url=base, api_key=None)
    assert caught.value.details["field"] == "baseUrl"

    models = await list_models(base_url=base, api_key=None, allowed_hosts=["localhost"])
    assert models and isinstance(models[0], dict) and "id" in models[0]


async def test_profile_gateways_are_guarded_unless_their_host_is_allowed(tmp_path):
    settings = load_settings(None, data_dir=tmp_path, allowed_inference_hosts="127.0.0.1")
    store = MemoryStore()
    for base_url in ("http://8.8.8.8/v1", "http://127.0.0.1:9000/v1"):
        await profiles.upsert_profile(
            store, settings, "ann", ProfileChange(base_url=base_url, api_key=SecretStr("k"))
        )
    listed, _ = await profiles.read_profiles(store, "ann")
    guarded = {}
    for profile in listed:
        choice = InferenceChoice(profile_id=str(profile["id"]))
        gateway = await gateway_for_choice(store, settings, "ann", choice)
        assert gateway is not None
        guarded[gateway.base_url] = gateway.guard_addresses
    assert guarded == {"http://8.8.8.8/v1": True, "http://127.0.0.1:9000/v1": False}
    server_gateway = await gateway_for_choice(store, settings, "ann", InferenceChoice())
    assert server_gateway is None or server_gateway.guard_addresses is False
