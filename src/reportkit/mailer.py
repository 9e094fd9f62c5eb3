"""How a message is made and carried: MIME assembly and the senders.

:func:`compose` turns a :class:`~reportkit.mailbody.MailBody` (and the report
PDF) into one :class:`email.message.EmailMessage` per recipient. Senders form a
registry like papermill's engines: ``smtp`` (one connection per batch, STARTTLS
or SSL, the password only from the environment) and ``eml`` (the dry run: the
exact messages as ``.eml`` files). What to send to whom, once, is
:mod:`reportkit.deliver`'s job.
"""

from __future__ import annotations

import os
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Protocol

from reportkit.errors import DeliveryError

__all__ = [
    "POLICY",
    "EmlSender",
    "Envelope",
    "Sender",
    "SmtpSender",
    "compose",
    "get_sender",
    "one_line",
    "register_sender",
    "safe_filename",
    "smtp_password",
]

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


class Sender(Protocol):
    """Delivers one message to one recipient; returns None if accepted, else the refusal.

    Connection trouble raises (``OSError``, ``smtplib.SMTPException``).
    """

    def send(self, message: EmailMessage, envelope: Envelope) -> str | None: ...

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


def smtp_password(smtp: Any) -> str | None:
    """The password from ``$<password_env>``; required when a username is set."""
    if not smtp.username:
        return None
    password = os.environ.get(smtp.password_env)
    if not password:
        raise DeliveryError(
            f"delivery.yaml: smtp.username is {smtp.username!r} but the environment variable "
            f"{smtp.password_env} holding its password is not set (passwords are never read "
            "from the file)"
        )
    return password


class SmtpSender:
    """One SMTP connection reused for a batch, reopened after a disconnect."""

    def __init__(self, config: Any, mail_dir: Path) -> None:
        self.smtp = config.smtp
        self.password = smtp_password(self.smtp)
        self._conn: smtplib.SMTP | None = None

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
                conn.login(s.username, self.password or "")
        except BaseException:
            conn.close()
            raise
        return conn

    def send(self, message: EmailMessage, envelope: Envelope) -> str | None:
        if self._conn is None:
            self._conn = self._connect()
        try:
            refused = self._conn.send_message(message, envelope.sender, [envelope.recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            if not isinstance(exc, smtplib.SMTPResponseException):
                self.close()
            raise
        if refused:
            code, reply = next(iter(refused.values()))
            text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
            return f"{code} {text}"
        return None

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()


class EmlSender:
    """The dry run: each message as ``<kind>_<id>_<recipient>.eml`` in ``mail_dir``."""

    def __init__(self, config: Any, mail_dir: Path) -> None:
        self.mail_dir = Path(mail_dir)

    def send(self, message: EmailMessage, envelope: Envelope) -> str | None:
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        rcpt = re.sub(r"[^A-Za-z0-9._-]+", "_", envelope.recipient.replace("@", "_at_"))
        path = self.mail_dir / f"{envelope.kind}_{envelope.target_id}_{rcpt}.eml"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(message.as_bytes(policy=POLICY))
        os.replace(tmp, path)
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


def compose(
    body: Any,
    envelope: Envelope,
    from_: str,
    recipient_name: str,
    pdf: bytes | None = None,
    pdf_name: str = "report.pdf",
) -> EmailMessage:
    """``body`` (a :class:`~reportkit.mailbody.MailBody`) as the message to one recipient.

    ``multipart/mixed`` > ``related`` > ``alternative`` (text, HTML), the images
    inline by Content-ID, the PDF attached; the recipient sees only their address.
    """
    from_name, from_addr = parseaddr(from_)
    if "@" not in from_addr:
        raise DeliveryError(f"delivery.yaml: from: not an address: {from_!r}")
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = one_line(body.subject)
    msg["From"] = _address(from_name, from_addr)
    msg["To"] = _address(recipient_name, envelope.recipient)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(
        idstring=f"{envelope.kind}.{envelope.target_id}.{envelope.report_date:%Y%m%d}",
        domain=Address(addr_spec=from_addr).domain,
    )
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
        msg.attach(alternative)
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
    return msg
