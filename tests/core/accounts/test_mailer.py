"""The mailer against real SMTP servers on 127.0.0.1: STARTTLS, implicit TLS, failures."""

from __future__ import annotations

from dataclasses import replace

import pytest

from datagems_core.accounts.mailer import mail_config, send_mail
from datagems_core.config.settings import load_settings
from datagems_core.errors import MailError
from tests.support.processes import free_port


def _config(server, tmp_path, **overrides):
    values = {
        "data_dir": tmp_path,
        "smtp_host": server.host,
        "smtp_port": server.port,
        "smtp_user": server.user,
        "smtp_password": server.password,
        "smtp_from": "no-reply@datagems.test",
        "smtp_ca_file": server.ca_file,
        **overrides,
    }
    config = mail_config(load_settings(None, **values))
    assert config is not None
    return config


async def test_send_mail_over_starttls(smtp_server, tmp_path):
    smtp_server.clear()
    config = _config(smtp_server, tmp_path)
    assert config.security == "starttls"
    await send_mail(config, to="ann@example.com", subject="Hello", body="Line one\n")
    [message] = smtp_server.received()
    assert message["To"] == "ann@example.com" and message["Subject"] == "Hello"
    assert "Line one" in message.get_payload()


async def test_send_mail_over_implicit_tls(smtp_tls_server, tmp_path):
    smtp_tls_server.clear()
    config = _config(smtp_tls_server, tmp_path, smtp_security="tls")
    await send_mail(config, to="ben@example.com", subject="Hi", body="x")
    assert [m["To"] for m in smtp_tls_server.received()] == ["ben@example.com"]


def test_mail_config_picks_tls_on_465_and_none_without_password(tmp_path):
    settings = load_settings(None, data_dir=tmp_path, smtp_password="pw", smtp_port=465)
    config = mail_config(settings)
    assert config is not None and config.security == "tls"
    assert mail_config(load_settings(None, data_dir=tmp_path, smtp_password="")) is None


async def test_send_mail_refuses_an_untrusted_certificate(smtp_server, tmp_path):
    config = replace(_config(smtp_server, tmp_path), ca_file=None)
    with pytest.raises(MailError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        await send_mail(config, to="x@example.com", subject="s", body="b")


async def test_send_mail_reports_a_refused_login_without_the_password(smtp_server, tmp_path):
    config = _config(smtp_server, tmp_path, smtp_password="wrong-password-123")
    with pytest.raises(MailError, match="refused the login") as failed:
        await send_mail(config, to="x@example.com", subject="s", body="b")
    assert "wrong-password-123" not in str(failed.value)


async def test_send_mail_reports_an_unreachable_relay(smtp_server, tmp_path):
    config = replace(_config(smtp_server, tmp_path), port=free_port())
    with pytest.raises(MailError, match="cannot deliver mail"):
        await send_mail(config, to="x@example.com", subject="s", body="b")


async def test_send_mail_refuses_a_relay_without_starttls(smtp_tls_server, tmp_path):
    # speaking plain SMTP to an implicit-TLS port fails instead of sending in clear text
    config = _config(smtp_tls_server, tmp_path, smtp_security="starttls")
    config = replace(config, timeout_seconds=3)
    with pytest.raises(MailError):
        await send_mail(config, to="x@example.com", subject="s", body="b")
