"""The settings factory of tests and benchmarks: init values win over the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datagems_core.config.settings import Settings, load_settings

ADMIN_PASSWORD = "admin-password-for-tests"


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings on `data_dir` with the test admin's password and no SMTP password."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "bootstrap_admin_password": ADMIN_PASSWORD,
        "smtp_password": "",
    }
    values.update(overrides)
    return load_settings(None, **values)
