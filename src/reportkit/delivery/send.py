"""Email delivery: the reports, the units' roll-ups and the reminders, sent once.

Each school's report goes to the school's recipients, each unit's roll-up to the
unit's (both from ``schools.yaml``), schools first, then the units bottom-up, the
unit's upward Excel form (``units/<unit_id>.xlsx``) attached beside its PDF; one
message per recipient: what it
says comes from :mod:`reportkit.delivery.body`, how it is assembled and carried
(``smtp``, or ``eml`` files for a dry run) from :mod:`reportkit.delivery.transport`.

Never stale: a report is attached only when ``outputs/<date>/manifest.json``
says its last run ended ``ok``, from findings that hash the same as the findings
it is sent from, and the PDF on disk has the sha256 the run recorded
(:func:`check_report`). Standalone (``reportkit send``) those are computed from the
store now, the follow-ups attached as the runner attaches them, so that a report
the data has moved on from is not sent; the afternoon job hands over the findings
its run rendered from (``RunResult.findings``), computed once in the process. With
``mask_names`` the masked rendering is attached, never the full one.

Sent once (:mod:`reportkit.store.sentlog`): a report's version is a hash of the
manifest's content hash and the message text; each recipient gets one message
per version, under a Message-ID that is the same for every copy. The attempt is
recorded before SMTP DATA; a reply that never comes after the data went out is
``unknown`` and not retried, nor resent by a rerun, without ``force``. A
recipient who has an older version is reported as changed and sent again only
with ``force``. Refused recipients and an unreachable server are retried with
back-off, then recorded as failed; once the server has stayed unreachable
through every retry (or refused the credentials, the certificate, the sender)
the remaining messages fail at once. When the sent log cannot be written the
batch stops: nothing more is sent, and the summary says why.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import parseaddr
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from reportkit.context import RunContext
from reportkit.delivery.checks import NotSendable, ReportFile, check_report, read_manifest
from reportkit.delivery.outcome import DeliveryResult, Kind, MessageOutcome, Status
from reportkit.delivery.transport import (
    Envelope,
    OutcomeUnknown,
    Sender,
    compose,
    get_sender,
    stable_message_id,
    wire_bytes,
)
from reportkit.errors import DeliveryError
from reportkit.i18n import t
from reportkit.layout import day_outputs, output_dir
from reportkit.store import SentLog, SentLogError, SentVersion, day_versions

if TYPE_CHECKING:
    from filelock import FileLock

    from reportkit.config import DeliveryConfig, Recipient, SchoolsConfig, Settings
    from reportkit.delivery.body import MailBody
    from reportkit.findings import Findings, UnitRollup
    from reportkit.store.sentlog import RecipientState

__all__ = [
    "send_reminders",
    "send_reports",
]

log = logging.getLogger(__name__)


# -- messages ----------------------------------------------------------------------


@dataclass
class Outgoing:
    """One report or reminder for one target, before it is addressed to each recipient."""

    kind: Kind
    target_id: str
    name: str
    report_date: date
    recipients: list[Recipient]
    zone: ZoneInfo
    body: MailBody | None = None
    report: ReportFile | None = None
    pdf_name: str = ""
    # further files attached after the PDF (a unit's upward form): data and file name
    attachments: list[tuple[bytes, str]] = field(default_factory=list)
    error: str | None = None
    status: Status = "failed"  # the outcome when ``error`` is set
    # a later version of a report that was sent: the 【更正】 for those who got an
    # earlier one, the versions sent so far, the hash of the findings it is sent from,
    # and how the version is kept once a server first accepts it (its number)
    correction_body: MailBody | None = None
    versions: list[SentVersion] = field(default_factory=list)
    findings_hash: str = ""
    freeze: Callable[[int], object] | None = None

    @property
    def report_hash(self) -> str:
        """The message's hash: what the report shows (the rendering's content hash,
        masked or not) and what the message says; no timestamps, so an unchanged rerun
        matches."""
        assert self.body is not None  # only a message that was built is hashed (and sent)
        return self.message_hash(self.body)

    def same_content(self, sent_hash: str) -> bool:
        """The message of ``sent_hash`` carried a report showing what this one shows."""
        shown = self.report.content_hash if self.report else None
        return any(sent_hash in v.report_hashes and v.content_hash == shown for v in self.versions)

    def message_hash(self, body: MailBody) -> str:
        digest = hashlib.sha256()
        report = self.report
        parts = (
            report.content_hash if report else "",
            "masked" if report and report.masked else "",
            body.subject,
            body.text,
            body.html,
        )
        for part in parts:
            data = part.encode()
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
        return digest.hexdigest()


# -- sending with retries ----------------------------------------------------------


def _fatal(exc: BaseException) -> bool:
    """Errors no retry can fix: credentials, TLS, a server without STARTTLS.

    Permanent (5xx) replies to the connection, EHLO or MAIL FROM are fatal too:
    they concern the sender, not one message.
    """
    return isinstance(
        exc,
        smtplib.SMTPAuthenticationError | smtplib.SMTPNotSupportedError | ssl.SSLError,
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return f"{type(exc).__name__}: {exc.smtp_code} {text}"
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


class _Stop(DeliveryError):
    """The sent log failed: the batch must not send anything more."""


class _Batch:
    """Sends the messages of one run, keeping track of a server that is down."""

    def __init__(self, config: DeliveryConfig, sender: Sender, sent_log: SentLog | None) -> None:
        self.config = config
        self.sender = sender
        self.log = sent_log  # None: a dry run, nothing recorded
        self.server_down: str | None = None
        self.stopped: str | None = None
        self.from_ = config.from_
        self.envelope_from = parseaddr(config.from_)[1]

    def deliver(self, out: Outgoing, *, force: bool, resend_changed: bool) -> MessageOutcome:
        started = time.perf_counter()
        result = MessageOutcome(out.kind, out.target_id, out.name, out.status, error=out.error)
        if out.error is not None:
            return result
        if not out.recipients:
            result.status = "no_recipients"
            return result
        assert out.body is not None
        plain = (out.body, out.report_hash)
        fix = None
        if out.correction_body is not None:
            fix = (out.correction_body, out.message_hash(out.correction_body))
        current = {plain[1], *([fix[1]] if fix else [])}
        try:
            states = {} if self.log is None else self.log.state(*self._key(out))
        except SentLogError as exc:
            self.stopped = str(exc)
            result.not_sent = [r.email for r in out.recipients]
            result.error = "not sent: the batch stopped"
            return result
        self._keep_sent(out, result)

        def corrects(state: RecipientState | None) -> bool:
            """They got an earlier version, which this one corrects."""
            got = state.sent_hash if state is not None else None
            return fix is not None and got is not None and not out.same_content(got)

        pending: list[tuple[Recipient, tuple[MailBody, str]]] = []
        for rcpt in out.recipients:
            state = states.get(rcpt.email.lower())
            if force or state is None:
                pending.append((rcpt, fix if fix and corrects(state) else plain))
            elif state.sent_hash in current:
                result.skipped.append(rcpt.email)
            elif state.open_status is not None:
                result.unknown[rcpt.email] = _open_attempt(state, out.zone)
            elif state.sent_hash is None:
                pending.append((rcpt, plain))
            elif fix and corrects(state):
                pending.append((rcpt, fix))  # 【更正】: once, to those who got the earlier one
            elif not resend_changed:
                result.skipped.append(rcpt.email)
            else:
                result.changed.append(rcpt.email)
        for i, (rcpt, (body, digest)) in enumerate(pending):
            try:
                self._one(out, rcpt, body, digest, result)
            except _Stop:
                result.not_sent += [r.email for r, _ in pending[i + 1 :]]
                break
        result.seconds = round(time.perf_counter() - started, 3)
        result.status = _status(result, dry_run=self.log is None)
        if result.refused and not result.error:
            result.error = "not delivered to " + ", ".join(result.refused)
        if self.stopped and (result.not_sent or result.unrecorded):
            result.error = "; ".join(filter(None, [result.error, "the batch stopped"]))
        return result

    @staticmethod
    def _key(out: Outgoing) -> tuple[str, str, date]:
        return out.kind, out.target_id, out.report_date

    def _keep_sent(self, out: Outgoing, result: MessageOutcome, version: int = 0) -> None:
        """Keep version ``version`` on disk (0: the latest sent, when it is what the
        report shows now and its folder is missing: a run stopped before keeping it)."""
        if out.freeze is None or self.log is None:
            return
        if not version:
            latest = out.versions[-1] if out.versions else None
            shown = out.report.content_hash if out.report else None
            if latest is None or latest.content_hash != shown:
                return
            version = latest.version
        try:
            out.freeze(version)
        except (OSError, ValueError) as exc:
            why = f"cannot keep version {version}: {exc}"
            log.error("%s %s: %s", out.kind, out.target_id, why)
            result.error = "; ".join(filter(None, [result.error, why]))

    def _one(
        self,
        out: Outgoing,
        rcpt: Recipient,
        body: MailBody,
        digest: str,
        result: MessageOutcome,
    ) -> None:
        """Send to one recipient and record it; raises :class:`_Stop` if the log fails."""
        envelope = Envelope(
            out.kind, out.target_id, out.report_date, self.envelope_from, rcpt.email
        )
        message_id = stable_message_id(envelope, digest, self.from_)
        message = compose(
            body,
            envelope,
            self.from_,
            rcpt.name,
            out.report.data if out.report else None,
            out.pdf_name,
            message_id=message_id,
            sent_at=datetime.now(out.zone),
            attachments=out.attachments,
        )
        result.bytes = max(result.bytes, len(wire_bytes(message)))
        attempt: list[int] = []

        def before_data() -> None:
            # one attempt row per message: a retry comes only after a definite refusal
            # (nothing was handed over), so the row of the first try still stands for it
            if self.log is not None and not attempt:
                attempt.append(self.log.begin(*self._key(out), rcpt.email, message_id, digest))

        try:
            verdict, reason = self._send(message, envelope, before_data)
        except SentLogError as exc:  # the attempt could not be recorded: nothing handed over
            self.stopped = str(exc)
            result.not_sent.append(rcpt.email)
            raise _Stop from exc
        try:
            if verdict == "accepted":
                result.accepted.append(rcpt.email)
                if self.log is not None:
                    version = self.log.accepted(
                        *self._key(out),
                        rcpt.email,
                        message_id,
                        digest,
                        content_hash=out.report.content_hash if out.report else None,
                        findings_hash=out.findings_hash,
                    )
                    if version is not None and version[1]:  # first accepted: keep it
                        self._keep_sent(out, result, version[0])
            elif verdict == "unknown":
                result.unknown[rcpt.email] = reason
                if self.log is not None and attempt:
                    self.log.unknown(attempt[0], reason)
            else:
                result.refused[rcpt.email] = reason
                if self.log is not None and attempt:
                    self.log.refused(attempt[0])
        except SentLogError as exc:
            self.stopped = str(exc)
            if verdict == "accepted":
                result.unrecorded.append(rcpt.email)
            log.error("%s %s to %s: %s", out.kind, out.target_id, rcpt.email, exc)
            raise _Stop from exc

    def _send(
        self, message: EmailMessage, envelope: Envelope, before_data: Callable[[], None]
    ) -> tuple[str, str]:
        """("accepted", ""), ("refused", why) after ``retries`` more attempts, or
        ("unknown", why) at once. :class:`SentLogError` from ``before_data`` propagates."""
        if self.server_down is not None:
            return "refused", f"not attempted, server unavailable: {self.server_down}"
        retries, backoff = self.config.retries, self.config.backoff_seconds
        error = ""
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            try:
                refusal = self.sender.send(message, envelope, before_data)
            except OutcomeUnknown as exc:
                log.error(
                    "%s %s to %s: %s", envelope.kind, envelope.target_id, envelope.recipient, exc
                )
                return "unknown", str(exc)
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
                    return "refused", error
                if code >= 500:
                    return "refused", error  # this message was rejected for good (5xx after DATA)
                if attempt == retries and not isinstance(exc, smtplib.SMTPResponseException):
                    self.server_down = error  # still unreachable after every retry
                continue
            if refusal is None:
                return "accepted", ""
            error = f"refused: {refusal}"
            log.warning("%s refused %s: %s", envelope.kind, envelope.recipient, refusal)
        return "refused", error


def _status(result: MessageOutcome, *, dry_run: bool) -> Status:
    if result.refused or result.not_sent:
        return "failed"
    if result.unknown:
        return "unknown"
    if dry_run:
        return "dry_run"
    if result.accepted:
        return "sent"
    if result.changed:
        return "changed_not_sent"
    return "skipped_already_sent"


def _open_attempt(state: RecipientState, zone: ZoneInfo) -> str:
    when = ""
    if state.open_started_at is not None:
        local = state.open_started_at.replace(tzinfo=UTC).astimezone(zone)
        when = f" at {local.isoformat(timespec='seconds')}"
    what = (
        "no answer from the server after the message data"
        if state.open_status == "unknown"
        else "handed to the server, acceptance never recorded"
    )
    return f"earlier attempt{when}: {what}"


# -- public entry points -----------------------------------------------------------


def _lock(settings: Settings, report_date: date) -> FileLock:
    from filelock import FileLock

    lock = day_outputs(settings.outputs, report_date).delivery_lock
    lock.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(lock, timeout=600)


def _run(
    ctx: RunContext,
    report_date: date,
    outgoing: Sequence[Outgoing],
    *,
    dry_run: bool,
    force: bool,
    resend_changed: bool,
    sender: str | None = None,
) -> DeliveryResult:
    config = ctx.delivery
    mail_dir = day_outputs(ctx.settings.outputs, report_date).mail
    factory = get_sender(sender or ("eml" if dry_run else "smtp"))
    with _lock(ctx.settings, report_date):
        sent_log = None if dry_run else SentLog(ctx.engine, config.sent_log_timeout)
        transport = factory(config, mail_dir)
        batch = _Batch(config, transport, sent_log)
        outcomes = []
        try:
            for out in outgoing:
                if batch.stopped is not None:
                    skipped = MessageOutcome(
                        out.kind,
                        out.target_id,
                        out.name,
                        "failed",
                        error="not sent: the batch stopped",
                    )
                    skipped.not_sent = [r.email for r in out.recipients]
                    outcomes.append(skipped)
                    continue
                outcomes.append(batch.deliver(out, force=force, resend_changed=resend_changed))
        finally:
            transport.close()
    return DeliveryResult(
        report_date,
        outcomes,
        mail_dir if dry_run else None,
        written=list(getattr(transport, "written", [])),
        stopped=batch.stopped and f"the sent log cannot be written: {batch.stopped}",
        warnings=list(getattr(transport, "warnings", [])),
    )


def send_reports(
    context: RunContext | Settings,
    report_date: date,
    school_ids: Sequence[str] | None = None,
    unit_ids: Sequence[str] | None = None,
    *,
    findings: Findings | None = None,
    dry_run: bool | None = None,
    force: bool | None = None,
    lang: str | None = None,
    sender: str | None = None,
    with_rollups: bool = False,
) -> DeliveryResult:
    """Email each selected school's report, then each selected unit's roll-up (deepest
    level first), the unit's upward form attached when it has one.

    With neither ``school_ids`` nor ``unit_ids`` every school and every roll-up with
    recipients; ``school_ids`` alone, those schools' reports only (``with_rollups``: and
    the roll-ups with recipients above them, as the runner renders them); ``unit_ids``, those
    roll-ups, those with recipients under them and their schools (narrowed by
    ``school_ids``), as the runner selects them (:func:`reportkit.execution.select_units`).
    A report that :func:`check_report` refuses is not sent: ``stale`` or ``failed``
    with the reason.

    ``context``: the command's :class:`~reportkit.context.RunContext` (or settings);
    ``dry_run``, ``force`` and ``lang`` left out are its options'. ``findings``: what
    to send from, the run's (:attr:`reportkit.execution.RunResult.findings`, which must
    hold every school sent and every school of each roll-up sent); without them they
    are computed from the store now, so that a report the data moved on from is
    refused as stale.
    """
    ctx = RunContext.of(context, sync=True)
    options = ctx.options.merged(dry_run=dry_run, force=force, lang=lang)
    lang = options.lang
    ctx.require_store(school_ids, unit_ids)  # no store or no roster: never zeros
    from reportkit.delivery.body import school_body, unit_body
    from reportkit.execution import rendered_units, select_units, unit_waves
    from reportkit.findings import findings_hash, rollup_hash, save_findings, save_unit, unit_status

    settings, config, delivery = ctx.settings, ctx.schools, ctx.delivery
    schools, units = select_units(config, school_ids, unit_ids)
    if school_ids and not unit_ids and not with_rollups:
        units = []  # those schools' reports only (the runner re-renders the roll-ups above)
    if findings is None:
        findings = _findings(ctx, report_date, schools, units)
    else:
        _check_covers(findings, config, report_date, schools, units)
    manifest = read_manifest(settings.outputs, report_date)
    sent = day_versions(ctx.engine, report_date)  # the versions of the day's reports sent
    day = report_date.isoformat()
    outgoing: list[Outgoing] = []
    own_of = findings.by_school() if schools else {}  # one pass, not one per school
    for sid in schools:
        own = own_of[sid]
        school = config.school(sid)
        out = Outgoing(
            "school", sid, school.name, report_date, list(school.recipients), config.zone(sid)
        )
        out.pdf_name = f"{school.name}_{day}_{t('pdf_suffix_school', lang)}.pdf"
        entry = manifest.get(("school", sid))
        body = partial(school_body, own, school, config.district(school.district), delivery, lang)
        _prepare(
            out,
            partial(
                check_report,
                entry,
                findings_hash(own, sid),
                output_dir(settings.outputs, report_date, "school", sid),
                masked=bool(delivery.mask_names),
                lang=lang,
            ),
            body,
        )
        _versioned(
            ctx,
            out,
            entry,
            sent,
            own,
            body,
            partial(save_findings, own, run_id=_run_of(entry)),
            findings_hash(own, sid),
        )
        outgoing.append(out)
    # each unit's roll-up as the runner made it: its child units' status from the manifest
    rendered = rendered_units(manifest)
    for wave in unit_waves(config, units):
        statuses = {
            c: unit_status(config, c, report_date, rendered.get(c))
            for u in wave
            for c in config.children[u]
            if c in config.districts_by_id
        }
        rollups = findings.units(config, wave, statuses)
        for uid in wave:
            unit = config.unit(uid)
            rollup = rollups[uid]
            out = Outgoing(
                "unit", uid, unit.name, report_date, list(unit.recipients), config.zone()
            )
            out.pdf_name = f"{unit.name}_{day}_{t('pdf_suffix_district', lang)}.pdf"
            entry = manifest.get(("unit", uid))
            body = partial(unit_body, rollup, unit, delivery, lang)
            _prepare(
                out,
                partial(
                    check_report,
                    entry,
                    rollup_hash(rollup),
                    output_dir(settings.outputs, report_date, "unit", uid),
                    lang=lang,
                ),
                body,
            )
            if unit.form is not None and out.error is None:
                _attach_form(ctx, out, rollup, lang)
            _versioned(
                ctx,
                out,
                entry,
                sent,
                rollup,
                body,
                partial(save_unit, rollup, run_id=_run_of(entry)),
                rollup_hash(rollup),
            )
            outgoing.append(out)
    return _run(
        ctx,
        report_date,
        outgoing,
        dry_run=options.dry_run,
        force=options.force,
        resend_changed=True,
        sender=sender,
    )


def _run_of(entry: Mapping[str, Any] | None) -> str:
    return str((entry or {}).get("run_id") or "")


def _versioned(
    ctx: RunContext,
    out: Outgoing,
    entry: Mapping[str, Any] | None,
    sent: Mapping[tuple[str, str], list[SentVersion]],
    current: Findings | UnitRollup,
    body: Callable[..., MailBody],
    snapshot: Callable[[Path], object],
    shows: str,
) -> None:
    """Tie the message to its report's versions: those sent so far, the 【更正】 of a later
    version (:func:`reportkit.delivery.reissue.correction`) and how the version is kept
    when a server first accepts it. ``shows``: the hash of the findings sent from."""
    from reportkit.delivery.reissue import correction, freeze_version

    if out.error is not None or out.report is None:
        return
    out.versions = list(sent.get((out.kind, out.target_id), []))
    out.findings_hash = shows
    outputs = Path(ctx.settings.outputs)
    fix = correction(outputs, entry, out.versions, out.zone, current, out.target_id)
    if fix is not None:
        try:
            out.correction_body = body(correction=fix)
        except (ValueError, KeyError) as exc:
            out.error = f"cannot build the correction: {exc}"
            return
    meta = {
        "kind": out.kind,
        "id": out.target_id,
        "date": out.report_date.isoformat(),
        "content_hash": out.report.content_hash,
        "findings_hash": shows,
        "run_id": _run_of(entry),
    }
    out.freeze = partial(
        freeze_version,
        outputs,
        out.report_date,
        out.kind,
        out.target_id,
        snapshot=snapshot,
        meta=meta,
    )


def _attach_form(ctx: RunContext, out: Outgoing, rollup: UnitRollup, lang: str) -> None:
    """Attach the unit's filled form: the run's ``units/<id>.xlsx``, filled now (and
    written) when the run left none. A form that cannot be filled stops the message."""
    from reportkit.reports import load_form, write_form

    unit = ctx.schools.unit(out.target_id)
    assert unit.form is not None
    path = day_outputs(ctx.settings.outputs, out.report_date).form(out.target_id)
    try:
        if not path.exists():
            write_form(load_form(ctx.settings.params, unit.form), rollup, path, lang)
        data = path.read_bytes()
    except (OSError, ValueError) as exc:
        out.error = f"cannot attach the form {path}: {exc}"
        return
    day = out.report_date.isoformat()
    out.attachments.append((data, f"{unit.name}_{day}_{t('xlsx_suffix_unit', lang)}.xlsx"))


def _prepare(out: Outgoing, check: Callable[[], ReportFile], build: Callable[[], MailBody]) -> None:
    """Check the report and build the body; a report that cannot go is the target's outcome."""
    try:
        out.report = check()
    except NotSendable as exc:
        out.error, out.status = f"not sent: {exc.reason}", exc.status
        log.error("%s %s: %s", out.kind, out.target_id, out.error)
        return
    try:
        out.body = build()
    except (ValueError, KeyError) as exc:
        out.error = f"cannot build the message: {exc}"


