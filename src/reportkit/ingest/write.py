"""Writing ingested rows to the store fast and idempotently, and their issues beside them.

:func:`write_rows` takes a file's canonical rows, hashes each row's values,
compares the hashes with what is stored under the same keys (one query), and
writes only new and changed rows. On SQLite it sorts them in key order and
hands them to the driver's ``executemany`` in batches, inside the caller's
transaction, as the values SQLAlchemy itself writes (bound in the types the
driver binds fastest), so that every other module reads them back as usual;
elsewhere (PostgreSQL) it uses
:func:`reportkit.store.upsert`. :func:`write_issues` records quarantined rows
and data-quality findings with a message in Chinese and English, skipping those
already recorded (unique per file, row, column and reason).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from reportkit import store
from reportkit.ingest.cells import per_unique
from reportkit.schema import Reason

__all__ = ["MESSAGES", "query_frame", "row_hash", "stored_hashes", "write_issues", "write_rows"]


def write_rows(
    conn: sa.Connection,
    table: sa.Table,
    keys: list[str],
    rows: pd.DataFrame,
    constants: dict[str, Any],
) -> np.ndarray:
    """Insert new rows and replace changed ones; the status of each row.

    ``rows`` hold the table's columns except ``row_hash`` and ``constants``
    (the same value on every row, e.g. ``updated_at``); text columns hold str
    or None, dates ISO text. Returns "inserted", "updated" or "unchanged" per
    row; unchanged rows are not written.
    """
    hashes = pd.Series(row_hash(rows), index=rows.index, dtype=object)  # not pandas' str
    rows = rows.assign(row_hash=hashes)
    stored = stored_hashes(conn, table, keys, rows)
    status = np.full(len(rows), "inserted", dtype="<U9")
    known = np.flatnonzero(pd.notna(stored))  # compared only where a hash is stored
    same = stored[known] == rows["row_hash"].to_numpy()[known]
    status[known] = np.where(same, "unchanged", "updated")
    changed = rows if (status != "unchanged").all() else rows.loc[status != "unchanged"]
    if "source_row" in table.c:
        changed = changed.assign(source_row=changed.index)
    _upsert(conn, table, keys, changed, constants)
    return status


# (中文, English) message of each reason; {row}, {value} and {column} are filled in
MESSAGES: dict[Reason, tuple[str, str]] = {
    Reason.MISSING_PERSON_ID: ("第{row}行没有学号", "row {row} has no person id"),
    Reason.MISSING_DATE: ("第{row}行没有日期", "row {row} has no date"),
    Reason.BAD_DATE: ("第{row}行日期无法识别：{value}", "row {row}: unreadable date {value}"),
    Reason.UNKNOWN_PERSON: ("第{row}行学号{value}不在花名册中", "row {row}: {value} not on roster"),
    Reason.UNKNOWN_SCHOOL: ("第{row}行学校无法识别：{value}", "row {row}: unknown school {value}"),
    Reason.MISSING_SCHOOL: ("第{row}行没有学校", "row {row} has no school"),
    Reason.MISSING_NAME: ("第{row}行没有姓名", "row {row} has no name"),
    Reason.DUPLICATE_ROW: ("第{row}行被同键的后一行取代", "row {row} replaced by a later row"),
    Reason.MISSING_ENTRY_TIME: ("第{row}行没有进校时间", "row {row} has no entry time"),
    Reason.BAD_ENTRY_TIME: (
        "第{row}行进校时间无法识别：{value}",
        "row {row}: bad entry time {value}",
    ),
    Reason.BAD_TEMPERATURE: (
        "第{row}行体温无法识别：{value}",
        "row {row}: bad temperature {value}",
    ),
    Reason.IMPOSSIBLE_TEMPERATURE: (
        "第{row}行体温不可能：{value}",
        "row {row}: impossible {value}",
    ),
    Reason.FAHRENHEIT_CONVERTED: (
        "第{row}行体温{value}按华氏度换算",
        "row {row}: {value} °F converted",
    ),
    Reason.UNKNOWN_SYMPTOM: (
        "第{row}行症状无法识别：{value}",
        "row {row}: unknown symptom {value}",
    ),
    Reason.BAD_SESSION: (
        "第{row}行时段{value}按晨检处理",
        "row {row}: session {value} taken as morning",
    ),
    Reason.BAD_YES_NO: (
        "第{row}行{column}应为是/否：{value}",
        "row {row}: {column} {value} taken as no",
    ),
    Reason.BAD_TIMESTAMP: ("第{row}行时间无法识别：{value}", "row {row}: unreadable time {value}"),
    Reason.BAD_ROLE: ("第{row}行身份{value}按学生处理", "row {row}: role {value} taken as student"),
    Reason.BAD_STATUS: (
        "第{row}行状态{value}按在校处理",
        "row {row}: status {value} taken as active",
    ),
    Reason.BAD_ABSENCE_REASON: (
        "第{row}行缺勤原因{value}归为其他",
        "row {row}: reason {value} as other",
    ),
    Reason.NAME_MISMATCH: (
        "第{row}行姓名{value}与花名册不符",
        "row {row}: name {value} not as on roster",
    ),
    Reason.UNKNOWN_COLUMNS: ("未识别的列：{value}", "unknown columns: {value}"),
    Reason.WRONG_SCHOOL: (
        "第{row}行学校{value}不是本文件所属学校，未写入",
        "row {row}: school {value} is not this file's school; not written",
    ),
    Reason.BAD_ENCODING: (
        "第{row}行无法按文件编码解码：{value}",
        "line {row} cannot be decoded in the file's encoding: {value}",
    ),
    Reason.DUPLICATE_COLUMN: (
        "重复的列：{value}（使用第一列）",
        "duplicated column: {value} (the first is used)",
    ),
    Reason.CONFLICTING_VALUES: (
        "第{row}行{column}两列不一致：{value}（使用第一列）",
        "row {row}: the two {column} columns differ: {value} (the first is used)",
    ),
    Reason.FILE_REJECTED: ("文件被拒收：{value}", "file rejected: {value}"),
}


def write_issues(
    conn: sa.Connection,
    quarantined: pd.DataFrame,
    findings: pd.DataFrame,
    *,
    sha256: str,
    file: str,
    kind: str,
) -> None:
    """Insert quarantined rows and findings (row, column, value, reason, school_id,
    person_id, date as ISO text; quarantine also raw) not recorded yet."""
    now = store.utcnow()
    for table, frame in ((store.quarantine, quarantined), (store.data_quality, findings)):
        if frame.empty:
            continue
        columns = {name: frame[name].tolist() for name in frame.columns}
        columns["row"] = [int(row) for row in columns["row"]]
        columns["value"] = [_text(v) for v in columns["value"]]
        columns["date"] = [_iso_date(d) for d in columns["date"]]
        issues = zip(
            columns["reason"], columns["row"], columns["value"], columns["column"], strict=True
        )
        columns["message"] = [_message(*issue) for issue in issues]
        names = list(columns)
        fixed = {"sha256": sha256, "file": file, "kind": kind, "created_at": now}
        records = [
            {**dict(zip(names, values, strict=True)), **fixed}
            for values in zip(*(map(_none, columns[n]) for n in names), strict=True)
        ]
        store.insert_ignore(conn, table, records)


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def _none(value: Any) -> Any:
    """NaN and NaT as None, as the database wants them."""
    return None if value is not None and not isinstance(value, str) and pd.isna(value) else value


def _message(reason: Any, row: int, value: str | None, column: str) -> str:
    zh, en = MESSAGES.get(Reason(reason), ("第{row}行：{value}", "row {row}: {value}"))
    fields = {"row": row, "value": "" if value is None else value, "column": column}
    return f"{zh.format(**fields)} / {en.format(**fields)}"


def query_frame(result: sa.CursorResult, columns: list[str]) -> pd.DataFrame:
    """A query's rows as a frame of object columns."""
    rows = result.all()
    array = np.empty((len(rows), len(columns)), dtype=object)
    if rows:
        array[:] = [tuple(r) for r in rows]
    return pd.DataFrame(array, columns=columns, dtype=object)


