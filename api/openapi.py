"""/openapi.json as the API behaves: its error answers, its limits from the settings.

FastAPI documents a 422 that this API never sends (api/errors.py answers 400) and knows nothing
of the errors raised by the core. Here each operation gets the answers it really gives: 400 when
it takes parameters or a body, 413 with a body, 401 when it needs a session or a token, 403 for
a cookie-authenticated change without the CSRF header; routes declare the rest with `errors()`.
Ceilings that come from the settings (records per job, inference concurrency) are written into
the request schemas, so a client generated from the document sends what is accepted.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.schemas import ErrorBody
from datagems_core.config.settings import Settings

ERROR_REF: Final = "#/components/schemas/ErrorBody"
DESCRIPTIONS: Final[dict[int, str]] = {
    400: "Invalid request: `details` names each field and what to fix",
    401: "No valid session cookie or API token",
    403: "Not allowed: admins only, or a cookie-authenticated change without "
    "`X-Requested-With` (CSRF)",
    404: "Not found, or not yours",
    409: "Not possible in the current state (`error` says why)",
    413: "The request body is larger than the server accepts",
    429: "Too many attempts: try again after `Retry-After` seconds",
    502: "The model gateway or the mail server failed",
    503: "A service DataGems needs (store, Prefect) cannot be reached",
}
RETRY_AFTER: Final = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}
_SAFE_METHODS: Final = frozenset({"get", "head", "options"})
# Where a created resource's id is used next (OpenAPI links: generated clients and fuzzers follow
# them): (method, path, status) of the creating operation, the id in its answer, the parameter.
LINKS: Final = (
    ("post", "/api/jobs", "201", "$response.body#/job/id", "job_id"),
    ("post", "/api/schedules", "201", "$response.body#/schedule/id", "schedule_id"),
    ("post", "/api/auth/tokens", "201", "$response.body#/id", "token_id"),
)


def operation_id(route: APIRoute) -> str:
    """The handler's name (`create_job`), which generated clients use for their methods."""
    return route.name.removesuffix("_route")


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route for the errors it raises itself, e.g. `errors(404, 409)`."""
    return {status: _error_response(status) for status in statuses}


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": DESCRIPTIONS[status], "model": ErrorBody}
    if status == 429:
        response["headers"] = RETRY_AFTER
    return response


def _documented_error(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }
    if status == 429:
        response["headers"] = RETRY_AFTER
    return response


def refine_document(document: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """`document` (FastAPI's) with the real error answers and the settings' limits."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for name, schema in _error_schemas().items():
        schemas.setdefault(name, schema)
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            _refine_operation(method, operation)
    _add_links(document.get("paths", {}))
    _set_maximum(schemas, "JobCreate", "totalRecords", settings.max_records_per_job)
    _set_maximum(schemas, "ScheduleCreate", "totalRecords", settings.max_records_per_job)
    _set_maximum(schemas, "SchedulePatch", "totalRecords", settings.max_records_per_job)
    _set_maximum(schemas, "InferenceRequest", "concurrency", settings.inference_max_concurrency)
    return document


def _error_schemas() -> dict[str, Any]:
    schema = ErrorBody.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    defs: dict[str, Any] = schema.pop("$defs", {})
    return {"ErrorBody": schema, **defs}


def _refine_operation(method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    added: list[int] = []
    checked = [p for p in operation.get("parameters", []) if p.get("in") != "path"]
    if checked or "requestBody" in operation:  # path parameters are plain strings
        added.append(400)
    if "requestBody" in operation:
        added.append(413)
    if operation.get("security"):
        added.append(401)
        if method not in _SAFE_METHODS:
            added.append(403)
    for code in added:
        responses.setdefault(str(code), _documented_error(code))
    for status, response in responses.items():
        if status[0] in "45":  # errors are JSON even where the success is a file or text
            response["content"] = _documented_error(int(status))["content"]
    operation["responses"] = dict(sorted(responses.items()))


def _add_links(paths: dict[str, Any]) -> None:
    for method, path, status, value, parameter in LINKS:
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        links = response.setdefault("links", {})
        for target_path, operations in paths.items():
            if "{" + parameter + "}" not in target_path:
                continue
            for operation in operations.values():
                name = operation["operationId"]
                links[name] = {"operationId": name, "parameters": {parameter: value}}


def _set_maximum(schemas: dict[str, Any], model: str, field: str, maximum: int) -> None:
    """Set `maximum` on the integer form of `model.field` (plain or inside an anyOf)."""
    prop = schemas.get(model, {}).get("properties", {}).get(field)
    if prop is None:
        return
    for form in [prop, *prop.get("anyOf", [])]:
        if form.get("type") == "integer":
            form["maximum"] = maximum


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Make `app.openapi()` (and so /openapi.json and /docs) serve the refined document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = refine_document(build(), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
