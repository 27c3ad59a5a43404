"""Log configuration shared by every DataGems process (API, runner, CLI)."""

from __future__ import annotations

import logging

from datagems_core.settings import Settings

_OUR_LOGGERS = ("datagems", "datagems_core", "api", "flows", "deployments")


def configure_logging(settings: Settings) -> None:
    """INFO for DataGems' own loggers (DEBUG with `DATAGEN_DEBUG=true`); others stay at WARNING.

    A handler is added only when the process has none, so Prefect's and uvicorn's own logging
    configuration is left alone.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    level = logging.DEBUG if settings.debug else logging.INFO
    for name in _OUR_LOGGERS:
        logging.getLogger(name).setLevel(level)
