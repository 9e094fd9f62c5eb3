"""The findings read the days before the report date from digests
(:mod:`reportkit.findings.digests`): the findings of the whole rows, on SQLite and on
PostgreSQL, and never those of check-ins since written."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from reportkit import store
from reportkit.config import Settings
from reportkit.demo import build_demo
from reportkit.findings import compute_findings, load_findings
from reportkit.findings.compute import WINDOW_COLUMNS, span_days
from reportkit.findings.digests import _mark, _store, window_before
from reportkit.findings.matrices import Roster
from reportkit.findings.rules import FEVER_TOLERANCE
from tests.conftest import _new_pg_db

_digests = store.checkin_digests


@pytest.fixture(scope="module")
def pg_demo(tmp_path_factory: pytest.TempPathFactory, pg_cluster):
    root = tmp_path_factory.mktemp("digests-pg")
    url = _new_pg_db(pg_cluster)
    return build_demo(root, root / "params", url, small=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def demo(request: pytest.FixtureRequest, small_demo, tmp_path: Path):
    """(engine, config, rules, report date) on a store of the demo of this test's own."""
    if request.param == "sqlite":
        source = small_demo.db_url.removeprefix("sqlite:///")
        target = tmp_path / "reportkit.db"
        with sqlite3.connect(source) as a, sqlite3.connect(target) as b:
            a.backup(b)
        url, params, day = f"sqlite:///{target}", small_demo.params_dir, small_demo.demo_date
    else:
        built = request.getfixturevalue("pg_demo")
        url, params, day = built.db_url, built.params_dir, built.demo_date
    settings = Settings.resolve(url, params, tmp_path / "outputs")
    engine = store.connect(url)
    with engine.begin() as conn:
        conn.execute(sa.delete(_digests))  # the PostgreSQL demo is the module's
    yield engine, settings.schools(), settings.rules(), day
    engine.dispose()


def _on_whole_rows(engine, config, rules, day):
    """The findings of the whole rows of the window, as before there were digests."""
    ids = [s.id for s in config.schools]
    start = day - timedelta(days=span_days(rules) - 1)
    return compute_findings(
        store.load_people(engine, ids),
        store.load_checkins(engine, start, day, ids),
        store.load_data_quality(engine, day, day, ids),
        config,
        rules,
        day,
        ids,
        entries=store.load_entries(engine, day, day, ids),
        class_teachers=store.load_class_teachers(engine, ids),
    ).to_json()


def _count(engine, *where) -> int:
    stmt = sa.select(sa.func.count()).select_from(_digests).where(_digests.c.payload.is_not(None))
    with engine.connect() as conn:
        return conn.execute(stmt.where(*where)).scalar_one()


def _window(engine, config, rules, day, keep=True):
    ids = [s.id for s in config.schools]
    roster = Roster(store.load_people(engine, ids), ids)
    start = day - timedelta(days=span_days(rules) - 1)
    floor = rules.fever_celsius - FEVER_TOLERANCE
    return window_before(engine, roster, ids, start, day, floor, WINDOW_COLUMNS, keep=keep)


def test_digests_give_the_findings_of_the_whole_rows(demo):
    engine, config, rules, day = demo
    whole = _on_whole_rows(engine, config, rules, day)
    span = span_days(rules)
    n = len(config.schools)
    assert _count(engine) == 0
    first = load_findings(engine, config, rules, day)  # builds every school-day's digest
    assert first.to_json() == whole
    assert _count(engine) == n * span  # the days before, and the report date's for later
    again = _window(engine, config, rules, day)
    assert (again.kept, again.built) == (n * (span - 1), 0)
    assert len(again.rows) > 0
    assert again.rows["date"].min() >= day - timedelta(days=span - 1)
    assert load_findings(engine, config, rules, day).to_json() == whole
    assert len(first.attention) > 0
    assert len(first.missing) > 0
    assert len(first.fever) > 0
    # the next day reads the report date's digest, kept from the rows loaded today
    next_day = _window(engine, config, rules, day + timedelta(days=1))
    assert (next_day.kept, next_day.built) == (n * (span - 1), 0)
    # a lower fever threshold: the digests hold too few readings, and are built again
    lower = rules.model_copy(update={"fever_celsius": 37.0})
    rebuilt = _window(engine, config, lower, day)
    assert rebuilt.built == n * (span - 1)
    assert load_findings(engine, config, lower, day).to_json() == _on_whole_rows(
        engine, config, lower, day
    )
    # and digests for 37.0 hold every reading 37.3 reads
    assert _window(engine, config, rules, day).built == 0
    assert load_findings(engine, config, rules, day).to_json() == whole


def test_a_write_of_a_school_day_drops_its_digest(demo):
    engine, config, rules, day = demo
    load_findings(engine, config, rules, day)
    earlier = day - timedelta(days=3)
    c = store.checkins.c
    with engine.connect() as conn:
        school, person = conn.execute(
            sa.select(c.school_id, c.person_id).where(
                c.date == earlier, c.temperature < 37.0, c.symptoms == ""
            ).limit(1)
        ).one()  # fmt: skip
    before = _count(engine)
    on_day = (_digests.c.school_id == school, _digests.c.date == earlier)
    assert _count(engine, *on_day) == 1
    row = (c.school_id == school, c.person_id == person, c.date == earlier)
    with engine.begin() as conn:  # any writer: here plain SQL
        conn.execute(sa.update(store.checkins).where(*row).values(temperature=39.2))
    assert _count(engine, *on_day) == 0
    assert _count(engine) == before - 1
    findings = load_findings(engine, config, rules, day)
    assert findings.to_json() == _on_whole_rows(engine, config, rules, day)
    assert _count(engine, *on_day) == 1
    # the fever three days ago is read: it shows in the trend's day of it
    trend = findings.trend
    fever = trend[(trend["school_id"] == school) & (trend["date"] == earlier)]["fever"]
    assert int(fever.iloc[0]) >= 1
    with engine.begin() as conn:
        conn.execute(sa.delete(store.checkins).where(*row))
    assert _count(engine, *on_day) == 0
    assert load_findings(engine, config, rules, day).to_json() == _on_whole_rows(
        engine, config, rules, day
    )


