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
    "AUDIT_EVENTS",
    "CHECKIN_COLUMNS",
    "CLASS_TEACHER_COLUMNS",
    "DIGEST_LOCK",
    "ENTRY_COLUMNS",
    "PEOPLE_COLUMNS",
    "REVISED",
    "audit_log",
    "checkin_digests",
    "checkin_revisions",
    "checkins",
    "class_teachers",
    "data_quality",
    "entries",
    "entry_revisions",
    "followups",
    "ingestions",
    "metadata",
    "people",
    "people_revisions",
    "quarantine",
    "report_versions",
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

PEOPLE_COLUMNS = ["school_id", "person_id", "name", "role", "grade", "class", "status"]

# The head teacher (班主任) of a class, when a roster names one: per class, not per
# person (a table of its own, so that a store made before it gains it by create_all).
# grade and class as the roster wrote them, "" for none; a name only, never a phone.
class_teachers = sa.Table(
    "class_teachers",
    metadata,
    sa.Column("school_id", sa.String(64), primary_key=True),
    sa.Column("grade", sa.Text, primary_key=True),
    sa.Column("class", sa.Text, primary_key=True),
    sa.Column("head_teacher", sa.Text, nullable=False),
    sa.Column("source_file", sa.Text),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
CLASS_TEACHER_COLUMNS = ["school_id", "grade", "class", "head_teacher"]

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

# --- check-in digests: what the findings read of a school's day, kept ---------------
#
# One row per school and date (reportkit.findings.digests): who reported, as bits over
# the school's roster (``roster_hash`` names that roster), and the few rows a flag can
# read in whole (a reading at or above ``floor``, a symptom, an exposure). A digest is a
# cache of the check-ins: any write of a school-day's check-ins deletes its digest in
# the writer's own transaction (the triggers below), whatever wrote them. A digest
# being built is a row without payload whose ``token`` names its builder; the builder
# stores the payload only if that row is still there.
checkin_digests = sa.Table(
    "checkin_digests",
    metadata,
    sa.Column("school_id", sa.String(64), nullable=False),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("token", sa.String(32), nullable=False),
    sa.Column("roster_hash", sa.String(32)),
    sa.Column("floor", sa.Float),
    sa.Column("payload", sa.LargeBinary),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("school_id", "date", name="pk_checkin_digests"),
)

# PostgreSQL: writers of check-ins hold this advisory lock shared from their trigger to
# their commit; a digest's builder takes it alone to mark what it builds, so a writer
# either committed before the builder reads or deletes the builder's mark.
DIGEST_LOCK = 7_420_135_901


def _digest_triggers() -> None:
    checkin_digests.add_is_dependent_on(checkins)  # created after it: its triggers are on it
    drop = "DELETE FROM checkin_digests WHERE school_id = {0}.school_id AND date = {0}.date;"
    sqlite = [
        "CREATE TRIGGER IF NOT EXISTS checkins_digest_insert AFTER INSERT ON checkins "
        f"BEGIN {drop.format('NEW')} END",
        "CREATE TRIGGER IF NOT EXISTS checkins_digest_update AFTER UPDATE ON checkins "
        f"BEGIN {drop.format('OLD')} {drop.format('NEW')} END",
        "CREATE TRIGGER IF NOT EXISTS checkins_digest_delete AFTER DELETE ON checkins "
        f"BEGIN {drop.format('OLD')} END",
    ]

    def pg_function(name: str, tables: tuple[str, ...]) -> str:
        keys = " UNION ".join(f"SELECT school_id, date FROM {t}" for t in tables)
        return (
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_advisory_xact_lock_shared({DIGEST_LOCK}); "
            f"DELETE FROM checkin_digests d USING ({keys}) k "
            "WHERE d.school_id = k.school_id AND d.date = k.date; RETURN NULL; END $$"
        )

    postgresql = [
        pg_function("checkin_digests_drop_new", ("new_rows",)),
        pg_function("checkin_digests_drop_old", ("old_rows",)),
        pg_function("checkin_digests_drop_both", ("old_rows", "new_rows")),
        "CREATE OR REPLACE FUNCTION checkin_digests_drop_all() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock_shared({DIGEST_LOCK}); "
        "DELETE FROM checkin_digests; RETURN NULL; END $$",
        "CREATE TRIGGER checkins_digest_insert AFTER INSERT ON checkins "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION checkin_digests_drop_new()",
        "CREATE TRIGGER checkins_digest_update AFTER UPDATE ON checkins "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION checkin_digests_drop_both()",
        "CREATE TRIGGER checkins_digest_delete AFTER DELETE ON checkins "
        "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION checkin_digests_drop_old()",
        "CREATE TRIGGER checkins_digest_truncate AFTER TRUNCATE ON checkins "
        "FOR EACH STATEMENT EXECUTE FUNCTION checkin_digests_drop_all()",
    ]
    for dialect, statements in (("sqlite", sqlite), ("postgresql", postgresql)):
        for statement in statements:
            ddl = sa.DDL(statement).execute_if(dialect=dialect)
            sa.event.listen(checkin_digests, "after_create", ddl)


_digest_triggers()

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


# --- revisions: the earlier versions of replaced rows -----------------------------------
#
# One table per table whose rows ingestion replaces. A revision row is the replaced row
# as it was (its values, row_hash, source_file, source_row, and updated_at: when that
# version was written), with when it was replaced (revised_at, naive UTC) and the
# content hash of the file that replaced it (replaced_by; the ingestion is
# ``ingestions.sha256``). Written in the transaction of the replacement, only for rows
# whose hash changed (:mod:`reportkit.store.revisions`); never updated.


def _revision_table(name: str, base: sa.Table) -> sa.Table:
    columns = [
        sa.Column(c.name, c.type, nullable=c.nullable or c.name == "updated_at")
        for c in base.columns
    ]
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        *columns,
        sa.Column("revised_at", sa.DateTime, nullable=False),
        sa.Column("replaced_by", sa.String(64), nullable=False),
    )


