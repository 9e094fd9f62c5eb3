"""Bulk writes of ingested rows: hashes, statuses, SQLite's fast path and its index rebuild."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from reportkit import store
from reportkit.ingest import write

KEYS = ["school_id", "person_id", "date", "session"]


def checkin_rows(n: int, temperature: float = 36.5) -> pd.DataFrame:
    index = pd.RangeIndex(2, n + 2)
    text = lambda values: pd.Series(values, index=index, dtype=object)  # noqa: E731
    return pd.DataFrame(
        {
            "school_id": text(["s001"] * n),
            "person_id": text([f"{i:05d}" for i in range(n)]),
            "date": text(["2020-02-10"] * n),
            "session": text(["morning"] * n),
            "name": text([None] * n),
            "temperature": np.full(n, temperature),
            "symptoms": text([""] * n),
            "symptoms_other": text([""] * n),
            "absent": np.zeros(n, dtype=bool),
            "absence_reason": text([None] * n),
            "key_area": np.zeros(n, dtype=bool),
            "key_area_place": text([None] * n),
            "contact": np.zeros(n, dtype=bool),
            "reported_at": pd.Series(
                pd.to_datetime(["2020-02-10 07:30:00"] * n), index=index
            ).astype("datetime64[us]"),
        },
        index=index,
    )


def constants() -> dict:
    return {"source_file": "f.csv", "updated_at": store.utcnow()}


def test_row_hash_is_stable_and_sensitive():
    rows = checkin_rows(3)
    first = write.row_hash(rows)
    assert all(isinstance(h, str) and len(h) == 16 for h in first)
    assert len(set(first)) == 3
    as_str = rows.astype({"person_id": "str"})  # pandas' str dtype, NaN for missing
    as_str["name"] = pd.Series([np.nan] * 3, index=rows.index, dtype=object)
    assert list(write.row_hash(as_str)) == list(first)
    changed = rows.copy()
    changed.loc[3, "temperature"] = 36.6
    assert [a == b for a, b in zip(write.row_hash(changed), first, strict=True)] == [
        True,
        False,
        True,
    ]
    assert write.row_hash(rows.iloc[:0]).size == 0


def test_write_rows_reports_status_and_skips_unchanged(engine):
    with engine.begin() as conn:
        status = write.write_rows(conn, store.checkins, KEYS, checkin_rows(3), constants())
    assert list(status) == ["inserted"] * 3
    rows = checkin_rows(4)
    rows.loc[3, "temperature"] = 38.0
    with engine.begin() as conn:
        status = write.write_rows(conn, store.checkins, KEYS, rows, constants())
    assert list(status) == ["unchanged", "updated", "unchanged", "inserted"]
    with engine.connect() as conn:
        stored = {r.person_id: r for r in conn.execute(sa.select(store.checkins))}
    assert len(stored) == 4
    assert stored["00001"].temperature == 38.0
    assert stored["00000"].reported_at == pd.Timestamp("2020-02-10 07:30:00").to_pydatetime()
    assert sorted(r.source_row for r in stored.values()) == [2, 3, 4, 5]
    # read back as the report modules read it
    frame = store.load_checkins(engine, stored["00000"].date, stored["00000"].date)
    assert frame["absent"].dtype == bool
    assert len(frame) == 4


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
    monkeypatch.setattr(write, "_REBUILD_MIN_ROWS", 10)
    with engine.begin() as conn:
        write.write_rows(conn, table, KEYS, checkin_rows(120), constants())
    with engine.connect() as conn:
        assert "ix_indexed_date_school" in _index_names(conn)
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT * FROM indexed_checkins WHERE date = '2020-02-10'"
        ).all()
        assert "ix_indexed_date_school" in str(plan)

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    # a failure after the index was dropped rolls the drop back too
    monkeypatch.setattr(write, "_sqlite_upsert", fail)
    more = checkin_rows(300).assign(date="2020-02-11")
    with pytest.raises(RuntimeError), engine.begin() as conn:
        write.write_rows(conn, table, KEYS, more, constants())
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
        write.write_rows(conn, store.checkins, KEYS, rows, constants())
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


def test_row_hash_values_do_not_change_across_versions():
    # stored hashes decide "unchanged" on re-ingest: a new formula would mark every row updated
    rows = checkin_rows(3)
    rows.loc[3, "name"] = "张三"
    rows.loc[4, "temperature"] = np.nan
    rows.loc[4, "reported_at"] = pd.NaT
    rows.loc[2, "absent"] = True
    assert list(write.row_hash(rows)) == [
        "92401587ac1027ca",
        "93162335b09e8c66",
        "c71745d1fa62c290",
    ]


def _mixed_rows(n: int) -> pd.DataFrame:
    """Rows of two schools in scrambled order, with every kind of missing value."""
    rows = checkin_rows(n)
    rng = np.random.default_rng(7)
    rows["school_id"] = np.where(np.arange(n) % 3 == 0, "s002", "s001").astype(object)
    rows["session"] = np.where(np.arange(n) % 2 == 0, "morning", "noon").astype(object)
    rows["name"] = np.where(np.arange(n) % 4 == 0, None, "张三").astype(object)
    rows["temperature"] = np.where(np.arange(n) % 5 == 0, np.nan, 36.6)
    rows["absent"] = np.arange(n) % 6 == 0
    rows["absence_reason"] = np.where(rows["absent"], "illness", None).astype(object)
    rows["symptoms_other"] = np.where(np.arange(n) % 7 == 0, "肚子疼", "").astype(object)
    stamps = rows["reported_at"].to_numpy().copy()
    stamps[::8] = np.datetime64("NaT")
    stamps[1::8] += np.timedelta64(123456, "us")
    rows["reported_at"] = stamps
    return rows.iloc[rng.permutation(n)]


def _stored(conn) -> list[tuple]:
    """Every stored value with its SQLite storage class, bar the write time."""
    names = [c.name for c in store.checkins.c if c.name != "updated_at"]
    columns = ", ".join(f'"{c}", typeof("{c}")' for c in names)
    query = f"SELECT {columns} FROM checkins ORDER BY school_id, person_id, date, session"
    return [tuple(r) for r in conn.exec_driver_sql(query)]


def _reference(tmp_path, rows: pd.DataFrame, fixed: dict) -> list[tuple]:
    """What SQLAlchemy's own insert stores for ``rows``."""
    reference = store.connect(f"sqlite:///{tmp_path / 'reference.db'}")
    hashed = rows.assign(row_hash=write.row_hash(rows), source_row=rows.index)
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
        expected = _stored(conn)
    reference.dispose()
    return expected


