from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from reportkit import store
from reportkit.store import require_store
from reportkit.store.engine import SQLITE_PAGE_SIZE
from tests.factories import checkin, stored_checkin


def _checkin(**kw):
    """p1 of s001 on 2020-02-10, as the store holds it (row hash "a")."""
    row_hash = kw.pop("row_hash", "a")
    row = checkin("p1", date(2020, 2, 10), "s001", name="张三", at=None, **kw)
    return stored_checkin(row, row_hash=row_hash)


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
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == SQLITE_PAGE_SIZE
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


# --- a store that is not there is refused, never made up -------------------------------


def test_a_missing_sqlite_file_is_refused_and_nothing_is_created(tmp_path):
    import pytest

    from reportkit.errors import StoreMissingError

    db = tmp_path / "data" / "reportkit.bd"  # a typo of the name
    with pytest.raises(StoreMissingError) as err:
        store.connect(f"sqlite:///{db}", create=False)
    assert str(db) in str(err.value)
    assert "reportkit init" in str(err.value)
    assert err.value.exit_code == 2
    assert not db.exists()
    assert not db.parent.exists()


def test_a_database_without_reportkit_tables_is_refused(db_url):
    import pytest

    from reportkit.errors import StoreMissingError

    if db_url.startswith("sqlite"):  # a SQLite file of something else
        import sqlite3

        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as raw:
            raw.execute("CREATE TABLE notes (x)")
    with pytest.raises(StoreMissingError, match="has no reportkit tables"):
        store.connect(db_url, create=False)
    engine = store.connect(db_url)  # reportkit init
    assert store.connect(db_url, create=False) is engine


def test_a_postgresql_database_that_does_not_exist_is_named_without_its_password(pg_cluster):
    import pytest

    from reportkit.errors import StoreMissingError

    base = pg_cluster if isinstance(pg_cluster, str) else pg_cluster.url
    url = base.replace("reportkit@", "reportkit:s3cret@").rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(StoreMissingError, match="does not exist") as err:
        store.connect(url, create=False)
    assert "no_such_db" in str(err.value)
    assert "s3cret" not in str(err.value)
    assert "***" in str(err.value)
    assert "s3cret" not in store.describe_url(url)


def test_require_store_names_the_schools_without_a_roster(engine, tmp_path):
    import pytest

    from reportkit.config import Settings
    from reportkit.errors import RosterMissingError

    params = tmp_path / "params"
    params.mkdir()
    (params / "schools.yaml").write_text(
        "districts: [{id: d1, name: 县}]\nschools:\n"
        "  - {id: s001, name: 一小, district: d1}\n  - {id: s002, name: 二小, district: d1}\n"
        "  - {id: s003, name: 三小, district: d1}\n",
        encoding="utf-8",
    )
    url = engine.url.render_as_string(hide_password=False)
    settings = Settings.resolve(url, params, tmp_path / "outputs")
    person = {
        "person_id": "p1",
        "name": "张三",
        "role": "student",
        "grade": "一年级",
        "class": "1班",
        "row_hash": "x",
        "source_file": "名册.csv",
        "updated_at": store.utcnow(),
    }
    with engine.begin() as conn:
        store.upsert(
            conn,
            store.people,
            [
                {**person, "school_id": "s001", "status": "active"},
                {**person, "school_id": "s003", "status": "left"},  # nobody expected
            ],
        )
    assert store.schools_without_roster(engine, ["s001", "s002", "s003"]) == ["s002", "s003"]
    with pytest.raises(RosterMissingError) as err:
        require_store(settings)
    assert err.value.school_ids == ["s002", "s003"]
    assert "s002, s003" in str(err.value)
    assert err.value.exit_code == 2
    with pytest.raises(RosterMissingError, match="s002"):
        require_store(settings, ["s002"])
    assert require_store(settings, ["s001"]) is not None
    assert require_store(settings, rosters=False) is not None


# --- a store another process holds locked ------------------------------------------------

_HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


def _hold_write_lock(path, seconds: float):
    """A second process holding the SQLite file's write lock for ``seconds``."""
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def _followup(engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(store.followups).values(
                school_id="s001",
                person_id="p1",
                date=date(2020, 2, 28),
                action="cleared",
                note="",
                officer="李老师",
                created_at=store.utcnow(),
            )
        )


