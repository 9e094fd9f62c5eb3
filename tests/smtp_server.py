"""Real SMTP servers on loopback for the delivery tests (aiosmtpd in a thread).

Fixtures: ``smtp_server`` (plain), ``smtp_starttls`` (STARTTLS required, a
self-signed certificate made with ``openssl``), ``smtp_auth`` (STARTTLS plus
AUTH LOGIN/PLAIN) and ``closed_port`` (a port nobody listens on). Each server's
:class:`CollectingHandler` keeps every accepted envelope and can be told to
refuse recipients with a 550.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = [
    "USERNAME",
    "CollectingHandler",
    "Received",
    "SmtpServer",
    "closed_port",
    "free_port",
    "self_signed_cert",
    "smtp_auth",
    "smtp_server",
    "smtp_ssl",
    "smtp_starttls",
]

USERNAME = "reports@example.org"
PASSWORD = "s3cret-Passw0rd"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    def message(self) -> EmailMessage:
        return message_from_bytes(self.content, policy=policy.default)  # type: ignore[return-value]


@dataclass
class CollectingHandler:
    """Keeps what the server accepted; refuses the addresses in ``refuse`` at RCPT."""

    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    reject_data: str | None = None  # e.g. "554 5.7.1 rejected": refuse every message body
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reject_data:
            return self.reject_data
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 Message accepted for delivery"

    def recipients(self) -> list[str]:
        with self.lock:
            return [r for env in self.received for r in env.rcpt_tos]

    def clear(self) -> None:
        with self.lock:
            self.received.clear()


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: CollectingHandler
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None
    security: str = "none"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def smtp_settings(self, **extra: Any) -> dict[str, Any]:
        """The ``smtp:`` mapping of a delivery.yaml pointing at this server."""
        settings: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "timeout": 5,
        }
        if self.ca_file:
            settings["ca_file"] = self.ca_file
        if self.username:
            settings["username"] = self.username
            settings["password_env"] = "REPORTKIT_TEST_SMTP_PASSWORD"
        settings.update(extra)
        return settings


def free_port() -> int:
    # aiosmtpd's Controller connects to its own port to check it is up, so port 0 won't do
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost/127.0.0.1 valid for a day, and its key."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-days",
            "1",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _start(handler: CollectingHandler, **smtp_kwargs: Any) -> Controller:
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), ready_timeout=10, **smtp_kwargs
    )
    controller.start()
    return controller


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server (no TLS, no AUTH)."""
    handler = CollectingHandler()
    controller = _start(handler)
    try:
        yield SmtpServer(controller.hostname, controller.port, handler)
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


def _tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def smtp_starttls(tls_files: tuple[Path, Path]) -> Iterator[SmtpServer]:
    """An SMTP server that requires STARTTLS before anything else."""
    cert, key = tls_files
    handler = CollectingHandler()
    controller = _start(handler, tls_context=_tls_context(cert, key), require_starttls=True)
    try:
        yield SmtpServer(
            controller.hostname, controller.port, handler, str(cert), security="starttls"
        )
    finally:
        controller.stop()


@pytest.fixture
def smtp_ssl(tls_files: tuple[Path, Path]) -> Iterator[SmtpServer]:
    """Implicit TLS from the first byte (SMTPS, usually port 465)."""
    cert, key = tls_files
    handler = CollectingHandler()
    controller = _start(handler, ssl_context=_tls_context(cert, key))
    try:
        yield SmtpServer(controller.hostname, controller.port, handler, str(cert), security="ssl")
    finally:
        controller.stop()


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        mechanism in ("LOGIN", "PLAIN")
        and isinstance(auth_data, LoginPassword)
        and auth_data.login == USERNAME.encode()
        and auth_data.password == PASSWORD.encode()
    )
    # handled=False: the server answers 535 itself (True would leave the client waiting)
    return AuthResult(success=ok, handled=ok)


@pytest.fixture
def smtp_auth(tls_files: tuple[Path, Path]) -> Iterator[SmtpServer]:
    """STARTTLS required, then AUTH LOGIN/PLAIN required (only over TLS)."""
    cert, key = tls_files
    handler = CollectingHandler()
    controller = _start(
        handler,
        tls_context=_tls_context(cert, key),
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
        auth_require_tls=True,
    )
    try:
        yield SmtpServer(
            controller.hostname,
            controller.port,
            handler,
            str(cert),
            USERNAME,
            PASSWORD,
            security="starttls",
        )
    finally:
        controller.stop()


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening: connections are refused."""
    return free_port()
