"""Report versions: which versions of a report (kind, target, date) servers accepted.

A report's version is what it shows (the rendering's content hash). The first
message of a new content accepted by a server makes the next version (1, 2, …);
messages of the same content in other words (a 【更正】 message beside the plain one,
a changed subject) share its number. :func:`record_version` is called in the
transaction that logs the acceptance (:meth:`reportkit.store.SentLog.accepted`);
:func:`sent_versions` reads them back, oldest first, for the runner (which version it
renders, and what changed since the latest) and for delivery (who has which version).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from reportkit.store.tables import report_versions

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["SentVersion", "day_versions", "record_version", "sent_versions"]


@dataclass(frozen=True)
class SentVersion:
    """One version of a report as first accepted: its number, what it showed (content
    and findings hashes), when (naive UTC) and every message hash sent of it."""

    version: int
    content_hash: str
    findings_hash: str
    sent_at: datetime
    report_hashes: frozenset[str] = field(default_factory=frozenset)


def sent_versions(
    where: Engine | sa.Connection, kind: str, target_id: str, day: date
) -> list[SentVersion]:
    """The versions of one report servers accepted, oldest first (empty: never sent)."""
    return day_versions(where, day, kind, target_id).get((kind, target_id), [])


def day_versions(
    where: Engine | sa.Connection,
    day: date,
    kind: str | None = None,
    target_id: str | None = None,
) -> dict[tuple[str, str], list[SentVersion]]:
    """(kind, target) -> its versions, oldest first, of every report of ``day`` that was
    sent (one query for a run's reports)."""
    stmt = sa.select(report_versions).where(report_versions.c.date == day)
    if kind is not None:
        stmt = stmt.where(report_versions.c.kind == kind)
    if target_id is not None:
        stmt = stmt.where(report_versions.c.target_id == target_id)
    stmt = stmt.order_by(report_versions.c.version, report_versions.c.id)
    if isinstance(where, sa.Connection):
        rows = list(where.execute(stmt))
    else:
        with where.connect() as conn:
            rows = list(conn.execute(stmt))
    found: dict[tuple[str, str], dict[int, SentVersion]] = {}
    for r in rows:
        versions = found.setdefault((r.kind, r.target_id), {})
        seen = versions.get(r.version)
        if seen is None:
            versions[r.version] = SentVersion(
                r.version, r.content_hash, r.findings_hash, r.sent_at, frozenset({r.report_hash})
            )
        else:
            hashes = seen.report_hashes | {r.report_hash}
            versions[r.version] = SentVersion(
                seen.version, seen.content_hash, seen.findings_hash, seen.sent_at, hashes
            )
    return {key: list(v.values()) for key, v in found.items()}


def record_version(
    conn: sa.Connection,
    kind: str,
    target_id: str,
    day: date,
    report_hash: str,
    content_hash: str,
    findings_hash: str,
    at: datetime,
) -> tuple[int, bool]:
    """The version of an accepted message, recorded: (its number, whether it is a new
    version, first accepted now). Same content as the latest version: that version."""
    versions = sent_versions(conn, kind, target_id, day)
    for v in versions:
        if report_hash in v.report_hashes:
            return v.version, False
    latest = versions[-1] if versions else None
    same = latest is not None and latest.content_hash == content_hash
    number = latest.version if same and latest else (latest.version + 1 if latest else 1)
    conn.execute(
        sa.insert(report_versions),
        [
            {
                "kind": kind,
                "target_id": target_id,
                "date": day,
                "version": number,
                "report_hash": report_hash,
                "content_hash": content_hash,
                "findings_hash": findings_hash,
                "sent_at": at,
            }
        ],
    )
    return number, not same
