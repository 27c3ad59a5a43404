"""GatewayConfig: the mock decision, flavour and path routing, limits."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from datagems_core.config.settings import load_settings
from datagems_core.errors import ConfigError
from datagems_core.inference.gateway import GatewayConfig


def test_from_settings_is_the_mock_when_asked_or_unconfigured_in_development():
    assert GatewayConfig.from_settings(load_settings(None, mock_inference=True)) is None
    assert GatewayConfig.from_settings(load_settings(None)) is None


def test_from_settings_without_a_gateway_in_production_says_what_to_set(monkeypatch):
    monkeypatch.setenv("DATAGEMS_ENV", "production")
    monkeypatch.setenv("DATAGEN_SESSION_SECRET", "a-long-production-secret")
    monkeypatch.setenv("R1EN_CSTORE_AUTH_SECRET", "pepper-for-production")
    monkeypatch.setenv("R1EN_CSTORE_AUTH_BOOTSTRAP_ADMIN_PWD", "strong-admin-password")
    with pytest.raises(ConfigError, match="DATAGEN_INFERENCE_BASE_URL"):
        GatewayConfig.from_settings(load_settings(None))


def test_from_settings_reads_the_seed_host_and_port_as_ratio1(monkeypatch):
    monkeypatch.setenv("DATAGEN_INFERENCE_HOST", "10.0.0.5")
    monkeypatch.setenv("DATAGEN_INFERENCE_PORT", "5002")
    gateway = GatewayConfig.from_settings(load_settings(None))
    assert gateway is not None
    assert gateway.flavour == "ratio1"
    assert gateway.url == "http://10.0.0.5:5002/create_chat_completion"


def test_from_settings_takes_limits_key_and_overrides(monkeypatch):
    monkeypatch.setenv("DATAGEN_INFERENCE_BASE_URL", "https://llm.example.com/v1/")
    monkeypatch.setenv("DATAGEMS_INFERENCE_API_KEY", "sk-secret")
    monkeypatch.setenv("DATAGEMS_INFERENCE_RPM", "600")
    monkeypatch.setenv("RETRY_INFERENCE_ON_FAILURE", "true")
    settings = load_settings(None)
    gateway = GatewayConfig.from_settings(
        settings, concurrency=64, max_attempts=1, model="m", path=None
    )
    assert gateway is not None
    assert gateway.url == "https://llm.example.com/v1/chat/completions"
    assert gateway.flavour == "openai"
    assert gateway.api_key is not None and gateway.api_key.get_secret_value() == "sk-secret"
    assert gateway.rpm == 600
    assert gateway.ceiling == 64
    assert gateway.model == "m"
    assert gateway.max_attempts == 2  # RETRY_INFERENCE_ON_FAILURE guarantees one more try
    assert "sk-secret" not in repr(gateway)


def test_an_explicit_base_url_wins_over_the_mock():
    gateway = GatewayConfig.from_settings(
        load_settings(None, mock_inference=True), base_url="http://gw.example.com:8080/v1"
    )
    assert gateway is not None and gateway.flavour == "openai"


@pytest.mark.parametrize(
    ("base", "path", "flavour", "url", "expected"),
    [
        ("http://h:1", None, "auto", "http://h:1/create_chat_completion", "ratio1"),
        ("http://h:1/v1", None, "auto", "http://h:1/v1/chat/completions", "openai"),
        (
            "http://h:1",
            "create_chat_completion",
            "auto",
            "http://h:1/create_chat_completion",
            "ratio1",
        ),
        ("http://h:1", "/v1/chat/completions", "auto", "http://h:1/v1/chat/completions", "openai"),
        ("http://h:1", None, "openai", "http://h:1/chat/completions", "openai"),
        ("http://h:1/v1", None, "ratio1", "http://h:1/v1/create_chat_completion", "ratio1"),
    ],
)
def test_flavour_and_path_routing(base, path, flavour, url, expected):
    gateway = GatewayConfig(base_url=base, path=path, flavour=flavour)
    assert gateway.url == url
    assert gateway.flavour == expected


def test_gateway_config_refuses_bad_values():
    with pytest.raises(ConfigError, match="scheme"):
        GatewayConfig(base_url="llm.example.com")
    with pytest.raises(ConfigError, match="concurrency"):
        GatewayConfig(base_url="http://h", concurrency=0)
    with pytest.raises(ConfigError, match="flavour"):
        GatewayConfig(base_url="http://h", flavour="grpc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="colour"):
        GatewayConfig.from_settings(load_settings(None), colour="red")


def test_gateway_config_accepts_a_plain_string_key_and_caps_concurrency():
    gateway = GatewayConfig(base_url="http://h", api_key="k", concurrency=500, max_concurrency=100)
    assert isinstance(gateway.api_key, SecretStr)
    assert gateway.ceiling == 100
