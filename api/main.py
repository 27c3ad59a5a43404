"""The DataGems REST API: `create_app()` builds it; uvicorn runs `api.main:create_app --factory`.

The lifespan opens the key-value store and the file store once and hands them to requests as
state; accounts are prepared then (the bootstrap admin, or mock mode's users). Routers come from
ROUTERS: a new part adds its router there.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline

from api.errors import BodySizeLimit, install_error_handlers
from api.openapi import install_openapi, operation_id
from api.routes import (
    admin,
    auth,
    estimates,
    health,
    job_exports,
    job_records,
    job_schema_drafts,
    jobs,
    metrics,
    pages,
    profiles,
    registration,
    schedules,
    tokens,
    usage,
)
from datagems_core.accounts.users import bootstrap_admin, ensure_mock_users
from datagems_core.config.settings import Settings, get_settings
from datagems_core.errors import StoreError
from datagems_core.health import version
from datagems_core.logs import configure_logging
from datagems_core.store.base import KVStore
from datagems_core.store.factory import open_store
from datagems_core.store.files.base import FileStore
from datagems_core.store.files.factory import open_file_store

log = logging.getLogger(__name__)

# FastAPI matches routes in order: the busiest (jobs, polled by pages and scripts) go first.
ROUTERS: list[APIRouter] = [
    estimates.router,  # POST /api/jobs/estimate before the jobs router's /{job_id} routes
    job_schema_drafts.router,  # POST /api/jobs/schema
    jobs.router,
    job_records.router,
    job_exports.router,
    health.router,
    auth.router,
    tokens.router,
    registration.router,
    admin.router,
    profiles.router,
    metrics.router,
    schedules.router,
    usage.router,
    pages.router,  # the web pages (api/web/), after every API route
]


async def prepare_accounts(store: KVStore, settings: Settings) -> None:
    """The bootstrap admin (or mock mode's users). A store that cannot be reached yet is logged,
    not fatal: the admin's first sign-in bootstraps again."""
    try:
        if settings.mock_cstore:
            await ensure_mock_users(store, settings)
        else:
            await bootstrap_admin(store, settings)
    except StoreError as exc:
        log.error("cannot prepare the admin account yet (%s); will retry at admin sign-in", exc)


def create_app(
    settings: Settings | None = None,
    *,
    store: KVStore | None = None,
    files: FileStore | None = None,
) -> FastAPI:
    """The API app. `store`/`files` inject stores the caller owns (tests); otherwise they are
    opened from the settings at start-up and closed at shutdown."""
    settings = settings or get_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        del app
        kv = store if store is not None else open_store(settings)
        file_store = files if files is not None else open_file_store(settings)
        try:
            await prepare_accounts(kv, settings)
            log.info("state in the %s; files in the %s", kv.name, file_store.name)
            # What start-up loaded lives as long as the app: keep it out of the cyclic GC, whose
            # full collections over it otherwise stall every request in flight for 100+ ms.
            gc.freeze()
            yield {"store": kv, "files": file_store}
        finally:
            gc.unfreeze()
            if files is None:
                await file_store.close()
            if store is None:
                await kv.close()

    # FastAPIOffline serves /docs and /redoc with their scripts from the package, not a CDN:
    # DataGems runs on machines with no internet access.
    app = FastAPIOffline(
        title="DataGems",
        version=version(),
        summary="Synthetic structured datasets, one validated model call per record.",
        lifespan=lifespan,
        # One schema per model: answers may leave out a field that has a default (jobs stored by
        # an older version are sent as stored), so output schemas must not require them.
        separate_input_output_schemas=False,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_openapi(app, settings)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    for router in ROUTERS:
        app.include_router(router)
    return app
