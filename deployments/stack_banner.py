"""The lines `datagems up` prints once the stack is up."""

from __future__ import annotations

from pathlib import Path

from datagems_core.config.accounts import DEV_ADMIN_PASSWORD
from datagems_core.config.settings import Settings
from deployments.prefect_auth import auth_string_path


def banner(
    settings: Settings,
    *,
    api_url: str,
    has_runner: bool,
    serves_prefect: bool,
    data_dir: Path,
    log_dir: Path,
) -> str:
    """What `datagems up` prints once everything answers: where each part is, how to sign in."""
    if settings.is_production or (
        settings.bootstrap_admin_password.get_secret_value() != DEV_ADMIN_PASSWORD
    ):
        sign_in = "admin / the password in R1EN_CSTORE_AUTH_BOOTSTRAP_ADMIN_PWD"
    else:
        sign_in = "admin / admin (development credentials)"
    if settings.mock_cstore:
        sign_in += "; test_user / testtest"
    runner = "runner serving prefect.yaml" if has_runner else "no runner (DATAGEN_DISABLE_WORKER)"
    ui_sign_in = (
        f" (it asks for the auth string in {auth_string_path(data_dir)})" if serves_prefect else ""
    )
    lines = [
        "",
        "DataGems is up.",
        f"  API and web pages  {settings.app_url}",
        f"  Prefect UI         {api_url.removesuffix('/api')}{ui_sign_in}",
        f"  Sign in            {sign_in}",
        f"  Jobs run by        {runner}",
        f"  Data               {data_dir} (logs in {log_dir})",
        "Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)
