"""Retention: health records kept ``retention_days`` (rules.yaml, default 180), then purged.

Children's health records are sensitive personal information under China's PIPL,
kept no longer than needed. :func:`purge` deletes everything dated before a cutoff
(by default the deployment's today minus ``retention_days``):

- from the store: check-ins, their revisions and digests, gate entries and their revisions,
  follow-ups, quarantined rows and data-quality findings (by their date; those
  without one by when they were recorded), and roster revisions replaced before the
  cutoff;
- from the folders: ``outputs/<date>/`` (reports, findings files, manifests, mail),
  the archived inbox ``<archive>/<date>/`` and the rejected files
  ``<rejected>/<date>/``, for dates before the cutoff.

It keeps the roster as it is now (the people a school has), the ingestions (content
hashes and counts, no values), the sent log and the audit log. The rows are deleted,
and the counts recorded in the audit log (one ``purge`` row), in one transaction;
the folders are removed after it. ``dry_run`` counts and deletes nothing (and records
nothing). A second purge with the same cutoff finds nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reportkit import layout
from reportkit.store.audit import audit_row, record_audit
from reportkit.store.tables import (
    checkin_digests,
    checkin_revisions,
    checkins,
    data_quality,
    entries,
    entry_revisions,
    followups,
    people_revisions,
    quarantine,
)

__all__ = ["DEFAULT_RETENTION_DAYS", "PurgeResult", "purge", "retention_cutoff"]

DEFAULT_RETENTION_DAYS = 180

# dated by the date their rows concern (digests before the check-ins whose deletion
# would drop them, so a dry run counts what the purge deletes)
_DATED = (checkin_digests, checkins, checkin_revisions, entries, entry_revisions, followups)
# dated by their date, else by when they were recorded
_ISSUES = (quarantine, data_quality)


@dataclass
class PurgeResult:
    """What a purge deleted (or, in a dry run, would delete)."""

    cutoff: date
    dry_run: bool = False
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows
    folders: dict[str, int] = field(default_factory=dict)  # outputs | archive | rejected
    files: int = 0  # files inside those folders
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def retention_cutoff(today: date, retention_days: int) -> date:
    """The first date kept: ``today`` minus ``retention_days``."""
    return date.fromordinal(today.toordinal() - retention_days)


def purge(
    engine: Engine,
    cutoff: date,
    zone: tzinfo,
    *,
    outputs: Path | str | None = None,
    archive: Path | str | None = None,
    rejected: Path | str | None = None,
    dry_run: bool = False,
) -> PurgeResult:
    """Delete what is dated before ``cutoff`` (see the module); ``zone``: the deployment's,
    for what is dated by when it was recorded (naive UTC). ``outputs``, ``archive`` and
    ``rejected`` (default ``rejected/`` beside the archive): folders purged of their
    date folders before the cutoff; None leaves them."""
    result = PurgeResult(cutoff, dry_run)
    since = datetime.combine(cutoff, time(), zone).astimezone(UTC).replace(tzinfo=None)
    conditions = {t.name: t.c.date < cutoff for t in _DATED}
    for t in _ISSUES:
        recorded = sa.and_(t.c.date.is_(None), t.c.created_at < since)
        conditions[t.name] = sa.or_(t.c.date < cutoff, recorded)
    conditions[people_revisions.name] = people_revisions.c.revised_at < since
    tables = {t.name: t for t in (*_DATED, *_ISSUES, people_revisions)}
    folders = list(_folders(cutoff, outputs, archive, rejected))
    for what, _ in folders:
        result.folders[what] = result.folders.get(what, 0) + 1
    result.files = sum(_count_files(folder) for _, folder in folders)
    with engine.begin() as conn:
        for name, condition in conditions.items():
            table = tables[name]
            if dry_run:
                stmt = sa.select(sa.func.count()).select_from(table).where(condition)
                count = conn.execute(stmt).scalar_one()
            else:
                count = conn.execute(sa.delete(table).where(condition)).rowcount
            result.rows[name] = int(count or 0)
        if not dry_run:
            detail = {
                "cutoff": cutoff.isoformat(),
                "rows": result.rows,
                "folders": result.folders,
                "files": result.files,
            }
            record_audit(conn, [audit_row("purge", subject=cutoff.isoformat(), detail=detail)])
    if not dry_run:
        for _, folder in folders:
            try:
                shutil.rmtree(folder)
            except OSError as exc:
                result.errors.append(f"cannot remove {folder}: {exc.strerror or exc}")
    return result


def _folders(
    cutoff: date,
    outputs: Path | str | None,
    archive: Path | str | None,
    rejected: Path | str | None,
) -> Iterator[tuple[str, Path]]:
    """(which, folder) of each date folder before ``cutoff``."""
    bases: list[tuple[str, Path]] = []
    if outputs is not None:
        bases.append(("outputs", layout.day_outputs(outputs, cutoff).folder.parent))
    if archive is not None:
        bases.append(("archive", layout.archive_dir(archive, cutoff).parent))
        bases.append(("rejected", layout.rejected_dir(archive, cutoff, rejected).parent))
    for what, base in bases:
        if not base.is_dir():
            continue
        for entry in sorted(base.iterdir()):
            day = _day(entry.name)
            # a real folder only: a link is not followed out of the tree
            if day is not None and day < cutoff and entry.is_dir() and not entry.is_symlink():
                yield what, entry


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(name) if len(name) == 10 else None
    except ValueError:
        return None


def _count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))