def test_sqlite_fast_path_stores_what_sqlalchemy_stores(tmp_path, monkeypatch):
    """The driver-level path (ints for bools, NaN for NULL, shared parameters) and the
    index-rebuilding path for big loads store exactly what SQLAlchemy's insert stores."""
    rows = _mixed_rows(157)  # more than one statement and batch, and a remainder
    fixed = {"source_file": "f.csv", "updated_at": store.utcnow()}
    expected = _reference(tmp_path, rows, fixed)
    assert {t for r in expected for t in r[1::2]} == {"text", "integer", "real", "null"}
    monkeypatch.setattr(write, "_ROWS_PER_STATEMENT", 10)
    monkeypatch.setattr(write, "_ROWS_PER_BATCH", 40)
    for label, rebuild_min in (("small", 10**9), ("big", 10)):
        monkeypatch.setattr(write, "_REBUILD_MIN_ROWS", rebuild_min)
        engine = store.connect(f"sqlite:///{tmp_path / f'{label}.db'}")
        with engine.begin() as conn:
            status = write.write_rows(conn, store.checkins, KEYS, rows, fixed)
            assert list(status) == ["inserted"] * len(rows)
            assert _stored(conn) == expected, label
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
    days = [_mixed_rows(157).assign(date=f"2020-02-1{d}") for d in range(3)]
    rows = pd.concat(days).reset_index(drop=True)
    rows.index += 2
    rows["symptoms"] = np.where(np.arange(len(rows)) % 9 == 0, "fever,cough", "").astype(object)
    rows = rows.sample(frac=1, random_state=3)
    fixed = {"source_file": "f.csv", "updated_at": store.utcnow()}
    expected = _reference(tmp_path, rows, fixed)
    monkeypatch.setattr(write, "_ROWS_PER_STATEMENT", 10)
    monkeypatch.setattr(write, "_ROWS_PER_BATCH", 40)
    monkeypatch.setattr(write, "_RUN_MIN_ROWS", run_min_rows)
    runs = []
    real_runs = write._runs
    monkeypatch.setattr(write, "_runs", lambda *a: runs.append(real_runs(*a)) or runs[-1])
    engine = store.connect(f"sqlite:///{tmp_path / 'fast.db'}")
    with engine.begin() as conn:
        status = write.write_rows(conn, store.checkins, KEYS, _as_categoricals(rows), fixed)
        assert list(status) == ["inserted"] * len(rows)
        assert _stored(conn) == expected
    engine.dispose()
    # leading columns: none; the school (2 runs of ~235 rows); school and day (6 of ~78)
    leading, starts = runs[0]
    assert (leading, len(starts)) == {10**9: (0, 1), 100: (1, 2), 20: (2, 6)}[run_min_rows]


def test_sqlite_none_in_a_not_null_column_is_still_refused(sqlite_url):
    engine = store.connect(sqlite_url)
    rows = checkin_rows(3)
    rows.loc[3, "symptoms"] = None
    with pytest.raises(sqlite3.IntegrityError, match=r"checkins\.symptoms"), engine.begin() as conn:
        write.write_rows(conn, store.checkins, KEYS, rows, constants())
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
        write.write_rows(conn, store.checkins, KEYS, rows, constants())
    engine.dispose()