def _quick_lock_settings(monkeypatch) -> None:
    # a busy wait of 0.3 s, two more tries after 0.1 s and 0.2 s: about 1.2 s in all
    monkeypatch.setenv("REPORTKIT_DB_BUSY_TIMEOUT", "0.3")
    monkeypatch.setenv("REPORTKIT_DB_RETRIES", "2")
    monkeypatch.setenv("REPORTKIT_DB_BACKOFF", "0.1")


def test_a_write_waits_for_a_lock_released_within_the_retries(tmp_path, monkeypatch, caplog):
    import time

    _quick_lock_settings(monkeypatch)
    db = tmp_path / "rk.db"
    engine = store.connect(f"sqlite:///{db}")
    holder = _hold_write_lock(db, 0.6)  # longer than one busy wait, shorter than all
    started = time.monotonic()
    try:
        _followup(engine)
    finally:
        holder.wait(30)
    assert time.monotonic() - started >= 0.3
    assert "is locked by another process; trying again" in caplog.text
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.followups)).scalar() == 1


def test_a_lock_held_past_the_retries_is_one_clear_error_naming_the_store(tmp_path, monkeypatch):
    import time

    import pytest

    from reportkit.errors import StoreLockedError

    _quick_lock_settings(monkeypatch)
    db = tmp_path / "rk.db"
    engine = store.connect(f"sqlite:///{db}")
    holder = _hold_write_lock(db, 30)
    started = time.monotonic()
    try:
        with pytest.raises(StoreLockedError) as err:
            _followup(engine)
    finally:
        holder.kill()
        holder.wait(30)
    assert time.monotonic() - started < 10
    message = str(err.value)
    assert str(db) in message
    assert "locked by another process" in message
    assert "3 attempts" in message
    assert err.value.exit_code == 1
    _followup(engine)  # the lock is gone: the store works again
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.followups)).scalar() == 1


def test_bad_lock_settings_are_a_config_error(tmp_path, monkeypatch):
    import pytest

    from reportkit.errors import ConfigError

    monkeypatch.setenv("REPORTKIT_DB_BUSY_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="REPORTKIT_DB_BUSY_TIMEOUT"):
        store.connect(f"sqlite:///{tmp_path / 'rk.db'}")


# --- the store's files are private ---------------------------------------------------------


def _mode(path) -> int:
    import os

    return os.stat(path).st_mode & 0o777


def _umask(value: int):
    import contextlib
    import os

    @contextlib.contextmanager
    def scoped():
        old = os.umask(value)
        try:
            yield
        finally:
            os.umask(old)

    return scoped()


def test_a_new_sqlite_store_is_private_under_umask_022_and_077(tmp_path, monkeypatch):
    monkeypatch.delenv("REPORTKIT_GROUP", raising=False)
    for umask in (0o022, 0o077):
        root = tmp_path / f"u{umask:03o}"
        root.mkdir()
        before = _mode(root)
        db = root / "data" / "deep" / "reportkit.db"
        with _umask(umask):
            engine = store.connect(f"sqlite:///{db}")
            _followup(engine)  # a write: the -wal and -shm files exist
            assert _mode(db) == 0o600
            for suffix in ("-wal", "-shm"):
                assert _mode(f"{db}{suffix}") == 0o600
            assert _mode(db.parent) == 0o700
            assert _mode(db.parent.parent) == 0o700  # every folder it made
            assert _mode(root) == before  # a folder that was there is left alone
        engine.dispose()


def test_a_configured_group_may_read_within_the_umask(tmp_path, monkeypatch):
    import grp
    import os

    group = grp.getgrgid(os.getgid() if os.getgid() != 0 else 1)  # daemon (1) when root
    monkeypatch.setenv("REPORTKIT_GROUP", group.gr_name)
    for umask, file_mode, dir_mode in ((0o022, 0o640, 0o750), (0o077, 0o600, 0o700)):
        db = tmp_path / f"u{umask:03o}" / "reportkit.db"
        with _umask(umask):
            engine = store.connect(f"sqlite:///{db}")
            _followup(engine)
        assert _mode(db) == file_mode  # 0640 with the group, never wider than the umask
        assert _mode(f"{db}-wal") == file_mode
        assert _mode(db.parent) == dir_mode
        assert os.stat(db).st_gid == group.gr_gid
        engine.dispose()
