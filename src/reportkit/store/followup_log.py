"""Follow-ups of flagged people: what an officer did about a flag, append-only.

A follow-up is one row of :data:`reportkit.store.followup_log`: school, person, the
report date the flag belonged to, an action from :data:`ACTIONS`, a note, the
officer's name and ``created_at``. Rows are never updated or deleted; the
latest row per person is the current state (:func:`latest_followups`), the
others are its history (:func:`list_followups`). Each is recorded in the audit log
in the same transaction.

``created_at`` is stored as UTC (naive, as every audit time of the store) and read
back timezone-aware (UTC), so that nothing shows it as if it were local time:
reports and the console show it in the school's zone
(:func:`reportkit.clock.local_time`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

import pandas as pd
import sqlalchemy as sa

from reportkit.errors import FollowupError
from reportkit.store.audit import audit_row, record_audit
from reportkit.store.tables import followups, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = [
    "ACTIONS",
    "FOLLOWUP_COLUMNS",
    "latest_followups",
    "list_followups",
    "record_followup",
]

ACTIONS = (
    "contacted_family",
    "seen_by_doctor",
    "isolated_at_home",
    "returned_to_school",
    "cleared",
)
FOLLOWUP_COLUMNS = [
    "id",
    "school_id",
    "person_id",
    "date",
    "action",
    "note",
    "officer",
    "created_at",
]


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise FollowupError(f"not a date YYYY-MM-DD: {value!r}") from None


def record_followup(
    engine: Engine,
    school_id: str,
    person_id: str,
    report_date: date | str,
    action: str,
    note: str,
    officer: str,
) -> int:
    """Append one follow-up (``created_at`` = now, UTC) and return its row id.

    Raises :class:`FollowupError` for an unknown action, an empty officer name or
    an empty school or person id; nothing is written then.
    """
    if action not in ACTIONS:
        raise FollowupError(f"unknown follow-up action {action!r}; known: {', '.join(ACTIONS)}")
    officer = (officer or "").strip()
    if not officer:
        raise FollowupError("the officer's name is required")
    school_id, person_id = str(school_id or "").strip(), str(person_id or "").strip()
    if not school_id or not person_id:
        raise FollowupError("a follow-up needs a school id and a person id")
    day = _as_date(report_date)
    row = {
        "school_id": school_id,
        "person_id": person_id,
        "date": day,
        "action": action,
        "note": (note or "").strip(),
        "officer": officer,
        "created_at": utcnow(),
    }
    with engine.begin() as conn:
        result = conn.execute(sa.insert(followups).values(**row))
        key = result.inserted_primary_key
        assert key is not None  # an INSERT of one row
        row_id = int(key[0])
        detail = {"id": row_id, "person_id": person_id, "action": action, "officer": officer}
        audit = audit_row("followup", day=day, school_id=school_id, detail=detail)
        record_audit(conn, [audit])  # in the follow-up's transaction
        return row_id


def list_followups(
    engine: Engine,
    school_ids: Sequence[str] | None = None,
    upto_date: date | str | None = None,
    person_id: str | None = None,
) -> pd.DataFrame:
    """Every follow-up (the history), oldest first; columns :data:`FOLLOWUP_COLUMNS`
    (``created_at`` timezone-aware, UTC).

    ``school_ids`` None means all schools; ``upto_date`` keeps rows whose report
    date is on or before it.
    """
    table = followups
    stmt = sa.select(*(table.c[c] for c in FOLLOWUP_COLUMNS))
    if school_ids is not None:
        stmt = stmt.where(table.c.school_id.in_(list(school_ids)))
    if upto_date is not None:
        stmt = stmt.where(table.c.date <= _as_date(upto_date))
    if person_id is not None:
        stmt = stmt.where(table.c.person_id == str(person_id))
    stmt = stmt.order_by(table.c.created_at, table.c.id)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=FOLLOWUP_COLUMNS)
    # stored as naive UTC: read back aware, so that it is never shown as local time
    frame["created_at"] = pd.to_datetime(frame["created_at"]).dt.tz_localize("UTC")
    return frame.astype({"id": "int64"}) if not frame.empty else frame


def latest_followups(
    engine: Engine, school_ids: Sequence[str] | None, upto_date: date | str | None = None
) -> pd.DataFrame:
    """The latest follow-up per (school, person), columns :data:`FOLLOWUP_COLUMNS`.

    "Latest" is by ``created_at`` then row id, among rows dated on or before
    ``upto_date`` (all rows when None). Sorted by school and person.
    """
    history = list_followups(engine, school_ids, upto_date)
    latest = history.drop_duplicates(["school_id", "person_id"], keep="last")
    return latest.sort_values(["school_id", "person_id"], kind="stable").reset_index(drop=True)
