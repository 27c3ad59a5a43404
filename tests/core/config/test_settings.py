import pytest

from datagems_core.config.settings import load_settings
from datagems_core.config.sources import parse_peer_list
from datagems_core.errors import ConfigError


def test_settings_defaults_use_embedded_store_and_mock_gateway():
    settings = load_settings()
    assert settings.cstore_api_url is None
    assert settings.r1fs_api_url is None
    assert settings.use_mock_inference
    assert settings.app_host == "127.0.0.1"
    assert settings.app_port == 3000


def test_settings_expand_host_ip_and_api_port_defaults(monkeypatch):
    monkeypatch.setenv("R1EN_HOST_IP", "10.1.2.3")
    monkeypatch.setenv("API_PORT", "5002")
    settings = load_settings()
    assert settings.app_host == "10.1.2.3"
    assert settings.inference_url == "http://10.1.2.3:5002"
    assert not settings.use_mock_inference


def test_settings_expand_references_in_set_values(monkeypatch):
    monkeypatch.setenv("BASE", "gw.example.com")
    monkeypatch.setenv("DATAGEN_INFERENCE_BASE_URL", "https://${BASE}/v1")
    monkeypatch.setenv("DATAGEN_SMTP_FROM", "cost$$@example.com")
    settings = load_settings()
    assert settings.inference_url == "https://gw.example.com/v1"
    assert settings.smtp_from == "cost$@example.com"


def test_settings_reference_cycle_is_an_error(monkeypatch):
    monkeypatch.setenv("A_VAR", "$B_VAR")
    monkeypatch.setenv("B_VAR", "$A_VAR")
    monkeypatch.setenv("DATAGEN_SMTP_HOST", "$A_VAR")
    with pytest.raises(ConfigError, match="cycle"):
        load_settings()


def test_settings_cstore_host_port_win_over_url(monkeypatch):
    monkeypatch.setenv("EE_CHAINSTORE_API_URL", "http://url-host:1")
    assert load_settings().cstore_api_url == "http://url-host:1"
    monkeypatch.setenv("EE_CHAINSTORE_API_HOST", "10.0.0.1")
    monkeypatch.setenv("EE_CHAINSTORE_API_PORT", "31234")
    assert load_settings().cstore_api_url == "http://10.0.0.1:31234"


def test_settings_legacy_auth_names(monkeypatch):
    monkeypatch.setenv("EE_CSTORE_AUTH_HKEY", "auth:legacy")
    monkeypatch.setenv("EE_CSTORE_AUTH_BOOTSTRAP_ADMIN_PW", "legacy-pw")
    settings = load_settings()
    assert settings.auth_hkey == "auth:legacy"
    assert settings.bootstrap_admin_password.get_secret_value() == "legacy-pw"
    monkeypatch.setenv("R1EN_CSTORE_AUTH_HKEY", "auth:new")
    assert load_settings().auth_hkey == "auth:new"


def test_settings_malformed_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("DATAGEN_UPDATE_EVERY_K_REQUESTS", "many")
    with pytest.raises(ConfigError, match="DATAGEN_UPDATE_EVERY_K_REQUESTS"):
        load_settings()


def test_settings_unknown_datagems_name_is_refused(monkeypatch):
    monkeypatch.setenv("DATAGEMS_DATA_DIRR", "/tmp/x")
    with pytest.raises(ConfigError, match="DATAGEMS_DATA_DIRR"):
        load_settings()


def test_settings_unknown_datagen_name_is_refused_with_the_closest_name(monkeypatch):
    monkeypatch.setenv("DATAGEN_APP_PORTT", "3001")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "unknown setting DATAGEN_APP_PORTT: did you mean DATAGEN_APP_PORT?" in str(raised.value)


def test_settings_unknown_name_far_from_any_asks_to_check_spelling(monkeypatch):
    monkeypatch.setenv("DATAGEMS_SOMETHING_ELSE", "1")
    with pytest.raises(ConfigError, match="DATAGEMS_SOMETHING_ELSE: check the spelling"):
        load_settings()


def test_settings_data_dir_is_absolute_from_where_it_was_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATAGEMS_DATA_DIR", raising=False)
    assert load_settings().data_dir == tmp_path / ".datagems"
    monkeypatch.setenv("DATAGEMS_DATA_DIR", "relative/data")
    assert load_settings().data_dir == tmp_path / "relative" / "data"


def test_settings_production_refuses_built_in_secrets(monkeypatch):
    monkeypatch.setenv("DATAGEMS_ENV", "production")
    with pytest.raises(ConfigError, match="DATAGEN_SESSION_SECRET"):
        load_settings()
    monkeypatch.setenv("DATAGEN_SESSION_SECRET", "a-long-real-secret-value")
    with pytest.raises(ConfigError, match="R1EN_CSTORE_AUTH_SECRET") as raised:
        load_settings()
    assert "Value error" not in str(raised.value)
    monkeypatch.setenv("R1EN_CSTORE_AUTH_SECRET", "pepper-real")
    monkeypatch.setenv("R1EN_CSTORE_AUTH_BOOTSTRAP_ADMIN_PWD", "real-admin-pw")
    assert load_settings().is_production


def test_settings_read_dotenv(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("DATAGEN_APP_PORT=4321\nR1EN_HOST_IP=10.9.9.9\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.app_port == 4321
    assert settings.app_host == "10.9.9.9"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('["0xai_A", "0xai_B"]', ["0xai_A", "0xai_B"]),
        ("0xai_A, 0xai_B", ["0xai_A", "0xai_B"]),
        ("'[\"a\"]'", ["a"]),
        ("", []),
    ],
)
def test_parse_peer_list(raw, expected):
    assert parse_peer_list(raw) == expected


def test_datagen_debug_requires_exactly_true(monkeypatch):
    import logging

    from datagems_core.logs import configure_logging

    monkeypatch.setenv("DATAGEN_DEBUG", "1")
    settings = load_settings()
    assert not settings.debug
    configure_logging(settings)
    assert logging.getLogger("datagems_core").level == logging.INFO
    monkeypatch.setenv("DATAGEN_DEBUG", "true")
    settings = load_settings()
    configure_logging(settings)
    assert logging.getLogger("datagems_core.jobs.repository").getEffectiveLevel() == logging.DEBUG
    configure_logging(load_settings(DATAGEN_DEBUG="false"))