def _as_categoricals(rows: pd.DataFrame) -> pd.DataFrame:
    """Text columns as categoricals (as ingestion hands them over), categories in an
    order that is not the values' own."""
    out = rows.copy()
    text = [c for c, t in rows.dtypes.items() if t.kind == "O" or isinstance(t, pd.StringDtype)]
    for column in text:
        codes, uniques = pd.factorize(rows[column])
        categories = pd.Index(uniques[::-1], dtype=object)
        remap = np.append(np.arange(len(uniques))[::-1], -1)  # code -1 stays missing
        codes = remap[codes]
        out[column] = pd.Categorical.from_codes(codes, categories=categories, validate=False)
    return out


def test_categorical_rows_hash_and_store_as_their_values(engine, monkeypatch):
    """Text columns given as categoricals hash, order and store as the same values as
    object columns: the stored rows are identical, and writing one over the other
    changes nothing."""
    monkeypatch.setattr(write, "_ROWS_PER_STATEMENT", 10)
    monkeypatch.setattr(write, "_ROWS_PER_BATCH", 40)
    monkeypatch.setattr(write, "_COPY_MIN_ROWS", 1)
    rows = _mixed_rows(157)
    coded = _as_categoricals(rows)
    assert (coded.dtypes == "category").sum() == 9
    assert list(write.row_hash(coded)) == list(write.row_hash(rows))
    fixed = {"source_file": "f.csv", "updated_at": store.utcnow()}
    stored = {}
    for label, frame in (("object", rows), ("categorical", coded)):
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM checkins")
            assert set(write.write_rows(conn, store.checkins, KEYS, frame, fixed)) == {"inserted"}
            stored[label] = (_stored if engine.dialect.name == "sqlite" else _pg_stored)(conn)
    assert stored["categorical"] == stored["object"]
    assert len(stored["object"]) == len(rows)
    with engine.begin() as conn:  # categorical rows stored: the object ones are unchanged
        assert set(write.write_rows(conn, store.checkins, KEYS, rows, fixed)) == {"unchanged"}
        changed = coded.copy()
        changed["name"] = changed["name"].cat.rename_categories({"张三": "李四"})
        status = write.write_rows(conn, store.checkins, KEYS, changed, fixed)
        assert (status == "updated").sum() == rows["name"].notna().sum()


def test_sqlite_none_in_a_not_null_categorical_column_is_still_refused(sqlite_url):
    engine = store.connect(sqlite_url)
    rows = checkin_rows(3)
    rows.loc[3, "symptoms"] = None
    with pytest.raises(sqlite3.IntegrityError, match=r"checkins\.symptoms"), engine.begin() as conn:
        write.write_rows(conn, store.checkins, KEYS, _as_categoricals(rows), constants())
    engine.dispose()


@pytest.fixture
def pg_engine(pg_cluster):
    from tests.conftest import _new_pg_db

    engine = store.connect(_new_pg_db(pg_cluster))
    yield engine
    engine.dispose()


def _pg_stored(conn) -> list[tuple]:
    names = ", ".join(f'"{c.name}"' for c in store.checkins.c)
    return [
        tuple(r)
        for r in conn.exec_driver_sql(
            f"SELECT {names} FROM checkins ORDER BY school_id, person_id, date, session"
        )
    ]


def test_postgres_copy_path_stores_what_the_insert_path_stores(pg_engine, monkeypatch):
    rows = _mixed_rows(157)
    rows.loc[rows.index[3], "symptoms_other"] = 'tab\there, "quote", back\\slash\nnewline'
    fixed = {"source_file": "f.csv", "updated_at": store.utcnow()}
    stored = {}
    for label, threshold in (("insert", 10**9), ("copy", 1)):
        monkeypatch.setattr(write, "_COPY_MIN_ROWS", threshold)
        with pg_engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM checkins")
            status = write.write_rows(conn, store.checkins, KEYS, rows, fixed)
            assert list(status) == ["inserted"] * len(rows)
            # twice in one transaction: the staging table is emptied, not duplicated
            again = rows.assign(name="李四")
            status = write.write_rows(conn, store.checkins, KEYS, again, fixed)
            assert set(status) == {"updated"}
            stored[label] = _pg_stored(conn)
    assert len(stored["copy"]) == len(rows)
    assert stored["copy"] == stored["insert"]
    assert any(r[7] == 'tab\there, "quote", back\\slash\nnewline' for r in stored["copy"])
    reasons = {r[9] for r in stored["copy"]}
    assert reasons == {"illness", None}  # a missing text is NULL, never the text 'NaN'


def test_postgres_copy_path_refuses_a_null_key_like_the_insert_path(pg_engine, monkeypatch):
    monkeypatch.setattr(write, "_COPY_MIN_ROWS", 1)
    rows = checkin_rows(5)
    rows.loc[rows.index[2], "session"] = None
    with (
        pytest.raises(sa.exc.IntegrityError, match=r"null value"),
        pg_engine.begin() as conn,
    ):
        write.write_rows(conn, store.checkins, KEYS, rows, constants())
    with pg_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.checkins)).scalar() == 0
