"""Request and response bodies of the auth, account, profile and metrics routes (camelCase on the wire).

String lengths follow the TS seed's zod schemas where it had them; elsewhere they are bounds that
no honest client reaches.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, SecretStr, StringConstraints
from pydantic.alias_generators import to_camel

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Email = Annotated[EmailStr, StringConstraints(max_length=200)]
Password = Annotated[SecretStr, Field(min_length=1, max_length=1024)]


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class LoginRequest(ApiModel):
    username: Annotated[str, Field(min_length=1, max_length=200)]
    password: Password


class UserPublic(ApiModel):
    username: str
    role: str


class Me(UserPublic):
    auth: Literal["session", "token"]
    iat: int | None = None
    exp: int | None = None


class PasswordChange(ApiModel):
    current_password: Password
    new_password: Annotated[SecretStr, Field(min_length=8, max_length=1024)]


class Ok(ApiModel):
    ok: bool = True


class LogoutResult(ApiModel):
    success: bool = True


class TokenCreate(ApiModel):
    name: Name


class TokenPublic(ApiModel):
    id: str
    name: str
    created_at: str


class TokenCreated(TokenPublic):
    token: str = Field(description="The secret: shown only in this answer")


class TokensPublic(ApiModel):
    tokens: list[TokenPublic]


class RegisterRequest(ApiModel):
    name: Name
    email: Email
    country: Name


class Registered(ApiModel):
    username: str
    message: str


class ResendRequest(ApiModel):
    email: Email


class Message(ApiModel):
    message: str


class AccountPublic(ApiModel):
    username: str
    role: str
    email: str | None
    country: str | None
    created_at: str


class AccountsPublic(ApiModel):
    accounts: list[AccountPublic]


class AccountDelete(ApiModel):
    username: Name


class ProfileUpsert(ApiModel):
    mode: Literal["upsert", "activate"] = "upsert"
    id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    name: Annotated[str, Field(max_length=120)] | None = None
    base_url: Annotated[str, Field(max_length=2048)] | None = None
    api_key: Annotated[SecretStr, Field(max_length=4096)] | None = None
    model: Annotated[str, Field(max_length=200)] | None = None
    path: Annotated[str, Field(max_length=200)] | None = None
    set_active: bool = False
    # USD per million tokens; give both (null clears both): jobs on this profile show a cost
    input_price_per_mtok: float | None = Field(
        None, ge=0, le=10_000, allow_inf_nan=False, alias="inputPricePerMTok"
    )
    output_price_per_mtok: float | None = Field(
        None, ge=0, le=10_000, allow_inf_nan=False, alias="outputPricePerMTok"
    )


class ProfileDelete(ApiModel):
    id: Annotated[str, Field(min_length=1, max_length=64)]


class ProfilePublic(ApiModel):
    id: str
    name: str | None
    base_url: str | None
    model: str | None
    path: str | None
    has_api_key: bool
    created_at: str | None
    updated_at: str | None
    input_price_per_mtok: float | None = Field(None, alias="inputPricePerMTok")
    output_price_per_mtok: float | None = Field(None, alias="outputPricePerMTok")


class SettingsPublic(ApiModel):
    active_profile_id: str | None
    max_profiles: int
    profiles: list[ProfilePublic]
    active_profile: ProfilePublic | None
    base_url: str | None
    model: str | None
    path: str | None
    has_api_key: bool


class ModelsRequest(ApiModel):
    profile_id: Annotated[str, Field(max_length=64)] | None = None
    base_url: Annotated[str, Field(max_length=2048)] | None = None
    api_key: Annotated[SecretStr, Field(max_length=4096)] | None = None


class ModelsPublic(ApiModel):
    models: list[Any]


class MetricsValues(ApiModel):
    total_jobs: int
    total_records_requested: int
    total_records_generated: int
    active_jobs: int
    failed_jobs: int
    last_job_at: str | None
    records_failed: int
    tokens_used: int


class MetricsPublic(ApiModel):
    metrics: MetricsValues


class Health(BaseModel):
    ok: bool
    version: str
    timestamp: str
    serving_node: str | None
