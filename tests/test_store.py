from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from reportkit import store


def _checkin(**kw):
    row = {
        "school_id": "s001",
        "person_id": "p1",
        "date": date(2020, 2, 10),
        "session": "morning",
        "name": "张三",
        "temperature": 36.5,
        "symptoms": "",
        "symptoms_other": "",
        "absent": False,
        "absence_reason": None,
        "key_area": False,
        "key_area_place": None,
        "contact": False,
        "reported_at": None,
        "row_hash": "a",
        "source_file": "f.csv",
        "source_row": 2,
        "updated_at": store.utcnow(),
    }
    row.update(kw)
    return row


def test_tables_created_and_upsert_replaces_by_key(engine):
    with engine.begin() as conn:
        store.upsert(conn, store.checkins, [_checkin()])
        store.upsert(conn, store.checkins, [_checkin(temperature=37.8, row_hash="b")])
    frame = store.load_checkins(engine, date(2020, 2, 1), date(2020, 2, 28))
    assert len(frame) == 1
    assert frame.loc[0, "temperature"] == 37.8
    assert frame.loc[0, "date"] == date(2020, 2, 10)
    assert frame["absent"].dtype == bool


def test_insert_ignore_skips_duplicates(engine):
    row = {
        "sha256": "x" * 64,
        "file": "a.csv",
        "row": 3,
        "column": "person_id",
        "value": "",
        "reason": "missing_person_id",
        "message": "no person id",
        "school_id": "s001",
        "person_id": None,
        "date": date(2020, 2, 10),
        "kind": "logs",
        "created_at": store.utcnow(),
        "raw": "{}",
    }
    with engine.begin() as conn:
        assert store.insert_ignore(conn, store.quarantine, [row]) == 1
        assert store.insert_ignore(conn, store.quarantine, [row]) == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.quarantine)).scalar() == 1


def test_sqlite_uses_wal(sqlite_url):
    engine = store.connect(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_sqlite_new_files_use_16k_pages_and_old_files_keep_theirs(tmp_path):
    import sqlite3

    new = store.connect(f"sqlite:///{tmp_path / 'new.db'}")
    with new.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == store.SQLITE_PAGE_SIZE
    new.dispose()
    old_path = tmp_path / "old.db"
    with sqlite3.connect(old_path) as raw:  # a file made before, with 4 KiB pages
        raw.execute("PRAGMA page_size=4096")
        raw.execute("CREATE TABLE t (x)")
    old = store.connect(f"sqlite:///{old_path}")
    with old.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4096
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        store.upsert(conn, store.checkins, [_checkin()])
    with old.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.checkins)).scalar() == 1
    old.dispose()


def test_bad_url_is_a_store_error():
    import pytest

    from reportkit.errors import StoreError

    with pytest.raises(StoreError, match="not a database URL"):
        store.connect("not a url")
