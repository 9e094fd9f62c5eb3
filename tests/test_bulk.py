"""Bulk writes of ingested rows: hashes, statuses, SQLite's fast path and its index rebuild."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from reportkit import bulk, store

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
    first = bulk.row_hash(rows)
    assert all(isinstance(h, str) and len(h) == 16 for h in first)
    assert len(set(first)) == 3
    as_str = rows.astype({"person_id": "str"})  # pandas' str dtype, NaN for missing
    as_str["name"] = pd.Series([np.nan] * 3, index=rows.index, dtype=object)
    assert list(bulk.row_hash(as_str)) == list(first)
    changed = rows.copy()
    changed.loc[3, "temperature"] = 36.6
    assert [a == b for a, b in zip(bulk.row_hash(changed), first, strict=True)] == [
        True,
        False,
        True,
    ]
    assert bulk.row_hash(rows.iloc[:0]).size == 0


def test_write_rows_reports_status_and_skips_unchanged(engine):
    with engine.begin() as conn:
        status = bulk.write_rows(conn, store.checkins, KEYS, checkin_rows(3), constants())
    assert list(status) == ["inserted"] * 3
    rows = checkin_rows(4)
    rows.loc[3, "temperature"] = 38.0
    with engine.begin() as conn:
        status = bulk.write_rows(conn, store.checkins, KEYS, rows, constants())
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


def test_sqlite_big_load_rebuilds_the_index_in_its_transaction(sqlite_url, monkeypatch):
    engine = store.connect(sqlite_url)
    monkeypatch.setattr(bulk, "_REBUILD_MIN_ROWS", 10)
    with engine.begin() as conn:
        bulk.write_rows(conn, store.checkins, KEYS, checkin_rows(120), constants())
    with engine.connect() as conn:
        assert "ix_checkins_date_school" in _index_names(conn)
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT * FROM checkins WHERE date = '2020-02-10'"
        ).all()
        assert "ix_checkins_date_school" in str(plan)

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    # a failure after the index was dropped rolls the drop back too
    monkeypatch.setattr(bulk, "_sqlite_upsert", fail)
    more = checkin_rows(300).assign(date="2020-02-11")
    with pytest.raises(RuntimeError), engine.begin() as conn:
        bulk.write_rows(conn, store.checkins, KEYS, more, constants())
    with engine.connect() as conn:
        assert "ix_checkins_date_school" in _index_names(conn)
        assert conn.execute(sa.select(sa.func.count()).select_from(store.checkins)).scalar() == 120
    engine.dispose()


def test_sqlite_values_read_back_through_sqlalchemy(sqlite_url):
    engine = store.connect(sqlite_url)
    rows = checkin_rows(61)  # more than one multi-row statement, and a remainder
    rows.loc[5, "temperature"] = np.nan
    rows.loc[6, "reported_at"] = pd.NaT
    rows.loc[7, "absent"] = True
    with engine.begin() as conn:
        bulk.write_rows(conn, store.checkins, KEYS, rows, constants())
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
