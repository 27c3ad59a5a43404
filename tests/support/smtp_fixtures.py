"""Real SMTP servers (aiosmtpd) on 127.0.0.1 with TLS from a test CA made with cryptography.

`smtp_server` speaks STARTTLS (required before AUTH), `smtp_tls_server` implicit TLS (as port
465 does); both accept one user and keep the mails they receive. `smtp_env` points DataGems'
settings at the STARTTLS server and trusts the test CA through DATAGEMS_SMTP_CA_FILE.
"""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from datagems_core.config.settings import get_settings
from tests.support.processes import free_port

SMTP_USER = "mailer"
SMTP_PASSWORD = "mail-secret-for-tests"


@dataclass
class SmtpServer:
    host: str
    port: int
    ca_file: Path
    user: str = SMTP_USER
    password: str = SMTP_PASSWORD
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Message]:
        with self.lock:
            return list(self.messages)

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def env(self) -> dict[str, str]:
        return {
            "DATAGEN_SMTP_HOST": self.host,
            "DATAGEN_SMTP_PORT": str(self.port),
            "DATAGEN_SMTP_USER": self.user,
            "DATAGEN_SMTP_PASS": self.password,
            "DATAGEN_SMTP_FROM": "DataGems <no-reply@datagems.test>",
            "DATAGEMS_SMTP_CA_FILE": str(self.ca_file),
        }


@dataclass(frozen=True)
class TestCertificates:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _make_certificates(directory: Path) -> TestCertificates:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "DataGems test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TestCertificates(
        directory / "ca.pem", directory / "server.pem", directory / "server.key"
    )
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


class _Collector:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        content = envelope.content  # type: ignore[attr-defined]
        message = email.message_from_bytes(
            content if isinstance(content, bytes) else content.encode()
        )
        with self.server.lock:
            self.server.messages.append(message)
        return "250 OK"


def _authenticator(
    server: object, session: object, envelope: object, mechanism: str, auth_data: object
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def _start(certs: TestCertificates, *, implicit_tls: bool) -> tuple[SmtpServer, Controller]:
    server = SmtpServer(host="127.0.0.1", port=free_port(), ca_file=certs.ca_file)
    common: dict[str, Any] = {
        "hostname": server.host,
        "port": server.port,
        "authenticator": _authenticator,
        "auth_require_tls": True,
        "ready_timeout": 10,
    }
    controller: Controller
    if implicit_tls:
        # aiosmtpd only counts STARTTLS as TLS for AUTH; this whole connection is TLS already
        common["auth_require_tls"] = False
        controller = Controller(_Collector(server), ssl_context=certs.server_context(), **common)
    else:
        controller = Controller(
            _Collector(server),
            tls_context=certs.server_context(),
            require_starttls=True,
            **common,
        )
    controller.start()
    return server, controller


@pytest.fixture(scope="session")
def smtp_certificates(tmp_path_factory: pytest.TempPathFactory) -> TestCertificates:
    return _make_certificates(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture(scope="session")
def smtp_server(smtp_certificates: TestCertificates) -> Iterator[SmtpServer]:
    """A STARTTLS SMTP server (AUTH only after STARTTLS)."""
    server, controller = _start(smtp_certificates, implicit_tls=False)
    yield server
    controller.stop()


@pytest.fixture(scope="session")
def smtp_tls_server(smtp_certificates: TestCertificates) -> Iterator[SmtpServer]:
    """An implicit-TLS SMTP server, like a relay on port 465."""
    server, controller = _start(smtp_certificates, implicit_tls=True)
    yield server
    controller.stop()


@pytest.fixture
def smtp_env(smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> SmtpServer:
    """DataGems' mail settings pointed at `smtp_server`, with an empty mailbox."""
    for name, value in smtp_server.env().items():
        monkeypatch.setenv(name, value)
    smtp_server.clear()
    get_settings.cache_clear()
    return smtp_server