def test_a_digest_is_not_stored_when_its_check_ins_were_written_after_its_mark(demo):
    engine, config, _, day = demo
    earlier = day - timedelta(days=2)
    school = config.schools[0].id
    token = _mark(engine, [(school, earlier), (config.schools[1].id, earlier)])
    c = store.checkins.c
    with engine.begin() as conn:
        conn.execute(
            sa.update(store.checkins)
            .where(c.school_id == school, c.date == earlier)
            .values(temperature=36.6)
        )
    payloads = {(school, earlier): b"x", (config.schools[1].id, earlier): b"y"}
    hashes = {school: "h", config.schools[1].id: "h"}
    assert _store(engine, token, payloads, hashes, 37.3) == 1  # the other school's only
    assert _count(engine, _digests.c.school_id == school) == 0
    # a second builder's mark replaces the first's: the first stores nothing
    second = _mark(engine, [(config.schools[1].id, earlier)])
    assert _store(engine, token, {(config.schools[1].id, earlier): b"y"}, hashes, 37.3) == 0
    assert _store(engine, second, {(config.schools[1].id, earlier): b"y"}, hashes, 37.3) == 1


def test_a_changed_roster_builds_its_school_again(demo):
    engine, config, rules, day = demo
    whole = _on_whole_rows(engine, config, rules, day)
    load_findings(engine, config, rules, day)
    school = config.schools[0].id
    p = store.people.c
    with engine.begin() as conn:  # someone leaves the roster
        person = conn.execute(
            sa.select(p.person_id).where(p.school_id == school).limit(1)
        ).scalar_one()
        conn.execute(sa.delete(store.people).where(p.school_id == school, p.person_id == person))
    window = _window(engine, config, rules, day)
    assert window.built == span_days(rules) - 1  # that school's days, no other's
    assert load_findings(engine, config, rules, day).to_json() == _on_whole_rows(
        engine, config, rules, day
    )
    assert load_findings(engine, config, rules, day).to_json() != whole


def test_a_reader_that_must_not_write_stores_nothing(demo):
    engine, config, rules, day = demo
    findings = load_findings(engine, config, rules, day, keep=False)
    assert findings.to_json() == _on_whole_rows(engine, config, rules, day)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(_digests)).scalar_one() == 0


def test_postgresql_a_mark_waits_for_writers_in_flight(pg_demo, tmp_path):
    """A writer whose check-ins are written but not committed: a builder's mark waits for
    its commit, so the builder reads what it wrote."""
    settings = Settings.resolve(pg_demo.db_url, pg_demo.params_dir, tmp_path / "outputs")
    engine = store.connect(pg_demo.db_url)
    config, day = settings.schools(), pg_demo.demo_date
    school = config.schools[0].id
    earlier = day - timedelta(days=1)
    c = store.checkins.c
    marked = threading.Event()
    with engine.connect() as writer:
        writer.begin()
        writer.execute(
            sa.update(store.checkins)
            .where(c.school_id == school, c.date == earlier)
            .values(temperature=36.5)
        )
        thread = threading.Thread(target=lambda: (_mark(engine, [(school, earlier)]), marked.set()))
        thread.start()
        assert not marked.wait(1.0)  # held by the writer's uncommitted write
        writer.commit()
    assert marked.wait(10.0)
    thread.join()


def test_a_damaged_digest_is_built_again(demo):
    engine, config, rules, day = demo
    whole = _on_whole_rows(engine, config, rules, day)
    load_findings(engine, config, rules, day)
    earlier = day - timedelta(days=1)
    on_day = (_digests.c.school_id == config.schools[0].id, _digests.c.date == earlier)
    with engine.begin() as conn:
        payload = conn.execute(sa.select(_digests.c.payload).where(*on_day)).scalar_one()
        conn.execute(sa.update(_digests).where(*on_day).values(payload=payload[:-3]))
    window = _window(engine, config, rules, day)
    assert window.built == 1
    assert load_findings(engine, config, rules, day).to_json() == whole


def test_a_busy_store_keeps_no_digests_and_the_findings_go_on(small_demo, tmp_path, caplog):
    """Another process holds the write lock (an ingestion): the findings wait a moment
    for it, keep no digest, warn, and are those of the whole rows."""
    source = small_demo.db_url.removeprefix("sqlite:///")
    target = tmp_path / "busy.db"
    with sqlite3.connect(source) as a, sqlite3.connect(target) as b:
        a.backup(b)
    settings = Settings.resolve(f"sqlite:///{target}", small_demo.params_dir, tmp_path / "out")
    engine = store.connect(f"sqlite:///{target}")
    with engine.begin() as conn:
        conn.execute(sa.delete(_digests))  # those other tests' findings kept in the demo
    config, rules, day = settings.schools(), settings.rules(), small_demo.demo_date
    whole = _on_whole_rows(engine, config, rules, day)
    writer = sqlite3.connect(target, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the write lock, held
    try:
        with caplog.at_level("WARNING", logger="reportkit.findings.digests"):
            findings = load_findings(engine, config, rules, day)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert findings.to_json() == whole
    assert "check-in digests not kept" in caplog.text
    assert _count(engine) == 0
    engine.dispose()
