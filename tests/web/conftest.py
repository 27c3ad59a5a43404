"""The web pages in a real browser: `datagems up` as a user starts it, and headless Chromium.

`site` runs the whole stack once per session: its own Prefect server (so its runner serves
deployments no other test's runner serves), the runner, and the API under uvicorn, with the
built-in mock inference, the SQLite store in a temp data dir and mail through the session's
STARTTLS test server. The admin is the development `admin/admin`; a member account is written
to the store before the stack starts. `browser` is one Chromium for the session, driven by
selenium through Debian's chromedriver.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from datagems_core.accounts.users import create_user
from datagems_core.config.settings import load_settings
from datagems_core.store.factory import open_store
from tests.support.processes import free_port
from tests.support.smtp_fixtures import SmtpServer

DATAGEMS = str(Path(sys.executable).parent / "datagems")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--window-size=1280,900",
)
ADMIN, ADMIN_PASSWORD = "admin", "admin"
MEMBER, MEMBER_PASSWORD = "wendy", "wendy-password-for-web"
_OURS = ("DATAGEN_", "DATAGEMS_", "EE_", "R1EN_", "CSTORE_", "R1FS_", "PREFECT_")
WAIT_SECONDS = 20


@dataclass
class Site:
    url: str
    data_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _environment(data_dir: Path, smtp: SmtpServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env |= smtp.env()
    env |= {
        "DATAGEMS_DATA_DIR": str(data_dir),
        "DATAGEMS_PREFECT_PORT": str(free_port()),
        "DATAGEN_APP_PORT": str(free_port()),
        "DATAGEN_APP_HOST": "127.0.0.1",
        "DATAGEN_MOCK_INFERENCE_API": "true",
        # The pages read these from /web/config.json: short, so a job is seen finishing soon.
        "DATAGEN_ACTIVE_POLL_SECONDS": "1",
        "DATAGEN_IDLE_POLL_SECONDS": "2",
        # Profiles may point at a gateway on this machine (the SSRF guard refuses it otherwise).
        "DATAGEMS_ALLOWED_INFERENCE_HOSTS": "127.0.0.1",
    }
    return env


async def _create_member(env: dict[str, str]) -> None:
    # The same environment as the stack's, so the password hash uses the same pepper.
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith(_OURS)]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        settings = load_settings(None)
    store = open_store(settings)
    try:
        await create_user(store, settings, MEMBER, MEMBER_PASSWORD)
    finally:
        await store.close()


def _wait_until_up(process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while "Press Ctrl-C to stop." not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"`datagems up` did not start:\n{log_path.read_text()}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, smtp_server: SmtpServer) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("web")
    data_dir = root / "data"
    env = _environment(data_dir, smtp_server)
    asyncio.run(_create_member(env))
    log_path = root / "up.log"
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            [DATAGEMS, "up"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=root,
            start_new_session=True,
        )
    try:
        _wait_until_up(up, log_path)
        yield Site(f"http://127.0.0.1:{env['DATAGEN_APP_PORT']}", data_dir, log_path)
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
                up.wait()


@pytest.fixture(scope="session")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="session")
def browser(downloads: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="datagems-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        options.add_experimental_option(
            "prefs",
            {
                "download.default_directory": str(downloads),
                "download.prompt_for_download": False,
            },
        )
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture
def page(browser: WebDriver, site: Site) -> WebDriver:
    """The browser, signed out, at the site's sign-in page, at desktop width."""
    browser.set_window_size(1280, 900)
    browser.get(f"{site.url}/login")
    browser.delete_all_cookies()
    browser.get(f"{site.url}/login")
    return browser


def wait(driver: WebDriver, seconds: float = WAIT_SECONDS) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, seconds)


def wait_for_text(driver: WebDriver, css: str, text: str, seconds: float = WAIT_SECONDS) -> None:
    wait(driver, seconds).until(
        expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, css), text),
        f"{text!r} never appeared in {css}",
    )


def sign_in(driver: WebDriver, site: Site, username: str, password: str) -> None:
    """Sign in through the form and wait for the dashboard."""
    driver.get(f"{site.url}/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()
    wait(driver).until(expected_conditions.url_to_be(f"{site.url}/"))
    wait_for_text(driver, "#signed-in-as", username)


def console_errors(driver: WebDriver) -> list[str]:
    """The browser console's errors since the last call (script errors, CSP refusals, failed
    loads)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def wait_for_element(driver: WebDriver, css: str, seconds: float = WAIT_SECONDS) -> None:
    wait(driver, seconds).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)),
        f"{css} never appeared",
    )
