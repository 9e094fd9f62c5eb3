"""The SQL both fast write paths send: ``INSERT ... ON CONFLICT DO UPDATE`` from a source.

SQLite and PostgreSQL spell an upsert the same way; :mod:`reportkit.store._sqlite`
gives it ``VALUES`` lists, :mod:`reportkit.store._postgres` a ``SELECT`` from its
staging table.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["upsert_sql"]


def upsert_sql(table: sa.Table, names: list[str], keys: list[str], source: str) -> str:
    """``INSERT INTO table (names) <source> ON CONFLICT (keys) DO UPDATE`` the rest."""
    quoted = {c: f'"{c}"' for c in names}
    return (
        f'INSERT INTO "{table.name}" ({", ".join(quoted.values())}) {source} '
        f"ON CONFLICT ({', '.join(quoted[k] for k in keys)}) DO UPDATE SET "
        + ", ".join(f"{q} = excluded.{q}" for c, q in quoted.items() if c not in keys)
    )
