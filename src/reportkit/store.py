"""The database: SQLAlchemy Core tables, engines, idempotent writes and frame loads.

SQLite file by default (``sqlite:///data/reportkit.db``, WAL so the officer's
notebook and the afternoon run can use it at once); any SQLAlchemy URL works,
PostgreSQL through psycopg 3 in particular. Timestamps from schools
(``reported_at``, gate entry times) are stored as naive local wall-clock time
of the school's time zone, the way schools write them; audit timestamps
(``created_at``, ``sent_at``) are naive UTC, converted to the deployment's zone
wherever they are shown or written for people.

Only ``ingest``, ``demo`` and ``init`` create a store (:func:`connect` with
``create=True``); everything that reads refuses one that is not there, or a school
with nobody on its roster (:func:`require_store`), rather than report zeros. How
engines are made (private files, a busy SQLite store) is :mod:`reportkit.engines`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reportkit.engines import (
    SQLITE_PAGE_SIZE,
    create_engine,
    describe_url,
    ensure_private_dir,
    private_mode,
    sqlite_path,
)
from reportkit.errors import RosterMissingError, StoreError, StoreMissingError

__all__ = [
    "CHECKIN_COLUMNS",
    "ENTRY_COLUMNS",
    "SQLITE_PAGE_SIZE",
    "checkins",
    "connect",
    "data_quality",
    "describe_url",
    "ensure_private_dir",
    "entries",
    "followups",
    "ingestions",
    "insert_ignore",
    "load_checkins",
    "load_data_quality",
    "load_entries",
    "load_people",
    "metadata",
    "people",
    "private_mode",
    "quarantine",
    "require_store",
    "schools",
    "schools_without_roster",
    "send_attempts",
    "sent_log",
    "sync_schools",
    "upsert",
    "utcnow",
]

metadata = sa.MetaData()

schools = sa.Table(
    "schools",
    metadata,
    sa.Column("school_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("district_id", sa.String(64), nullable=False),
    sa.Column("town", sa.Text),
    sa.Column("reports_to", sa.String(64)),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

people = sa.Table(
    "people",
    metadata,
    sa.Column("school_id", sa.String(64), primary_key=True),
    sa.Column("person_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("grade", sa.Text),
    sa.Column("class", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("row_hash", sa.String(32), nullable=False),
    sa.Column("source_file", sa.Text),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

CHECKIN_COLUMNS = [
    "school_id",
    "person_id",
    "date",
    "session",
    "name",
    "temperature",
    "symptoms",
    "symptoms_other",
    "absent",
    "absence_reason",
    "key_area",
    "key_area_place",
    "contact",
    "reported_at",
]

# Keyed school, date, person, session: one school's days lie together, so the
# usual reads (some schools, a span of days) and a day's new rows each touch one
# stretch of the key. On SQLite the table is WITHOUT ROWID: the rows live in the key's
# B-tree, with no second tree for a rowid and no other index (a quarter smaller, and
# loads about a quarter faster, than a rowid table with a date index).
checkins = sa.Table(
    "checkins",
    metadata,
    sa.Column("school_id", sa.String(64), nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("session", sa.String(16), nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("temperature", sa.Float),
    sa.Column("symptoms", sa.Text, nullable=False, server_default=""),  # codes, comma-joined
    sa.Column("symptoms_other", sa.Text, nullable=False, server_default=""),  # as written
    sa.Column("absent", sa.Boolean, nullable=False),
    sa.Column("absence_reason", sa.String(16)),
    sa.Column("key_area", sa.Boolean, nullable=False),
    sa.Column("key_area_place", sa.Text),
    sa.Column("contact", sa.Boolean, nullable=False),
    sa.Column("reported_at", sa.DateTime),  # school's local wall-clock time
    sa.Column("row_hash", sa.String(32), nullable=False),
    sa.Column("source_file", sa.Text),
    sa.Column("source_row", sa.Integer),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("school_id", "date", "person_id", "session", name="pk_checkins"),
    sqlite_with_rowid=False,
)

ingestions = sa.Table(
    "ingestions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("encoding", sa.String(32)),
    sa.Column("school_id", sa.String(64)),
    sa.Column("rows_read", sa.Integer, nullable=False),
    sa.Column("inserted", sa.Integer, nullable=False),
    sa.Column("updated", sa.Integer, nullable=False),
    sa.Column("unchanged", sa.Integer, nullable=False),
    sa.Column("quarantined", sa.Integer, nullable=False),
    sa.Column("findings", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("kind", "sha256", name="uq_ingestions_kind_sha256"),
)

_ISSUE_COLUMNS = (
    ("sha256", sa.String(64), False),
    ("file", sa.Text, False),
    ("row", sa.Integer, False),  # 1-based line of the file as a spreadsheet shows it
    ("column", sa.Text, False),
    ("value", sa.Text, True),
    ("reason", sa.String(32), False),
    ("message", sa.Text, False),
    ("school_id", sa.String(64), True),
    ("person_id", sa.String(64), True),
    ("date", sa.Date, True),
    ("kind", sa.String(16), False),
    ("created_at", sa.DateTime, False),
)


def _issue_table(name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        *(sa.Column(col, typ, nullable=nullable) for col, typ, nullable in _ISSUE_COLUMNS),
        sa.UniqueConstraint("sha256", "row", "column", "reason", name=f"uq_{name}_source"),
    )


# Rows that cannot be used; kept whole (``value`` holds the field, ``raw`` the row).
quarantine = _issue_table("quarantine")
quarantine.append_column(sa.Column("raw", sa.Text))
# Fields nulled or kept as written; the row itself was stored.
data_quality = _issue_table("data_quality")
sa.Index("ix_data_quality_date_school", data_quality.c.date, data_quality.c.school_id)

ENTRY_COLUMNS = [
    "entry_id",
    "school_id",
    "date",
    "entered_at",
    "name",
    "kind",
    "phone",
    "id_number",
    "purpose",
    "temperature",
    "approved_by",
    "left_at",
]

entries = sa.Table(
    "entries",
    metadata,
    # stable across re-ingestion: a hash of school, entry time, name and contact
    sa.Column("entry_id", sa.String(32), primary_key=True),
    sa.Column("school_id", sa.String(64), nullable=False),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("entered_at", sa.DateTime, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("phone", sa.Text),
    sa.Column("id_number", sa.Text),
    sa.Column("purpose", sa.Text),
    sa.Column("temperature", sa.Float),
    sa.Column("approved_by", sa.Text),
    sa.Column("left_at", sa.DateTime),
    sa.Column("row_hash", sa.String(32), nullable=False),
    sa.Column("source_file", sa.Text),
    sa.Column("source_row", sa.Integer),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
sa.Index("ix_entries_date_school", entries.c.date, entries.c.school_id)

# Append-only: history is never overwritten; the latest row per person is current.
followups = sa.Table(
    "followups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("school_id", sa.String(64), nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("date", sa.Date, nullable=False),  # the report date the flag belonged to
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("officer", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
sa.Index("ix_followups_person", followups.c.school_id, followups.c.person_id)

sent_log = sa.Table(
    "sent_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),  # school | district | reminder
    sa.Column("target_id", sa.String(64), nullable=False),  # school or district id
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("report_hash", sa.String(64), nullable=False),
    sa.Column("sent_at", sa.DateTime, nullable=False),
)
sa.Index("ix_sent_log_target", sent_log.c.kind, sent_log.c.target_id, sent_log.c.date)

# A message handed to the server whose acceptance is not (yet) in sent_log: written
# before SMTP DATA, removed when the acceptance is logged or the server refused it.
# A row left behind ("sending": the process or the store stopped; "unknown": the
# server's answer to DATA never came) means the recipient may have the message, so
# it is not sent again without --force. A table of its own, so that an older store
# gains it from create_all and sent_log keeps meaning "accepted".
send_attempts = sa.Table(
    "send_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("target_id", sa.String(64), nullable=False),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("report_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # sending | unknown
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
sa.Index(
    "ix_send_attempts_target",
    send_attempts.c.kind,
    send_attempts.c.target_id,
    send_attempts.c.date,
)


def utcnow() -> datetime:
    """Naive UTC now, the form audit columns are stored in."""
    return datetime.now(UTC).replace(tzinfo=None)


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def connect(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url`` with reportkit's tables; cached per URL.

    ``create=True`` (``ingest``, ``demo``, ``init``): a SQLite file that is not there is
    created (0600, or 0640 with ``REPORTKIT_GROUP``; its folder 0700/0750) with
    the tables. ``create=False`` (every command that only reads what is there): a store
    that is not there raises :class:`StoreMissingError` naming the URL (password
    hidden): a SQLite file that does not exist, a database that does not exist on its
    server or that has no reportkit tables. Either way, tables a newer version added
    are created in an existing store. ``postgresql://`` URLs use psycopg 3.
    """
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"not a database URL: {url!r}") from exc
    shown = describe_url(parsed)
    path = sqlite_path(parsed)
    if not create and path is not None and not path.exists():
        raise StoreMissingError(
            f"no store at {shown}: the file does not exist; create it with `reportkit init` "
            "(or give the right --db / REPORTKIT_DB)"
        )
    with _engines_lock:
        engine = _engines.get(url)
        if engine is not None:
            return engine
        engine = create_engine(parsed)
        try:
            if not create and not _has_tables(engine):
                raise StoreMissingError(
                    f"no store at {shown}: the database has no reportkit tables; "
                    "create them with `reportkit init`"
                )
            metadata.create_all(engine)
        except StoreError:
            engine.dispose()
            raise
        except sa.exc.DBAPIError as exc:
            engine.dispose()
            if _missing_database(exc):
                raise StoreMissingError(
                    f"no store at {shown}: the database does not exist; create it "
                    "(createdb) and then `reportkit init`"
                ) from exc
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StoreError(f"cannot use the store {shown}: {reason}") from exc
        _engines[url] = engine
        return engine


