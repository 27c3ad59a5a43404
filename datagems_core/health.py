"""The public health answer, in the seed's shape: {ok, version, timestamp, serving_node}."""

from __future__ import annotations

from functools import lru_cache
from importlib import metadata
from pathlib import Path

from datagems_core.clock import now_iso
from datagems_core.config.settings import Settings
from datagems_core.store.base import JSONValue

_VERSION_FILE = Path(__file__).resolve().parents[1] / "VERSION"


@lru_cache
def version() -> str:
    """The VERSION file at the repository root, else the installed package's version, else dev."""
    try:
        text = _VERSION_FILE.read_text().strip()
    except OSError:
        text = ""
    if text:
        return text
    try:
        return metadata.version("datagems")
    except metadata.PackageNotFoundError:
        return "dev"


def health_report(settings: Settings) -> dict[str, JSONValue]:
    return {
        "ok": True,
        "version": version(),
        "timestamp": now_iso(),
        "serving_node": settings.host_id,
    }
