"""Ingestion: schools' rosters, health logs and gate registers into the store.

:func:`ingest_paths` routes files and folders by kind (:mod:`reportkit.ingest.routing`)
and ingests each file in one transaction of its own: it reads the file under
limits (:mod:`reportkit.ingest.readers`), skips it when the same content was
ingested before (not parsed again), maps its headers and parses every value
(:class:`~reportkit.ingest.batch.Batch`, each distinct cell text once), prepares
the rows of its kind (:mod:`reportkit.ingest.kinds`, where the decisions the data
contract leaves open are listed), and writes the rows that changed with the
quarantined rows and findings (:mod:`reportkit.ingest.write`). Bad input never
disappears and never stops the batch: a row that cannot be used goes to
``quarantine`` with its file, row number, column, value and reason; a bad field
is nulled and recorded in ``data_quality``; a file that cannot be read at all
is reported with an error while the other files are still ingested. A corrected
row replaces the older one with the same key; the older one is kept in its
revisions, and the ingestion and its revisions go into the audit log, all in the
file's transaction. What happened is an
:class:`~reportkit.ingest.report.IngestReport`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reportkit import store
from reportkit.config import Rules, SchoolsConfig
from reportkit.errors import IngestError, RefusedFileError
from reportkit.i18n import ingest_error
from reportkit.ingest import readers
from reportkit.ingest.batch import Batch
from reportkit.ingest.kinds import check_kind, prepare_entries, prepare_logs, prepare_roster
from reportkit.ingest.report import COUNTS, FileReport, IngestReport
from reportkit.ingest.routing import route_paths
from reportkit.ingest.sheets import Kind, SheetReader
from reportkit.ingest.write import audit_rows, write_changes, write_issues

__all__ = ["ingest_paths"]

log = logging.getLogger(__name__)


def ingest_paths(
    engine: Engine,
    paths: Sequence[Path],
    kind: Kind | None,
    config: SchoolsConfig,
    rules: Rules | None = None,
    school: str | None = None,
    *,
    force: bool = False,
    on_file: Callable[[FileReport], None] | None = None,
    sheets: SheetReader | None = None,
) -> IngestReport:
    """Ingest files and folders; one transaction per file.

    ``kind`` None routes each file by its name, rosters first (see
    :func:`reportkit.ingest.route_paths`); with a kind, files of folders whose
    names say another kind are skipped (:attr:`IngestReport.skipped`). The
    school of a file is ``school`` (an id or name), else a folder named after a
    school id; rows naming another school are quarantined (``wrong_school``).
    Only a file with neither takes each row's school from its school column.
    ``force`` re-ingests files already ingested (their earlier quarantine and
    findings are replaced). A file that cannot be read is reported in
    :attr:`FileReport.error`; ``on_file`` is called with each file's report as
    soon as its transaction ended. Spreadsheets are read under ``rules.limits``
    by one child process for the whole call (see :mod:`reportkit.ingest.sheets`), or by
    ``sheets``, kept by the caller over several calls.
    """
    if kind is not None:
        readers.kind_aliases(kind)  # a programming error, not a bad file
    rules = rules or Rules()
    report = IngestReport(kind=kind)
    routed, skipped = route_paths(paths, kind)
    report.skipped = skipped
    with contextlib.nullcontext(sheets) if sheets else SheetReader(rules.limits) as reader:
        for item in routed:
            try:
                done = _ingest_file(
                    engine, item.path, item.kind, config, rules, school, force, reader
                )
            except IngestError as exc:
                done = FileReport(
                    path=str(item.path),
                    encoding=None,
                    error=str(exc),
                    refused=isinstance(exc, RefusedFileError),
                    error_key=exc.key,
                    error_params=exc.params,
                )
            except (sa.exc.SQLAlchemyError, MemoryError, KeyboardInterrupt):
                raise  # the store, or this process: not one file's doing
            except Exception as exc:  # a file no check foresaw must not stop the others
                log.exception("ingest %s: unexpected error", item.path)
                unexpected = ingest_error(
                    item.path, "unexpected", refused=False, detail=f"{type(exc).__name__}: {exc}"
                )
                done = FileReport(
                    path=str(item.path),
                    encoding=None,
                    error=str(unexpected),
                    error_key=unexpected.key,
                    error_params=unexpected.params,
                )
            done.kind = item.kind
            report.files.append(done)
            if on_file is not None:
                on_file(done)
    return report


# --- one file ----------------------------------------------------------------------


def _ingest_file(
    engine: Engine,
    path: Path,
    kind: Kind,
    config: SchoolsConfig,
    rules: Rules,
    school: str | None,
    force: bool,
    sheets: SheetReader,
) -> FileReport:
    data = readers.read_bytes(path, rules.limits)
    sha256 = hashlib.sha256(data).hexdigest()
    with engine.begin() as conn:
        prior = conn.execute(
            sa.select(store.ingestions).where(
                store.ingestions.c.kind == kind, store.ingestions.c.sha256 == sha256
            )
        ).first()
        if prior is not None and not force:
            return FileReport(
                path=str(path),
                encoding=prior.encoding,
                rows_read=prior.rows_read,
                unchanged=prior.rows_read - prior.quarantined,
                quarantined=prior.quarantined,
                findings=prior.findings,
                already_ingested=True,
            )
        table = readers.read_table_bytes(
            data, path, kind, sha256, limits=rules.limits, sheets=sheets
        )
        del data  # the frame holds what is needed
        check_kind(table, kind, path)
        batch = Batch(table, path, kind, config, rules, school)
        if kind == "roster":
            prepare_roster(batch, conn)
        elif kind == "logs":
            prepare_logs(batch, conn)
        else:
            prepare_entries(batch)
        if prior is not None:
            for issues in (store.quarantine, store.data_quality):
                conn.execute(
                    sa.delete(issues).where(issues.c.sha256 == sha256, issues.c.kind == kind)
                )
            conn.execute(sa.delete(store.ingestions).where(store.ingestions.c.id == prior.id))
        report = FileReport(
            path=str(path),
            encoding=table.encoding,
            rows_read=len(table.frame) + len(table.bad_lines),
        )
        audit = _write(conn, batch, report)
        schools = batch.rows["school_id"].unique().tolist() if len(batch.rows) else []
        conn.execute(
            sa.insert(store.ingestions).values(
                kind=kind,
                sha256=sha256,
                path=str(path),
                encoding=table.encoding,
                school_id=schools[0] if len(schools) == 1 else batch.default_school,
                created_at=store.utcnow(),
                **{name: getattr(report, name) for name in COUNTS},
            )
        )
        store.record_audit(conn, audit)  # in the ingestion's transaction
    return report


# --- writing ---------------------------------------------------------------------------

_TARGETS: dict[str, tuple[sa.Table, list[str]]] = {
    "roster": (store.people, ["school_id", "person_id"]),
    "logs": (store.checkins, ["school_id", "person_id", "date", "session"]),
    "entries": (store.entries, ["entry_id"]),
}


def _write(conn: sa.Connection, batch: Batch, report: FileReport) -> list[dict[str, Any]]:
    """Write the batch's rows and issues; the audit rows of what was written."""
    table, keys = _TARGETS[batch.kind]
    constants = {"source_file": str(batch.path), "updated_at": store.utcnow()}
    written = write_changes(
        conn, table, keys, batch.rows, constants, replaced_by=batch.table.sha256
    )
    status = written.status
    if batch.class_teachers is not None:  # a roster with a head-teacher column
        store.upsert_frame(
            conn,
            store.class_teachers,
            ["school_id", "grade", "class"],
            batch.class_teachers,
            constants,
        )
    report.inserted = int((status == "inserted").sum())
    report.updated = int((status == "updated").sum())
    report.unchanged = int((status == "unchanged").sum())
    quarantined, findings = batch.issue_frames()
    report.quarantined = len(quarantined)
    report.findings = len(findings)
    write_issues(
        conn,
        quarantined,
        findings,
        sha256=batch.table.sha256,
        file=str(batch.path),
        kind=batch.kind,
    )
    return audit_rows(batch, report, status, written.revisions, quarantined, findings)