def _missing_database(exc: sa.exc.DBAPIError) -> bool:
    text = str(exc.orig)
    return getattr(exc.orig, "sqlstate", None) == "3D000" or (
        "database" in text and "does not exist" in text
    )


def _has_tables(engine: Engine) -> bool:
    with engine.connect() as conn:
        return sa.inspect(conn).has_table(people.name)


def schools_without_roster(engine: Engine, school_ids: Sequence[str]) -> list[str]:
    """Those of ``school_ids`` with nobody active on their roster in the store, in order."""
    ids = list(dict.fromkeys(school_ids))
    if not ids:
        return []
    stmt = (
        sa.select(people.c.school_id)
        .where(people.c.school_id.in_(ids), people.c.status == "active")
        .group_by(people.c.school_id)
    )
    with engine.connect() as conn:
        have = {row[0] for row in conn.execute(stmt)}
    return [s for s in ids if s not in have]


def require_store(
    settings: Any,
    school_ids: Sequence[str] | None = None,
    district_ids: Sequence[str] | None = None,
) -> Engine:
    """The store of ``settings``, refused unless it is there with a roster for each school.

    The schools are those selected as the runner and the sender select them (the
    given ids, narrowed to ``district_ids``; every school of schools.yaml, or of the
    districts, when none is given). Raises :class:`StoreMissingError` (exit 2) for a
    store that is not there and :class:`RosterMissingError` (exit 2) naming the
    schools with nobody active on their roster: reading them would report zeros.
    """
    engine = connect(settings.db, create=False)
    config = settings.schools()
    if school_ids:
        selected = [config.school(s).id for s in school_ids]
    else:
        selected = [s.id for s in config.schools]
    if district_ids:
        wanted = {config.district(d).id for d in district_ids}
        selected = [s for s in selected if config.school(s).district in wanted]
    lacking = schools_without_roster(engine, selected)
    if lacking:
        raise RosterMissingError(lacking, describe_url(settings.db))
    return engine


