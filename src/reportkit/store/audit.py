"""The audit log: one append-only table of what happened to the store and its reports.

Each row (:data:`reportkit.store.tables.audit_log`) is one event of
:data:`~reportkit.store.tables.AUDIT_EVENTS`, with the OS user and host that did it:

``ingestion``  a file written into the store: its content hash and path, and per
               school and date the rows inserted, replaced, unchanged, quarantined
               and findings (the file's totals beside them)
``revision``   rows a file replaced, per school and date: how many, the ids of their
               revisions and the people (or gate entries) they belong to
``followup``   an officer's follow-up: its id, person, action, officer
``render``     a report version rendered by a run: run id, content hash
``send``       a message a mail server accepted: recipient, report hash, message id
``config``     the configuration a run was made with: the sha256 of each params file
``purge``      what ``reportkit purge`` deleted: the cutoff and the counts

Rows are written in the transaction of what they record (the ingestion, the
follow-up, the sent log's acceptance), or right after a run. This module only
inserts and reads; the store refuses an UPDATE or a DELETE of an audit row with a
trigger (SQLite and PostgreSQL), and a PostgreSQL deployment also revokes both from
the role the kit connects as (README, "Audit log"). ``detail`` holds counts and ids,
never a person's health values: those are in the revisions, purged with the rows they
belong to, while the audit log is kept.

:func:`audit_report` is what ``reportkit audit --date D`` shows: the events of the
date (those dated D, and the undated ones that happened on D in the deployment's
zone), and the revisions of that date's check-ins and gate entries with their
earlier values.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC as _UTC
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reportkit.store.revisions import load_revisions
from reportkit.store.tables import AUDIT_EVENTS, audit_log, utcnow

__all__ = [
    "AuditReport",
    "audit_report",
    "audit_row",
    "list_audit",
    "params_hashes",
    "record_audit",
    "record_run",
    "who",
]

_who: tuple[str, str] | None = None


def who() -> tuple[str, str]:
    """(OS user, host name) of this process."""
    global _who
    if _who is None:
        try:
            user = getpass.getuser()
        except (OSError, KeyError):  # no passwd entry (a container's numeric uid)
            user = str(os.getuid())
        _who = (user, socket.gethostname())
    return _who


def audit_row(
    event: str,
    *,
    day: date | None = None,
    school_id: str | None = None,
    subject: str = "",
    sha256: str | None = None,
    run_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """One audit row (``at`` default now, naive UTC; the OS user and host of this process)."""
    if event not in AUDIT_EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    user, host = who()
    return {
        "at": at or utcnow(),
        "event": event,
        "date": day,
        "school_id": school_id,
        "subject": subject,
        "sha256": sha256,
        "run_id": run_id,
        "os_user": user,
        "host": host,
        "detail": json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True, default=str),
    }


def record_audit(where: Engine | sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Append ``rows`` (:func:`audit_row`): in the caller's transaction when given a
    connection, else in one of their own."""
    if not rows:
        return
    if isinstance(where, sa.Connection):
        where.execute(sa.insert(audit_log), list(rows))
        return
    with where.begin() as conn:
        conn.execute(sa.insert(audit_log), list(rows))


# --- the configuration and the reports of a run ------------------------------------------


def params_hashes(params: Path | str) -> dict[str, str]:
    """The sha256 of each file of the params folder (forms too), by its path in it."""
    folder = Path(params)
    if not folder.is_dir():
        return {}
    hashes: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        hashes[path.relative_to(folder).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def record_run(
    engine: Engine,
    report_date: date,
    run_id: str,
    params: Path | str,
    jobs: Iterable[Mapping[str, Any]],
) -> None:
    """The configuration in force for a run (one ``config`` row per params file) and each
    report it rendered (``render``: the manifest's entries of this run that ended ok)."""
    rows = [
        audit_row("config", day=report_date, subject=name, sha256=digest, run_id=run_id)
        for name, digest in params_hashes(params).items()
    ]
    for job in jobs:
        if job.get("run_id") != run_id or job.get("status") != "ok":
            continue
        kind, target = str(job.get("kind")), str(job.get("id"))
        rows.append(
            audit_row(
                "render",
                day=report_date,
                school_id=target if kind == "school" else None,
                subject=f"{kind}:{target}",
                sha256=job.get("content_hash"),
                run_id=run_id,
                detail={
                    "kind": kind,
                    "id": target,
                    "findings_hash": job.get("findings_hash"),
                    "version": job.get("version") or 1,
                    "files": dict(job.get("sha256") or {}),
                },
            )
        )
    record_audit(engine, rows)


# --- reading -----------------------------------------------------------------------------

AUDIT_COLUMNS = [c.name for c in audit_log.columns]


def list_audit(
    engine: Engine, day: date, zone: tzinfo, school_id: str | None = None
) -> list[dict[str, Any]]:
    """The audit rows of ``day``: those dated ``day``, and the undated ones written on
    ``day`` in ``zone``; oldest first. ``detail`` parsed; ``at`` aware, in ``zone``."""
    start = datetime.combine(day, time(), zone).astimezone(_UTC).replace(tzinfo=None)
    end = start + timedelta(days=1)
    undated = sa.and_(audit_log.c.date.is_(None), audit_log.c.at >= start, audit_log.c.at < end)
    stmt = sa.select(audit_log).where(sa.or_(audit_log.c.date == day, undated))
    if school_id is not None:
        stmt = stmt.where(audit_log.c.school_id == school_id)
    stmt = stmt.order_by(audit_log.c.at, audit_log.c.id)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
    for row in rows:
        row["at"] = row["at"].replace(tzinfo=_UTC).astimezone(zone)
        try:
            row["detail"] = json.loads(row["detail"] or "{}")
        except ValueError:
            row["detail"] = {"text": row["detail"]}
    return rows


@dataclass
class AuditReport:
    """``reportkit audit``'s answer: the day's events and its revisions."""

    date: date
    school: str | None
    events: list[dict[str, Any]] = field(default_factory=list)
    # per revision: table, id, the key, the earlier values, when it was written and
    # replaced, its source file and row, the file that replaced it
    revisions: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "school": self.school,
            "events": self.events,
            "revisions": self.revisions,
        }


_META = {"id", "row_hash", "source_file", "source_row", "updated_at", "revised_at", "replaced_by"}


def audit_report(
    engine: Engine, day: date, zone: tzinfo, school_id: str | None = None
) -> AuditReport:
    """The audit rows of ``day`` (:func:`list_audit`) and the revisions of that day's
    check-ins and gate entries, each with its earlier values."""
    report = AuditReport(day, school_id, list_audit(engine, day, zone, school_id))
    schools = None if school_id is None else [school_id]
    for table in ("checkins", "entries"):
        frame = load_revisions(engine, table, day=day, school_ids=schools)
        for record in _records(frame):
            earlier = {k: v for k, v in record.items() if k not in _META}
            report.revisions.append(
                {
                    "table": table,
                    "id": record["id"],
                    "earlier": earlier,
                    "source_file": record["source_file"],
                    "source_row": record.get("source_row"),
                    "written_at": _aware(record["updated_at"], zone),
                    "revised_at": _aware(record["revised_at"], zone),
                    "replaced_by": record["replaced_by"],
                }
            )
    return report


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for record in frame.astype(object).to_dict("records"):
        out.append({str(k): (None if _missing(v) else v) for k, v in record.items()})
    return out


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _aware(value: datetime | None, zone: tzinfo) -> datetime | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value).to_pydatetime()
    return stamp.replace(tzinfo=_UTC).astimezone(zone)
