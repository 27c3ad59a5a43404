"""Every error the API answers, in one shape: `{"error": "...", "details": ...}`.

Domain errors map to a status by their base class (the table below is the only place that knows
the mapping); unknown routes (404), wrong methods (405), validation errors (400, with the field and
what to fix) and oversized bodies (413) use the same shape. Unexpected exceptions are logged with
their traceback and answered with a bare 500. No handler echoes request input, so a password or an
API key sent in a bad request never comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datagems_core.errors import (
    BadRequest,
    ConfigError,
    Conflict,
    DatagemsError,
    FileStoreError,
    Forbidden,
    InferenceError,
    MailError,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    StoreError,
    Unauthorized,
)

log = logging.getLogger(__name__)

# First match wins: a class that is two things (FileMissing is a NotFound and a FileStoreError)
# gets the status of the one listed first.
STATUS_BY_ERROR: Final[tuple[tuple[type[DatagemsError], int], ...]] = (
    (BadRequest, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (RateLimited, 429),
    (MailError, 502),
    (InferenceError, 502),
    (ServiceUnavailable, 503),
    (StoreError, 503),
    (FileStoreError, 503),
    (ConfigError, 500),
)
# Keys of `details` the TS seed's clients read at the top level of the body.
SEED_TOP_LEVEL_KEYS: Final = ("canResend",)


def status_for(exc: DatagemsError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(
    status: int, message: str, details: Any = None, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"error": message, "details": details}
    if isinstance(details, dict):
        body.update({k: details[k] for k in SEED_TOP_LEVEL_KEYS if k in details})
    return JSONResponse(body, status_code=status, headers=headers)


async def _on_datagems_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DatagemsError)
    status = status_for(exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    if status >= 500:
        log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return error_response(status, exc.message, exc.details, headers=headers)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    del request
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    del request
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        where = loc[0] if loc else "body"
        # A JSON syntax error's location is a character position in the body, not a field.
        is_syntax = error.get("type") == "json_invalid"
        inner = (error.get("ctx") or {}).get("field")  # a model-level check names its field
        path = [] if is_syntax else loc[1:] + ([str(inner)] if inner else [])
        field = ".".join(path) if path else None
        problems.append({"field": field, "in": where, "problem": _explain(error)})
    checks = "; ".join(f"{p['field'] or p['in']} ({p['problem']})" for p in problems)
    return error_response(400, f"Invalid request: check {checks}", problems)


def _explain(error: dict[str, Any]) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind == "json_invalid":
        loc = error.get("loc") or ()
        position = loc[-1] if loc and isinstance(loc[-1], int) else None
        reason = str(ctx.get("error") or "").strip()
        # pydantic counts from 0; people (and editors) count characters from 1.
        at = f" at character {position + 1}" if position is not None else ""
        return f"the body is not valid JSON{at}" + (f": {reason}" if reason else "")
    if kind == "dict_type":
        return "must be a JSON object ({...})"
    if kind in ("string_too_short", "too_short") and "min_length" in ctx:
        return f"must be at least {_characters(ctx['min_length'])} long"
    if kind in ("string_too_long", "too_long") and "max_length" in ctx:
        return f"must be at most {_characters(ctx['max_length'])} long"
    if kind == "greater_than_equal" and "ge" in ctx:
        return f"must be at least {ctx['ge']}"
    if kind == "less_than_equal" and "le" in ctx:
        return f"must be at most {ctx['le']}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number (not true/false, a decimal or text)"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    message = str(error.get("msg", "invalid value"))
    # pydantic prefixes a validator's own message with its kind; the reader needs only the message.
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _characters(count: Any) -> str:
    return f"{count} character" if count == 1 else f"{count} characters"


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s crashed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "Internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DatagemsError, _on_datagems_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body larger than {limit} bytes")


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with 413: at once by Content-Length, or as soon as a
    streamed body passes the limit (the route's body read raises BodyTooLarge)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            response = error_response(413, BodyTooLarge(self.max_bytes).detail)
            await response(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