def row_hash(rows: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash (16 hex digits) of a row's canonical values.

    Equal hashes mean nothing changed. Each column is hashed by pandas' SipHash
    with a fixed key (vectorised, the same in every process) and the columns
    are combined in order.
    """
    if rows.empty:
        return np.array([], dtype=object)
    hashed = np.zeros(len(rows), dtype=np.uint64)
    for column in rows.columns:  # combined in order, as boost::hash_combine does
        part = pd.util.hash_array(_hashable(rows[column]), hash_key=_HASH_KEY, categorize=True)
        hashed ^= (
            part
            + np.uint64(0x9E3779B97F4A7C15)
            + (hashed << np.uint64(6))
            + (hashed >> np.uint64(2))
        )
    octets = hashed.astype(">u8").view(np.uint8).reshape(-1, 8)
    digits = np.empty((len(hashed), 16), dtype=np.uint32)  # UCS-4, as numpy's str dtype
    digits[:, 0::2] = _HEX[octets >> 4]
    digits[:, 1::2] = _HEX[octets & 15]
    return digits.view("U16").ravel().astype(object)


_HASH_KEY = "reportkit.row.v1"  # 16 characters, as SipHash needs
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).astype(np.uint32)


def _hashable(values: pd.Series) -> np.ndarray:
    """A column in a form whose hash does not depend on dtype details or None vs NaN."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.array  # hashed per category: the same hashes as its values'
    array = values.to_numpy()
    if array.dtype.kind == "M":
        return array.astype("datetime64[us]").view("i8")
    if array.dtype.kind in "bfi":
        return array
    return array.astype(object, copy=False)  # strings; missing values hash alike (categorized)


def stored_hashes(
    conn: sa.Connection, table: sa.Table, keys: list[str], rows: pd.DataFrame
) -> np.ndarray:
    """The stored row_hash of each row's key (None for new keys), read in one query."""
    if rows.empty:
        return np.array([], dtype=object)
    stmt = sa.select(*(table.c[k] for k in keys), table.c.row_hash).where(
        table.c.school_id.in_(rows["school_id"].unique().tolist())
    )
    if "date" in table.c:
        days = [d for d in rows["date"].unique() if isinstance(d, str)]
        stmt = stmt.where(
            table.c.date.between(date.fromisoformat(min(days)), date.fromisoformat(max(days)))
        )
    stored = query_frame(conn.execute(stmt), [*keys, "stored"])
    if stored.empty:
        return np.full(len(rows), None, dtype=object)
    if "date" in stored:
        stored["date"] = stored["date"].map(lambda d: d.isoformat())
    # keys are unique on both sides (the primary key; rows deduplicated before)
    merged = rows[keys].astype(object).merge(stored, how="left", on=keys)
    if len(merged) != len(rows):
        raise ValueError(f"rows repeat a key of {table.name}: {keys}")
    return merged["stored"].to_numpy(dtype=object)


def _upsert(
    conn: sa.Connection,
    table: sa.Table,
    keys: list[str],
    rows: pd.DataFrame,
    constants: dict[str, Any],
) -> None:
    """Insert or replace rows by key; a raw ``executemany`` on SQLite, for speed."""
    if rows.empty:
        return
    if conn.dialect.name == "sqlite":
        _sqlite_upsert_rows(conn, table, keys, rows, constants)
        return
    names = [*rows.columns, *constants]
    columns: list[Any] = [_db_values(rows[c], c) for c in rows.columns]
    columns += [itertools.repeat(value, len(rows)) for value in constants.values()]
    if conn.dialect.name == "postgresql" and len(rows) >= _COPY_MIN_ROWS:
        _postgres_copy_upsert(conn, table, keys, names, zip(*columns, strict=True))
        return
    records = [dict(zip(names, r, strict=True)) for r in zip(*columns, strict=True)]
    store.upsert(conn, table, records)


_COPY_MIN_ROWS = 1_000  # smaller writes keep the plain INSERT ... ON CONFLICT


def _postgres_copy_upsert(
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
    driver = conn.connection.driver_connection
    try:
        with driver.cursor() as cur, cur.copy(statement) as copy:
            for record in records:
                copy.write_row(record)
    except Exception as exc:  # as SQLAlchemy raises the same error from an INSERT
        import psycopg

        if isinstance(exc, psycopg.Error):
            raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
        raise
    conn.exec_driver_sql(_upsert_sql(table, names, keys, f"SELECT {listed} FROM {staging}"))


def _upsert_sql(table: sa.Table, names: list[str], keys: list[str], source: str) -> str:
    """``INSERT INTO table (names) <source> ON CONFLICT (keys) DO UPDATE`` the rest."""
    quoted = {c: f'"{c}"' for c in names}
    return (
        f'INSERT INTO "{table.name}" ({", ".join(quoted.values())}) {source} '
        f"ON CONFLICT ({', '.join(quoted[k] for k in keys)}) DO UPDATE SET "
        + ", ".join(f"{q} = excluded.{q}" for c, q in quoted.items() if c not in keys)
    )


# rows per INSERT statement (if the parameter limit allows) and per executemany call
_ROWS_PER_STATEMENT = 100
_ROWS_PER_BATCH = 20_000
# leading key columns are bound once per statement if their runs are this long on average
_RUN_MIN_ROWS = 2_000


def _sqlite_upsert_rows(
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
    driver = conn.connection.driver_connection
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
        column, default = _sqlite_column(rows[name], table.c[name].nullable, order)
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
        head = [_sqlite_constant(u[c[first]]) for c, u in map(codes.get, leading_names)]
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
    return _upsert_sql(table, [*own, *shared], keys, f"VALUES {', '.join(values)}")


_REBUILD_MIN_ROWS = 50_000


def _indexes_to_rebuild(driver: Any, table: sa.Table, new_rows: int) -> list[sa.Index]:
    """Secondary indexes cheaper to build again than to update: a big load into a
    table smaller than it (SQLite sorts once instead of inserting row by row).
    Dropped and created in the same transaction, so readers never miss them."""
    if new_rows < _REBUILD_MIN_ROWS or not table.indexes:
        return []
    stored = driver.execute(f'SELECT max(rowid) FROM "{table.name}"').fetchone()[0] or 0
    return sorted(table.indexes, key=lambda i: i.name) if new_rows > stored else []


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
    ``_NO_DEFAULT``), and NaN in its place (see :func:`_sqlite_upsert_rows`). A None
    in a NOT NULL column is left for the constraint to reject."""
    missing = _NULL if nullable else None
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


def _db_values(values: pd.Series, column: str) -> np.ndarray:
    """A column as psycopg wants it: Python objects, None for missing."""
    array = values.to_numpy()
    if array.dtype.kind == "M":
        out = array.astype("datetime64[us]").astype(object)
        out[pd.isna(array)] = None
        return out
    if column == "date":
        return per_unique(values, lambda v: (_iso_date(v),), 1)[0]
    if array.dtype.kind == "f":
        out = array.astype(object)
        out[np.isnan(array)] = None
        return out
    out = array.astype(object)  # Python bool, int and str, not numpy scalars
    if array.dtype.kind == "O":
        out[pd.isna(array)] = None  # a NaN in a text column is NULL, never the text 'NaN'
    return out


def _iso_date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None
