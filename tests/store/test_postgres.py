"""PostgreSQL's fast write path: ``COPY`` into a staging table stores what the INSERT stores.

:func:`reportkit.store.upsert_frame` on PostgreSQL (:mod:`reportkit.store._postgres`)
for writes of ``COPY_MIN_ROWS`` rows or more, against the plain
``INSERT ... ON CONFLICT`` for fewer.
"""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from reportkit import store
from reportkit.store import _postgres
from tests.factories import CHECKIN_KEYS as KEYS
from tests.factories import checkin_rows, mixed_rows, pg_stored, write_constants


@pytest.fixture
def pg_engine(pg_url):
    engine = store.connect(pg_url)
    yield engine
    engine.dispose()


def _hashed(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` as ingestion hands them to the store: with a row hash and the file's row."""
    hashes = pd.Series([f"h{i}" for i in rows.index], index=rows.index, dtype=object)
    return rows.assign(row_hash=hashes, source_row=rows.index)


def _upsert(conn: sa.Connection, table: sa.Table, rows: pd.DataFrame, constants: dict) -> None:
    store.upsert_frame(conn, table, KEYS, _hashed(rows), constants)


def test_postgres_copy_path_stores_what_the_insert_path_stores(pg_engine, monkeypatch):
    rows = mixed_rows(157)
    rows.loc[rows.index[3], "symptoms_other"] = 'tab\there, "quote", back\\slash\nnewline'
    fixed = {"source_file": "f.csv", "updated_at": store.utcnow()}
    stored = {}
    for label, threshold in (("insert", 10**9), ("copy", 1)):
        monkeypatch.setattr(_postgres, "COPY_MIN_ROWS", threshold)
        with pg_engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM checkins")
            _upsert(conn, store.checkins, rows, fixed)
            assert len(pg_stored(conn)) == len(rows)
            # twice in one transaction: the staging table is emptied, not duplicated
            again = rows.assign(name="李四")
            _upsert(conn, store.checkins, again, fixed)
            stored[label] = pg_stored(conn)
            assert {r[4] for r in stored[label]} == {"李四"}  # every row replaced
    assert len(stored["copy"]) == len(rows)
    assert stored["copy"] == stored["insert"]
    assert any(r[7] == 'tab\there, "quote", back\\slash\nnewline' for r in stored["copy"])
    reasons = {r[9] for r in stored["copy"]}
    assert reasons == {"illness", None}  # a missing text is NULL, never the text 'NaN'


def test_postgres_copy_path_refuses_a_null_key_like_the_insert_path(pg_engine, monkeypatch):
    monkeypatch.setattr(_postgres, "COPY_MIN_ROWS", 1)
    rows = checkin_rows(5)
    rows.loc[rows.index[2], "session"] = None
    with (
        pytest.raises(sa.exc.IntegrityError, match=r"null value"),
        pg_engine.begin() as conn,
    ):
        _upsert(conn, store.checkins, rows, write_constants())
    with pg_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.checkins)).scalar() == 0
