"""Revisions: the earlier versions of the check-ins, gate entries and roster rows that
ingestion replaced.

:func:`record_revisions` copies the stored rows about to be replaced into their
revision table (:data:`reportkit.store.tables.REVISED`) with one
``INSERT ... SELECT`` per chunk of keys, inside the caller's transaction and before
the upsert, so that a replacement and its revision are written together or not at
all. Ingestion calls it only for rows whose hash changed (new rows and unchanged
ones cost nothing). :func:`load_revisions` reads them back, oldest first per key.

A revision row holds the replaced version whole: its values, ``row_hash``,
``source_file`` and ``source_row``, ``updated_at`` (when that version was written),
with ``revised_at`` (when it was replaced, naive UTC) and ``replaced_by`` (the
content hash of the file that replaced it: ``ingestions.sha256``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reportkit.store.tables import REVISED

__all__ = ["REVISION_META", "load_revisions", "record_revisions"]

# the columns a revision adds to the replaced row's
REVISION_META = ["id", "revised_at", "replaced_by"]

_KEYS_PER_STATEMENT = 500


def record_revisions(
    conn: sa.Connection,
    table: sa.Table,
    keys: Sequence[str],
    rows: pd.DataFrame,
    *,
    replaced_by: str,
    revised_at: datetime,
) -> pd.DataFrame:
    """Copy the stored versions of ``rows``' keys into ``table``'s revisions.

    ``rows`` hold the key columns (dates as ISO text or dates) of rows about to be
    replaced; call it before the replacement, in its transaction. Returns the
    revisions written: their ``id`` and the key columns, in no particular order.

    One statement whatever the number of rows: the keys go in as one parameter (a
    JSON array on SQLite, read by ``json_each``; arrays on PostgreSQL, by ``unnest``)
    and are joined with the table on its key, so each stored row is found by its key.
    """
    revisions, _ = REVISED[table.name]
    keys = list(keys)
    if rows.empty:
        return pd.DataFrame(columns=["id", *keys])
    names = [c.name for c in table.columns]
    quoted = ", ".join(f'"{n}"' for n in [*names, "revised_at", "replaced_by"])
    selected = ", ".join(f'c."{n}"' for n in names)
    returning = ", ".join(f'"{n}"' for n in ["id", *keys])
    values = [_key_values(rows[k], table.c[k]) for k in keys]
    if conn.dialect.name == "sqlite":
        match = " AND ".join(
            f"c.\"{k}\" = json_extract(k.value, '$[{i}]')" for i, k in enumerate(keys)
        )
        sql = (
            f'INSERT INTO "{revisions.name}" ({quoted}) SELECT {selected}, ?, ? '
            f'FROM json_each(?) AS k CROSS JOIN "{table.name}" AS c WHERE {match} '
            f"RETURNING {returning}"
        )
        text = [
            [v.isoformat() if isinstance(v, date) else v for v in t]
            for t in zip(*values, strict=True)
        ]
        stamp = revised_at.strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores it
        params: Any = (stamp, replaced_by, json.dumps(text, ensure_ascii=False))
    else:
        arrays = ", ".join(
            f"%(k{i})s::{'date' if isinstance(table.c[k].type, sa.Date) else 'text'}[]"
            for i, k in enumerate(keys)
        )
        aliases = ", ".join(f"k{i}" for i in range(len(keys)))
        match = " AND ".join(f'c."{k}" = k.k{i}' for i, k in enumerate(keys))
        sql = (
            f'INSERT INTO "{revisions.name}" ({quoted}) SELECT {selected}, %(at)s, %(by)s '
            f'FROM unnest({arrays}) AS k({aliases}) JOIN "{table.name}" AS c ON {match} '
            f"RETURNING {returning}"
        )
        params = {"at": revised_at, "by": replaced_by}
        params |= {f"k{i}": list(v) for i, v in enumerate(values)}
    written = [tuple(r) for r in conn.exec_driver_sql(sql, params)]
    frame = pd.DataFrame(written, columns=["id", *keys])
    for k in keys:
        if isinstance(table.c[k].type, sa.Date):  # SQLite returns the stored text
            frame[k] = [d if isinstance(d, date) else date.fromisoformat(d) for d in frame[k]]
    return frame


def _key_values(values: pd.Series, column: sa.Column[Any]) -> list[Any]:
    if isinstance(column.type, sa.Date):
        return [v if isinstance(v, date) else date.fromisoformat(str(v)) for v in values]
    return [str(v) for v in values]


def load_revisions(
    where: Engine | sa.Connection,
    table: str = "checkins",
    *,
    day: date | None = None,
    school_ids: Sequence[str] | None = None,
    ids: Sequence[int] | None = None,
    revised_from: datetime | None = None,
    revised_before: datetime | None = None,
) -> pd.DataFrame:
    """The revisions of ``table`` (``checkins``, ``entries`` or ``people``): every
    column of the replaced row, then ``revised_at`` and ``replaced_by``; oldest first
    per key. ``day``: of rows of that date (not for ``people``); ``revised_from`` /
    ``revised_before``: replaced in that span (naive UTC)."""
    revisions, keys = REVISED[table]
    stmt = sa.select(revisions)
    if day is not None:
        stmt = stmt.where(revisions.c.date == day)
    if school_ids is not None:
        stmt = stmt.where(revisions.c.school_id.in_(list(school_ids)))
    if ids is not None:
        stmt = stmt.where(revisions.c.id.in_(list(ids)))
    if revised_from is not None:
        stmt = stmt.where(revisions.c.revised_at >= revised_from)
    if revised_before is not None:
        stmt = stmt.where(revisions.c.revised_at < revised_before)
    stmt = stmt.order_by(*(revisions.c[k] for k in keys), revisions.c.revised_at, revisions.c.id)
    if isinstance(where, sa.Connection):
        rows = where.execute(stmt).all()
    else:
        with where.connect() as conn:
            rows = conn.execute(stmt).all()
    columns = [c.name for c in revisions.columns]
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)