def _dialect_insert(engine_or_conn: Engine | sa.Connection, table: sa.Table) -> Any:
    name = engine_or_conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - other backends are not supported
        raise StoreError(f"unsupported database backend {name!r}")
    return insert(table)


def upsert(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, replacing the non-key columns of rows whose key exists."""
    if not rows:
        return
    stmt = _dialect_insert(conn, table)
    keys = [c.name for c in table.primary_key.columns]
    update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    for chunk in _chunks(rows, 5000):
        conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=update), chunk)


def insert_ignore(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows, skipping those that violate a unique constraint; returns rows inserted."""
    if not rows:
        return 0
    # rowcount is unreliable for executemany; RETURNING counts what went in
    stmt = (
        _dialect_insert(conn, table).on_conflict_do_nothing().returning(*table.primary_key.columns)
    )
    count = 0
    for chunk in _chunks(rows, 5000):
        count += len(conn.execute(stmt, chunk).all())
    return count


def _chunks(rows: Sequence[dict[str, Any]], size: int) -> Iterable[Sequence[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def sync_schools(engine: Engine, config: Any) -> None:
    """Write schools.yaml's schools into the ``schools`` table (idempotent)."""
    now = utcnow()
    rows = [
        {
            "school_id": s.id,
            "name": s.name,
            "district_id": s.district,
            "town": s.town,
            "reports_to": s.reports_to,
            "updated_at": now,
        }
        for s in config.schools
    ]
    with engine.begin() as conn:
        upsert(conn, schools, rows)


def _read(engine: Engine, stmt: sa.Select, parse_dates: Sequence[str] = ()) -> pd.DataFrame:
    """Run a SELECT straight through the DB-API cursor into a frame.

    SQLAlchemy's per-row result processing (a ``date`` object per SQLite string)
    cost 7 s for a month of a county's check-ins; converting whole columns with
    pandas afterwards costs a fraction of that.
    """
    with engine.connect() as conn:
        compiled = stmt.compile(conn, compile_kwargs={"render_postcompile": True})
        params: Any
        sqlite = conn.dialect.name == "sqlite"
        values = {k: _driver_value(v) if sqlite else v for k, v in compiled.params.items()}
        if conn.dialect.paramstyle in ("qmark", "numeric", "format"):
            params = [values[k] for k in compiled.positiontup or ()]
        else:
            params = values
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.execute(str(compiled), params)
            names = [d[0] for d in cursor.description]
            frame = pd.DataFrame.from_records(cursor.fetchall(), columns=names)
        finally:
            cursor.close()
    for col in parse_dates:
        if col in frame:
            frame[col] = pd.to_datetime(frame[col], format="ISO8601").dt.date
    return frame


def _driver_value(value: Any) -> Any:
    # sqlite3's default date adapters are deprecated; ISO strings compare the same
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


def _where_schools(
    stmt: sa.Select, column: sa.Column, school_ids: Sequence[str] | None
) -> sa.Select:
    if school_ids is not None:
        stmt = stmt.where(column.in_(list(school_ids)))
    return stmt


def load_people(engine: Engine, school_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The roster: school_id, person_id, name, role, grade, class, status."""
    cols = [
        people.c[c] for c in ("school_id", "person_id", "name", "role", "grade", "class", "status")
    ]
    stmt = _where_schools(sa.select(*cols), people.c.school_id, school_ids)
    return _read(engine, stmt)


def load_checkins(
    engine: Engine, start: date, end: date, school_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """Check-ins with ``start <= date <= end``; columns as :data:`CHECKIN_COLUMNS`."""
    stmt = sa.select(*(checkins.c[c] for c in CHECKIN_COLUMNS)).where(
        checkins.c.date.between(start, end)
    )
    stmt = _where_schools(stmt, checkins.c.school_id, school_ids)
    frame = _read(engine, stmt, parse_dates=["date"])
    if not frame.empty:
        frame["reported_at"] = pd.to_datetime(frame["reported_at"], format="ISO8601")
        for col in ("absent", "key_area", "contact"):
            frame[col] = frame[col].astype(bool)
    return frame


def load_data_quality(
    engine: Engine, start: date, end: date, school_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """Data-quality findings and quarantined rows dated ``start..end``."""
    frames = []
    for table in (data_quality, quarantine):
        cols = [
            "school_id",
            "person_id",
            "date",
            "file",
            "row",
            "column",
            "value",
            "reason",
            "message",
        ]
        stmt = sa.select(*(table.c[c] for c in cols)).where(table.c.date.between(start, end))
        stmt = _where_schools(stmt, table.c.school_id, school_ids)
        frame = _read(engine, stmt, parse_dates=["date"])
        frame["quarantined"] = table is quarantine
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def load_entries(
    engine: Engine, start: date, end: date, school_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """Gate register entries dated ``start..end``."""
    stmt = sa.select(*(entries.c[c] for c in ENTRY_COLUMNS)).where(
        entries.c.date.between(start, end)
    )
    stmt = _where_schools(stmt, entries.c.school_id, school_ids)
    frame = _read(engine, stmt, parse_dates=["date"])
    for col in ("entered_at", "left_at"):
        frame[col] = pd.to_datetime(frame[col])
    return frame
