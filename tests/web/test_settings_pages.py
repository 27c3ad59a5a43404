"""Settings (API tokens, inference profiles) and recurring builds in headless Chromium."""

from __future__ import annotations

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions

from tests.web.conftest import (
    MEMBER,
    MEMBER_PASSWORD,
    Site,
    sign_in,
    wait,
    wait_for_element,
    wait_for_text,
)

PROFILE_KEY = "sk-web-test-key-that-must-never-come-back"


def _accept_confirm(driver: WebDriver) -> None:
    wait(driver).until(expected_conditions.alert_is_present())
    driver.switch_to.alert.accept()


def test_token_made_on_settings_authenticates_a_bearer_call(page: WebDriver, site: Site):
    sign_in(page, site, MEMBER, MEMBER_PASSWORD)
    page.get(f"{site.url}/settings")
    page.find_element(By.ID, "token-name").send_keys("browser test")
    page.find_element(By.ID, "create-token").click()
    wait_for_text(page, "#token-created", "not shown again")
    token = page.find_element(By.ID, "new-token").text
    wait_for_text(page, "#tokens", "browser test")

    me = httpx.get(f"{site.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["username"] == MEMBER and me.json()["auth"] == "token"


def test_profile_key_is_saved_but_never_shown_back(page: WebDriver, site: Site):
    sign_in(page, site, MEMBER, MEMBER_PASSWORD)
    page.get(f"{site.url}/settings")
    wait_for_element(page, "#profiles > *")
    form = page.find_element(By.ID, "profile-form")
    form.find_element(By.NAME, "name").send_keys("Local gateway")
    form.find_element(By.NAME, "baseUrl").send_keys("http://127.0.0.1:9/v1")
    form.find_element(By.NAME, "model").send_keys("tiny-model")
    assert form.find_element(By.NAME, "apiKey").get_attribute("type") == "password"
    form.find_element(By.NAME, "apiKey").send_keys(PROFILE_KEY)
    page.find_element(By.ID, "save-profile").click()
    wait_for_text(page, "#profiles-notice", "Local gateway saved")
    wait_for_text(page, "#profiles", "tiny-model")
    assert "saved" in page.find_element(By.ID, "profiles").text
    assert page.find_element(By.ID, "profiles-count").text == "1 of 10 saved"

    page.find_element(By.CSS_SELECTOR, "#profiles button[data-profile-id]").click()
    wait_for_text(page, "#profile-form-title", "Edit")
    key = form.find_element(By.NAME, "apiKey")
    assert key.get_attribute("value") == ""
    assert "a key is saved" in (key.get_attribute("placeholder") or "")
    assert PROFILE_KEY not in page.page_source

    page.get(f"{site.url}/")
    option = "select[name=profileId] option:checked"
    wait_for_element(page, f"{option}:not([value=''])")
    chosen = page.find_element(By.CSS_SELECTOR, option).get_attribute("textContent")
    assert chosen == "Local gateway (tiny-model)"  # the active profile is preselected
    assert PROFILE_KEY not in page.page_source

    page.get(f"{site.url}/settings")
    wait_for_text(page, "#profiles", "tiny-model")
    page.find_element(By.XPATH, "//div[@id='profiles']//button[text()='Delete']").click()
    _accept_confirm(page)
    wait_for_text(page, "#profiles", "No profiles")


def test_schedule_is_created_paused_and_deleted(page: WebDriver, site: Site):
    sign_in(page, site, MEMBER, MEMBER_PASSWORD)
    page.get(f"{site.url}/schedules")
    wait_for_element(page, "#schedule-list > li")
    page.find_element(By.NAME, "title").send_keys("Nightly cities")
    page.find_element(By.NAME, "instructions").send_keys("City names with their country")
    page.find_element(By.ID, "draft-schema").click()
    wait_for_text(page, "#draft-meta", "refreshes: 0")
    timezone = page.find_element(By.ID, "timezone")
    timezone.clear()
    timezone.send_keys("Europe/Bucharest")
    page.find_element(By.ID, "create-schedule").click()
    wait_for_text(page, "#new-schedule-notice", 'Schedule "Nightly cities" created')
    wait_for_text(page, "#schedule-list", "0 6 * * * (Europe/Bucharest)")
    assert page.find_element(By.CSS_SELECTOR, "#schedule-list .status").text == "ACTIVE"

    page.find_element(By.XPATH, "//ul[@id='schedule-list']//button[text()='Pause']").click()
    wait_for_text(page, "#schedule-list .status", "PAUSED")
    page.find_element(By.XPATH, "//ul[@id='schedule-list']//button[text()='Versions']").click()
    wait_for_text(page, "#schedule-list .versions", "No version built yet.")

    page.find_element(By.XPATH, "//ul[@id='schedule-list']//button[text()='Delete']").click()
    _accept_confirm(page)
    wait_for_text(page, "#schedule-list", "No schedules yet.")
