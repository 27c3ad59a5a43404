"""Sending mail over SMTP (`DATAGEN_SMTP_*`): implicit TLS on 465, STARTTLS required otherwise.

`DATAGEMS_SMTP_SECURITY` overrides the choice (`tls`, `starttls`, or `none` for a local relay),
and `DATAGEMS_SMTP_CA_FILE` adds a CA to trust (a private relay, or tests). smtplib runs in a
worker thread with timeouts, so a slow relay never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from datagems_core.config.settings import Settings
from datagems_core.errors import MailError

Security = Literal["tls", "starttls", "none"]
CONNECT_TIMEOUT_SECONDS = 20.0  # nodemailer's socket timeout in the seed


@dataclass(frozen=True)
class MailConfig:
    host: str
    port: int
    user: str
    password: SecretStr
    sender: str
    security: Security
    ca_file: Path | None = None
    timeout_seconds: float = CONNECT_TIMEOUT_SECONDS


def mail_config(settings: Settings) -> MailConfig | None:
    """The SMTP settings, or None when mail is not configured (no host, user, sender or password)."""
    password = settings.smtp_password.get_secret_value()
    if not (settings.smtp_host and settings.smtp_user and settings.smtp_from and password):
        return None
    security: Security
    if settings.smtp_security == "auto":
        security = "tls" if settings.smtp_port == 465 else "starttls"
    else:
        security = settings.smtp_security
    return MailConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        user=settings.smtp_user,
        password=settings.smtp_password,
        sender=settings.smtp_from,
        security=security,
        ca_file=settings.smtp_ca_file,
    )


async def send_mail(config: MailConfig, *, to: str, subject: str, body: str) -> None:
    """Send a plain-text mail; MailError (without secrets) when the relay cannot be used."""
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    await asyncio.to_thread(_deliver, config, message)


def _tls_context(config: MailConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if config.ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(config.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise MailError(f"cannot read DATAGEMS_SMTP_CA_FILE {config.ca_file}: {exc}") from exc
    return context


def _deliver(config: MailConfig, message: EmailMessage) -> None:
    where = f"{config.host}:{config.port}"
    try:
        client: smtplib.SMTP
        if config.security == "tls":
            client = smtplib.SMTP_SSL(
                config.host,
                config.port,
                timeout=config.timeout_seconds,
                context=_tls_context(config),
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
        with client:
            client.ehlo()
            if config.security == "starttls":
                if not client.has_extn("starttls"):
                    raise MailError(f"SMTP server {where} does not offer STARTTLS")
                client.starttls(context=_tls_context(config))
                client.ehlo()
            client.login(config.user, config.password.get_secret_value())
            client.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(
            f"SMTP server {where} refused the login for {config.user!r} (code {exc.smtp_code})"
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"SMTP server {where} answered {exc.smtp_code}") from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise MailError(
            f"cannot deliver mail through {where}: {type(exc).__name__}: {exc}"
        ) from None
