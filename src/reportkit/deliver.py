"""Email delivery: the reports, the district roll-ups and the reminders, sent once.

Each school's report goes to the school's recipients, each district roll-up to
the district's (both from ``schools.yaml``), one message per recipient: what it
says comes from :mod:`reportkit.mailbody`, how it is assembled and carried
(``smtp``, or ``eml`` files for a dry run) from :mod:`reportkit.mailer`.

Sent once: the ``sent_log`` table holds one row per accepted recipient with the
report hash (sha256 of the PDF and the body). A rerun sends only to recipients
without a row; a recipient whose row has another hash is reported as changed
and sent again only with ``force``. Refused recipients and an unreachable
server are retried with back-off, then recorded as failed; nothing that was not
accepted is logged as sent. Once the server has stayed unreachable through
every retry (or refused the credentials, the certificate, the sender), the
remaining messages fail at once instead of waiting out the same retries.
A school whose PDF is missing fails; the others still go.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from reportkit.i18n import t
from reportkit.mailer import Envelope, Sender, compose, get_sender, register_sender

__all__ = [
    "DeliveryResult",
    "MessageOutcome",
    "get_sender",
    "register_sender",
    "send_reminders",
    "send_reports",
    "summary_lines",
]

log = logging.getLogger("reportkit.deliver")

Kind = Literal["school", "district", "reminder"]
Status = Literal[
    "sent",
    "skipped_already_sent",
    "changed_not_sent",
    "failed",
    "dry_run",
    "no_recipients",
    "past_deadline",
]


# -- outcomes ----------------------------------------------------------------------


@dataclass
class MessageOutcome:
    """What happened to one report (school, district) or reminder for its recipients."""

    kind: Kind
    target_id: str
    name: str
    status: Status
    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    error: str | None = None
    bytes: int = 0
    seconds: float = 0.0


@dataclass
class DeliveryResult:
    date: date
    outcomes: list[MessageOutcome]
    mail_dir: Path | None = None

    @property
    def failed(self) -> list[MessageOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def by_target(self, kind: str, target_id: str) -> MessageOutcome:
        for o in self.outcomes:
            if o.kind == kind and o.target_id == target_id:
                return o
        raise KeyError(f"no outcome for {kind} {target_id}")


def summary_lines(result: DeliveryResult) -> list[str]:
    """One line per report for the terminal, failures with their reasons."""
    lines = []
    for o in result.outcomes:
        parts = [f"{o.kind} {o.target_id} {o.name}: {o.status}"]
        if o.accepted:
            parts.append(f"{len(o.accepted)} accepted")
        if o.refused:
            parts.append("refused " + ", ".join(f"{r} ({e})" for r, e in o.refused.items()))
        if o.skipped:
            parts.append(f"{len(o.skipped)} already sent")
        if o.changed:
            parts.append(f"changed since sent to {len(o.changed)} (use --force to resend)")
        if o.error:
            parts.append(o.error)
        lines.append("; ".join(parts))
    counts: dict[str, int] = {}
    for o in result.outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    total = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to send"
    lines.append(f"{result.date.isoformat()}: {total}")
    if result.mail_dir is not None:
        lines.append(f"messages written to {result.mail_dir}")
    return lines


# -- messages ----------------------------------------------------------------------


@dataclass
class Outgoing:
    """One report or reminder for one target, before it is addressed to each recipient."""

    kind: Kind
    target_id: str
    name: str
    report_date: date
    recipients: list[Any]
    body: Any = None  # mailbody.MailBody
    pdf: bytes | None = None
    pdf_name: str = ""
    error: str | None = None

    @property
    def report_hash(self) -> str:
        digest = hashlib.sha256()
        for part in (self.pdf or b"", self.body.html.encode(), self.body.text.encode()):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        return digest.hexdigest()


# -- the sent log ------------------------------------------------------------------


def _sent_hashes(engine: Any, kind: str, target_id: str, day: date) -> dict[str, str]:
    """Recipient (lower case) -> the hash of the latest report sent to them."""
    from reportkit.store import sent_log

    stmt = (
        sa.select(sent_log.c.recipient, sent_log.c.report_hash)
        .where(sent_log.c.kind == kind, sent_log.c.target_id == target_id, sent_log.c.date == day)
        .order_by(sent_log.c.sent_at, sent_log.c.id)
    )
    with engine.connect() as conn:
        return {r.recipient.lower(): r.report_hash for r in conn.execute(stmt)}


def _record_sent(engine: Any, out: Outgoing, recipient: str, message_id: str, digest: str) -> None:
    from reportkit.store import sent_log, utcnow

    row = {
        "kind": out.kind,
        "target_id": out.target_id,
        "date": out.report_date,
        "recipient": recipient,
        "message_id": message_id,
        "report_hash": digest,
        "sent_at": utcnow(),
    }
    with engine.begin() as conn:
        conn.execute(sa.insert(sent_log), [row])


# -- sending with retries ----------------------------------------------------------


def _fatal(exc: BaseException) -> bool:
    """Errors no retry can fix: credentials, TLS, a server without STARTTLS.

    Permanent (5xx) replies to the connection, EHLO or MAIL FROM are fatal too:
    they concern the sender, not one message.
    """
    return isinstance(
        exc, smtplib.SMTPAuthenticationError | smtplib.SMTPNotSupportedError | ssl.SSLError
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return f"{type(exc).__name__}: {exc.smtp_code} {text}"
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


class _Batch:
    """Sends the messages of one run, keeping track of a server that is down."""

    def __init__(self, config: Any, sender: Sender, engine: Any, dry_run: bool) -> None:
        self.config = config
        self.sender = sender
        self.engine = engine
        self.dry_run = dry_run
        self.server_down: str | None = None
        self.from_ = config.from_
        self.envelope_from = parseaddr(config.from_)[1]

    def deliver(self, out: Outgoing, *, force: bool, resend_changed: bool) -> MessageOutcome:
        started = time.perf_counter()
        result = MessageOutcome(out.kind, out.target_id, out.name, "failed", error=out.error)
        if out.error is not None:
            return result
        if not out.recipients:
            result.status = "no_recipients"
            return result
        digest = out.report_hash
        sent = (
            {}
            if self.dry_run
            else _sent_hashes(self.engine, out.kind, out.target_id, out.report_date)
        )
        pending = []
        for rcpt in out.recipients:
            previous = sent.get(rcpt.email.lower())
            if force or previous is None:
                pending.append(rcpt)
            elif previous == digest or not resend_changed:
                result.skipped.append(rcpt.email)
            else:
                result.changed.append(rcpt.email)
        for rcpt in pending:
            envelope = Envelope(
                out.kind, out.target_id, out.report_date, self.envelope_from, rcpt.email
            )
            message = compose(out.body, envelope, self.from_, rcpt.name, out.pdf, out.pdf_name)
            result.bytes = max(result.bytes, len(message.as_bytes()))
            error = self._send(message, envelope)
            if error is None:
                result.accepted.append(rcpt.email)
                if not self.dry_run:
                    _record_sent(self.engine, out, rcpt.email, message["Message-ID"], digest)
            else:
                result.refused[rcpt.email] = error
        result.seconds = round(time.perf_counter() - started, 3)
        if result.refused:
            result.status = "failed"
            result.error = result.error or "not delivered to " + ", ".join(result.refused)
        elif self.dry_run:
            result.status = "dry_run"
        elif result.accepted:
            result.status = "sent"
        elif result.changed:
            result.status = "changed_not_sent"
        else:
            result.status = "skipped_already_sent"
        return result

    def _send(self, message: EmailMessage, envelope: Envelope) -> str | None:
        """None when accepted; else why not, after ``retries`` more attempts."""
        if self.server_down is not None:
            return f"not attempted, server unavailable: {self.server_down}"
        retries, backoff = self.config.retries, self.config.backoff_seconds
        error = ""
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            try:
                refusal = self.sender.send(message, envelope)
            except (smtplib.SMTPException, OSError) as exc:
                error = _describe(exc)
                log.warning(
                    "%s %s to %s, attempt %d: %s",
                    envelope.kind,
                    envelope.target_id,
                    envelope.recipient,
                    attempt + 1,
                    error,
                )
                code = getattr(exc, "smtp_code", 0)
                if _fatal(exc) or (code >= 500 and not isinstance(exc, smtplib.SMTPDataError)):
                    self.server_down = error  # every later message would fail the same way
                    return error
                if code >= 500:
                    return error  # this message was rejected for good (5xx after DATA)
                if attempt == retries and not isinstance(exc, smtplib.SMTPResponseException):
                    self.server_down = error  # still unreachable after every retry
                continue
            if refusal is None:
                return None
            error = f"refused: {refusal}"
            log.warning("%s refused %s: %s", envelope.kind, envelope.recipient, refusal)
        return error


# -- public entry points -----------------------------------------------------------


def _lock(settings: Any, report_date: date) -> Any:
    from filelock import FileLock

    folder = Path(settings.outputs) / report_date.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(folder / ".deliver.lock", timeout=600)


def _run(
    settings: Any,
    report_date: date,
    outgoing: Sequence[Outgoing],
    *,
    dry_run: bool,
    force: bool,
    resend_changed: bool,
    sender: str | None = None,
) -> DeliveryResult:
    config = settings.delivery()
    mail_dir = Path(settings.outputs) / report_date.isoformat() / "mail"
    factory = get_sender(sender or ("eml" if dry_run else "smtp"))
    with _lock(settings, report_date):
        engine = None
        if not dry_run:
            from reportkit import store

            engine = store.connect(settings.db)
        transport = factory(config, mail_dir)
        batch = _Batch(config, transport, engine, dry_run)
        try:
            outcomes = [
                batch.deliver(o, force=force, resend_changed=resend_changed) for o in outgoing
            ]
        finally:
            transport.close()
    return DeliveryResult(report_date, outcomes, mail_dir if dry_run else None)


def send_reports(
    settings: Any,
    report_date: date,
    school_ids: Sequence[str] | None = None,
    district_ids: Sequence[str] | None = None,
    *,
    dry_run: bool = False,
    force: bool = False,
    lang: str = "zh-CN",
    sender: str | None = None,
) -> DeliveryResult:
    """Email each selected school's report and each selected district's roll-up.

    With neither ``school_ids`` nor ``district_ids`` every school and district is
    sent; ``school_ids`` alone sends only those schools; ``district_ids`` sends those
    roll-ups and their schools (narrowed by ``school_ids`` when both are given).
    """
    from reportkit.mailbody import district_body, school_body
    from reportkit.runner import output_dir

    config = settings.schools()
    delivery = settings.delivery()
    schools, districts = _selection(config, school_ids, district_ids)
    findings = _findings(settings, config, report_date, schools, districts)
    day = report_date.isoformat()
    outgoing: list[Outgoing] = []
    for sid in schools:
        school = config.school(sid)
        out = Outgoing("school", sid, school.name, report_date, list(school.recipients))
        pdf = output_dir(settings.outputs, report_date, "school", sid) / "report.pdf"
        out.pdf_name = f"{school.name}_{day}_{t('pdf_suffix_school', lang)}.pdf"
        _attach(
            out,
            pdf,
            lambda s=school: school_body(findings, s, config.district(s.district), delivery, lang),
        )
        outgoing.append(out)
    for did in districts:
        district = config.district(did)
        out = Outgoing("district", did, district.name, report_date, list(district.recipients))
        pdf = output_dir(settings.outputs, report_date, "district", did) / f"{did}.pdf"
        out.pdf_name = f"{district.name}_{day}_{t('pdf_suffix_district', lang)}.pdf"
        _attach(
            out,
            pdf,
            lambda d=district: district_body(findings.district(d.id, config), d, delivery, lang),
        )
        outgoing.append(out)
    return _run(
        settings,
        report_date,
        outgoing,
        dry_run=dry_run,
        force=force,
        resend_changed=True,
        sender=sender,
    )


def _attach(out: Outgoing, pdf: Path, build: Callable[[], Any]) -> None:
    """Read the PDF and build the body; a missing PDF is the report's failure."""
    if not pdf.is_file():
        out.error = f"report PDF missing (render failed?): {pdf}"
        return
    out.pdf = pdf.read_bytes()
    try:
        out.body = build()
    except (ValueError, KeyError) as exc:
        out.error = f"cannot build the message: {exc}"


