"""Settings of accounts: cstore-auth, sessions, sign-in throttling, mail and registration."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from datagems_core.config.sources import env_names as _env

DEV_SESSION_SECRET = "datagems-dev-session-secret"
DEV_AUTH_PEPPER = "datagems-dev-auth-pepper"
DEV_ADMIN_PASSWORD = "admin"


class AccountSettings(BaseModel):
    """Settings of accounts: cstore-auth, sessions, sign-in throttling, mail and registration."""

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
