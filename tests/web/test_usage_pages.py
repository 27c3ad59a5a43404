"""Usage against quotas in headless Chromium: the admin page sets them, the dashboard shows one's own."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.select import Select

from tests.web.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    MEMBER,
    MEMBER_PASSWORD,
    Site,
    console_errors,
    sign_in,
    wait_for_text,
)

MEMBER_ROW = f"#quotas tr[data-username='{MEMBER}']"


def _set_member_quota(page: WebDriver, site: Site, tokens: str) -> None:
    page.get(f"{site.url}/admin")
    wait_for_text(page, MEMBER_ROW, MEMBER)
    Select(page.find_element(By.ID, "quota-user")).select_by_value(MEMBER)
    field = page.find_element(By.ID, "quota-tokens")
    field.clear()
    field.send_keys(tokens)
    page.find_element(By.ID, "save-quota").click()
    wait_for_text(page, "#quotas-notice", f'Quota of "{MEMBER}" saved.')


def test_admin_sets_a_quota_and_the_member_sees_usage_against_it(page: WebDriver, site: Site):
    console_errors(page)  # only this test's: the session's browser kept earlier tests' errors
    sign_in(page, site, ADMIN, ADMIN_PASSWORD)
    _set_member_quota(page, site, "5000000")
    wait_for_text(page, f"{MEMBER_ROW} [data-quota='tokens']", "of 5,000,000")
    assert "set by an admin" in page.find_element(By.CSS_SELECTOR, MEMBER_ROW).text
    assert (
        "(no limit)" in page.find_element(By.CSS_SELECTOR, f"{MEMBER_ROW} [data-quota='cost']").text
    )

    sign_in(page, site, MEMBER, MEMBER_PASSWORD)
    wait_for_text(page, "#my-usage [data-usage='tokens']", "of 5,000,000")
    wait_for_text(page, "#my-usage [data-usage='records']", "(no limit)")
    assert "TOKENS THIS MONTH" in page.find_element(By.ID, "my-usage").text.upper()

    sign_in(page, site, ADMIN, ADMIN_PASSWORD)
    page.get(f"{site.url}/admin")
    wait_for_text(page, MEMBER_ROW, MEMBER)
    Select(page.find_element(By.ID, "quota-user")).select_by_value(MEMBER)
    page.find_element(By.ID, "reset-quota").click()
    wait_for_text(page, f"{MEMBER_ROW} [data-quota='tokens']", "(no limit)")
    assert "default" in page.find_element(By.CSS_SELECTOR, MEMBER_ROW).text
    assert console_errors(page) == []


def test_a_refused_quota_value_shows_the_api_error(page: WebDriver, site: Site):
    sign_in(page, site, ADMIN, ADMIN_PASSWORD)
    page.get(f"{site.url}/admin")
    wait_for_text(page, MEMBER_ROW, MEMBER)
    Select(page.find_element(By.ID, "quota-user")).select_by_value(MEMBER)
    # past the browser's own check (min=0), as a hand-edited page would be: the API names the field
    page.execute_script("document.getElementById('quota-cost').removeAttribute('min')")
    page.find_element(By.ID, "quota-cost").send_keys("-1")
    page.find_element(By.ID, "save-quota").click()
    wait_for_text(page, "#quotas-notice", "costUsd")
    assert (
        "(no limit)" in page.find_element(By.CSS_SELECTOR, f"{MEMBER_ROW} [data-quota='cost']").text
    )
