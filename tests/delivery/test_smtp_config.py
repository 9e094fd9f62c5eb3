"""Credentials and plaintext: ``security: none`` only to this machine, AUTH never in the
clear to another host, and configuration errors exit 2 (real servers on loopback and on
this machine's network address)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiosmtpd.controller import Controller

from reportkit import cli
from reportkit.config import SmtpConfig, is_loopback_host
from reportkit.delivery import send_reports, summary_lines
from reportkit.errors import ConfigError
from tests.factories import DEPLOYMENT_DAY as DAY
from tests.factories import Deployment, build_deployment

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

# the server module is a plugin (its fixtures); importing it before pytest registers it
# would skip its assertion rewriting, so its helpers are imported where they are used


@pytest.fixture
def lite(tmp_path: Path, sqlite_url: str) -> Deployment:
    return build_deployment(tmp_path, sqlite_url)


def _send(dep: Deployment, *extra: str) -> int:
    return cli.main(
        [
            "send",
            "--date",
            DAY.isoformat(),
            *extra,
            "--db",
            dep.settings.db,
            "--params",
            str(dep.params),
            "--outputs",
            str(dep.settings.outputs),
        ]
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("relay.localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost.example.org", False),
        ("mail.example.org", False),
        ("192.0.2.2", False),
        ("::ffff:192.0.2.2", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_plaintext_rules() -> None:
    SmtpConfig(host="localhost", security="none", username="u")  # a relay on this machine
    SmtpConfig(host="relay.lan", security="none", allow_plaintext=True)
    with pytest.raises(ValueError, match=r"in the clear to 'relay\.lan'"):
        SmtpConfig(host="relay.lan", security="none")
    with pytest.raises(ValueError, match="password of 'u' in the clear"):
        SmtpConfig(host="relay.lan", security="none", username="u", allow_plaintext=True)
    assert SmtpConfig(host="relay.lan", security="starttls", username="u").plaintext_warning is None


def test_plaintext_to_another_host_is_a_configuration_error(
    lite: Deployment, smtp_lan: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    lite.configure(smtp_lan)  # security: none, to this machine's network address
    with pytest.raises(ConfigError, match=r"smtp: security none sends the reports in the clear"):
        send_reports(lite.settings, DAY)
    assert _send(lite) == 2
    err = capsys.readouterr().err
    assert f"in the clear to '{smtp_lan.host}'" in err
    assert "allow_plaintext: true" in err
    assert smtp_lan.received == []


def test_a_password_never_goes_in_the_clear_to_another_host(
    lite: Deployment, smtp_lan: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.smtp_server import USERNAME

    lite.configure(smtp_lan, smtp={"username": USERNAME, "allow_plaintext": True})
    assert _send(lite) == 2
    assert "would send the password" in capsys.readouterr().err
    assert smtp_lan.received == []


def test_allow_plaintext_sends_with_a_warning(
    lite: Deployment, smtp_lan: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    lite.configure(smtp_lan, smtp={"allow_plaintext": True})
    result = send_reports(lite.settings, DAY, school_ids=["s002"])
    assert result.ok, summary_lines(result)
    assert smtp_lan.handler.recipients() == ["head@s002.example.org"]
    (warning,) = result.warnings
    assert f"unencrypted to {smtp_lan.host}:{smtp_lan.port}" in warning
    lines = summary_lines(result)
    assert lines[0] == f"warning: {warning}"
    assert result.to_json()["warnings"] == [warning]


@pytest.fixture
def smtp_plain_auth() -> Iterator[SmtpServer]:
    """A relay on loopback that takes AUTH without TLS (as a local relay may)."""
    from tests.smtp_server import (
        PASSWORD,
        USERNAME,
        CollectingHandler,
        SmtpServer,
        _authenticator,
        free_port,
    )

    handler = CollectingHandler()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        ready_timeout=10,
        authenticator=_authenticator,  # a wrong password fails the client's login
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield SmtpServer(controller.hostname, controller.port, handler, None, USERNAME, PASSWORD)
    finally:
        controller.stop()


def test_a_loopback_relay_may_take_a_password(
    lite: Deployment, smtp_plain_auth: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    lite.configure(smtp_plain_auth)
    monkeypatch.setenv("REPORTKIT_TEST_SMTP_PASSWORD", smtp_plain_auth.password or "")
    result = send_reports(lite.settings, DAY, school_ids=["s002"])
    assert result.ok, summary_lines(result)
    assert result.warnings == []
    assert smtp_plain_auth.handler.recipients() == ["head@s002.example.org"]


def test_a_missing_password_variable_exits_2(
    lite: Deployment,
    smtp_auth: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lite.configure(smtp_auth)
    monkeypatch.delenv("REPORTKIT_TEST_SMTP_PASSWORD", raising=False)
    assert _send(lite) == 2
    err = capsys.readouterr().err
    assert "smtp.username" in err
    assert "REPORTKIT_TEST_SMTP_PASSWORD" in err
    assert "not set" in err
    assert smtp_auth.received == []
