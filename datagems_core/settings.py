"""All of DataGems' settings, read once from the environment (and `.env`).

The seed's names (`DATAGEN_*`, `EE_*`, `R1EN_*`, `LOG_INFERENCE_REQUESTS`, ...) work as they did,
with their fallbacks and `$VAR` expansion; settings of our own take a `DATAGEMS_` name. A
misspelt `DATAGEMS_*` or `DATAGEN_*` name (with the closest known name) or a malformed value
stops start-up with the variable's name.
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from datagems_core.environment import expand, expand_all, read_environment
from datagems_core.errors import ConfigError

DEV_SESSION_SECRET = "datagems-dev-session-secret"
DEV_AUTH_PEPPER = "datagems-dev-auth-pepper"
DEV_ADMIN_PASSWORD = "admin"


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class _ExpandedEnvironment(PydanticBaseSettingsSource):
    """`.env` plus os.environ with `$VAR` references expanded; empty values count as unset."""

    def __init__(self, settings_cls: type[BaseSettings], env_file: str | Path | None) -> None:
        super().__init__(settings_cls)
        self.env = expand_all(read_environment(env_file))

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        del field  # __call__ does the work
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        known = _alias_names(self.settings_cls)
        unknown = sorted(n for n in self.env if n.startswith(_OWN_PREFIXES) and n not in known)
        if unknown:
            raise ConfigError(_unknown_setting(unknown[0], known))
        return {name: value for name, value in self.env.items() if name in known}


# Every name under these prefixes is ours, so one we do not know is a typo, not someone else's.
_OWN_PREFIXES = ("DATAGEMS_", "DATAGEN_")


def _unknown_setting(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
    hint = f"did you mean {close[0]}?" if close else "check the spelling"
    return f"unknown setting {name}: {hint} (the README lists every setting)"


def _alias_names(cls: type[BaseSettings]) -> set[str]:
    names: set[str] = set()
    for info in cls.model_fields.values():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias)
    return names


def parse_peer_list(raw: str | list[str] | None) -> list[str]:
    """Peers as the seed reads them: a JSON array string or a comma-separated list."""
    if raw is None:
        return []
    if isinstance(raw, list):
        return [str(p).strip() for p in raw if str(p).strip()]
    text = raw.strip().strip("'").strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return [str(p).strip() for p in parsed if str(p).strip()]
    return [p.strip().strip('"') for p in text.strip("[]").split(",") if p.strip().strip('"')]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, validate_default=True)

    # Where DataGems runs
    env: Literal["development", "production"] = Field(
        "development", validation_alias="DATAGEMS_ENV"
    )
    data_dir: Path = Field(Path(".datagems"), validation_alias="DATAGEMS_DATA_DIR")
    debug_raw: str = Field("", validation_alias="DATAGEN_DEBUG")

    # Ratio1 CStore (state). Host/port win over the URL, as in the seed.
    cstore_url: str | None = Field(
        None,
        validation_alias=_env("EE_CHAINSTORE_API_URL", "R1EN_CHAINSTORE_API_URL", "CSTORE_API_URL"),
    )
    cstore_host: str | None = Field(
        None, validation_alias=_env("EE_CHAINSTORE_API_HOST", "CSTORE_API_HOST")
    )
    cstore_port: int | None = Field(
        None, validation_alias=_env("EE_CHAINSTORE_API_PORT", "CSTORE_API_PORT")
    )
    chainstore_peers: list[str] = Field(
        default_factory=list, validation_alias=_env("R1EN_CHAINSTORE_PEERS", "EE_CHAINSTORE_PEERS")
    )
    cstore_timeout_seconds: float = Field(
        35.0, gt=0, validation_alias="DATAGEMS_CSTORE_TIMEOUT_SECONDS"
    )
    # Reads queue behind a write the node blocks on, so by default they get the write timeout.
    cstore_read_timeout_seconds: float | None = Field(
        None, gt=0, validation_alias="DATAGEMS_CSTORE_READ_TIMEOUT_SECONDS"
    )
    cstore_retries: int = Field(3, ge=0, validation_alias="DATAGEMS_CSTORE_RETRIES")
    cstore_accept_unconfirmed: bool = Field(
        False, validation_alias="DATAGEMS_CSTORE_ACCEPT_UNCONFIRMED"
    )
    mock_cstore: bool = Field(False, validation_alias="DATAGEN_MOCK_CSTORE")
    # Set by `datagems up` so its processes share one throwaway mock store (a file it deletes).
    mock_store_file: Path | None = Field(None, validation_alias="DATAGEMS_MOCK_STORE_FILE")

    # PostgreSQL (state and, without R1FS, files) for several machines without Ratio1.
    database_url: SecretStr | None = Field(None, validation_alias="DATAGEMS_DATABASE_URL")
    database_pool_size: int = Field(10, ge=1, validation_alias="DATAGEMS_DATABASE_POOL_SIZE")
    database_retries: int = Field(5, ge=0, validation_alias="DATAGEMS_DATABASE_RETRIES")
    # A running shard's lease (SQLite, PostgreSQL): renewed every third of it while it works.
    shard_lease_seconds: float = Field(30.0, ge=2, validation_alias="DATAGEMS_SHARD_LEASE_SECONDS")

    # Ratio1 R1FS (files)
    r1fs_url: str | None = Field(
        None, validation_alias=_env("EE_R1FS_API_URL", "R1EN_R1FS_API_URL", "R1FS_API_URL")
    )
    r1fs_host: str | None = Field(None, validation_alias=_env("EE_R1FS_API_HOST", "R1FS_API_HOST"))
    r1fs_port: int | None = Field(None, validation_alias=_env("EE_R1FS_API_PORT", "R1FS_API_PORT"))
    log_r1fs_calls: bool = Field(False, validation_alias="DATAGEN_LOG_R1FS_CALLS")
    r1fs_timeout_seconds: float = Field(
        120.0, gt=0, validation_alias="DATAGEMS_R1FS_TIMEOUT_SECONDS"
    )
    r1fs_retries: int = Field(3, ge=0, validation_alias="DATAGEMS_R1FS_RETRIES")

    # This node
    host_ip: str | None = Field(None, validation_alias=_env("R1EN_HOST_IP", "EE_HOST_IP"))
    host_addr: str | None = Field(None, validation_alias=_env("R1EN_HOST_ADDR", "EE_HOST_ADDR"))
    host_id: str | None = Field(None, validation_alias=_env("R1EN_HOST_ID", "EE_HOST_ID"))

    # cstore-auth and sessions
    auth_hkey: str = Field(
        "datagems:auth", validation_alias=_env("R1EN_CSTORE_AUTH_HKEY", "EE_CSTORE_AUTH_HKEY")
    )
    auth_pepper: SecretStr = Field(
        SecretStr(DEV_AUTH_PEPPER),
        validation_alias=_env("R1EN_CSTORE_AUTH_SECRET", "EE_CSTORE_AUTH_SECRET"),
    )
    bootstrap_admin_password: SecretStr = Field(
        SecretStr(DEV_ADMIN_PASSWORD),
        validation_alias=_env(
            "R1EN_CSTORE_AUTH_BOOTSTRAP_ADMIN_PWD",
            "EE_CSTORE_AUTH_BOOTSTRAP_ADMIN_PWD",
            "EE_CSTORE_AUTH_BOOTSTRAP_ADMIN_PW",
        ),
    )
    session_secret: SecretStr = Field(
        SecretStr(DEV_SESSION_SECRET), validation_alias="DATAGEN_SESSION_SECRET"
    )
    session_ttl_seconds: int = Field(
        7 * 24 * 3600, gt=0, validation_alias="DATAGEMS_SESSION_TTL_SECONDS"
    )
    login_max_failures: int = Field(5, ge=1, validation_alias="DATAGEMS_LOGIN_MAX_FAILURES")
    login_window_seconds: int = Field(900, ge=1, validation_alias="DATAGEMS_LOGIN_WINDOW_SECONDS")
    login_max_failures_per_address: int = Field(
        20, ge=1, validation_alias="DATAGEMS_LOGIN_MAX_FAILURES_PER_ADDRESS"
    )
    login_user_delay_max_seconds: int = Field(
        30, ge=1, validation_alias="DATAGEMS_LOGIN_USER_DELAY_MAX_SECONDS"
    )
    trust_proxy_headers: bool = Field(False, validation_alias="DATAGEMS_TRUST_PROXY_HEADERS")
    # Addresses or networks of the reverse proxies whose X-Forwarded-For counts (with
    # DATAGEMS_TRUST_PROXY_HEADERS=true); empty = loopback only.
    trusted_proxies: list[str] = Field(
        default_factory=list, validation_alias="DATAGEMS_TRUSTED_PROXIES"
    )
    max_api_tokens: int = Field(50, ge=1, validation_alias="DATAGEMS_MAX_API_TOKENS")
    max_body_bytes: int = Field(1_048_576, ge=1024, validation_alias="DATAGEMS_MAX_BODY_BYTES")

    # The API and the Prefect server it drives
    app_host_raw: str = Field("$R1EN_HOST_IP", validation_alias="DATAGEN_APP_HOST")
    app_port: int = Field(3000, ge=1, le=65535, validation_alias="DATAGEN_APP_PORT")
    app_url_raw: str | None = Field(None, validation_alias="DATAGEN_APP_URL")
    prefect_host: str = Field("127.0.0.1", validation_alias="DATAGEMS_PREFECT_HOST")
    prefect_port: int = Field(4200, ge=1, le=65535, validation_alias="DATAGEMS_PREFECT_PORT")
    prefect_api_url_raw: str | None = Field(None, validation_alias="PREFECT_API_URL")
    work_pool: str = Field("datagems", validation_alias="DATAGEMS_WORK_POOL")
    # Where prefect.yaml and flows/ are; workers run flows from here (prefect.yaml's pull step).
    project_dir: Path | None = Field(None, validation_alias="DATAGEMS_PROJECT_DIR")
    disable_worker: bool = Field(False, validation_alias="DATAGEN_DISABLE_WORKER")
    job_poll_seconds: float = Field(5, gt=0, validation_alias="DATAGEN_JOB_POLL_SECONDS")
    max_concurrent_jobs: int = Field(
        1, ge=1, validation_alias="DATAGEN_MAX_CONCURRENT_JOBS_PER_INSTANCE"
    )
    # A job whose flow-run process dies (kill -9, out of memory) resumes from its checkpoint in
    # a new run this many times, then fails with the reason.
    job_max_resumes: int = Field(3, ge=0, validation_alias="DATAGEMS_JOB_MAX_RESUMES")
    local_cache_dir_raw: Path | None = Field(None, validation_alias="DATAGEN_LOCAL_CACHE_DIR")
    active_poll_seconds: int = Field(10, ge=1, validation_alias="DATAGEN_ACTIVE_POLL_SECONDS")
    idle_poll_seconds: int = Field(30, ge=1, validation_alias="DATAGEN_IDLE_POLL_SECONDS")
    show_failures: bool = Field(True, validation_alias="NEXT_PUBLIC_SHOW_FAILURES")
    ui_test_preset: str | None = Field(None, validation_alias="NEXT_PUBLIC_DATAGEN_UI_TEST_PRESET")

    # Inference gateway. Host/port win over the base URL, as in the seed.
    inference_host_raw: str = Field("$R1EN_HOST_IP", validation_alias="DATAGEN_INFERENCE_HOST")
    inference_port_raw: str = Field("$API_PORT", validation_alias="DATAGEN_INFERENCE_PORT")
    inference_base_url_raw: str | None = Field(None, validation_alias="DATAGEN_INFERENCE_BASE_URL")
    inference_flavour: Literal["auto", "openai", "ratio1"] = Field(
        "auto", validation_alias="DATAGEMS_INFERENCE_FLAVOUR"
    )
    inference_path: str | None = Field(None, validation_alias="DATAGEMS_INFERENCE_PATH")
    inference_model: str | None = Field(None, validation_alias="DATAGEMS_INFERENCE_MODEL")
    inference_api_key: SecretStr | None = Field(None, validation_alias="DATAGEMS_INFERENCE_API_KEY")
    mock_inference: bool = Field(False, validation_alias="DATAGEN_MOCK_INFERENCE_API")
    log_inference_requests: bool = Field(False, validation_alias="LOG_INFERENCE_REQUESTS")
    retry_inference_on_failure: bool = Field(False, validation_alias="RETRY_INFERENCE_ON_FAILURE")
    inference_max_attempts: int = Field(5, ge=1, validation_alias="DATAGEMS_INFERENCE_MAX_ATTEMPTS")
    inference_timeout_seconds: float = Field(
        120.0, gt=0, validation_alias="DATAGEMS_INFERENCE_TIMEOUT_SECONDS"
    )
    inference_concurrency: int = Field(16, ge=1, validation_alias="DATAGEMS_INFERENCE_CONCURRENCY")
    inference_max_concurrency: int = Field(
        256, ge=1, validation_alias="DATAGEMS_INFERENCE_MAX_CONCURRENCY"
    )
    inference_rpm: int | None = Field(None, ge=1, validation_alias="DATAGEMS_INFERENCE_RPM")
    mock_latency_ms: float = Field(0.0, ge=0, validation_alias="DATAGEMS_MOCK_LATENCY_MS")
    # Structured output: "auto" negotiates per gateway and model; a form name forces that form.
    structured_output: Literal[
        "auto", "json_schema", "json_object_schema", "json_object", "prompt"
    ] = Field("auto", validation_alias="DATAGEMS_STRUCTURED_OUTPUT")
    inference_input_price_per_mtok: float | None = Field(
        None, ge=0, le=10_000, validation_alias="DATAGEMS_INFERENCE_INPUT_PRICE_PER_MTOK"
    )
    inference_output_price_per_mtok: float | None = Field(
        None, ge=0, le=10_000, validation_alias="DATAGEMS_INFERENCE_OUTPUT_PRICE_PER_MTOK"
    )

    estimate_sample: int = Field(5, ge=1, le=100, validation_alias="DATAGEMS_ESTIMATE_SAMPLE")

    # Monthly quotas per user (admins set each user's own; these are the defaults, unset = none)
    quota_monthly_tokens: int | None = Field(
        None, ge=0, validation_alias="DATAGEMS_QUOTA_MONTHLY_TOKENS"
    )
    quota_monthly_cost_usd: float | None = Field(
        None, ge=0, validation_alias="DATAGEMS_QUOTA_MONTHLY_COST_USD"
    )
    quota_monthly_records: int | None = Field(
        None, ge=0, validation_alias="DATAGEMS_QUOTA_MONTHLY_RECORDS"
    )

    # Jobs
    update_every_k: int = Field(50, ge=1, validation_alias="DATAGEN_UPDATE_EVERY_K_REQUESTS")
    record_tasks_max: int = Field(1000, ge=0, validation_alias="DATAGEMS_RECORD_TASKS_MAX")
    max_candidates_factor: float = Field(
        2.0, ge=1.0, le=100.0, validation_alias="DATAGEMS_MAX_CANDIDATES_FACTOR"
    )
    systemic_failure_limit: int = Field(8, ge=1, validation_alias="DATAGEMS_SYSTEMIC_FAILURE_LIMIT")
    max_records_per_job: int = Field(100_000, ge=1, validation_alias="DATAGEN_MAX_RECORDS_PER_JOB")
    max_reply_bytes: int = Field(4_194_304, ge=1024, validation_alias="DATAGEMS_MAX_REPLY_BYTES")
    max_record_bytes: int = Field(1_048_576, ge=256, validation_alias="DATAGEMS_MAX_RECORD_BYTES")
    max_string_length: int = Field(65_536, ge=16, validation_alias="DATAGEMS_MAX_STRING_LENGTH")
    max_records_page_bytes: int = Field(
        8_388_608, ge=1024, validation_alias="DATAGEMS_MAX_RECORDS_PAGE_BYTES"
    )
    max_external_api_configs: int = Field(
        10, ge=1, validation_alias="DATAGEN_MAX_EXTERNAL_API_CONFIGS"
    )
    allowed_inference_hosts: list[str] = Field(
        default_factory=list, validation_alias="DATAGEMS_ALLOWED_INFERENCE_HOSTS"
    )

    # Mail and registration
    smtp_host: str = Field("smtp.resend.com", validation_alias="DATAGEN_SMTP_HOST")
    smtp_port: int = Field(465, ge=1, le=65535, validation_alias="DATAGEN_SMTP_PORT")
    smtp_user: str = Field("resend", validation_alias="DATAGEN_SMTP_USER")
    smtp_password: SecretStr = Field(SecretStr(""), validation_alias="DATAGEN_SMTP_PASS")
    smtp_from: str = Field("no-reply@datagems.app", validation_alias="DATAGEN_SMTP_FROM")
    smtp_security: Literal["auto", "tls", "starttls", "none"] = Field(
        "auto", validation_alias="DATAGEMS_SMTP_SECURITY"
    )
    smtp_ca_file: Path | None = Field(None, validation_alias="DATAGEMS_SMTP_CA_FILE")
    register_window_seconds: int = Field(
        900, ge=1, validation_alias="DATAGEN_REGISTER_RATE_WINDOW_SECONDS"
    )
    register_max_per_ip: int = Field(10, ge=1, validation_alias="DATAGEN_REGISTER_MAX_PER_IP")
    register_max_per_email: int = Field(3, ge=1, validation_alias="DATAGEN_REGISTER_MAX_PER_EMAIL")
    resend_window_seconds: int = Field(
        900, ge=1, validation_alias="DATAGEN_REGISTER_RESEND_WINDOW_SECONDS"
    )
    resend_max_per_ip: int = Field(5, ge=1, validation_alias="DATAGEN_REGISTER_RESEND_MAX_PER_IP")
    resend_max_per_email: int = Field(
        2, ge=1, validation_alias="DATAGEN_REGISTER_RESEND_MAX_PER_EMAIL"
    )
    register_failure_ttl_raw: int = Field(
        86400, validation_alias="DATAGEN_REGISTER_FAILURE_TTL_SECONDS"
    )

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
            return init_settings, _ExpandedEnvironment(settings_cls, env_file)

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