def send_reminders(
    settings: Any,
    report_date: date,
    *,
    force: bool = False,
    dry_run: bool = False,
    now: datetime | None = None,
    lang: str = "zh-CN",
    sender: str | None = None,
) -> DeliveryResult:
    """Remind each school whose submission or people are missing: classes and counts.

    Sent once per school and day (``sent_log`` kind ``reminder``) unless ``force``.
    A reminder is for before the school's deadline: once it has passed (at ``now``,
    in the school's time zone) the school is listed as ``past_deadline`` and nothing
    is sent, unless ``force``.
    """
    from reportkit.mailbody import reminder_body

    config = settings.schools()
    delivery = settings.delivery()
    ids = [s.id for s in config.schools]
    findings = _findings(settings, config, report_date, ids, (), fresh=True)
    outgoing = []
    late: list[MessageOutcome] = []
    for row in findings.schools.to_dict("records"):
        if row["submission"] != "missing" and not int(row["missing"] or 0):
            continue
        school = config.school(str(row["school_id"]))
        zone = config.zone(school.id)
        at = now.astimezone(zone) if now else datetime.now(zone)
        deadline = datetime.combine(report_date, school.deadline_time(), tzinfo=zone)
        if at >= deadline and not force:
            late.append(
                MessageOutcome(
                    "reminder",
                    school.id,
                    school.name,
                    "past_deadline",
                    error=f"deadline {school.deadline} has passed (use --force to send anyway)",
                )
            )
            continue
        out = Outgoing("reminder", school.id, school.name, report_date, list(school.recipients))
        out.body = reminder_body(findings, school, delivery, at, lang)
        outgoing.append(out)
    result = _run(
        settings,
        report_date,
        outgoing,
        dry_run=dry_run,
        force=force,
        resend_changed=False,
        sender=sender,
    )
    result.outcomes.extend(late)
    return result


