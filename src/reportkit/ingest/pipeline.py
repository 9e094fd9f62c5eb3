"""Ingestion: schools' rosters, health logs and gate registers into the store.

:func:`ingest_paths` routes files and folders by kind (:mod:`reportkit.ingest.routing`)
and ingests each file in one transaction of its own (a day's small files of many
schools together, in one, see :func:`ingest_paths`): it reads the file under
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
import functools
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reportkit import store
from reportkit.config import Rules, SchoolsConfig
from reportkit.errors import IngestError, RefusedFileError
from reportkit.i18n import ingest_error
from reportkit.ingest import readers
from reportkit.ingest.ahead import ReadAhead
from reportkit.ingest.batch import (
    ROW_STRIDE,
    Batch,
    combine_tables,
    default_school,
    file_day,
    plain_columns,
)
from reportkit.ingest.kinds import check_kind, prepare_entries, prepare_logs, prepare_roster
from reportkit.ingest.report import COUNTS, FileReport, IngestReport
from reportkit.ingest.routing import Routed, route_paths
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
    """Ingest files and folders; one transaction per file, or per batch of a day's
    small files (below).

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

    Health logs and gate registers in school folders with plain headers (no school
    column: a district's daily exports) are prepared and written together, those of the
    same kind, headers and title date in one transaction, up to 500 files or 400,000
    rows pending: a file's own cost beyond its rows is then paid once per batch. Each
    file still gets its own report, ingestion, audit rows, quarantine and findings; if
    the batch fails, each file is ingested alone. Files are taken in order: a second
    file of a school and kind starts a new batch.
    """
    if kind is not None:
        readers.kind_aliases(kind)  # a programming error, not a bad file
    rules = rules or Rules()
    report = IngestReport(kind=kind)
    routed, skipped = route_paths(paths, kind)
    report.skipped = skipped
    group: list[_Read] = []

    def done(item: Routed, file: FileReport) -> None:
        file.kind = item.kind
        report.files.append(file)
        if on_file is not None:
            on_file(file)

    def flush() -> None:
        """The pending files, a batch per set of headers; reported in their order."""
        batches: dict[tuple[Any, ...], list[_Read]] = {}
        for read in group:
            batches.setdefault((read.item.kind, read.columns, read.day), []).append(read)
        reports: dict[int, FileReport] = {}
        for batch in batches.values():
            for read, file in _ingest_group(engine, batch, config, rules, reader):
                reports[id(read)] = file
        for read in group:
            done(read.item, reports[id(read)])
        group.clear()

    grouped = [i for i in routed if i.kind in _GROUPED and not force and school is None]
    with (
        contextlib.nullcontext(sheets) if sheets else SheetReader(rules.limits) as reader,
        ReadAhead(engine, grouped, rules.limits, reader) as ahead,
    ):
        for item in routed:
            if item.kind not in _GROUPED or force or school is not None:
                flush()
                done(
                    item,
                    _guarded(
                        item,
                        _ingest_file,
                        *(engine, item.path, item.kind, config, rules, school, force, reader),
                    ),
                )
                continue
            read = _guarded(item, _read, ahead, item, config)
            if isinstance(read, FileReport):  # unreadable, or ingested before
                flush()
                done(item, read)
                continue
            if read.school is None:  # its own headers, school column or title date
                flush()
                done(item, _alone(engine, read, config, rules, reader))
                continue
            schools = {(g.item.kind, g.school) for g in group}
            rows = sum(len(g.table.frame) for g in group)
            if (
                (item.kind, read.school) in schools
                or len(group) >= _GROUP_FILES
                or (rows + len(read.table.frame) > _GROUP_ROWS)
            ):
                flush()
            group.append(read)
        flush()
    return report


# --- a day's small files, read as one ------------------------------------------------

# files and rows prepared and written in one transaction, at most
_GROUP_FILES = 500
_GROUP_ROWS = 400_000
# the kinds whose files are read as one (rosters are few and large)
_GROUPED = ("logs", "entries")


@dataclass
class _Read:
    """A health log or gate register read and not yet prepared: its school (from its
    folder), headers and title date let it be prepared with other schools' files of
    its kind (:func:`_ingest_group`)."""

    item: Routed
    sha256: str
    table: readers.Table
    school: str | None  # None: ingested on its own
    columns: tuple[str, ...]
    day: str | None  # the date its title or name gives (file_day)


def _guarded(item: Routed, work: Callable[..., Any], *args: Any) -> Any:
    """``work(*args)``, or the report of a file that could not be read (the store's errors,
    and this process's, are raised)."""
    try:
        return work(*args)
    except IngestError as exc:
        return FileReport(
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
        return FileReport(
            path=str(item.path),
            encoding=None,
            error=str(unexpected),
            error_key=unexpected.key,
            error_params=unexpected.params,
        )


def _read(ahead: ReadAhead, item: Routed, config: SchoolsConfig) -> _Read | FileReport:
    """A health log or gate register read under limits (ahead of its turn, see
    :mod:`reportkit.ingest.ahead`), or the report of one ingested before."""
    fetched = ahead.take(item)
    if fetched.prior is not None:
        return _already(item.path, fetched.prior)
    table, sha256 = fetched.table, fetched.sha256
    assert table is not None
    check_kind(table, item.kind, item.path)
    columns = tuple(map(str, table.frame.columns))
    plain = plain_columns(columns, item.kind)
    day = file_day(table, item.path)
    school = None
    dated = item.kind != "logs" or day is not None or (plain is not None and "date" in plain)
    if plain is not None and dated and "school_id" not in plain and not table.bad_lines:
        school = default_school(None, item.path, config)  # its folder's, as Batch finds it
    return _Read(item, sha256, table, school, columns, day)


def _ingest_group(
    engine: Engine, group: list[_Read], config: SchoolsConfig, rules: Rules, sheets: SheetReader
) -> list[tuple[_Read, FileReport]]:
    """Several schools' health logs of the same headers prepared and written as one
    batch, in one transaction: what one file's ingestion costs beyond its rows (the
    parsing set-up, the queries, the statements) is paid once for all of them.

    Each file gets its own report, ingestion row, audit rows, quarantine and findings,
    the same as if it were ingested alone (the tests pin this). When the batch fails
    (a school without a roster, anything unforeseen) nothing of it is kept and each
    file is ingested alone, so that only the file at fault fails."""
    if len(group) < 2:
        return [(g, _alone(engine, g, config, rules, sheets)) for g in group]
    try:
        together = _together(engine, group, config, rules)
        if together is not None:
            return together
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception:  # the store's errors too: each file alone says whose they are
        log.info("ingest: %d files as one failed; each alone", len(group), exc_info=True)
    return [(g, _alone(engine, g, config, rules, sheets)) for g in group]


def _alone(
    engine: Engine, read: _Read, config: SchoolsConfig, rules: Rules, sheets: SheetReader
) -> FileReport:
    item = read.item
    args = (engine, item.path, item.kind, config, rules, None, False, sheets)
    return _guarded(item, functools.partial(_ingest_file, table=read.table), *args)


def _together(
    engine: Engine, group: list[_Read], config: SchoolsConfig, rules: Rules
) -> list[tuple[_Read, FileReport]] | None:
    """The batch in one transaction; None (nothing written) when a file of it was
    ingested by another run meanwhile: each alone then says so."""
    kind, day = group[0].item.kind, group[0].day
    table = combine_tables([g.table for g in group])
    sizes = np.array([len(g.table.frame) for g in group])
    schools = np.repeat(np.array([g.school for g in group], dtype=object), sizes)
    with engine.begin() as conn:
        shas = [g.sha256 for g in group]
        prior = set(
            conn.execute(
                sa.select(store.ingestions.c.sha256).where(
                    store.ingestions.c.kind == kind, store.ingestions.c.sha256.in_(shas)
                )
            ).scalars()
        )
        if prior:
            return None
        path = group[0].item.path
        batch = Batch(table, path, kind, config, rules, None, row_schools=schools, title_day=day)
        if kind == "logs":
            prepare_logs(batch, conn)
        else:
            prepare_entries(batch)
        rows = batch.rows
        labels = rows.index.to_numpy(dtype=np.int64)
        file_of = labels // ROW_STRIDE
        paths = np.array([str(g.item.path) for g in group], dtype=object)
        sha_of = np.array(shas, dtype=object)
        now = store.utcnow()
        table_, keys = _TARGETS[kind]
        sources = pd.DataFrame(
            {"source_file": pd.Categorical.from_codes(file_of, categories=pd.Index(paths))},
            index=rows.index,
        )
        if "source_row" in table_.c:
            sources["source_row"] = labels % ROW_STRIDE
        written = write_changes(
            conn,
            table_,
            keys,
            rows,
            {"updated_at": now},
            replaced_by=sha_of[file_of],
            sources=sources,
        )
        quarantined, findings = batch.issue_frames()
        issues = []
        for frame in (quarantined, findings):
            of = frame["row"].to_numpy(dtype=np.int64) // ROW_STRIDE
            frame = frame.assign(row=frame["row"].to_numpy(dtype=np.int64) % ROW_STRIDE)
            issues.append((frame.assign(sha256=sha_of[of], file=paths[of]), of))
        (q_frame, q_of), (f_frame, f_of) = issues
        write_issues(conn, q_frame, f_frame, sha256="", file="", kind=kind)
        out, audit, ingestions = [], [], []
        revisions = written.revisions
        # each file's rows, quarantined rows and findings, in their order (positions)
        row_parts, q_parts, f_parts = (_parts(of, len(group)) for of in (file_of, q_of, f_of))
        for number, read in enumerate(group):
            mine, q_mine, f_mine = row_parts[number], q_parts[number], f_parts[number]
            status = written.status[mine]
            report = FileReport(
                path=str(read.item.path),
                encoding=read.table.encoding,
                rows_read=len(read.table.frame),
                inserted=int((status == "inserted").sum()),
                updated=int((status == "updated").sum()),
                unchanged=int((status == "unchanged").sum()),
                quarantined=len(q_mine),
                findings=len(f_mine),
            )
            view = _FileView(read, rows.iloc[mine] if len(mine) < len(rows) else rows, kind)
            own = revisions
            if not revisions.empty and "school_id" in revisions:
                own = revisions[revisions["school_id"].astype(object) == read.school]
            elif not revisions.empty:  # keyed by id alone: those of this file's rows
                own = revisions[revisions[keys[0]].isin(view.rows[keys[0]].astype(object))]
            audit += audit_rows(
                view,  # type: ignore[arg-type]  # what audit_rows reads of a Batch
                report,
                status,
                own,
                q_frame.iloc[q_mine],
                f_frame.iloc[f_mine],
            )
            ingestions.append(
                {
                    "kind": kind,
                    "sha256": read.sha256,
                    "path": str(read.item.path),
                    "encoding": read.table.encoding,
                    "school_id": read.school,
                    "created_at": now,
                    **{name: getattr(report, name) for name in COUNTS},
                }
            )
            out.append((read, report))
        conn.execute(sa.insert(store.ingestions), ingestions)
        store.record_audit(conn, audit)
    return out


def _parts(file_of: np.ndarray, files: int) -> list[np.ndarray]:
    """The positions of each file's rows, in their order: ``file_of == n`` for every
    file ``n`` at the cost of one stable sort, not of a pass over the batch per file."""
    order = np.argsort(file_of, kind="stable")
    bounds = np.searchsorted(file_of[order], np.arange(files + 1))
    return np.split(order, bounds[1:-1])


@dataclass
class _FileView:
    """What :func:`audit_rows` reads of a batch, for one file of a batch of several."""

    read: _Read
    rows: pd.DataFrame
    kind: Kind

    @property
    def table(self) -> readers.Table:
        return self.read.table

    @property
    def path(self) -> Path:
        return self.read.item.path

    @property
    def default_school(self) -> str | None:
        return self.read.school


def _prior(conn: sa.Connection, kind: Kind, sha256: str) -> Any:
    return conn.execute(
        sa.select(store.ingestions).where(
            store.ingestions.c.kind == kind, store.ingestions.c.sha256 == sha256
        )
    ).first()


def _already(path: Path, prior: Any) -> FileReport:
    return FileReport(
        path=str(path),
        encoding=prior.encoding,
        rows_read=prior.rows_read,
        unchanged=prior.rows_read - prior.quarantined,
        quarantined=prior.quarantined,
        findings=prior.findings,
        already_ingested=True,
    )


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
    *,
    table: readers.Table | None = None,
) -> FileReport:
    """One file in one transaction; ``table``: the file read already (by :func:`_read`)."""
    if table is None:
        data = readers.read_bytes(path, rules.limits)
        sha256 = hashlib.sha256(data).hexdigest()
    else:
        sha256 = table.sha256
    with engine.begin() as conn:
        prior = _prior(conn, kind, sha256)
        if prior is not None and not force:
            return _already(path, prior)
        if table is None:
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
