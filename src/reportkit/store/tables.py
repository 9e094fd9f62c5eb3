"""The store's tables (SQLAlchemy Core) and the form of their audit timestamps.

Timestamps from schools (``reported_at``, gate entry times) are stored as naive
local wall-clock time of the school's time zone, the way schools write them;
audit timestamps (``created_at``, ``sent_at``) are naive UTC (:func:`utcnow`),
converted to the deployment's zone wherever they are shown or written for people.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

__all__ = [
    "CHECKIN_COLUMNS",
    "ENTRY_COLUMNS",
    "checkins",
    "data_quality",
    "entries",
    "followups",
    "ingestions",
    "metadata",
    "people",
    "quarantine",
    "schools",
    "send_attempts",
    "sent_log",
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