checkin_revisions = _revision_table("checkin_revisions", checkins)
sa.Index(
    "ix_checkin_revisions_key",
    checkin_revisions.c.school_id,
    checkin_revisions.c.date,
    checkin_revisions.c.person_id,
)
entry_revisions = _revision_table("entry_revisions", entries)
sa.Index("ix_entry_revisions_date_school", entry_revisions.c.date, entry_revisions.c.school_id)
people_revisions = _revision_table("people_revisions", people)
sa.Index("ix_people_revisions_person", people_revisions.c.school_id, people_revisions.c.person_id)

# table replaced -> (its revisions, its key)
REVISED: dict[str, tuple[sa.Table, list[str]]] = {
    "checkins": (checkin_revisions, ["school_id", "date", "person_id", "session"]),
    "entries": (entry_revisions, ["entry_id"]),
    "people": (people_revisions, ["school_id", "person_id"]),
}

# --- the audit log: append-only ---------------------------------------------------------
#
# One row per thing that happened (:data:`AUDIT_EVENTS`), never updated or deleted (a
# trigger refuses both; :mod:`reportkit.store.audit`). ``date`` is the report date the
# event concerns (None for what concerns no one date: the configuration of a run is
# dated with the run's date; a purge and a roster have none); ``at`` is naive UTC.
# ``detail`` is JSON text: counts and ids, never a person's health values (those are
# purged with the rows they belong to; the audit log is kept).

AUDIT_EVENTS = ("ingestion", "revision", "followup", "render", "send", "config", "purge")

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("date", sa.Date),
    sa.Column("school_id", sa.String(64)),
    sa.Column("subject", sa.Text, nullable=False, server_default=""),  # a path, a recipient
    sa.Column("sha256", sa.String(64)),  # a file's, a report's, a params file's
    sa.Column("run_id", sa.String(64)),
    sa.Column("os_user", sa.Text, nullable=False),
    sa.Column("host", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
)
sa.Index("ix_audit_log_date", audit_log.c.date, audit_log.c.school_id)
sa.Index("ix_audit_log_at", audit_log.c.at)

# No UPDATE or DELETE of an audit row, whoever asks: the store refuses them itself.
_REFUSE = "the audit log is append-only"
for _dialect, _ddl in (
    (
        "sqlite",
        [
            f"CREATE TRIGGER IF NOT EXISTS audit_log_no_{what.lower()} BEFORE {what} ON audit_log "
            f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END"
            for what in ("UPDATE", "DELETE")
        ],
    ),
    (
        "postgresql",
        [
            "CREATE OR REPLACE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_REFUSE}'; END $$",
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()",
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()",
        ],
    ),
):
    for _statement in _ddl:
        sa.event.listen(audit_log, "after_create", sa.DDL(_statement).execute_if(dialect=_dialect))

# --- report versions: each report (kind, target, date) as first accepted by a server ---
#
# One row per distinct message hash accepted (sent_log.report_hash); a version is what
# the report shows (content_hash), so a message of the same content with other words
# (a 【更正】 body) shares its number. Written in the acceptance's transaction
# (:mod:`reportkit.store.versions`); never updated.
report_versions = sa.Table(
    "report_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("target_id", sa.String(64), nullable=False),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("report_hash", sa.String(64), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("findings_hash", sa.String(64), nullable=False),
    sa.Column("sent_at", sa.DateTime, nullable=False),  # first accepted, naive UTC
    sa.UniqueConstraint("kind", "target_id", "date", "report_hash"),
)


def utcnow() -> datetime:
    """Naive UTC now, the form audit columns are stored in."""
    return datetime.now(UTC).replace(tzinfo=None)
