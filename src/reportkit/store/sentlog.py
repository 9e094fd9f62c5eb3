"""The sent log's at-most-once rules: what each recipient has, and what may be in flight.

Two tables of :mod:`reportkit.store` hold it. ``sent_log`` has one row per
message a server accepted, with the report's hash (its version).
``send_attempts`` has one row per message handed to a server whose acceptance
is not logged: it is written before SMTP DATA and removed in the same
transaction that logs the acceptance, or when the server refuses the message.
A row left behind means the recipient may have the message — the server's
answer never came (``unknown``), or the process or the store stopped between
the hand-over and the log (``sending``) — and the message is not sent again
without ``--force``.

Every write waits at most ``timeout`` seconds for a busy store (SQLite's busy
timeout, PostgreSQL's lock and statement timeouts); a write that fails raises
:class:`SentLogError`, and the batch stops rather than send what it could not
record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from reportkit.errors import DeliveryError, StoreError
from reportkit.store.engine import bounded_wait, error_reason

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["RecipientState", "SentLog", "SentLogError"]


class SentLogError(DeliveryError):
    """The sent log cannot be read or written: nothing more may be sent."""


@dataclass(frozen=True)
class RecipientState:
    """What the log knows of one recipient for one report (kind, target, date)."""

    sent_hash: str | None = None  # the hash of the latest report they accepted
    open_status: str | None = None  # "sending" | "unknown": an attempt left unresolved
    open_message_id: str = ""
    open_started_at: datetime | None = None  # naive UTC, as stored
    open_detail: str = ""


class SentLog:
    """The sent log of one store, with writes bounded by ``timeout`` seconds."""

    def __init__(self, engine: Engine, timeout: float = 30.0) -> None:
        self.engine = engine
        self.timeout_ms = max(1, round(timeout * 1000))

    # -- reading ---------------------------------------------------------------------

    def state(self, kind: str, target_id: str, day: date) -> dict[str, RecipientState]:
        """Lower-cased recipient -> its state, for every recipient the log has seen."""
        from reportkit.store.tables import send_attempts, sent_log

        sent = (
            sa.select(sent_log.c.recipient, sent_log.c.report_hash)
            .where(
                sent_log.c.kind == kind, sent_log.c.target_id == target_id, sent_log.c.date == day
            )
            .order_by(sent_log.c.sent_at, sent_log.c.id)
        )
        attempts = (
            sa.select(send_attempts)
            .where(
                send_attempts.c.kind == kind,
                send_attempts.c.target_id == target_id,
                send_attempts.c.date == day,
            )
            .order_by(send_attempts.c.started_at, send_attempts.c.id)
        )
        states: dict[str, RecipientState] = {}
        try:
            with self.engine.connect() as conn:
                for r in conn.execute(sent):
                    states[r.recipient.lower()] = RecipientState(sent_hash=r.report_hash)
                for r in conn.execute(attempts):
                    key = r.recipient.lower()
                    previous = states.get(key, RecipientState())
                    states[key] = RecipientState(
                        previous.sent_hash, r.status, r.message_id, r.started_at, r.detail
                    )
        except (sa.exc.SQLAlchemyError, StoreError) as exc:
            raise SentLogError(f"cannot read the sent log: {error_reason(exc)}") from exc
        return states

    # -- writing ---------------------------------------------------------------------

    def begin(
        self,
        kind: str,
        target_id: str,
        day: date,
        recipient: str,
        message_id: str,
        report_hash: str,
    ) -> int:
        """Record that the message is about to be handed over; returns the attempt's id."""
        from reportkit.store.tables import send_attempts, utcnow

        now = utcnow()
        row = {
            "kind": kind,
            "target_id": target_id,
            "date": day,
            "recipient": recipient,
            "message_id": message_id,
            "report_hash": report_hash,
            "status": "sending",
            "detail": "",
            "started_at": now,
            "updated_at": now,
        }
        ids: list[int] = []
        self._write(
            "record the attempt",
            lambda conn: ids.append(
                conn.execute(sa.insert(send_attempts).returning(send_attempts.c.id), [row])
                .scalars()
                .one()
            ),
        )
        return ids[0]

    def accepted(
        self,
        kind: str,
        target_id: str,
        day: date,
        recipient: str,
        message_id: str,
        report_hash: str,
        *,
        content_hash: str | None = None,
        findings_hash: str = "",
    ) -> tuple[int, bool] | None:
        """The server took it: log it as sent (and in the audit log) and close every open
        attempt for the recipient. With ``content_hash`` (a report's), its version is
        recorded too (:func:`reportkit.store.record_version`): (number, new) is returned."""
        from reportkit.store.audit import audit_row, record_audit
        from reportkit.store.tables import send_attempts, sent_log, utcnow
        from reportkit.store.versions import record_version

        sent_at = utcnow()
        row = {
            "kind": kind,
            "target_id": target_id,
            "date": day,
            "recipient": recipient,
            "message_id": message_id,
            "report_hash": report_hash,
            "sent_at": sent_at,
        }

        detail: dict[str, Any] = {"kind": kind, "target_id": target_id, "message_id": message_id}
        version: list[tuple[int, bool]] = []

        def write(conn: sa.Connection) -> None:
            conn.execute(sa.insert(sent_log), [row])
            version.clear()
            if content_hash is not None:
                version.append(
                    record_version(
                        conn,
                        kind,
                        target_id,
                        day,
                        report_hash,
                        content_hash,
                        findings_hash,
                        sent_at,
                    )
                )
                detail["version"] = version[0][0]
            audit = audit_row(
                "send",
                day=day,
                school_id=target_id if kind != "district" else None,
                subject=recipient,
                sha256=report_hash,
                detail=detail,
                at=sent_at,
            )
            record_audit(conn, [audit])  # in the acceptance's transaction
            conn.execute(
                sa.delete(send_attempts).where(
                    send_attempts.c.kind == kind,
                    send_attempts.c.target_id == target_id,
                    send_attempts.c.date == day,
                    sa.func.lower(send_attempts.c.recipient) == recipient.lower(),
                )
            )

        self._write("record the acceptance", write)
        return version[0] if version else None

    def unknown(self, attempt_id: int, detail: str) -> None:
        """The server's answer never came: the attempt stays open as ``unknown``."""
        from reportkit.store.tables import send_attempts, utcnow

        stmt = (
            sa.update(send_attempts)
            .where(send_attempts.c.id == attempt_id)
            .values(status="unknown", detail=detail[:1000], updated_at=utcnow())
        )
        self._write("record the unknown outcome", lambda conn: conn.execute(stmt))

    def refused(self, attempt_id: int) -> None:
        """The server refused the message for certain: nothing is open any more."""
        from reportkit.store.tables import send_attempts

        stmt = sa.delete(send_attempts).where(send_attempts.c.id == attempt_id)
        self._write("clear the refused attempt", lambda conn: conn.execute(stmt))

    def _write(self, what: str, work: Callable[[sa.Connection], Any]) -> None:
        try:
            with self.engine.connect() as conn, bounded_wait(conn, self.timeout_ms):
                work(conn)
        except (sa.exc.SQLAlchemyError, StoreError) as exc:
            raise SentLogError(f"cannot {what} in the sent log: {error_reason(exc)}") from exc
