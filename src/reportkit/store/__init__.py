"""The store: reportkit's tables in a SQLite file or on a PostgreSQL server.

SQLite file by default (``sqlite:///data/reportkit.db``, WAL so the officer's
notebook and the afternoon run can use it at once); any SQLAlchemy URL works,
PostgreSQL through psycopg 3 in particular.

::

    tables        the tables, the form of timestamps (utcnow)
    engine        connect: a store that is there or a clear refusal; private SQLite
                  files; a busy store waited for, retried, then named
    writes        idempotent upserts, insert-or-ignore, a frame's rows upserted by the
                  dialect's fast path (_sqlite: executemany; _postgres: COPY), the
                  schools of schools.yaml
    loads         people, head teachers, check-ins, data-quality findings, gate entries
    followup_log  the officer's follow-ups, append-only
    sentlog       what was handed to the mail server, once per recipient and version
    revisions     the earlier versions of replaced check-ins, gate entries, roster rows
    audit         the append-only audit log: ingestions, revisions, follow-ups, renders,
                  sends, the configuration of each run, purges
    versions      the versions of each report servers accepted (1, 2, … for 【更正】)
    retention     purge: what is older than retention_days, out of the store and folders

The next stages use what this package names; the modules are its own.
"""

from __future__ import annotations

from reportkit.store.audit import (
    AuditReport,
    audit_report,
    audit_row,
    list_audit,
    params_hashes,
    record_audit,
    record_run,
    who,
)
from reportkit.store.engine import (
    bounded_wait,
    connect,
    describe_url,
    error_reason,
    require_store,
    schools_without_roster,
)
from reportkit.store.followup_log import (
    ACTIONS,
    FOLLOWUP_COLUMNS,
    latest_followups,
    list_followups,
    record_followup,
)
from reportkit.store.loads import (
    load_checkins,
    load_class_teachers,
    load_data_quality,
    load_entries,
    load_people,
)
from reportkit.store.retention import DEFAULT_RETENTION_DAYS, PurgeResult, purge, retention_cutoff
from reportkit.store.revisions import load_revisions, record_revisions
from reportkit.store.sentlog import SentLog, SentLogError
from reportkit.store.tables import (
    AUDIT_EVENTS,
    CHECKIN_COLUMNS,
    CLASS_TEACHER_COLUMNS,
    DIGEST_LOCK,
    ENTRY_COLUMNS,
    PEOPLE_COLUMNS,
    REVISED,
    audit_log,
    checkin_digests,
    checkin_revisions,
    checkins,
    class_teachers,
    data_quality,
    entries,
    entry_revisions,
    followups,
    ingestions,
    metadata,
    people,
    people_revisions,
    quarantine,
    report_versions,
    schools,
    send_attempts,
    sent_log,
    utcnow,
)
from reportkit.store.versions import SentVersion, day_versions, record_version, sent_versions
from reportkit.store.writes import insert_ignore, sync_schools, upsert, upsert_frame

__all__ = [
    "ACTIONS",
    "AUDIT_EVENTS",
    "CHECKIN_COLUMNS",
    "CLASS_TEACHER_COLUMNS",
    "DEFAULT_RETENTION_DAYS",
    "DIGEST_LOCK",
    "ENTRY_COLUMNS",
    "FOLLOWUP_COLUMNS",
    "PEOPLE_COLUMNS",
    "REVISED",
    "AuditReport",
    "PurgeResult",
    "SentLog",
    "SentLogError",
    "SentVersion",
    "audit_log",
    "audit_report",
    "audit_row",
    "bounded_wait",
    "checkin_digests",
    "checkin_revisions",
    "checkins",
    "class_teachers",
    "connect",
    "data_quality",
    "day_versions",
    "describe_url",
    "entries",
    "entry_revisions",
    "error_reason",
    "followups",
    "ingestions",
    "insert_ignore",
    "latest_followups",
    "list_audit",
    "list_followups",
    "load_checkins",
    "load_class_teachers",
    "load_data_quality",
    "load_entries",
    "load_people",
    "load_revisions",
    "metadata",
    "params_hashes",
    "people",
    "people_revisions",
    "purge",
    "quarantine",
    "record_audit",
    "record_followup",
    "record_revisions",
    "record_run",
    "record_version",
    "report_versions",
    "require_store",
    "retention_cutoff",
    "schools",
    "schools_without_roster",
    "send_attempts",
    "sent_log",
    "sent_versions",
    "sync_schools",
    "upsert",
    "upsert_frame",
    "utcnow",
    "who",
]
