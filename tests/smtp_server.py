"""Real SMTP servers on loopback for the delivery tests (aiosmtpd in a thread).

Fixtures: ``smtp_server`` (plain), ``smtp_starttls`` (STARTTLS required, a
self-signed certificate made with ``openssl``), ``smtp_auth`` (STARTTLS plus
AUTH LOGIN/PLAIN), ``smtp_slow_data`` (stores each message, then answers DATA
only after the client's timeout) and ``closed_port`` (a port nobody listens
on). Each server's :class:`CollectingHandler` keeps every accepted envelope,
can be told to refuse recipients with a 550, to wait before answering DATA,
and to run a hook when a transaction starts or a message has been stored.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
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
    "lan_address",
    "self_signed_cert",
    "smtp_auth",
    "smtp_lan",
    "smtp_server",
    "smtp_slow_data",
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
    """Keeps what the server accepted; refuses the addresses in ``refuse`` at RCPT.

    ``delay_data`` seconds pass between storing a message and answering its DATA
    (longer than the client's timeout: the client never hears that it was stored);
    ``drop_after_store`` closes the connection instead of answering.
    ``on_mail`` runs at MAIL FROM, ``after_store`` once a message is stored and
    before the reply; both run on the server's thread.
    """

    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    reject_data: str | None = None  # e.g. "554 5.7.1 rejected": refuse every message body
    reject_data_times: int | None = None  # refuse only this many bodies (None: every one)
    delay_data: float = 0.0
    drop_after_store: bool = False  # close the connection instead of answering DATA
    on_mail: Callable[[str], None] | None = None
    after_store: Callable[[Received], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if self.on_mail is not None:
            self.on_mail(address)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reject_data and self.reject_data_times != 0:
            if self.reject_data_times is not None:
                self.reject_data_times -= 1
            return self.reject_data
        stored = Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        with self.lock:
            self.received.append(stored)
        if self.after_store is not None:
            self.after_store(stored)
        if self.delay_data:
            await asyncio.sleep(self.delay_data)
        if self.drop_after_store:
            server.transport.close()
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
    timeout: float = 5.0  # the client's, in smtp_settings()

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def smtp_settings(self, **extra: Any) -> dict[str, Any]:
        """The ``smtp:`` mapping of a delivery.yaml pointing at this server."""
        settings: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "timeout": self.timeout,
        }
        if self.ca_file:
            settings["ca_file"] = self.ca_file
        if self.username:
            settings["username"] = self.username
            settings["password_env"] = "REPORTKIT_TEST_SMTP_PASSWORD"
        settings.update(extra)
        return settings


def free_port(host: str = "127.0.0.1") -> int:
    # aiosmtpd's Controller connects to its own port to check it is up, so port 0 won't do
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
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


def _start(handler: CollectingHandler, host: str = "127.0.0.1", **smtp_kwargs: Any) -> Controller:
    controller = Controller(
        handler, hostname=host, port=free_port(host), ready_timeout=10, **smtp_kwargs
    )
    controller.start()
    return controller


def lan_address() -> str | None:
    """This machine's address on its default route (not loopback), or None without one."""
    import ipaddress

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.254.254.254", 9))  # UDP: picks the route, sends nothing
        except OSError:
            return None
        address = sock.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server (no TLS, no AUTH)."""
    handler = CollectingHandler()
    controller = _start(handler)
    try:
        yield SmtpServer(controller.hostname, controller.port, handler)
    finally:
        controller.stop()


@pytest.fixture
def smtp_slow_data() -> Iterator[SmtpServer]:
    """Stores every message, then answers DATA 2.5 s later: past the client's 1 s timeout."""
    handler = CollectingHandler(delay_data=2.5)
    controller = _start(handler)
    try:
        yield SmtpServer(controller.hostname, controller.port, handler, timeout=1.0)
    finally:
        controller.stop()


@pytest.fixture
def smtp_lan() -> Iterator[SmtpServer]:
    """A plain SMTP server on this machine's non-loopback address: another host, as a
    client configured with it sees it."""
    host = lan_address()
    if host is None:
        pytest.skip("this machine has no non-loopback IPv4 address to serve on")
    handler = CollectingHandler()
    controller = _start(handler, host=host)
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
