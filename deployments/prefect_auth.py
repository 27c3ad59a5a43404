"""The secret that closes the Prefect server of `datagems up` / `datagems server` to strangers.

Prefect's server answers 401 to every API call without HTTP basic auth matching its
PREFECT_SERVER_API_AUTH_STRING (`/api/health` stays open); its clients send PREFECT_API_AUTH_STRING.
DataGems makes one secret per data dir, keeps it in `<data dir>/prefect-auth-string` (mode 0600,
made once, reused) and gives it to the runner, the flow runs, the API and the CLI. The Prefect UI
asks for it once per browser.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from datagems_core.config.settings import Settings
from datagems_core.errors import ConfigError

AUTH_STRING_FILE = "prefect-auth-string"


def auth_string_path(data_dir: Path) -> Path:
    """Where `datagems up` / `datagems server` keep the Prefect server's auth string."""
    return data_dir.resolve() / AUTH_STRING_FILE


def new_auth_string() -> str:
    """A fresh secret in Prefect's `user:password` form (what `curl -u` and the UI take)."""
    return f"datagems:{secrets.token_urlsafe(32)}"


def read_auth_string(data_dir: Path) -> str:
    """The auth string of the data dir's Prefect server: PREFECT_SERVER_API_AUTH_STRING when the
    operator set one, else the one kept in the data dir, created (mode 0600) on first use."""
    if given := os.environ.get("PREFECT_SERVER_API_AUTH_STRING"):
        return given
    path = auth_string_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        text = path.read_text(encoding="utf-8").strip()
        if not text:
            raise ConfigError(f"{path} is empty: delete it and DataGems makes a new one") from None
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)  # readable by its owner only, whatever made it wider
        return text
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(new_auth_string() + "\n")
    return path.read_text(encoding="utf-8").strip()


def client_auth_string(settings: Settings) -> str | None:
    """What a client on this machine sends: PREFECT_API_AUTH_STRING when set, else, for the data
    dir's own server (no PREFECT_API_URL), the secret kept there once a server made it."""
    if given := os.environ.get("PREFECT_API_AUTH_STRING"):
        return given
    path = auth_string_path(settings.data_dir)
    if settings.prefect_api_url_raw is None and path.is_file():
        return path.read_text(encoding="utf-8").strip() or None
    return None
