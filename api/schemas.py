"""Request and response bodies of the auth, account, profile and metrics routes (camelCase on the wire).

String lengths follow the TS seed's zod schemas where it had them; elsewhere they are bounds that
no honest client reaches.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    JsonValue,
    SecretStr,
    StrictBool,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Email = Annotated[EmailStr, StringConstraints(max_length=200)]
Password = Annotated[SecretStr, Field(min_length=1, max_length=1024)]
# The URL guard checks it (scheme, public address) and says what is wrong; the pattern is for
# the document only.
BaseUrl = Annotated[
    str,
    Field(
        max_length=2048,
        json_schema_extra={"pattern": "^https?://", "examples": ["https://api.openai.com/v1"]},
    ),
]


def find_lone_surrogate(value: object) -> str | None:
    """The dotted path of the first string (or key) holding a lone surrogate such as "\\udc00",
    which JSON may spell but UTF-8 cannot store; None if there is none. Iterative: a body nested
    as deep as the JSON parser allows must not exhaust the stack here."""
    pending: list[tuple[object, tuple[str, ...]]] = [(value, ())]
    while pending:
        item, path = pending.pop()
        if isinstance(item, str):
            if not _is_utf8(item):
                return ".".join(path) or "body"
        elif isinstance(item, dict):
            for key, child in item.items():
                where = (*path, str(key))
                if isinstance(key, str) and not _is_utf8(key):
                    return ".".join(path) or "body"
                pending.append((child, where))
        elif isinstance(item, list):
            pending.extend((child, (*path, str(i))) for i, child in enumerate(item))
    return None


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ApiRequest(ApiModel):
    """A request body: its text must be storable, so lone surrogates are refused up front."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_lone_surrogates(cls, data: Any) -> Any:
        where = find_lone_surrogate(data)
        if where is not None:
            raise PydanticCustomError(
                "lone_surrogate",
                "must be valid Unicode text: it holds a lone surrogate code point "
                "(an escape such as \\udc00 without its pair), which cannot be stored",
                {"field": where},
            )
        return data


class LoginRequest(ApiRequest):
    username: Annotated[str, Field(min_length=1, max_length=200)]
    password: Password


class UserPublic(ApiModel):
    username: str
    role: str


class Me(UserPublic):
    auth: Literal["session", "token"]
    iat: int | None = None
    exp: int | None = None


class PasswordChange(ApiRequest):
    current_password: Password
    new_password: Annotated[SecretStr, Field(min_length=8, max_length=1024)]


class FieldProblem(ApiModel):
    """One problem with a request: where it is and what to fix."""

    field: str | None = Field(description="The dotted path of the field, if one is to blame")
    in_: Literal["body", "query", "path", "header", "cookie"] = Field(alias="in")
    problem: str


class ErrorBody(ApiModel):
    """Every error answer: a message for people, and details for programs."""

    error: str
    details: list[FieldProblem] | dict[str, JsonValue] | None = Field(
        None,
        description="The problems of an invalid request (400), else what the error is about, "
        'e.g. `{"field": "totalRecords", "max": 1000}`',
    )
    can_resend: bool | None = Field(
        None, description="Registration only: the credentials mail may be sent again"
    )


class Ok(ApiModel):
    ok: bool = True


class LogoutResult(ApiModel):
    success: bool = True


class TokenCreate(ApiRequest):
    name: Name


class TokenPublic(ApiModel):
    id: str
    name: str
    created_at: str


class TokenCreated(TokenPublic):
    token: str = Field(description="The secret: shown only in this answer")


class TokensPublic(ApiModel):
    tokens: list[TokenPublic]


class RegisterRequest(ApiRequest):
    name: Name
    email: Email
    country: Name


class Registered(ApiModel):
    username: str
    message: str


class ResendRequest(ApiRequest):
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


class AccountDelete(ApiRequest):
    username: Name


class ProfileUpsert(ApiRequest):
    mode: Literal["upsert", "activate"] = "upsert"
    id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    name: Annotated[str, Field(max_length=120)] | None = None
    base_url: BaseUrl | None = None
    api_key: Annotated[SecretStr, Field(max_length=4096)] | None = None
    model: Annotated[str, Field(max_length=200)] | None = None
    path: Annotated[str, Field(max_length=200)] | None = None
    set_active: StrictBool = False
    # USD per million tokens; give both (null clears both): jobs on this profile show a cost
    input_price_per_mtok: float | None = Field(
        None, ge=0, le=10_000, allow_inf_nan=False, alias="inputPricePerMTok"
    )
    output_price_per_mtok: float | None = Field(
        None, ge=0, le=10_000, allow_inf_nan=False, alias="outputPricePerMTok"
    )


class ProfileDelete(ApiRequest):
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


class ModelsRequest(ApiRequest):
    profile_id: Annotated[str, Field(max_length=64)] | None = None
    base_url: BaseUrl | None = None
    api_key: Annotated[SecretStr, Field(max_length=4096)] | None = None


class ModelsPublic(ApiModel):
    models: list[JsonValue] = Field(description="The gateway's model list, as it sent it")


class MetricsValues(ApiModel):
    total_jobs: int
    total_records_requested: int
    total_records_generated: int
    active_jobs: int
    failed_jobs: int
    last_job_at: str | None
    records_failed: int
    tokens_used: int
    shard_takeovers: int = Field(
        0, description="Shard runs taken over from a worker that stopped renewing its lease"
    )


class MetricsPublic(ApiModel):
    metrics: MetricsValues


class Health(BaseModel):
    ok: bool
    version: str
    timestamp: str
    serving_node: str | None
