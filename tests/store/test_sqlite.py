"""SQLite's fast write path: what it stores is what SQLAlchemy's own insert stores.

:func:`reportkit.store.upsert_frame` on SQLite (:mod:`reportkit.store._sqlite`):
the driver's ``executemany``, shared parameters, common values bound once, and
the index rebuilt after a big load, all inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from reportkit import store
from reportkit.store import _sqlite
from tests.factories import CHECKIN_KEYS as KEYS
from tests.factories import (
    as_categoricals,
    checkin_rows,
    mixed_rows,
    sqlite_stored,
    write_constants,
)


def _hashed(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` as ingestion hands them to the store: with a row hash and the file's row."""
    hashes = pd.Series([f"h{i}" for i in rows.index], index=rows.index, dtype=object)
    return rows.assign(row_hash=hashes, source_row=rows.index)


def _upsert(conn: sa.Connection, table: sa.Table, rows: pd.DataFrame, constants: dict) -> None:
    store.upsert_frame(conn, table, KEYS, _hashed(rows), constants)


def _index_names(conn) -> set[str]:
    rows = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")
    return {r[0] for r in rows}


def _indexed_checkins() -> sa.Table:
    """The check-ins' columns as a rowid table with a secondary index (as the roster
    and the gate register are): what the index rebuild is for."""
    table = sa.Table(
        "indexed_checkins",
        sa.MetaData(),
        *(c._copy() for c in store.checkins.columns),
        sa.PrimaryKeyConstraint(*KEYS),
    )
    sa.Index("ix_indexed_date_school", table.c.date, table.c.school_id)
    return table


def test_sqlite_big_load_rebuilds_the_index_in_its_transaction(sqlite_url, monkeypatch):
    engine = store.connect(sqlite_url)
    table = _indexed_checkins()
    table.metadata.create_all(engine)
    monkeypatch.setattr(_sqlite, "_REBUILD_MIN_ROWS", 10)
    with engine.begin() as conn:
        _upsert(conn, table, checkin_rows(120), write_constants())
    with engine.connect() as conn:
        assert "ix_indexed_date_school" in _index_names(conn)
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT * FROM indexed_checkins WHERE date = '2020-02-10'"
        ).all()
        assert "ix_indexed_date_school" in str(plan)

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    # a failure after the index was dropped rolls the drop back too
    monkeypatch.setattr(_sqlite, "_sqlite_upsert", fail)
    more = checkin_rows(300).assign(date="2020-02-11")
    with pytest.raises(RuntimeError), engine.begin() as conn:
        _upsert(conn, table, more, write_constants())
    with engine.connect() as conn:
        assert "ix_indexed_date_school" in _index_names(conn)
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 120
    engine.dispose()


def test_checkins_are_one_tree_keyed_school_date_person_session(sqlite_url):
    engine = store.connect(sqlite_url)
    with engine.connect() as conn:
        ddl = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'checkins'"
        ).scalar_one()
        indexes = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'checkins'"
        ).all()
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT * FROM checkins "
            "WHERE school_id IN ('s001', 's002') AND date BETWEEN '2020-02-01' AND '2020-02-10'"
        ).all()
    assert "WITHOUT ROWID" in ddl
    assert indexes == []  # no second tree to keep up
    assert "SEARCH checkins USING PRIMARY KEY (school_id=? AND date>? AND date<?)" in str(plan)
    engine.dispose()


def test_sqlite_values_read_back_through_sqlalchemy(sqlite_url):
    engine = store.connect(sqlite_url)
    rows = checkin_rows(61)  # more than one multi-row statement, and a remainder
    rows.loc[5, "temperature"] = np.nan
    rows.loc[6, "reported_at"] = pd.NaT
    rows.loc[7, "absent"] = True
    with engine.begin() as conn:
        _upsert(conn, store.checkins, rows, write_constants())
    with engine.connect() as conn:
        stored = {
            r.person_id: r
            for r in conn.execute(sa.select(store.checkins).order_by(store.checkins.c.person_id))
        }
    assert len(stored) == 61
    assert stored["00003"].temperature is None
    assert stored["00004"].reported_at is None
    assert stored["00005"].absent is True
    assert stored["00000"].reported_at == pd.Timestamp("2020-02-10 07:30:00").to_pydatetime()
    assert str(stored["00000"].date) == "2020-02-10"
    engine.dispose()


def _reference(tmp_path, rows: pd.DataFrame, fixed: dict) -> list[tuple]:
    """What SQLAlchemy's own insert stores for ``rows``."""
    reference = store.connect(f"sqlite:///{tmp_path / 'reference.db'}")
    hashed = _hashed(rows)
    records = [
        {
            **{k: (None if pd.isna(v) else v) for k, v in r.items()},
            "date": pd.Timestamp(r["date"]).date(),
            "reported_at": None if pd.isna(r["reported_at"]) else r["reported_at"].to_pydatetime(),
            **fixed,
        }
        for r in hashed.to_dict("records")
    ]
    with reference.begin() as conn:
        store.upsert(conn, store.checkins, records)
        expected = sqlite_stored(conn)
    reference.dispose()
    return expected


