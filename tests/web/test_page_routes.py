"""The page routes without a browser: shells, redirects, headers, the page config."""

from __future__ import annotations

from tests.support.api_fixtures import start_harness

PAGES = ["/", "/jobs/job_1_abcdef", "/settings", "/schedules", "/admin"]


def test_signed_out_pages_redirect_to_sign_in_with_the_way_back(api):
    client = api.client()
    for path in PAGES:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        expected = "/login" if path == "/" else "/login?next=" + path.replace("/", "%2F")
        assert response.headers["location"] == expected
    forged = client.get("/settings", headers={"Cookie": "datagen_session=forged"})
    assert forged.url.path == "/login"


def test_shells_hold_no_data_and_forbid_inline_scripts(api):
    for path in PAGES:
        response = api.admin.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "<script>" not in response.text
    assert "alice" not in api.alice.get("/").text
    for path in ["/login", "/register"]:
        assert api.client().get(path).status_code == 200


def test_admin_page_sends_members_to_the_dashboard(api):
    response = api.alice.get("/admin", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_assets_are_revalidated_and_unknown_ones_are_404(api):
    script = api.client().get("/assets/js/api.js")
    assert script.status_code == 200
    assert script.headers["cache-control"] == "no-cache"
    assert "javascript" in script.headers["content-type"]
    again = api.client().get("/assets/js/api.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    assert api.client().get("/assets/js/missing.js").status_code == 404
    assert api.client().get("/assets/../pages.py").status_code == 404


def test_page_config_gives_poll_intervals_and_limits(api):
    config = api.client().get("/web/config.json").json()
    assert config["activePollSeconds"] == api.settings.active_poll_seconds
    assert config["idlePollSeconds"] == api.settings.idle_poll_seconds
    assert config["maxRecordsPerJob"] == api.settings.max_records_per_job
    assert config["formPreset"] is None and config["formPresetProblem"] is None


def test_page_config_passes_the_form_preset_or_says_what_is_wrong(tmp_path):
    good = start_harness(tmp_path / "a", ui_test_preset='{"title": "Preset", "totalRecords": 5}')
    bad = start_harness(tmp_path / "b", ui_test_preset="{not json")
    with good.stack, bad.stack:
        assert good.client().get("/web/config.json").json()["formPreset"] == {
            "title": "Preset",
            "totalRecords": 5,
        }
        problem = bad.client().get("/web/config.json").json()["formPresetProblem"]
        assert problem.startswith("NEXT_PUBLIC_DATAGEN_UI_TEST_PRESET is not valid JSON")


def test_page_routes_stay_out_of_the_api_schema(api):
    paths = api.app.openapi()["paths"]
    assert not any(p in paths for p in [*PAGES, "/login", "/register", "/web/config.json"])
