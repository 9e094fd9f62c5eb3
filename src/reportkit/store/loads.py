"""Reading the store into frames: people, check-ins, data-quality findings, gate entries.

Every load goes straight through the DB-API cursor (:func:`_read`): SQLAlchemy's
per-row result processing costs more than the query for a district's window.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reportkit.store.tables import (
    CHECKIN_COLUMNS,
    CLASS_TEACHER_COLUMNS,
    ENTRY_COLUMNS,
    checkins,
    class_teachers,
    data_quality,
    entries,
    people,
    quarantine,
)

__all__ = [
    "load_checkins",
    "load_class_teachers",
    "load_data_quality",
    "load_entries",
    "load_people",
]


def _read(
    engine: Engine,
    stmt: sa.Select,
    parse_dates: Sequence[str] = (),
    *,
    objects: bool = False,
    numbers: Sequence[str] = (),
) -> pd.DataFrame:
    """Run a SELECT straight through the DB-API cursor into a frame.

    SQLAlchemy's per-row result processing (a ``date`` object per SQLite string)
    cost 7 s for a month of a county's check-ins; converting whole columns with
    pandas afterwards costs a fraction of that. With ``objects`` the columns are left
    as Python objects (text stays ``object``, not pandas' inferred string type, whose
    conversion cost a third of a province's load), ``numbers`` made float.
    """
    with engine.connect() as conn:
        names, rows = _execute(conn, stmt)
    if objects:
        frame = pd.DataFrame(rows, columns=names, dtype=object)
    else:
        frame = pd.DataFrame.from_records(rows, columns=names)
    for col in numbers:
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    for col in parse_dates:
        if col in frame:
            frame[col] = _dates(frame[col])
    return frame


# The by-school read (:func:`_read_by_school`): each column of a school's rows comes as
# one string, its values joined by SEP; NULL_MARK stands for a missing value.
SEP = "\x1f"  # unit separator
NULL_MARK = "\x1e"  # record separator


def _encoded(column: sa.Column, dialect: str) -> sa.ColumnElement[Any]:
    """``column`` as text that gives its value back exactly, NULL as NULL_MARK: text as
    it is, a boolean as 0 or 1, a float in 17 significant digits (the fewest that always
    give back the same float; SQLite's own text of a float keeps 15)."""
    kind = column.type
    text: sa.ColumnElement[Any]
    if dialect == "sqlite":  # SQLite's group_concat takes any value and makes it text
        text = column
        if isinstance(kind, sa.Float):
            text = sa.case(
                (sa.func.typeof(column) == "real", sa.func.printf("%!.17g", column)),
                else_=column,
            )
    elif isinstance(kind, sa.Boolean):
        text = sa.cast(sa.cast(column, sa.Integer), sa.Text)
    elif isinstance(kind, (sa.String, sa.Text)):
        text = column
    else:  # PostgreSQL's float text is the shortest exact one (extra_float_digits > 0)
        text = sa.cast(column, sa.Text)
    return sa.func.coalesce(text, NULL_MARK)


def _read_by_school(
    engine: Engine,
    table: sa.Table,
    columns: Sequence[str],
    where: Sequence[sa.ColumnElement[bool]],
    *,
    numbers: Sequence[str] = (),
    booleans: Sequence[str] = (),
) -> pd.DataFrame | None:
    """The rows :func:`_read` (with ``objects``) gives of ``table``, read as one row per
    school: each column's values joined into one string by the database and split here,
    instead of a Python tuple per row (for a province's date, 1.4 million rows: most of
    the load's time and memory). ``numbers`` come back float, ``booleans`` bool.

    None when a school's strings do not give back its rows exactly (a value holding
    SEP or equal to NULL_MARK), or when there are no rows: the caller reads the rows.
    """
    if columns[0] != "school_id":
        raise ValueError("a by-school read starts with school_id")
    rest = list(columns[1:])
    with engine.connect() as conn:
        dialect = conn.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            return None
        if dialect == "postgresql":
            conn.exec_driver_sql("SET LOCAL extra_float_digits = 3")
        key = table.c.school_id
        selected: list[sa.ColumnElement[Any]] = [key, sa.func.count()]
        for name in rest:
            selected.append(sa.func.aggregate_strings(_encoded(table.c[name], dialect), SEP))
            selected.append(sa.func.count(table.c[name]))
        stmt = sa.select(*selected).where(*where).group_by(key).order_by(key)
        _, groups = _execute(conn, stmt)
    if not groups:
        return None
    sizes = np.array([g[1] for g in groups], dtype=np.int64)
    total = int(sizes.sum())
    keys = np.array([g[0] for g in groups], dtype=object)
    out: dict[str, np.ndarray] = {"school_id": np.repeat(keys, sizes)}
    for i, name in enumerate(rest):
        parts = SEP.join([g[2 + 2 * i] for g in groups]).split(SEP)
        if len(parts) != total:  # a value held SEP
            return None
        values = np.array(parts, dtype=object)
        missing = values == NULL_MARK
        n_missing = int(missing.sum())
        if name in numbers:
            values[missing] = "nan"
            out[name] = pd.to_numeric(values, errors="coerce").astype(float)
            continue
        if total - n_missing != sum(g[3 + 2 * i] for g in groups):
            return None  # a value was NULL_MARK itself
        if name in booleans:
            out[name] = (values != "0") & ~missing
        else:
            if n_missing:
                values[missing] = None
            out[name] = values
    # each column as its own dtype: text stays object (see _read), not inferred strings
    return pd.DataFrame({k: pd.Series(out[k], dtype=out[k].dtype) for k in columns})


def _execute(conn: sa.Connection, stmt: sa.Select) -> tuple[list[str], list[tuple]]:
    """The column names and rows of ``stmt``, through the DB-API cursor of ``conn``."""
    compiled = stmt.compile(conn, compile_kwargs={"render_postcompile": True})
    params: Any
    sqlite = conn.dialect.name == "sqlite"
    values = {k: _driver_value(v) if sqlite else v for k, v in compiled.params.items()}
    if conn.dialect.paramstyle in ("qmark", "numeric", "format"):
        params = [values[k] for k in compiled.positiontup or ()]
    else:
        params = values
    driver: Any = conn.connection.driver_connection  # the DB-API connection
    cursor = driver.cursor()
    try:
        cursor.execute(str(compiled), params)
        names = [d[0] for d in cursor.description]
        return names, cursor.fetchall()
    finally:
        cursor.close()


def _dates(values: pd.Series) -> pd.Series:
    """ISO dates (text, or dates already) as ``date`` objects, each distinct value parsed
    once (a window has a few dozen dates over millions of rows); NaT where missing."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object))
    parsed = pd.to_datetime(pd.Series(uniques, dtype=object), format="ISO8601")
    days = np.array([*parsed.dt.date.tolist(), pd.NaT], dtype=object)
    return pd.Series(days[codes], index=values.index, dtype=object)


def _times(values: pd.Series) -> pd.Series:
    """ISO date-times (text, or datetimes already) as datetime64, each distinct value
    parsed once (a day's check-ins repeat their times); NaT where missing."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object))
    parsed = pd.to_datetime(pd.Series(uniques, dtype=object), format="ISO8601").to_numpy()
    out = np.append(parsed, np.array(["NaT"], dtype=parsed.dtype))[codes]
    return pd.Series(out, index=values.index)


def _driver_value(value: Any) -> Any:
    # sqlite3's default date adapters are deprecated; ISO strings compare the same
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


def _where_schools(
    stmt: sa.Select, column: sa.Column, school_ids: Sequence[str] | None
) -> sa.Select:
    if school_ids is not None:
        stmt = stmt.where(column.in_(list(school_ids)))
    return stmt


def load_people(engine: Engine, school_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The roster: school_id, person_id, name, role, grade, class, status."""
    cols = [
        people.c[c] for c in ("school_id", "person_id", "name", "role", "grade", "class", "status")
    ]
    where = [] if school_ids is None else [people.c.school_id.in_(list(school_ids))]
    frame = _read_by_school(engine, people, [c.name for c in cols], where)
    if frame is None:
        frame = _read(engine, sa.select(*cols).where(*where), objects=True)
    return frame


def load_class_teachers(engine: Engine, school_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The head teachers rosters named: school_id, grade, class, head_teacher (grade and
    class "" where the roster had none)."""
    cols = [class_teachers.c[c] for c in CLASS_TEACHER_COLUMNS]
    stmt = _where_schools(sa.select(*cols), class_teachers.c.school_id, school_ids)
    frame = _read(engine, stmt)
    return frame.reindex(columns=CLASS_TEACHER_COLUMNS)


_BOOLEANS = ("absent", "key_area", "contact")


def load_checkins(
    engine: Engine,
    start: date,
    end: date,
    school_ids: Sequence[str] | None = None,
    columns: Sequence[str] = CHECKIN_COLUMNS,
) -> pd.DataFrame:
    """Check-ins with ``start <= date <= end``; columns as :data:`CHECKIN_COLUMNS`, or
    those of ``columns`` (in that order)."""
    one_day = start == end and "date" in columns  # its date is not read on every row
    read = [c for c in columns if not (one_day and c == "date")]
    where = [checkins.c.date.between(start, end)]
    if school_ids is not None:
        where.append(checkins.c.school_id.in_(list(school_ids)))
    frame = None
    if read[0] == "school_id":
        frame = _read_by_school(
            engine, checkins, read, where, numbers=["temperature"], booleans=_BOOLEANS
        )
        if frame is not None and "date" in frame:
            frame["date"] = _dates(frame["date"])
    if frame is None:
        stmt = sa.select(*(checkins.c[c] for c in read)).where(*where)
        frame = _read(engine, stmt, parse_dates=["date"], objects=True, numbers=["temperature"])
    if one_day:
        frame.insert(list(columns).index("date"), "date", np.full(len(frame), start, object))
    if not frame.empty:
        if "reported_at" in frame:
            frame["reported_at"] = _times(frame["reported_at"])
        for col in _BOOLEANS:
            if col in frame:
                frame[col] = frame[col].astype(bool)
    return frame


def load_data_quality(
    engine: Engine, start: date, end: date, school_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """Data-quality findings and quarantined rows dated ``start..end``."""
    frames = []
    for table in (data_quality, quarantine):
        cols = [
            "school_id",
            "person_id",
            "date",
            "file",
            "row",
            "column",
            "value",
            "reason",
            "message",
        ]
        stmt = sa.select(*(table.c[c] for c in cols)).where(table.c.date.between(start, end))
        stmt = _where_schools(stmt, table.c.school_id, school_ids)
        frame = _read(engine, stmt, parse_dates=["date"])
        frame["quarantined"] = table is quarantine
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def load_entries(
    engine: Engine, start: date, end: date, school_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """Gate register entries dated ``start..end``."""
    stmt = sa.select(*(entries.c[c] for c in ENTRY_COLUMNS)).where(
        entries.c.date.between(start, end)
    )
    stmt = _where_schools(stmt, entries.c.school_id, school_ids)
    frame = _read(engine, stmt, parse_dates=["date"])
    for col in ("entered_at", "left_at"):
        frame[col] = pd.to_datetime(frame[col])
    return frame
