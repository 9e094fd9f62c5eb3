"""SQLite's fast path: a file's rows upserted through the driver's ``executemany``.

:func:`upsert_frame` writes a frame's rows inside the caller's transaction, in
key order and many rows per statement, as the values SQLAlchemy's SQLite dialect
itself writes (bound in the types the driver binds fastest), so that every
other module reads them back as usual. :func:`reportkit.store.upsert_frame`
calls it on SQLite; the equivalence tests pin what it stores to what
SQLAlchemy's own insert stores.
"""

from __future__ import annotations

import itertools
import sqlite3
from datetime import datetime
from typing import Any, cast

import numpy as np
import pandas as pd
import sqlalchemy as sa

from reportkit.store._sql import upsert_sql

__all__ = ["upsert_frame"]

# rows per INSERT statement (if the parameter limit allows) and per executemany call
_ROWS_PER_STATEMENT = 100
_ROWS_PER_BATCH = 20_000
# leading key columns are bound once per statement if their runs are this long on average
_RUN_MIN_ROWS = 2_000


def upsert_frame(
    conn: sa.Connection,
    table: sa.Table,
    keys: list[str],
    rows: pd.DataFrame,
    constants: dict[str, Any],
) -> None:
    """Upsert on SQLite through the driver's ``executemany``, inside the caller's
    transaction, in the formats SQLAlchemy itself writes.

    Rows go in key order (the primary key index is appended to, not scattered
    over), many rows per statement. The rest follows from what binding costs, as
    the driver copies every text it binds, which costs about four times binding
    an int or a NULL:

    - the constants, and the leading key columns over a run of rows that share
      them (the school, the day), are bound once per statement;
    - a NOT NULL text column whose most common value fills at least half of the
      rows (no symptoms: ``''``) binds that value once per statement, and NULL
      on the rows that hold it, which ``coalesce`` turns back into the value;
    - every other value is bound in a type the driver binds without an adapter
      lookup (which costs more than the insert): int for bool, NaN for NULL.
    """
    driver = cast("sqlite3.Connection", conn.connection.driver_connection)
    if not driver.in_transaction:
        driver.execute("BEGIN")  # pysqlite would run the DDL below outside a transaction
    rebuild = _indexes_to_rebuild(driver, table, len(rows))
    for index in rebuild:
        index.drop(conn)
    # the primary key's own column order is the order rows lie in, most significant first
    primary = [c.name for c in table.primary_key.columns]
    ordered = primary if set(primary) == set(keys) else keys
    codes = {k: _sorted_codes(rows[k]) for k in ordered}
    order = np.lexsort([codes[k][0] for k in reversed(ordered)])
    leading, starts = _runs([codes[k] for k in ordered], order)
    leading_names = ordered[:leading]
    own = [c for c in rows.columns if c not in leading_names]
    columns, defaults = [], {}
    for name in own:
        column, default = _sqlite_column(rows[name], bool(table.c[name].nullable), order)
        columns.append(column)
        if default is not _NO_DEFAULT:
            defaults[name] = default
    shared = [*leading_names, *constants]
    once = [_sqlite_constant(v) for v in constants.values()] + list(defaults.values())
    limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per = (limit - len(shared) - len(defaults)) // max(1, len(own))
    per = max(1, min(_ROWS_PER_STATEMENT, per))
    many = _sqlite_upsert(table, keys, own, shared, list(defaults), per)
    one = _sqlite_upsert(table, keys, own, shared, list(defaults), 1)
    step = max(per, _ROWS_PER_BATCH // per * per)  # converted a batch at a time, in cache
    for start, stop in itertools.pairwise([*starts, len(rows)]):
        first = order[start]
        head = [_sqlite_constant(codes[k][1][codes[k][0][first]]) for k in leading_names]
        head += once
        for begin in range(start, stop, step):
            end = min(begin + step, stop)
            full = begin + (end - begin) // per * per
            driver.executemany(many, _statements(head, columns, begin, full, per))
            driver.executemany(one, _statements(head, columns, full, end, 1))
    for index in rebuild:
        index.create(conn)


def _runs(codes: list[tuple[np.ndarray, Any]], order: np.ndarray) -> tuple[int, np.ndarray]:
    """(how many leading key columns to bind once per run, where each run starts in
    ``order``). A leading column has no missing value, and a single value or runs of
    ``_RUN_MIN_ROWS`` rows on average (together with the columns before it), as the
    rows at each run's end that do not fill a statement go in one-row statements."""
    n = len(order)
    most = max(1, n // _RUN_MIN_ROWS)  # runs allowed
    changes = np.zeros(max(0, n - 1), dtype=bool)
    leading = 0
    for found, uniques in codes:
        if len(uniques) > most or (found < 0).any():  # too many runs already, or NULLs
            break
        more = changes | (np.diff(found[order]) != 0)
        if more.sum() + 1 > most:
            break
        changes, leading = more, leading + 1
    return leading, np.concatenate([[0], np.flatnonzero(changes) + 1])


def _statements(
    head: list[Any],
    columns: list[tuple[np.ndarray, np.ndarray | None]],
    start: int,
    stop: int,
    per: int,
) -> list[list[Any]]:
    """The parameters of the statements binding rows ``start:stop`` (in key order),
    ``per`` rows each: ``head``, then each row's own values (see :func:`_sqlite_column`)."""
    count = (stop - start) // per
    if count == 0:
        return []
    width = len(columns)
    block = np.empty((count, len(head) + per * width), dtype=object)
    for i, value in enumerate(head):
        block[:, i] = value
    for j, (values, codes) in enumerate(columns):
        part = values[start:stop] if codes is None else values[codes[start:stop]]
        block[:, len(head) + j :: width] = part.reshape(count, per)
    return block.tolist()


def _sqlite_upsert(
    table: sa.Table,
    keys: list[str],
    own: list[str],
    shared: list[str],
    defaults: list[str],
    rows: int,
) -> str:
    """An upsert of ``rows`` rows. Its parameters: first the ``shared`` columns' values
    and the ``defaults`` (columns of ``own``) bound once, then each row's ``own`` values;
    a row's NULL in a column of ``defaults`` takes the column's default."""
    head = len(shared) + len(defaults)
    default_of = {c: len(shared) + i + 1 for i, c in enumerate(defaults)}
    values = []
    for row in range(rows):
        row_values = []
        for j, name in enumerate(own):
            number = head + row * len(own) + j + 1
            if name in default_of:
                row_values.append(f"coalesce(?{number}, ?{default_of[name]})")
            else:
                row_values.append(f"?{number}")
        row_values += [f"?{i}" for i in range(1, len(shared) + 1)]
        values.append(f"({', '.join(row_values)})")
    return upsert_sql(table, [*own, *shared], keys, f"VALUES {', '.join(values)}")


_REBUILD_MIN_ROWS = 50_000


def _indexes_to_rebuild(driver: Any, table: sa.Table, new_rows: int) -> list[sa.Index]:
    """Secondary indexes cheaper to build again than to update: a big load into a
    table smaller than it (SQLite sorts once instead of inserting row by row).
    Dropped and created in the same transaction, so readers never miss them."""
    if new_rows < _REBUILD_MIN_ROWS or not table.indexes:
        return []
    stored = driver.execute(f'SELECT max(rowid) FROM "{table.name}"').fetchone()[0] or 0
    return sorted(table.indexes, key=lambda i: str(i.name)) if new_rows > stored else []


def _sorted_codes(values: pd.Series) -> tuple[np.ndarray, Any]:
    """``pd.factorize(values, sort=True)``, in the order of the values themselves also
    for a categorical (whose own sort follows its categories)."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return pd.factorize(values, sort=True)
    categories = values.cat.categories
    by_value = categories.argsort()
    rank = np.empty(len(categories) + 1, dtype=np.intp)
    rank[by_value] = np.arange(len(categories))
    rank[-1] = -1  # code -1: missing
    return rank[values.cat.codes.to_numpy()], categories[by_value]


def _sqlite_column(
    values: pd.Series, nullable: bool, order: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray | None], Any]:
    """((values, codes), default) of a column: its values in ``order`` are
    ``values[codes]``, or ``values`` itself when codes is None (text stays distinct
    values and codes until a statement's batch is built). Its values are as the SQLite
    driver binds them fastest, in the types SQLAlchemy's SQLite dialect writes and
    reads: datetimes as its text (each distinct time formatted once), bool as 0/1,
    NULL as NaN (bound as NULL without the driver's adapter lookup, which costs more
    than the insert). A NOT NULL text column without a missing value whose most
    common value fills half of the rows has that value as default (else
    ``_NO_DEFAULT``), and NaN in its place (see :func:`upsert_frame`). A None
    in a NOT NULL column is left for the constraint to reject."""
    missing = np.array([_NULL if nullable else None], dtype=object)  # code -1's value
    if isinstance(values.dtype, pd.CategoricalDtype):  # text: str by construction
        categories = np.append(np.asarray(values.cat.categories, dtype=object), missing)
        codes = values.cat.codes.to_numpy()[order]  # -1, missing: the last category
        if not nullable and len(categories) > 1:
            counts = np.bincount(codes + 1, minlength=len(categories))
            top = int(counts[1:].argmax())
            if counts[0] == 0 and counts[top + 1] * 2 >= len(codes):
                default, categories[top] = categories[top], _NULL
                return (categories, codes), default
        return (categories, codes), _NO_DEFAULT
    array = values.to_numpy()[order]
    if array.dtype.kind == "M":
        codes, uniques = pd.factorize(array.astype("datetime64[us]"))
        text = np.datetime_as_string(uniques, unit="us")
        if len(text):
            text.view(np.uint32).reshape(len(text), -1)[:, 10] = ord(" ")  # the 'T'
        return (np.append(text.astype(object), missing), codes), _NO_DEFAULT  # -1: NaT
    if array.dtype.kind == "b":
        return (array.astype(np.int64), None), _NO_DEFAULT
    if array.dtype.kind == "O" and nullable:
        array[pd.isna(array)] = _NULL  # a copy already, taken in order
    return (array, None), _NO_DEFAULT  # Python float and int once in an object array


_NULL = float("nan")  # bound as NULL by SQLite, without the driver's adapter lookup
_NO_DEFAULT = object()


def _sqlite_constant(value: Any) -> Any:
    if value is None:
        return _NULL
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value