def _selection(
    config: Any, school_ids: Sequence[str] | None, district_ids: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    for s in school_ids or ():
        config.school(s)
    for d in district_ids or ():
        config.district(d)
    if district_ids:
        wanted = set(district_ids)
        schools = [s.id for s in config.schools if s.district in wanted]
        if school_ids:
            schools = [s for s in dict.fromkeys(school_ids) if config.school(s).district in wanted]
        return schools, list(dict.fromkeys(district_ids))
    if school_ids:
        return list(dict.fromkeys(school_ids)), []
    used = {s.district for s in config.schools}
    return [s.id for s in config.schools], [d.id for d in config.districts if d.id in used]


def _findings(
    settings: Any,
    config: Any,
    report_date: date,
    school_ids: Sequence[str],
    district_ids: Sequence[str],
    *,
    fresh: bool = False,
) -> Any:
    """The runner's saved findings when they cover the schools (the PDFs were made
    from them), else computed from the store now."""
    from reportkit import flags, store

    wanted = set(school_ids)
    for d in district_ids:
        wanted |= {s.id for s in config.schools_in(d)}  # a roll-up needs all its schools
    ordered = [s.id for s in config.schools if s.id in wanted]
    if not fresh:
        from reportkit.findings_files import load_findings_files

        # the run's files (non-executable; None, with a warning, if any is unusable)
        folder = Path(settings.outputs) / report_date.isoformat() / "findings"
        findings = load_findings_files(folder, ordered, report_date)
        if findings is not None:
            return findings
    engine = store.connect(settings.db)
    store.sync_schools(engine, config)
    return flags.load_findings(engine, config, settings.rules(), report_date, ordered)
