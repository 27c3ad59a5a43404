"""The dashboard and the job page in headless Chromium: metrics, a job made from the form
through to its downloads, user text shown as text, and a phone-width layout."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.web.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    MEMBER,
    MEMBER_PASSWORD,
    Site,
    console_errors,
    sign_in,
    wait_for_element,
    wait_for_text,
)

RECORDS = 6
MARKUP_TITLE = '<img src=x onerror="window.pwned=1">Cities & <b>towns</b>'


def _create_job_from_form(driver: WebDriver, title: str) -> str:
    """Fill "New dataset", draft, regenerate, create; the new job's id from the success notice."""
    driver.find_element(By.NAME, "title").send_keys(title)
    driver.find_element(By.NAME, "instructions").send_keys("Fictional people: name, age and city")
    records = driver.find_element(By.NAME, "totalRecords")
    records.clear()
    records.send_keys(str(RECORDS))
    assert not driver.find_element(By.ID, "create-job").is_enabled()
    # Off unless asked for, as in REST and the CLI.
    assert not driver.find_element(By.NAME, "datasetMode").is_selected()
    driver.find_element(By.ID, "draft-schema").click()
    wait_for_text(driver, "#draft-meta", "refreshes: 0")
    assert '"properties"' in (driver.find_element(By.NAME, "schema").get_attribute("value") or "")
    driver.find_element(By.ID, "regenerate-schema").click()
    wait_for_text(driver, "#draft-meta", "refreshes: 1")
    driver.find_element(By.ID, "create-job").click()
    wait_for_text(driver, "#new-job-notice", "Job created")
    link = driver.find_element(By.CSS_SELECTOR, "#new-job-notice a")
    assert link.text == title
    return (link.get_attribute("href") or "").rsplit("/", 1)[-1]


