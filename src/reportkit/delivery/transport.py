"""How a message is made and carried: MIME assembly and the senders.

:func:`compose` turns a :class:`~reportkit.delivery.MailBody` (and the report
PDF) into one :class:`email.message.EmailMessage` per recipient, with a
Message-ID that is the same for the same report version and recipient
(:func:`stable_message_id`) and a ``Date:`` in the deployment's zone. Senders
form a registry like papermill's engines: ``smtp`` (one connection per batch,
STARTTLS or SSL, the password only from the environment) and ``eml`` (the dry
run: the exact messages as ``.eml`` files). What to send to whom, once, is
:mod:`reportkit.delivery.send`'s job.

The SMTP sender speaks MAIL, RCPT and DATA itself rather than through
``smtplib.SMTP.send_message``, to know where a failure happened: before DATA
nothing was handed over and a retry is safe; once the message data began to go
out, a lost connection or a reply that never came leaves the outcome unknown
(:class:`OutcomeUnknown`), and the message must not be sent again blindly.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import smtplib
import socket
import ssl
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from reportkit.errors import ConfigError, DeliveryError
from reportkit.layout import mail_file

if TYPE_CHECKING:
    from reportkit.config import DeliveryConfig, SmtpConfig

__all__ = [
    "POLICY",
    "EmlSender",
    "Envelope",
    "OutcomeUnknown",
    "Sender",
    "SmtpSender",
    "compose",
    "get_sender",
    "one_line",
    "register_sender",
    "safe_filename",
    "smtp_password",
    "stable_message_id",
]

log = logging.getLogger(__name__)

# CRLF, and text parts as quoted-printable or base64 (whichever is shorter): 8bit
# bodies need the server's 8BITMIME, which a relay may not offer
POLICY = policy.SMTP.clone(cte_type="7bit")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


# -- senders -----------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """Who a message goes to, and what it is (the ``.eml`` file name comes from it)."""

    kind: str
    target_id: str
    report_date: date
    sender: str
    recipient: str


class OutcomeUnknown(DeliveryError):
    """The message data began to go out, then the connection was lost or timed out.

    The server may have stored the message: it must not be sent again automatically.
    """


class Sender(Protocol):
    """Delivers one message to one recipient; returns None if accepted, else the refusal.

    ``before_data`` is called once the server has taken the recipient, right before
    the message itself is handed over; if it raises, nothing is handed over and the
    exception propagates. Trouble before that point raises ``OSError`` or
    ``smtplib.SMTPException`` (a retry is safe); trouble after it raises
    :class:`OutcomeUnknown`.
    """

    def send(
        self,
        message: EmailMessage,
        envelope: Envelope,
        before_data: Callable[[], None] | None = None,
    ) -> str | None: ...

    def close(self) -> None: ...


SenderFactory = Callable[[Any, Path], Sender]
_SENDERS: dict[str, SenderFactory] = {}


def register_sender(name: str, factory: SenderFactory) -> None:
    """Make ``factory(delivery_config, mail_dir)`` available as sender ``name``."""
    _SENDERS[name] = factory


def get_sender(name: str) -> SenderFactory:
    try:
        return _SENDERS[name]
    except KeyError:
        raise DeliveryError(
            f"No sender named {name!r}; known: {', '.join(sorted(_SENDERS))}"
        ) from None


def _tls_context(smtp: Any) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=smtp.ca_file)
    if not smtp.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def smtp_password(smtp: SmtpConfig) -> str | None:
    """The password from ``$<password_env>``; required when a username is set.

    A missing variable is a configuration error (exit 2), raised before anything is sent.
    """
    if not smtp.username:
        return None
    password = os.environ.get(smtp.password_env)
    if not password:
        raise ConfigError(
            "delivery.yaml",
            "smtp.username",
            reason=f"is {smtp.username!r} but the environment variable {smtp.password_env} "
            "holding its password is not set (passwords are never read from the file)",
        )
    return password


def _reply_text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _dot_stuffed(payload: bytes) -> bytes:
    """The DATA payload (RFC 5321 4.5.2): CRLF lines, leading dots doubled, the final dot."""
    payload = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", payload)
    payload = re.sub(rb"(?m)^\.", b"..", payload)
    if not payload.endswith(b"\r\n"):
        payload += b"\r\n"
    return payload + b".\r\n"


class SmtpSender:
    """One SMTP connection reused for a batch, reopened after a disconnect.

    ``security: none`` reaches this point only for a relay on this machine or with
    ``allow_plaintext`` and no username (see :class:`reportkit.config.SmtpConfig`);
    the latter leaves a warning in :attr:`warnings`.
    """

    def __init__(self, config: DeliveryConfig, mail_dir: Path) -> None:
        self.smtp = config.smtp
        self.password = smtp_password(self.smtp)
        self._conn: smtplib.SMTP | None = None
        self.warnings: list[str] = []
        warning = getattr(self.smtp, "plaintext_warning", None)
        if warning:
            log.warning("%s", warning)
            self.warnings.append(warning)

    def _connect(self) -> smtplib.SMTP:
        s = self.smtp
        local = socket.gethostname()  # getfqdn() may wait on DNS
        conn: smtplib.SMTP
        if s.security == "ssl":
            conn = smtplib.SMTP_SSL(
                s.host, s.port, local, timeout=s.timeout, context=_tls_context(s)
            )
        else:
            conn = smtplib.SMTP(s.host, s.port, local, timeout=s.timeout)
        try:
            conn.ehlo()
            if s.security == "starttls":
                conn.starttls(context=_tls_context(s))
                conn.ehlo()
            if s.username:
                if s.security == "none" and not _loopback(s.host):  # config refuses it too
                    raise DeliveryError(f"refusing to send a password in the clear to {s.host}")
                conn.login(s.username, self.password or "")
        except BaseException:
            conn.close()
            raise
        return conn

    def send(
        self,
        message: EmailMessage,
        envelope: Envelope,
        before_data: Callable[[], None] | None = None,
    ) -> str | None:
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        payload = _dot_stuffed(wire_bytes(message))
        try:
            code, reply = conn.mail(envelope.sender)
            if code != 250:
                self._abort(code)
                raise smtplib.SMTPSenderRefused(code, reply, envelope.sender)
            code, reply = conn.rcpt(envelope.recipient)
            if code not in (250, 251):
                self._abort(code)
                return f"{code} {_reply_text(reply)}"
            if before_data is not None:
                try:
                    before_data()
                except BaseException:
                    self._abort(0)
                    raise
            conn.putcmd("data")
            code, reply = conn.getreply()
            if code != 354:
                self._abort(code)
                raise smtplib.SMTPDataError(code, reply)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            if not isinstance(exc, smtplib.SMTPResponseException):
                self.close()
            raise
        # from here on the server may store the message whatever happens to us
        try:
            conn.send(payload)
            code, reply = conn.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise OutcomeUnknown(
                f"no answer after the message data ({type(exc).__name__}: {exc})"
            ) from exc
        if code != 250:
            self._abort(code)
            raise smtplib.SMTPDataError(code, reply)
        return None

    def _abort(self, code: int) -> None:
        """End the transaction after a refusal (RSET), or the connection after a 421."""
        if code == 421 or self._conn is None:
            self._drop()
            return
        try:
            self._conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()


def _loopback(host: str) -> bool:
    from reportkit.config import is_loopback_host

    return is_loopback_host(host)


class EmlSender:
    """The dry run: each message as ``<kind>_<id>_<recipient>.eml`` in ``mail_dir``.

    :attr:`written` lists the files this sender wrote, for the summary.
    """

    def __init__(self, config: DeliveryConfig, mail_dir: Path) -> None:
        self.mail_dir = Path(mail_dir)
        self.written: list[Path] = []

    def send(
        self,
        message: EmailMessage,
        envelope: Envelope,
        before_data: Callable[[], None] | None = None,
    ) -> str | None:
        from reportkit.files import write_atomic

        if before_data is not None:
            before_data()
        path = mail_file(self.mail_dir, envelope.kind, envelope.target_id, envelope.recipient)
        write_atomic(path, wire_bytes(message))
        self.written.append(path)
        return None

    def close(self) -> None:
        pass


register_sender("smtp", SmtpSender)
register_sender("eml", EmlSender)


# -- messages ----------------------------------------------------------------------


def one_line(value: object) -> str:
    """Header text: control characters (CR, LF …) become spaces, so nothing is injected."""
    return " ".join(_CONTROL.sub(" ", str(value)).split())


def safe_filename(name: str) -> str:
    return re.sub(r'[\\/:*?"<>|\x00-\x1f\x7f]+', "_", one_line(name)).strip(" .") or "report"


def _address(display: str, addr: str) -> str:
    return formataddr((one_line(display), addr), charset="utf-8")


def stable_message_id(envelope: Envelope, version: str, from_: str) -> str:
    """``<kind.target.date.version.recipient@domain>``, the same for every copy of one
    report version to one recipient, so mail systems can drop a duplicate.

    ``version`` is the report's hash; the recipient appears only as a digest.
    """
    from_addr = parseaddr(from_)[1]
    if "@" not in from_addr:
        raise DeliveryError(f"delivery.yaml: from: not an address: {from_!r}")
    domain = Address(addr_spec=from_addr).domain
    who = hashlib.sha256(envelope.recipient.strip().lower().encode()).hexdigest()[:12]
    ident = (
        f"reportkit.{envelope.kind}.{envelope.target_id}.{envelope.report_date:%Y%m%d}"
        f".{version[:16]}.{who}"
    )
    return f"<{ident}@{domain}>"


_WIRE: weakref.WeakKeyDictionary[EmailMessage, bytes] = weakref.WeakKeyDictionary()


def wire_bytes(message: EmailMessage) -> bytes:
    """``message`` as it goes on the wire (:data:`POLICY`), serialized once: its size is
    taken before it is sent, and a message with a PDF attached costs about 13 ms to
    serialize. A message is not changed after :func:`compose`."""
    raw = _WIRE.get(message)
    if raw is None:
        raw = _WIRE[message] = message.as_bytes(policy=POLICY)
    return raw


def compose(
    body: Any,
    envelope: Envelope,
    from_: str,
    recipient_name: str,
    pdf: bytes | None = None,
    pdf_name: str = "report.pdf",
    *,
    message_id: str | None = None,
    sent_at: datetime | None = None,
    attachments: Sequence[tuple[bytes, str]] = (),
) -> EmailMessage:
    """``body`` (a :class:`~reportkit.delivery.MailBody`) as the message to one recipient.

    ``multipart/mixed`` > ``related`` > ``alternative`` (text, HTML), the images
    inline by Content-ID, the PDF attached, then each of ``attachments`` (data, file
    name: a unit's upward form, ``.xlsx``); the recipient sees only their address.
    ``sent_at`` (aware; default now in this host's zone) becomes ``Date:`` with its
    offset; ``message_id`` defaults to one made from a hash of the body.
    """
    from_name, from_addr = parseaddr(from_)
    if "@" not in from_addr:
        raise DeliveryError(f"delivery.yaml: from: not an address: {from_!r}")
    if message_id is None:
        digest = hashlib.sha256(f"{body.subject}\n{body.text}\n{body.html}".encode()).hexdigest()
        message_id = stable_message_id(envelope, digest, from_)
    when = sent_at or datetime.now().astimezone()
    if when.tzinfo is None:
        raise ValueError("sent_at must be timezone-aware")
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = one_line(body.subject)
    msg["From"] = _address(from_name, from_addr)
    msg["To"] = _address(recipient_name, envelope.recipient)
    msg["Date"] = format_datetime(when.replace(microsecond=0))
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    msg["X-Reportkit"] = f"{envelope.kind} {envelope.target_id} {envelope.report_date}"
    if body.images:
        # mixed > related > alternative, the order mail clients expect; the stdlib
        # helpers nest the other way round, so the related part is built by hand
        alternative = MIMEPart(policy=POLICY)
        alternative.set_content(body.text)
        alternative.add_alternative(body.html, subtype="html")
        msg["MIME-Version"] = "1.0"  # set_content adds it; a hand-made multipart must too
        msg["Content-Type"] = "multipart/related"
        msg.set_param("type", "multipart/alternative")  # RFC 2387: the root's type
        msg.attach(cast("EmailMessage", alternative))  # any part; the stubs ask for msg's class
        for image in body.images:
            msg.add_related(
                image.data,
                "image",
                image.subtype,
                cid=f"<{image.cid}>",
                filename=image.filename,
                disposition="inline",
            )
    else:
        msg.set_content(body.text)
        msg.add_alternative(body.html, subtype="html")
    if pdf is not None:
        msg.add_attachment(pdf, "application", "pdf", filename=safe_filename(pdf_name))
    for data, name in attachments:
        maintype, subtype = _XLSX if name.lower().endswith(".xlsx") else _OCTETS
        msg.add_attachment(data, maintype, subtype, filename=safe_filename(name))
    return msg


_XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
_OCTETS = ("application", "octet-stream")
