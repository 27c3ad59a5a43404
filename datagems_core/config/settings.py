"""All of DataGems' settings, read once from the environment (and `.env`).

Fields are declared by domain (storage_settings, account_settings, service_settings,
work_settings); this class joins them, reads them through settings_sources and checks them.
The seed's names (`DATAGEN_*`, `EE_*`, `R1EN_*`, `LOG_INFERENCE_REQUESTS`, ...) work as they did,
with their fallbacks and `$VAR` expansion; settings of our own take a `DATAGEMS_` name. A
misspelt `DATAGEMS_*` or `DATAGEN_*` name (with the closest known name) or a malformed value
stops start-up with the variable's name.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import (
    AliasChoices,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from datagems_core.config.accounts import (
    DEV_ADMIN_PASSWORD,
    DEV_AUTH_PEPPER,
    DEV_SESSION_SECRET,
    AccountSettings,
)
from datagems_core.config.environment import expand, read_environment
from datagems_core.config.service import ServiceSettings
from datagems_core.config.sources import ExpandedEnvironment, parse_peer_list
from datagems_core.config.storage import StorageSettings
from datagems_core.config.work import WorkSettings
from datagems_core.errors import ConfigError


class Settings(StorageSettings, AccountSettings, ServiceSettings, WorkSettings, BaseSettings):
    """Every setting, grouped by what it is about in the classes it is made of."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, validate_default=True)

    _app_host: str = PrivateAttr("")
    _inference_host: str = PrivateAttr("")
    _inference_port: str = PrivateAttr("")

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Fixed once, where the settings are read, so messages and child processes name the real
        # directory whatever their own working directory is.
        return value.expanduser().absolute()

    @field_validator(
        "chainstore_peers", "allowed_inference_hosts", "trusted_proxies", mode="before"
    )
    @classmethod
    def _parse_list(cls, value: Any) -> list[str]:
        return parse_peer_list(value)

    @model_validator(mode="after")
    def _expand_defaults(self) -> Settings:
        # Set values arrive expanded; a `$VAR` default that no variable overrode is expanded here.
        env = read_environment()
        self._app_host = expand(self.app_host_raw, env).strip()
        self._inference_host = expand(self.inference_host_raw, env).strip()
        self._inference_port = expand(self.inference_port_raw, env).strip()
        return self

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        url = value.get_secret_value() if value is not None else ""
        if url and not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("must look like postgresql://user:password@host:5432/dbname")
        return value

    @model_validator(mode="after")
    def _enforce_production_secrets(self) -> Settings:
        if self.env != "production":
            return self
        built_in = {
            "DATAGEN_SESSION_SECRET": (self.session_secret, DEV_SESSION_SECRET),
            "R1EN_CSTORE_AUTH_SECRET": (self.auth_pepper, DEV_AUTH_PEPPER),
            "R1EN_CSTORE_AUTH_BOOTSTRAP_ADMIN_PWD": (
                self.bootstrap_admin_password,
                DEV_ADMIN_PASSWORD,
            ),
        }
        for name, (secret, default) in built_in.items():
            if secret.get_secret_value() in ("", default):
                raise ValueError(
                    f"{name} is missing or the built-in development value; set a real secret for production"
                )
        if len(self.session_secret.get_secret_value()) < 16:
            raise ValueError("DATAGEN_SESSION_SECRET must be at least 16 characters in production")
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def debug(self) -> bool:
        return self.debug_raw == "true"  # the seed requires exactly "true" here

    @property
    def cstore_api_url(self) -> str | None:
        """CStore's base URL, or None for the embedded store."""
        if self.cstore_host:
            return _with_scheme(f"{self.cstore_host}:{self.cstore_port or 31234}")
        return _with_scheme(self.cstore_url) if self.cstore_url else None

    @property
    def r1fs_api_url(self) -> str | None:
        """R1FS' base URL, or None for the local file store."""
        if self.r1fs_host:
            return _with_scheme(f"{self.r1fs_host}:{self.r1fs_port or 31235}")
        return _with_scheme(self.r1fs_url) if self.r1fs_url else None

    @property
    def app_host(self) -> str:
        return self._app_host or "127.0.0.1"

    @property
    def app_url(self) -> str:
        return self.app_url_raw or f"http://{self.app_host}:{self.app_port}"

    @property
    def prefect_api_url(self) -> str:
        return self.prefect_api_url_raw or f"http://{self.prefect_host}:{self.prefect_port}/api"

    @property
    def prefect_ui_url(self) -> str:
        return self.prefect_api_url.removesuffix("/api")

    @property
    def inference_url(self) -> str | None:
        """The internal gateway's base URL: host:port when both are known, else the base URL."""
        if self._inference_host and self._inference_port:
            return f"http://{self._inference_host}:{self._inference_port}"
        return self.inference_base_url_raw or None

    @property
    def use_mock_inference(self) -> bool:
        return self.mock_inference or (self.inference_url is None and not self.is_production)

    @property
    def local_cache_dir(self) -> Path:
        return self.local_cache_dir_raw or self.data_dir / "cache"

    @property
    def register_failure_ttl_seconds(self) -> int:
        ttl = self.register_failure_ttl_raw
        return ttl if ttl >= 60 else 86400  # the seed falls back below a minute


def _with_scheme(url: str) -> str:
    url = url.rstrip("/")
    return url if "://" in url else f"http://{url}"


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Build Settings, turning a validation failure into a ConfigError that names the variable."""

    class _Loaded(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            del env_settings, dotenv_settings, file_secret_settings  # replaced by ours
            return init_settings, ExpandedEnvironment(settings_cls, env_file)

    try:
        return _Loaded(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        loc = error.get("loc") or ()
        field = str(loc[0]) if loc else ""
        names = _names_of(field)
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{names or field or 'settings'}: {message}")
    return "invalid settings: " + "; ".join(problems)


def _names_of(field: str) -> str:
    info = Settings.model_fields.get(field)
    if info is None:
        return field
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(alias) if alias else field


@lru_cache
def get_settings() -> Settings:
    """The process' settings, read once. Tests call `get_settings.cache_clear()` after changing env."""
    return load_settings()
