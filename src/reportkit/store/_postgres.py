"""PostgreSQL's fast path for big writes: ``COPY`` into a staging table, then one upsert.

:func:`reportkit.store.upsert_frame` uses it for writes of :data:`COPY_MIN_ROWS`
rows or more; smaller ones keep the plain ``INSERT ... ON CONFLICT``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa

if TYPE_CHECKING:
    import psycopg

from reportkit.store._sql import upsert_sql

__all__ = ["COPY_MIN_ROWS", "copy_upsert"]

COPY_MIN_ROWS = 1_000  # smaller writes keep the plain INSERT ... ON CONFLICT


def copy_upsert(
    conn: sa.Connection,
    table: sa.Table,
    keys: list[str],
    names: list[str],
    records: Iterable[tuple],
) -> None:
    """Upsert on PostgreSQL: ``COPY`` into a temporary table, then one
    ``INSERT ... SELECT ... ON CONFLICT DO UPDATE``, inside the caller's transaction.

    psycopg's ``COPY`` takes the same Python values as its ``INSERT`` (``date``,
    ``datetime``, ``None``), so what is stored is the same as through
    :func:`reportkit.store.upsert`.
    """
    listed = ", ".join(f'"{c}"' for c in names)
    staging = f'"_load_{table.name}"'
    conn.exec_driver_sql(
        f'CREATE TEMPORARY TABLE IF NOT EXISTS {staging} (LIKE "{table.name}") ON COMMIT DROP'
    )
    conn.exec_driver_sql(f"TRUNCATE {staging}")
    statement = f"COPY {staging} ({listed}) FROM STDIN"
    driver = cast("psycopg.Connection[Any]", conn.connection.driver_connection)
    try:
        with driver.cursor() as cur, cur.copy(statement) as copy:
            for record in records:
                copy.write_row(record)
    except Exception as exc:  # as SQLAlchemy raises the same error from an INSERT
        import psycopg

        if isinstance(exc, psycopg.Error):
            raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
        raise
    conn.exec_driver_sql(upsert_sql(table, names, keys, f"SELECT {listed} FROM {staging}"))
