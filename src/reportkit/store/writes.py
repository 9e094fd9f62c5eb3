"""Idempotent writes: upserts and insert-or-ignore on SQLite and PostgreSQL, the schools.

The bulk paths of ingestion (:mod:`reportkit.ingest.write`) build on
:func:`upsert`; the dialect fast paths live in :mod:`reportkit.store._sqlite` and
:mod:`reportkit.store._postgres`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reportkit.errors import StoreError
from reportkit.store.tables import schools, utcnow

__all__ = ["insert_ignore", "sync_schools", "upsert"]


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