def send_reminders(
    context: RunContext | Settings,
    report_date: date,
    *,
    force: bool | None = None,
    dry_run: bool | None = None,
    now: datetime | None = None,
    lang: str | None = None,
    sender: str | None = None,
) -> DeliveryResult:
    """Remind each school whose submission or people are missing: classes and counts.

    Sent once per school and day (``sent_log`` kind ``reminder``) unless ``force``.
    A reminder is for before the school's deadline: once it has passed (at ``now``,
    in the school's time zone) the school is listed as ``past_deadline`` and nothing
    is sent, unless ``force``. ``context``: as :func:`send_reports`'s.
    """
    ctx = RunContext.of(context, sync=True)
    options = ctx.options.merged(dry_run=dry_run, force=force, lang=lang)
    force, lang = options.force, options.lang
    ctx.require_store(rosters=False)  # no store: nothing to remind about
    from reportkit.delivery.body import reminder_body

    config, delivery = ctx.schools, ctx.delivery
    ids = [s.id for s in config.schools]
    findings = _findings(ctx, report_date, ids, ())
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
        out = Outgoing(
            "reminder", school.id, school.name, report_date, list(school.recipients), zone
        )
        out.body = reminder_body(findings, school, delivery, at, lang)
        outgoing.append(out)
    result = _run(
        ctx,
        report_date,
        outgoing,
        dry_run=options.dry_run,
        force=force,
        resend_changed=False,
        sender=sender,
    )
    result.outcomes.extend(late)
    return result