@pytest.fixture(scope="module")
def admin_job(site: Site) -> Iterator[str]:
    """A finished job of the admin's, made through the API, whose title and description are
    markup."""
    with httpx.Client(base_url=site.url, headers={"X-Requested-With": "tests"}) as api:
        api.post("/api/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD})
        schema = {"type": "object", "properties": {"city": {"type": "string"}}}
        answer = api.post(
            "/api/jobs",
            json={
                "title": MARKUP_TITLE,
                "description": "<script>window.pwned=2</script>",
                "instructions": "City names",
                "schema": schema,
                "totalRecords": 3,
            },
        )
        assert answer.status_code == 201, answer.text
        job_id = answer.json()["job"]["id"]
        deadline = time.monotonic() + 60
        while api.get(f"/api/jobs/{job_id}").json()["job"]["status"] != "succeeded":
            assert time.monotonic() < deadline, site.log()
            time.sleep(0.3)
        yield job_id


def test_dashboard_shows_the_users_metric_cards(page: WebDriver, site: Site):
    sign_in(page, site, MEMBER, MEMBER_PASSWORD)
    wait_for_element(page, "#metrics .metric")
    wait_for_element(page, "#job-list > li")
    labels = [e.text for e in page.find_elements(By.CSS_SELECTOR, ".metric-label")]
    assert labels[:3] == ["TOTAL JOBS", "RECORDS REQUESTED", "RECORDS GENERATED"]
    assert "LAST JOB" in labels
    shown = page.find_element(By.CSS_SELECTOR, "[data-metric=totalJobs] .metric-value").text
    assert shown == str(len(page.find_elements(By.CSS_SELECTOR, ".job-row")))


def test_job_from_the_form_succeeds_and_its_page_offers_working_downloads(
    page: WebDriver, site: Site, downloads: Path
):
    sign_in(page, site, MEMBER, MEMBER_PASSWORD)
    job_id = _create_job_from_form(page, "People from the browser")
    row = f"[data-job-id='{job_id}']"
    wait_for_text(page, f"{row} .status", "SUCCEEDED", seconds=60)
    assert f"{RECORDS} ok · 0 failed of {RECORDS}" in page.find_element(By.CSS_SELECTOR, row).text

    page.find_element(By.CSS_SELECTOR, f"{row} .job-title a").click()
    wait_for_text(page, "#job-status", "SUCCEEDED")
    assert page.find_element(By.ID, "job-title").text == "People from the browser"
    wait_for_text(page, "#records-pager", f"of {RECORDS}")
    assert len(page.find_elements(By.CSS_SELECTOR, "#job-records tbody tr")) == RECORDS
    headers = {h.text.upper() for h in page.find_elements(By.CSS_SELECTOR, "#job-records th")}
    assert {"ATTEMPTS", "VARIATION", "TOKENS", "NAME"} <= headers
    shard_headers = [h.text.upper() for h in page.find_elements(By.CSS_SELECTOR, "#job-shards th")]
    assert {"LEASE HELD BY", "TAKEOVERS"} <= set(shard_headers)  # what to watch (running.md)
    takeovers = page.find_elements(By.CSS_SELECTOR, "#job-shards tbody td")
    assert takeovers[shard_headers.index("TAKEOVERS")].text == "0"
    assert (page.find_element(By.ID, "open-prefect").get_attribute("href") or "").startswith(
        "http://127.0.0.1:"
    )
    definition = page.find_element(By.ID, "job-definition").text.upper().splitlines()
    assert definition[definition.index("DATASET MODE") + 1] == "NO"
    formats = [a.text for a in page.find_elements(By.CSS_SELECTOR, "#downloads a")]
    assert formats == ["JSON", "JSONL", "CSV", "Parquet"]
    actions = [b.text for b in page.find_elements(By.CSS_SELECTOR, "#job-actions button")]
    assert actions == ["Delete"]  # succeeded: nothing to cancel or continue
    wait_for_element(page, "#quality-panel:not([hidden]) svg.quality-chart")
    quality = page.find_element(By.ID, "job-quality").text
    assert f"{RECORDS} accepted of {RECORDS}" in quality and "name:" in quality

    csv_link = page.find_element(By.CSS_SELECTOR, "#downloads a[data-format=csv]")
    assert csv_link.get_attribute("href") == f"{site.url}/api/jobs/{job_id}/export?format=csv"
    csv_link.click()
    saved = downloads / "people-from-the-browser.csv"  # named after the job's title
    deadline = time.monotonic() + 20
    while not saved.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert len(rows) == RECORDS and rows[0]["name"]


def test_user_text_is_shown_as_text_never_as_markup(page: WebDriver, site: Site, admin_job: str):
    sign_in(page, site, ADMIN, ADMIN_PASSWORD)
    wait_for_text(page, f"[data-job-id='{admin_job}'] .job-title", "Cities & <b>towns</b>")
    page.get(f"{site.url}/jobs/{admin_job}")
    wait_for_text(page, "#job-title", "Cities & <b>towns</b>")
    assert page.find_element(By.ID, "job-title").text == MARKUP_TITLE
    assert page.find_element(By.ID, "job-description").text == "<script>window.pwned=2</script>"
    assert page.find_elements(By.CSS_SELECTOR, "main img, main b, main script") == []
    assert page.execute_script("return window.pwned === undefined")


def test_the_form_estimates_before_create(page: WebDriver, site: Site):
    sign_in(page, site, ADMIN, ADMIN_PASSWORD)
    assert not page.find_element(By.ID, "estimate-job").is_enabled()
    page.find_element(By.NAME, "title").send_keys("Estimated people")
    page.find_element(By.NAME, "instructions").send_keys("Fictional people: name and city")
    page.find_element(By.ID, "draft-schema").click()
    wait_for_text(page, "#draft-meta", "refreshes: 0")
    page.find_element(By.ID, "estimate-job").click()
    wait_for_text(page, "#estimate", "Estimate for 10 records")
    text = page.find_element(By.ID, "estimate").text
    assert "cost unknown (no price for this gateway)" in text
    assert "From 5 sample candidates: 100% accepted" in text
    assert page.find_element(By.ID, "create-job").is_enabled()
    estimate_id = page.find_element(By.ID, "estimate").get_attribute("data-estimate-id")
    assert estimate_id and estimate_id.startswith("est_")

    page.find_element(By.ID, "create-job").click()  # unchanged: the job takes the sample
    wait_for_text(page, "#new-job-notice", "Job created")
    assert console_errors(page) == []
    again = page.execute_async_script(
        """const [id, done] = arguments;
        fetch("/api/jobs", {method: "POST", credentials: "same-origin",
          headers: {"Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest"},
          body: JSON.stringify({title: "x", instructions: "x", totalRecords: 1, estimateId: id,
            schema: {type: "object", properties: {name: {type: "string"}}, required: ["name"]}})})
          .then(async (r) => done([r.status, await r.text()]));""",
        estimate_id,
    )
    assert again[0] == 400 and "no estimate" in again[1]  # the create used it up


def test_cost_without_a_price_reads_unknown_on_the_card_and_the_page(
    page: WebDriver, site: Site, admin_job: str
):
    # `datagems up` here has no DATAGEMS_INFERENCE_*_PRICE_PER_MTOK: the cost is unknown, not $0
    sign_in(page, site, ADMIN, ADMIN_PASSWORD)
    wait_for_text(page, f"[data-job-id='{admin_job}'] .job-cost", "cost unknown")
    page.get(f"{site.url}/jobs/{admin_job}")
    wait_for_text(page, "[data-fact='cost'] dd", "unknown")
    assert page.find_elements(By.CSS_SELECTOR, "[data-fact='cost-per-record']") == []


def test_pages_fit_a_phone_width_without_console_errors(
    page: WebDriver, site: Site, admin_job: str
):
    sign_in(page, site, ADMIN, ADMIN_PASSWORD)
    page.set_window_size(390, 844)
    console_errors(page)
    for path, ready in [
        ("/", "#job-list > li"),
        (f"/jobs/{admin_job}", "#job-records table"),
        ("/settings", "#profiles > *"),
        ("/schedules", "#schedule-list > li"),
        ("/admin", "#accounts table"),
        ("/register", "#register-form"),
    ]:
        page.get(site.url + path)
        wait_for_element(page, ready)
        width = page.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert width[0] <= width[1], (path, width)
        assert console_errors(page) == [], path
