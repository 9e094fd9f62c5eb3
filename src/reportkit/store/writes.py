"""Idempotent writes: upserts and insert-or-ignore on SQLite and PostgreSQL, the schools.

:func:`upsert` and :func:`insert_ignore` take records; :func:`upsert_frame` takes a
frame of rows (ingestion's changed rows, :mod:`reportkit.ingest.write`) and writes
it the fastest way the dialect allows: the driver's ``executemany`` on SQLite
(:mod:`reportkit.store._sqlite`), ``COPY`` on PostgreSQL for big writes
(:mod:`reportkit.store._postgres`), :func:`upsert` otherwise. Every path stores
the same values.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reportkit.errors import StoreError
from reportkit.store import _postgres, _sqlite
from reportkit.store.tables import schools, utcnow

if TYPE_CHECKING:
    from reportkit.config import SchoolsConfig

__all__ = ["insert_ignore", "sync_schools", "upsert", "upsert_frame"]


def _dialect_insert(engine_or_conn: Engine | sa.Connection, table: sa.Table) -> Any:
    name = engine_or_conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    raise StoreError(f"unsupported database backend {name!r}")  # pragma: no cover


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


def upsert_frame(
    conn: sa.Connection,
    table: sa.Table,
    keys: list[str],
    rows: pd.DataFrame,
    constants: dict[str, Any],
) -> None:
    """Insert or replace ``rows`` by ``keys``, inside the caller's transaction.

    ``rows`` hold table columns (text as str, categoricals of str or None, dates as
    ISO text, bool, float, datetime64); ``constants`` are columns with one value
    on every row (``updated_at``). A raw ``executemany`` on SQLite and ``COPY`` on
    PostgreSQL, for speed; the stored values are those of :func:`upsert`.
    """
    if rows.empty:
        return
    if conn.dialect.name == "sqlite":
        _sqlite.upsert_frame(conn, table, keys, rows, constants)
        return
    names = [*rows.columns, *constants]
    columns: list[Any] = [_db_values(rows[c], c) for c in rows.columns]
    columns += [itertools.repeat(value, len(rows)) for value in constants.values()]
    if conn.dialect.name == "postgresql" and len(rows) >= _postgres.COPY_MIN_ROWS:
        _postgres.copy_upsert(conn, table, keys, names, zip(*columns, strict=True))
        return
    records = [dict(zip(names, r, strict=True)) for r in zip(*columns, strict=True)]
    upsert(conn, table, records)


def _db_values(values: pd.Series, column: str) -> np.ndarray:
    """A column as psycopg wants it: Python objects, None for missing."""
    array = values.to_numpy()
    if array.dtype.kind == "M":
        out = array.astype("datetime64[us]").astype(object)
        out[pd.isna(array)] = None
        return out
    if column == "date":
        return _dates(values)
    if array.dtype.kind == "f":
        out = array.astype(object)
        out[np.isnan(array)] = None
        return out
    out = array.astype(object)  # Python bool, int and str, not numpy scalars
    if array.dtype.kind == "O":
        out[pd.isna(array)] = None  # a NaN in a text column is NULL, never the text 'NaN'
    return out


def _dates(values: pd.Series) -> np.ndarray:
    """ISO date texts as dates, each distinct text parsed once; None for a missing one."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    days = np.empty(len(uniques) + 1, dtype=object)  # code -1, missing: the last
    days[:] = [*(_iso_date(v) for v in uniques.tolist()), None]
    return days[codes]


def _iso_date(value: Any) -> date | None:
    """A date from its ISO text (or a value whose text is one); None for an empty one."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return date.fromisoformat(text) if text else None


def _chunks(rows: Sequence[dict[str, Any]], size: int) -> Iterable[Sequence[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def sync_schools(engine: Engine, config: SchoolsConfig) -> None:
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
