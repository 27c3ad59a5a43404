"""Where and how to reach one model gateway: URL, wire flavour, model, key and limits."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import SecretStr

from datagems_core.config.settings import Settings
from datagems_core.errors import ConfigError

Flavour = Literal["openai", "ratio1"]
RATIO1_PATH = "/create_chat_completion"
OPENAI_PATH = "/chat/completions"


@dataclass(frozen=True)
class GatewayConfig:
    """One gateway. `None` in its place means the built-in mock gateway.

    >>> gw = GatewayConfig(base_url="http://127.0.0.1:8000/v1", flavour="openai")
    >>> gw.url
    'http://127.0.0.1:8000/v1/chat/completions'
    """

    base_url: str
    path: str | None = None
    flavour: Flavour | Literal["auto"] = "auto"
    model: str | None = None
    api_key: SecretStr | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    concurrency: int = 16
    max_concurrency: int = 256
    rpm: int | None = None
    timeout_seconds: float = 120.0
    max_attempts: int = 5
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    # A user's gateway (an inference profile): connect to public addresses only, checked when
    # connecting (connect_guard). False for the server's own, trusted, often private gateway.
    guard_addresses: bool = False

    def __post_init__(self) -> None:
        if "://" not in self.base_url:
            raise ConfigError(
                f"gateway base URL {self.base_url!r} needs a scheme (http:// or https://)"
            )
        if isinstance(self.api_key, str):  # tolerate a plain string from callers
            object.__setattr__(self, "api_key", SecretStr(self.api_key) if self.api_key else None)
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        flavour, path = _resolve_route(self.flavour, self.base_url, self.path)
        object.__setattr__(self, "flavour", flavour)
        object.__setattr__(self, "path", path)
        for name in ("concurrency", "max_concurrency", "max_attempts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"gateway {name} must be at least 1, got {getattr(self, name)}")
        if self.rpm is not None and self.rpm < 1:
            raise ConfigError(f"gateway rpm must be at least 1 when set, got {self.rpm}")
        if self.backoff_base_seconds < 0 or self.backoff_max_seconds < 0:
            raise ConfigError("gateway backoff seconds cannot be negative")
        if self.timeout_seconds <= 0:
            raise ConfigError(f"gateway timeout must be positive, got {self.timeout_seconds}")

    @property
    def url(self) -> str:
        """The chat-completion endpoint."""
        return self.base_url + (self.path or "")

    @property
    def is_ratio1(self) -> bool:
        return self.flavour == "ratio1"

    @property
    def ceiling(self) -> int:
        """The hard limit on requests in flight."""
        return min(self.concurrency, self.max_concurrency)

    def with_overrides(self, **overrides: Any) -> GatewayConfig:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> GatewayConfig | None:
        """The configured gateway, or None when the mock gateway is to be used.

        An explicit `base_url` override (a user's own gateway) always means a real gateway;
        overrides that are None count as not given.
        """
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(given) - set(cls.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown gateway settings: {', '.join(sorted(unknown))}")
        base_url = given.pop("base_url", None)
        if base_url is None:
            if settings.use_mock_inference:
                return None
            base_url = settings.inference_url
            if base_url is None:
                raise ConfigError(
                    "no inference gateway configured: set DATAGEN_INFERENCE_BASE_URL "
                    "(or DATAGEN_INFERENCE_HOST and DATAGEN_INFERENCE_PORT), "
                    "or DATAGEN_MOCK_INFERENCE_API=true for the built-in mock"
                )
        max_attempts = int(given.pop("max_attempts", settings.inference_max_attempts))
        if settings.retry_inference_on_failure:
            max_attempts = max(max_attempts, 2)
        values: dict[str, Any] = {
            "base_url": base_url,
            "path": settings.inference_path,
            "flavour": settings.inference_flavour,
            "model": settings.inference_model,
            "api_key": settings.inference_api_key,
            "concurrency": settings.inference_concurrency,
            "max_concurrency": settings.inference_max_concurrency,
            "rpm": settings.inference_rpm,
            "timeout_seconds": settings.inference_timeout_seconds,
            "max_attempts": max_attempts,
        }
        values.update(given)
        return cls(**values)


def _resolve_route(flavour: str, base_url: str, path: str | None) -> tuple[Flavour, str]:
    """Pick the wire flavour from the setting, else from the path, else from the base URL."""
    if path:
        path = "/" + path.lstrip("/")
    if flavour == "ratio1":
        return "ratio1", path or RATIO1_PATH
    if flavour == "openai":
        return "openai", path or OPENAI_PATH
    if flavour != "auto":
        raise ConfigError(f"unknown gateway flavour {flavour!r}: use auto, openai or ratio1")
    if path:
        return ("ratio1" if path.rstrip("/").endswith(RATIO1_PATH) else "openai"), path
    if base_url.endswith("/v1"):
        return "openai", OPENAI_PATH
    return "ratio1", RATIO1_PATH  # the seed's gateway: host:port with no version prefix