def test_sqlite_fast_path_stores_what_sqlalchemy_stores(tmp_path, monkeypatch):
    """The driver-level path (ints for bools, NaN for NULL, shared parameters) and the
    index-rebuilding path for big loads store exactly what SQLAlchemy's insert stores."""
    rows = mixed_rows(157)  # more than one statement and batch, and a remainder
    fixed = {"source_file": "f.csv", "updated_at": store.utcnow()}
    expected = _reference(tmp_path, rows, fixed)
    assert {t for r in expected for t in r[1::2]} == {"text", "integer", "real", "null"}
    monkeypatch.setattr(_sqlite, "_ROWS_PER_STATEMENT", 10)
    monkeypatch.setattr(_sqlite, "_ROWS_PER_BATCH", 40)
    for label, rebuild_min in (("small", 10**9), ("big", 10)):
        monkeypatch.setattr(_sqlite, "_REBUILD_MIN_ROWS", rebuild_min)
        engine = store.connect(f"sqlite:///{tmp_path / f'{label}.db'}")
        with engine.begin() as conn:
            _upsert(conn, store.checkins, rows, fixed)
            assert sqlite_stored(conn) == expected, label
        # read back the way the report modules read
        day = pd.Timestamp("2020-02-10").date()
        frame = store.load_checkins(engine, day, day)
        assert frame["reported_at"].isna().sum() == rows["reported_at"].isna().sum()
        assert frame["absent"].sum() == rows["absent"].sum()
        engine.dispose()


@pytest.mark.parametrize("run_min_rows", [10**9, 100, 20])
def test_sqlite_runs_and_defaults_store_what_sqlalchemy_stores(tmp_path, monkeypatch, run_min_rows):
    """Several schools and days, as categoricals (as ingestion hands them over): the
    schools and days bound once per run of rows and the common texts bound once per
    statement store exactly what SQLAlchemy's insert stores, also on the rows that
    differ from the common value and in the one-row statements at a run's end."""
    days = [mixed_rows(157).assign(date=f"2020-02-1{d}") for d in range(3)]
    rows = pd.concat(days).reset_index(drop=True)
    rows.index += 2
    rows["symptoms"] = np.where(np.arange(len(rows)) % 9 == 0, "fever,cough", "").astype(object)
    rows = rows.sample(frac=1, random_state=3)
    fixed = {"source_file": "f.csv", "updated_at": store.utcnow()}
    expected = _reference(tmp_path, rows, fixed)
    monkeypatch.setattr(_sqlite, "_ROWS_PER_STATEMENT", 10)
    monkeypatch.setattr(_sqlite, "_ROWS_PER_BATCH", 40)
    monkeypatch.setattr(_sqlite, "_RUN_MIN_ROWS", run_min_rows)
    runs = []
    real_runs = _sqlite._runs
    monkeypatch.setattr(_sqlite, "_runs", lambda *a: runs.append(real_runs(*a)) or runs[-1])
    engine = store.connect(f"sqlite:///{tmp_path / 'fast.db'}")
    with engine.begin() as conn:
        _upsert(conn, store.checkins, as_categoricals(rows), fixed)
        assert sqlite_stored(conn) == expected
    engine.dispose()
    # leading columns: none; the school (2 runs of ~235 rows); school and day (6 of ~78)
    leading, starts = runs[0]
    assert (leading, len(starts)) == {10**9: (0, 1), 100: (1, 2), 20: (2, 6)}[run_min_rows]


def test_sqlite_none_in_a_not_null_column_is_still_refused(sqlite_url):
    engine = store.connect(sqlite_url)
    rows = checkin_rows(3)
    rows.loc[3, "symptoms"] = None
    with pytest.raises(sqlite3.IntegrityError, match=r"checkins\.symptoms"), engine.begin() as conn:
        _upsert(conn, store.checkins, rows, write_constants())
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.checkins)).scalar() == 0
    engine.dispose()


def test_sqlite_a_key_with_one_value_and_a_null_is_not_shared(sqlite_url):
    # one school on every row but one: that row must not take the school bound once
    engine = store.connect(sqlite_url)
    rows = checkin_rows(3)
    rows.loc[3, "school_id"] = None
    with (
        pytest.raises(sqlite3.IntegrityError, match=r"checkins\.school_id"),
        engine.begin() as conn,
    ):
        _upsert(conn, store.checkins, rows, write_constants())
    engine.dispose()


def test_sqlite_none_in_a_not_null_categorical_column_is_still_refused(sqlite_url):
    engine = store.connect(sqlite_url)
    rows = checkin_rows(3)
    rows.loc[3, "symptoms"] = None
    with pytest.raises(sqlite3.IntegrityError, match=r"checkins\.symptoms"), engine.begin() as conn:
        _upsert(conn, store.checkins, as_categoricals(rows), write_constants())
    engine.dispose()
