"""Log configuration shared by every DataGems process (API, runner, flow runs, CLI)."""

from __future__ import annotations

import logging

from datagems_core.config.settings import Settings
from datagems_core.inference.redaction import SecretMaskingFilter

_OUR_LOGGERS = ("datagems", "datagems_core", "api", "flows", "deployments")
# Loggers whose records reach Prefect's API (flow and task run logs) when a flow logs.
_PREFECT_LOGGERS = ("prefect", "prefect.flow_runs", "prefect.task_runs")
_MASK = SecretMaskingFilter()


def configure_logging(settings: Settings) -> None:
    """INFO for DataGems' own loggers (DEBUG with `DATAGEN_DEBUG=true`); others stay at WARNING.

    A handler is added only when the process has none, so Prefect's and uvicorn's own logging
    configuration is left alone. Credential-looking text is masked on the way out
    (`install_secret_masking`).
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    level = logging.DEBUG if settings.debug else logging.INFO
    for name in _OUR_LOGGERS:
        logging.getLogger(name).setLevel(level)
    install_secret_masking()


def install_secret_masking() -> None:
    """Mask secrets in what DataGems' loggers, the root handlers and Prefect's run loggers
    write: a second line behind the masking of errors where they are made. Idempotent."""
    loggers = [logging.getLogger(name) for name in (*_OUR_LOGGERS, *_PREFECT_LOGGERS)]
    targets: list[logging.Filterer] = [*loggers, *logging.getLogger().handlers]
    for logger in loggers:
        targets.extend(logger.handlers)
    for target in targets:
        if _MASK not in target.filters:
            target.addFilter(_MASK)
