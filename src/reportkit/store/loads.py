"""Reading the store into frames: people, check-ins, data-quality findings, gate entries.

Every load goes straight through the DB-API cursor (:func:`_read`): SQLAlchemy's
per-row result processing costs more than the query for a district's window. The
check-ins and the rosters are read one row per school (:func:`_read_by_school`): the
database joins each column's values into one string, split here, so that a province's
1.4 million rows of a day cost a few strings per school instead of a Python tuple and
a dozen objects per row (measured at 2,002 schools: the date's check-ins 3.6 s instead
of 4.1 s, the roster 1.0 s instead of 2.7 s, with less memory); where that cannot give
back the rows exactly, they are read one by one.
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


# The by-school read (:func:`_read_by_school`): each field of a school's rows comes as
# one string, its values joined by SEP; NULL_MARK stands for a missing value, and the
# columns a field packs (the sparse text columns) are joined by PACK.
SEP = "\x1f"  # unit separator
NULL_MARK = "\x1e"  # record separator
PACK = "\x1d"  # group separator


def _encoded(column: sa.Column, dialect: str) -> sa.ColumnElement[Any]:
    """``column`` as text that gives its value back exactly, NULL as NULL_MARK: text as
    it is, a float in 17 significant digits (the fewest that always give back the same
    float; SQLite's own text of a float keeps 15)."""
    text: sa.ColumnElement[Any] = column
    if isinstance(column.type, sa.Float):
        if dialect == "sqlite":
            text = sa.case(
                (sa.func.typeof(column) == "real", sa.func.printf("%!.17g", column)),
                else_=column,
            )
        else:  # PostgreSQL's float text is the shortest exact one (extra_float_digits > 0)
            text = sa.cast(column, sa.Text)
    elif dialect != "sqlite" and not isinstance(column.type, (sa.String, sa.Text)):
        text = sa.cast(column, sa.Text)  # SQLite's group_concat makes any value text
    return sa.func.coalesce(text, NULL_MARK)


def _bits(columns: Sequence[sa.Column], dialect: str) -> sa.ColumnElement[Any]:
    """Booleans packed into one small integer, column ``i`` as bit ``i``."""
    total: sa.ColumnElement[Any] = sa.literal(0)
    for i, column in enumerate(columns):
        one = column != 0 if dialect == "sqlite" else sa.cast(column, sa.Integer)
        total = total + sa.literal(1 << i) * one
    return sa.func.coalesce(sa.cast(total, sa.Text), NULL_MARK)


def _packed(columns: Sequence[sa.Column]) -> sa.ColumnElement[Any]:
    """Text columns that are mostly empty: "" where each is its default (NULL, or ""
    for a column that may not be NULL), else their values joined by PACK."""
    defaults = [c == "" if not c.nullable else c.is_(None) for c in columns]
    joined: sa.ColumnElement[Any] = sa.func.coalesce(columns[0], NULL_MARK)
    for column in columns[1:]:
        joined = joined + PACK + sa.func.coalesce(column, NULL_MARK)
    return sa.case((sa.and_(*defaults), ""), else_=joined)


def _read_by_school(
    engine: Engine,
    table: sa.Table,
    columns: Sequence[str],
    where: Sequence[sa.ColumnElement[bool]],
    *,
    numbers: Sequence[str] = (),
    booleans: Sequence[str] = (),
    sparse: Sequence[str] = (),
) -> pd.DataFrame | None:
    """The rows :func:`_read` (with ``objects``) gives of ``table``, read as one row per
    school: each field's values joined into one string by the database and split here,
    instead of a Python tuple per row (for a province's date, 1.4 million rows: most of
    the load's time and memory). ``numbers`` come back float; ``booleans`` bool, packed
    into one field; ``sparse`` (text mostly empty) packed into one field.

    None when a school's strings do not give back its rows exactly (a value holding a
    separator or equal to NULL_MARK, a NULL boolean), or when there are no rows: the
    caller reads the rows.
    """
    if columns[0] != "school_id":
        raise ValueError("a by-school read starts with school_id")
    flags = [c for c in columns if c in booleans]
    packed = [c for c in columns if c in sparse]
    plain = [c for c in columns[1:] if c not in flags and c not in packed]
    with engine.connect() as conn:
        dialect = conn.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            return None
        if dialect == "postgresql":
            conn.exec_driver_sql("SET LOCAL extra_float_digits = 3")
        c = table.c
        fields = [_encoded(c[name], dialect) for name in plain]
        if flags:
            fields.append(_bits([c[name] for name in flags], dialect))
        if packed:
            fields.append(_packed([c[name] for name in packed]))
        counted = [name for name in [*plain, *packed] if name not in numbers]
        stmt = (
            sa.select(
                c.school_id,
                sa.func.count(),
                *(sa.func.aggregate_strings(f, SEP) for f in fields),
                *(sa.func.count(c[name]) for name in counted),
            )
            .where(*where)
            .group_by(c.school_id)
            .order_by(c.school_id)
        )
        _, groups = _execute(conn, stmt)
    if not groups:
        return None
    sizes = np.array([g[1] for g in groups], dtype=np.int64)
    total = int(sizes.sum())
    out: dict[str, np.ndarray] = {
        "school_id": np.repeat(np.array([g[0] for g in groups], dtype=object), sizes)
    }
    present = {name: sum(g[2 + len(fields) + i] for g in groups) for i, name in enumerate(counted)}

    def field(i: int) -> np.ndarray | None:
        parts = SEP.join([g[2 + i] for g in groups]).split(SEP)
        return np.array(parts, dtype=object) if len(parts) == total else None  # SEP held

    for i, name in enumerate(plain):
        values = field(i)
        if values is None:
            return None
        missing = values == NULL_MARK
        if name in numbers:
            values[missing] = "nan"
            out[name] = pd.to_numeric(values, errors="coerce").astype(float)
            continue
        if not _kept(values, missing, present[name], total):
            return None
        out[name] = values
    if flags:
        values = field(len(plain))
        if values is None:
            return None
        codes, uniques = pd.factorize(values)
        if not all(str(u).isdigit() for u in uniques):
            return None  # a NULL boolean
        bits = np.array([int(u) for u in uniques], dtype=np.int64)[codes]
        for i, name in enumerate(flags):
            out[name] = (bits >> i) & 1 == 1
    if packed:
        values = field(len(fields) - 1)
        if values is None:
            return None
        given = np.flatnonzero(values != "")
        parts = PACK.join(values[given].tolist()).split(PACK) if len(given) else []
        if len(parts) != len(given) * len(packed):  # a value held PACK
            return None
        table_of = np.array(parts, dtype=object).reshape(len(given), len(packed))
        for j, name in enumerate(packed):
            column = np.full(total, None if c[name].nullable else "", dtype=object)
            column[given] = table_of[:, j]
            given_here = len(given) if c[name].nullable else total  # the others: ""
            if not _kept(column, column == NULL_MARK, present[name], given_here):
                return None
            out[name] = column
    # each column as its own dtype: text stays object (see _read), not inferred strings
    return pd.DataFrame({k: pd.Series(out[k], dtype=out[k].dtype) for k in columns})


def _kept(values: np.ndarray, missing: np.ndarray, present: int, given: int) -> bool:
    """Turn NULL_MARK into None in ``values``, of which ``given`` were not None; False if
    a value was NULL_MARK itself (fewer values than the database counted)."""
    n_missing = int(missing.sum())
    if given - n_missing != present:
        return False
    if n_missing:
        values[missing] = None
    return True


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


def _distinct(values: pd.Series, parse: Any) -> np.ndarray:
    """``parse`` (ISO text, or dates and times already, to datetime64) applied once per
    distinct value of ``values`` (a window has a few dozen dates, a day's check-ins
    repeat their times), spread back over every row; the last value, NaT, where missing."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object))
    parsed = parse(pd.Series(uniques, dtype=object))
    missing = np.array([pd.NaT if parsed.dtype == object else "NaT"], dtype=parsed.dtype)
    return np.append(parsed, missing)[codes]


def _dates(values: pd.Series) -> pd.Series:
    """ISO dates (text, or dates already) as ``date`` objects; NaT where missing."""

    def parse(uniques: pd.Series) -> np.ndarray:
        days = pd.to_datetime(uniques, format="ISO8601").dt.date.tolist()
        return np.array(days, dtype=object)

    return pd.Series(_distinct(values, parse), index=values.index, dtype=object)


def _times(values: pd.Series) -> pd.Series:
    """ISO date-times (text, or datetimes already) as datetime64; NaT where missing."""

    def parse(uniques: pd.Series) -> np.ndarray:
        return pd.to_datetime(uniques, format="ISO8601").to_numpy()

    return pd.Series(_distinct(values, parse), index=values.index)


def _driver_value(value: Any) -> Any:
    # sqlite3's default date adapters are deprecated; ISO strings compare the same
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


def _in_schools(column: sa.Column, school_ids: Sequence[str] | None) -> list[Any]:
    """The condition that ``column`` is one of ``school_ids`` (none: every school)."""
    return [] if school_ids is None else [column.in_(list(school_ids))]


def load_people(engine: Engine, school_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The roster: school_id, person_id, name, role, grade, class, status."""
    cols = [
        people.c[c] for c in ("school_id", "person_id", "name", "role", "grade", "class", "status")
    ]
    where = _in_schools(people.c.school_id, school_ids)
    frame = _read_by_school(engine, people, [c.name for c in cols], where)
    if frame is None:
        frame = _read(engine, sa.select(*cols).where(*where), objects=True)
    return frame


def load_class_teachers(engine: Engine, school_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The head teachers rosters named: school_id, grade, class, head_teacher (grade and
    class "" where the roster had none)."""
    cols = [class_teachers.c[c] for c in CLASS_TEACHER_COLUMNS]
    stmt = sa.select(*cols).where(*_in_schools(class_teachers.c.school_id, school_ids))
    frame = _read(engine, stmt)
    return frame.reindex(columns=CLASS_TEACHER_COLUMNS)


_BOOLEANS = ("absent", "key_area", "contact")
_SPARSE = ("symptoms", "symptoms_other", "absence_reason", "key_area_place")  # mostly empty


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
    where = [checkins.c.date.between(start, end), *_in_schools(checkins.c.school_id, school_ids)]
    frame = None
    if read[0] == "school_id":
        frame = _read_by_school(
            engine,
            checkins,
            read,
            where,
            numbers=["temperature"],
            booleans=_BOOLEANS,
            sparse=_SPARSE,
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
        stmt = stmt.where(*_in_schools(table.c.school_id, school_ids))
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
    stmt = stmt.where(*_in_schools(entries.c.school_id, school_ids))
    frame = _read(engine, stmt, parse_dates=["date"])
    for col in ("entered_at", "left_at"):
        frame[col] = pd.to_datetime(frame[col])
    return frame
