"""Sign-in, registration, sign-out and the admin page in headless Chromium."""

from __future__ import annotations

import re

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions

from tests.support.smtp_fixtures import SmtpServer
from tests.web.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    MEMBER,
    MEMBER_PASSWORD,
    Site,
    sign_in,
    wait,
    wait_for_text,
)


def test_sign_in_with_a_wrong_password_shows_the_api_error(page: WebDriver, site: Site):
    page.find_element(By.ID, "username").send_keys(MEMBER)
    page.find_element(By.ID, "password").send_keys("not-the-password")
    page.find_element(By.ID, "sign-in").click()
    wait_for_text(page, "#login-error", "Invalid credentials")
    assert page.current_url == f"{site.url}/login"
    assert page.find_element(By.ID, "register-link").get_attribute("href") == f"{site.url}/register"


def test_too_many_failed_sign_ins_say_when_to_try_again(page: WebDriver, site: Site):
    # A name of its own: the throttle counts per username (5 failures), so no other test is hit.
    with httpx.Client(base_url=site.url) as client:
        for _ in range(5):
            client.post("/api/auth/login", json={"username": "throttled", "password": "wrong"})
    page.find_element(By.ID, "username").send_keys("throttled")
    page.find_element(By.ID, "password").send_keys("wrong")
    page.find_element(By.ID, "sign-in").click()
    wait_for_text(page, "#login-error", "Try again in")
    message = page.find_element(By.ID, "login-error").text
    assert re.fullmatch(
        r"Too many failed sign-in attempts\. Try again in \d+ minutes \(at \d\d:\d\d( [AP]M)?\)\.",
        message,
    ), message


def test_signed_out_visitor_is_sent_to_sign_in_and_back(page: WebDriver, site: Site):
    page.get(f"{site.url}/settings")
    assert page.current_url == f"{site.url}/login?next=%2Fsettings"
    page.find_element(By.ID, "username").send_keys(MEMBER)
    page.find_element(By.ID, "password").send_keys(MEMBER_PASSWORD)
    page.find_element(By.ID, "sign-in").click()
    wait(page).until(expected_conditions.url_to_be(f"{site.url}/settings"))
    wait_for_text(page, "#signed-in-as", MEMBER)


def test_registration_mails_credentials_that_sign_in(
    page: WebDriver, site: Site, smtp_server: SmtpServer
):
    smtp_server.clear()
    page.get(f"{site.url}/register")
    page.find_element(By.NAME, "name").send_keys("Grace Browser")
    page.find_element(By.NAME, "email").send_keys("grace@example.com")
    page.find_element(By.NAME, "country").send_keys("RO")
    page.find_element(By.ID, "register").click()
    wait_for_text(page, "#register-result", "Account created for Grace Browser")
    username = page.find_element(By.CSS_SELECTOR, "#register-result strong").text

    (mail,) = smtp_server.received()
    body = mail.get_payload()
    assert re.search(r"Username: (\S+)", body).group(1) == username
    password = re.search(r"Password: (\S+)", body).group(1)
    sign_in(page, site, username, password)


def test_admin_page_lists_accounts_and_guards_the_current_one(page: WebDriver, site: Site):
    sign_in(page, site, ADMIN, ADMIN_PASSWORD)
    page.find_element(By.LINK_TEXT, "Admin").click()
    wait_for_text(page, "#accounts", MEMBER)
    own = page.find_element(By.CSS_SELECTOR, f"#accounts button[data-username='{ADMIN}']")
    other = page.find_element(By.CSS_SELECTOR, f"#accounts button[data-username='{MEMBER}']")
    assert not own.is_enabled() and other.is_enabled()


def test_member_is_redirected_from_admin_to_the_dashboard(page: WebDriver, site: Site):
    sign_in(page, site, MEMBER, MEMBER_PASSWORD)
    assert page.find_elements(By.LINK_TEXT, "Admin") == []
    page.get(f"{site.url}/admin")
    assert page.current_url == f"{site.url}/"
    wait_for_text(page, "#signed-in-as", MEMBER)


def test_a_401_from_the_api_sends_the_page_to_sign_in(page: WebDriver, site: Site):
    sign_in(page, site, MEMBER, MEMBER_PASSWORD)
    page.delete_all_cookies()  # the session is gone, the page is still open
    page.find_element(By.ID, "refresh-jobs").click()
    wait(page).until(expected_conditions.url_to_be(f"{site.url}/login"))


def test_sign_out_returns_to_sign_in_and_ends_the_session(page: WebDriver, site: Site):
    sign_in(page, site, MEMBER, MEMBER_PASSWORD)
    page.find_element(By.ID, "sign-out").click()
    wait(page).until(expected_conditions.url_to_be(f"{site.url}/login"))
    page.get(f"{site.url}/")
    assert page.current_url == f"{site.url}/login"