def _covered(
    config: SchoolsConfig, school_ids: Sequence[str], unit_ids: Sequence[str]
) -> list[str]:
    """The schools whose findings the messages need, in ``schools.yaml``'s order: those
    sent and every school of each roll-up sent."""
    wanted = set(school_ids)
    for u in unit_ids:
        wanted |= set(config.schools_under(u))  # a roll-up needs all its schools
    return [s.id for s in config.schools if s.id in wanted]


def _check_covers(
    findings: Findings,
    config: SchoolsConfig,
    report_date: date,
    school_ids: Sequence[str],
    unit_ids: Sequence[str],
) -> None:
    """Findings handed over must be of the day and hold every school the messages need."""
    if findings.date != report_date:
        raise ValueError(f"the findings are of {findings.date}, not {report_date}")
    have = set(findings.school_ids)
    lacking = [s for s in _covered(config, school_ids, unit_ids) if s not in have]
    if lacking:
        raise ValueError(f"the findings handed over do not hold {', '.join(lacking)}")


def _findings(
    ctx: RunContext,
    report_date: date,
    school_ids: Sequence[str],
    unit_ids: Sequence[str],
) -> Findings:
    """The findings computed from the store now, with each flagged person's latest
    follow-up attached as :func:`reportkit.execution.plan_jobs` attaches them, so that
    their hash is the one a report rendered from the same data recorded."""
    from reportkit.findings import load_findings
    from reportkit.store import latest_followups

    ordered = _covered(ctx.schools, school_ids, unit_ids)
    findings = load_findings(ctx.engine, ctx.schools, ctx.rules, report_date, ordered)
    return replace(findings, followups=latest_followups(ctx.engine, ordered, report_date))
