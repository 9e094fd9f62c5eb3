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
            if objects:
                frame = pd.DataFrame(cursor.fetchall(), columns=names, dtype=object)
            else:
                frame = pd.DataFrame.from_records(cursor.fetchall(), columns=names)
        finally:
            cursor.close()
    for col in numbers:
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    for col in parse_dates:
        if col in frame:
            frame[col] = _dates(frame[col])
    return frame


def _dates(values: pd.Series) -> pd.Series:
    """ISO dates (text, or dates already) as ``date`` objects, each distinct value parsed
    once (a window has a few dozen dates over millions of rows); NaT where missing."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object))
    parsed = pd.to_datetime(pd.Series(uniques, dtype=object), format="ISO8601")
    days = np.array([*parsed.dt.date.tolist(), pd.NaT], dtype=object)
    return pd.Series(days[codes], index=values.index, dtype=object)


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
    stmt = _where_schools(sa.select(*cols), people.c.school_id, school_ids)
    return _read(engine, stmt, objects=True)


def load_class_teachers(engine: Engine, school_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The head teachers rosters named: school_id, grade, class, head_teacher (grade and
    class "" where the roster had none)."""
    cols = [class_teachers.c[c] for c in CLASS_TEACHER_COLUMNS]
    stmt = _where_schools(sa.select(*cols), class_teachers.c.school_id, school_ids)
    frame = _read(engine, stmt)
    return frame.reindex(columns=CLASS_TEACHER_COLUMNS)


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
    stmt = sa.select(*(checkins.c[c] for c in read)).where(checkins.c.date.between(start, end))
    stmt = _where_schools(stmt, checkins.c.school_id, school_ids)
    frame = _read(engine, stmt, parse_dates=["date"], objects=True, numbers=["temperature"])
    if one_day:
        frame.insert(list(columns).index("date"), "date", np.full(len(frame), start, object))
    if not frame.empty:
        if "reported_at" in frame:
            frame["reported_at"] = pd.to_datetime(frame["reported_at"], format="ISO8601")
        for col in ("absent", "key_area", "contact"):
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
