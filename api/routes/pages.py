"""The web pages: static HTML shells under api/web/ that fill themselves from the JSON API.

A shell holds no data, so the page routes need no credentials and stay out of the OpenAPI
schema; a page that needs a signed-in user redirects to /login when the session cookie is
missing or no longer valid, and /admin sends non-admins to /. Each shell's script reads the API
with the browser's session cookie and sends `X-Requested-With: datagems-web` on writes (the CSRF
check in api/csrf.py accepts it).
"""

from __future__ import annotations

import json
import logging
import os
from os import PathLike
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from api.deps import KVStoreDep, SettingsDep
from datagems_core.accounts.sessions import SESSION_COOKIE, read_session
from datagems_core.config.settings import Settings
from datagems_core.errors import DatagemsError, Unauthorized
from datagems_core.health import version
from datagems_core.store.base import KVStore

log = logging.getLogger(__name__)

WEB_DIR: Final = Path(__file__).resolve().parent.parent / "web"
# Scripts, styles and connections only from this origin; no inline script, no framing.
PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

Visitor = Literal["anonymous", "member", "admin", "unknown"]


class Assets(StaticFiles):
    """Scripts and styles the browser revalidates on every load (an unchanged file answers 304),
    so after an upgrade no page runs with yesterday's scripts."""

    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


router = APIRouter(include_in_schema=False)
router.mount("/assets", Assets(directory=WEB_DIR / "assets"), name="assets")


def _shell(name: str) -> FileResponse:
    return FileResponse(WEB_DIR / f"{name}.html", media_type="text/html", headers=PAGE_HEADERS)


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if target == "/":
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


async def _visitor(request: Request, store: KVStore, settings: Settings) -> Visitor:
    """Who is asking for a page. A store that cannot answer gives "unknown": the page is served
    and its script shows the API's own error."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return "anonymous"
    try:
        _, user = await read_session(store, settings, cookie)
    except Unauthorized:
        return "anonymous"
    except DatagemsError as exc:
        log.warning("page %s: cannot check the session (%s)", request.url.path, exc)
        return "unknown"
    return "admin" if user.role == "admin" else "member"


async def _member_page(name: str, request: Request, store: KVStore, settings: Settings) -> Response:
    if await _visitor(request, store, settings) == "anonymous":
        return _to_login(request)
    return _shell(name)


@router.get("/")
async def dashboard_page(request: Request, store: KVStoreDep, settings: SettingsDep) -> Response:
    return await _member_page("dashboard", request, store, settings)


@router.get("/jobs/{job_id}")
async def job_page(
    job_id: str, request: Request, store: KVStoreDep, settings: SettingsDep
) -> Response:
    del job_id  # the page's script reads it from the address
    return await _member_page("job", request, store, settings)


@router.get("/settings")
async def settings_page(request: Request, store: KVStoreDep, settings: SettingsDep) -> Response:
    return await _member_page("settings", request, store, settings)


@router.get("/schedules")
async def schedules_page(request: Request, store: KVStoreDep, settings: SettingsDep) -> Response:
    return await _member_page("schedules", request, store, settings)


@router.get("/admin")
async def admin_page(request: Request, store: KVStoreDep, settings: SettingsDep) -> Response:
    visitor = await _visitor(request, store, settings)
    if visitor == "anonymous":
        return _to_login(request)
    if visitor == "member":
        return RedirectResponse("/", status_code=303)
    return _shell("admin")


@router.get("/login")
def login_page() -> Response:
    return _shell("login")


@router.get("/register")
def register_page() -> Response:
    return _shell("register")


@router.get("/web/config.json")
def page_config(settings: SettingsDep) -> dict[str, Any]:
    """What the pages need to know about this server; nothing secret."""
    preset, preset_problem = _form_preset(settings.ui_test_preset)
    return {
        "version": version(),
        "activePollSeconds": settings.active_poll_seconds,
        "idlePollSeconds": settings.idle_poll_seconds,
        "maxRecordsPerJob": settings.max_records_per_job,
        "showFailures": settings.show_failures,
        "formPreset": preset,
        "formPresetProblem": preset_problem,
    }


def _form_preset(raw: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """NEXT_PUBLIC_DATAGEN_UI_TEST_PRESET as the object that pre-fills the new-dataset form."""
    if not raw:
        return None, None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, f"NEXT_PUBLIC_DATAGEN_UI_TEST_PRESET is not valid JSON ({exc.msg})"
    if not isinstance(value, dict):
        return None, "NEXT_PUBLIC_DATAGEN_UI_TEST_PRESET must be a JSON object"
    return value, None
