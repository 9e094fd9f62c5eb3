"""Which rows changed: row hashes against the store, the status of each row written.

How a dialect writes the changed rows fast is the store's (tests/store/test_sqlite.py,
tests/store/test_postgres.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from reportkit import store
from reportkit.ingest import write
from reportkit.store import _postgres, _sqlite
from tests.factories import CHECKIN_KEYS as KEYS
from tests.factories import (
    as_categoricals,
    checkin_rows,
    mixed_rows,
    pg_stored,
    sqlite_stored,
    write_constants,
)


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
        status = write.write_rows(conn, store.checkins, KEYS, checkin_rows(3), write_constants())
    assert list(status) == ["inserted"] * 3
    rows = checkin_rows(4)
    rows.loc[3, "temperature"] = 38.0
    with engine.begin() as conn:
        status = write.write_rows(conn, store.checkins, KEYS, rows, write_constants())
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


def test_categorical_rows_hash_and_store_as_their_values(engine, monkeypatch):
    """Text columns given as categoricals hash, order and store as the same values as
    object columns: the stored rows are identical, and writing one over the other
    changes nothing."""
    monkeypatch.setattr(_sqlite, "_ROWS_PER_STATEMENT", 10)
    monkeypatch.setattr(_sqlite, "_ROWS_PER_BATCH", 40)
    monkeypatch.setattr(_postgres, "COPY_MIN_ROWS", 1)
    rows = mixed_rows(157)
    coded = as_categoricals(rows)
    assert (coded.dtypes == "category").sum() == 9
    assert list(write.row_hash(coded)) == list(write.row_hash(rows))
    fixed = {"source_file": "f.csv", "updated_at": store.utcnow()}
    stored = {}
    for label, frame in (("object", rows), ("categorical", coded)):
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM checkins")
            assert set(write.write_rows(conn, store.checkins, KEYS, frame, fixed)) == {"inserted"}
            stored[label] = (sqlite_stored if engine.dialect.name == "sqlite" else pg_stored)(conn)
    assert stored["categorical"] == stored["object"]
    assert len(stored["object"]) == len(rows)
    with engine.begin() as conn:  # categorical rows stored: the object ones are unchanged
        assert set(write.write_rows(conn, store.checkins, KEYS, rows, fixed)) == {"unchanged"}
        changed = coded.copy()
        changed["name"] = changed["name"].cat.rename_categories({"张三": "李四"})
        status = write.write_rows(conn, store.checkins, KEYS, changed, fixed)
        assert (status == "updated").sum() == rows["name"].notna().sum()
