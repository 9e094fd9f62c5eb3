"""Retention, on SQLite and PostgreSQL: ``purge`` deletes exactly what is dated before the
cutoff, from the store and the folders, records the counts in the audit log and keeps it;
a second purge deletes nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa
import yaml

from reportkit import cli, store
from tests.factories import checkin, person, stored_checkin, stored_person

ZONE = dt.timezone(dt.timedelta(hours=8))
CUTOFF = dt.date(2020, 3, 1)
DAYS = [dt.date(2020, 2, 27), dt.date(2020, 2, 28), dt.date(2020, 2, 29), dt.date(2020, 3, 1),
        dt.date(2020, 3, 2)]  # fmt: skip
OLD = [d for d in DAYS if d < CUTOFF]


def count(engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def fill(engine, root: Path) -> dict[str, int]:
    """Rows of every purged table on each of DAYS; returns how many are before CUTOFF."""
    now = store.utcnow()
    old_stamp = dt.datetime(2020, 2, 20, 2, 0)  # UTC, before the cutoff in any zone
    people = [stored_person(person(p, "s001")) for p in ("1", "2", "3")]
    checkins, revisions, entries, revs, followups, issues = [], [], [], [], [], []
    for day in DAYS:
        for p in ("1", "2", "3"):
            row = stored_checkin(checkin(p, day, "s001"), updated_at=now)
            checkins.append(row)
            revisions.append({**row, "temperature": 38.0, "revised_at": now, "replaced_by": "f"})
        entry = {"entry_id": f"e{day:%d}", "school_id": "s001", "date": day,
                 "entered_at": dt.datetime.combine(day, dt.time(8)), "name": "周师傅",
                 "kind": "visitor", "row_hash": "h", "updated_at": now}  # fmt: skip
        entries.append(entry)
        revs.append({**entry, "temperature": 37.5, "revised_at": now, "replaced_by": "f"})
        followups.append({"school_id": "s001", "person_id": "1", "date": day,
                          "action": "cleared", "officer": "李老师", "created_at": now})  # fmt: skip
        issues.append({"sha256": f"x{day}", "file": "f.csv", "row": 2, "column": "temperature",
                       "reason": "bad_temperature", "message": "m", "school_id": "s001",
                       "person_id": "1", "date": day, "kind": "logs", "created_at": now})  # fmt: skip
    # undated issues count by when they were recorded; a roster revision by when replaced
    issues.append({**issues[0], "sha256": "undated-old", "date": None, "created_at": old_stamp})
    issues.append({**issues[0], "sha256": "undated-new", "date": None, "created_at": now})
    roster_revisions = [
        {**people[0], "class": "1班", "revised_at": old_stamp, "replaced_by": "r"},
        {**people[1], "class": "1班", "revised_at": now, "replaced_by": "r"},
    ]
    with engine.begin() as conn:
        store.upsert(conn, store.people, people)
        store.upsert(conn, store.checkins, checkins)
        conn.execute(sa.insert(store.checkin_revisions), revisions)
        conn.execute(sa.insert(store.entries), entries)
        conn.execute(sa.insert(store.entry_revisions), revs)
        conn.execute(sa.insert(store.followups), followups)
        conn.execute(sa.insert(store.data_quality), issues)
        conn.execute(sa.insert(store.quarantine), [{**i, "raw": "{}"} for i in issues])
        conn.execute(sa.insert(store.people_revisions), roster_revisions)
        # each day's digest (written after its check-ins, whose writes drop digests)
        conn.execute(sa.insert(store.checkin_digests), [
            {"school_id": "s001", "date": day, "token": "t", "roster_hash": "h", "floor": 37.3,
             "payload": b"digest", "created_at": now}
            for day in DAYS
        ])  # fmt: skip
    store.record_audit(engine, [store.audit_row("config", day=DAYS[0], subject="rules.yaml")])
    for day in DAYS:
        for folder in (root / "outputs" / day.isoformat() / "s001",
                       root / "data" / "archive" / day.isoformat() / "s001",
                       root / "data" / "rejected" / day.isoformat()):  # fmt: skip
            folder.mkdir(parents=True)
            (folder / "report.html").write_text("x", encoding="utf-8")
    (root / "outputs" / "not-a-date").mkdir()
    return {
        "checkins": 3 * len(OLD),
        "checkin_revisions": 3 * len(OLD),
        "checkin_digests": len(OLD),
        "entries": len(OLD),
        "entry_revisions": len(OLD),
        "followups": len(OLD),
        "quarantine": len(OLD) + 1,
        "data_quality": len(OLD) + 1,
        "people_revisions": 1,
    }


def test_purge_removes_exactly_what_is_older_than_the_cutoff(engine, tmp_path):
    expected = fill(engine, tmp_path)
    before = {name: count(engine, t) for name, t in _tables().items()}
    audit_before = count(engine, store.audit_log)
    archive = tmp_path / "data" / "archive"

    dry = store.purge(engine, CUTOFF, ZONE, outputs=tmp_path / "outputs", archive=archive,
                      dry_run=True)  # fmt: skip
    assert dry.rows == expected
    assert dry.folders == {"outputs": 3, "archive": 3, "rejected": 3}
    assert {name: count(engine, t) for name, t in _tables().items()} == before  # nothing gone
    assert count(engine, store.audit_log) == audit_before

    done = store.purge(engine, CUTOFF, ZONE, outputs=tmp_path / "outputs", archive=archive)
    assert done.ok
    assert done.rows == expected
    assert (done.folders, done.files) == ({"outputs": 3, "archive": 3, "rejected": 3}, 9)
    after = {name: count(engine, t) for name, t in _tables().items()}
    assert after == {name: before[name] - expected[name] for name in before}
    with engine.connect() as conn:
        days = {r[0] for r in conn.execute(sa.select(store.checkins.c.date).distinct())}
        assert days == {d for d in DAYS if d >= CUTOFF}
        assert conn.execute(sa.select(sa.func.min(store.followups.c.date))).scalar() == CUTOFF
        undated = conn.execute(
            sa.select(store.data_quality.c.sha256).where(store.data_quality.c.date.is_(None))
        ).scalars()
        assert list(undated) == ["undated-new"]
    assert count(engine, store.people) == 3  # the roster as it is now is kept
    for base in ("outputs", "data/archive", "data/rejected"):
        kept = sorted(p.name for p in (tmp_path / base).iterdir())
        assert kept == ["2020-03-01", "2020-03-02", *(["not-a-date"] if base == "outputs" else [])]
    # the audit log is kept, and says what went
    assert count(engine, store.audit_log) == audit_before + 1
    (row,) = [e for e in store.list_audit(engine, _today(), ZONE) if e["event"] == "purge"]
    assert row["detail"]["rows"] == expected
    assert row["detail"]["cutoff"] == "2020-03-01"
    assert row["detail"]["files"] == 9

    again = store.purge(engine, CUTOFF, ZONE, outputs=tmp_path / "outputs", archive=archive)
    assert again.total_rows == 0
    assert (again.folders, again.files) == ({}, 0)
    assert {name: count(engine, t) for name, t in _tables().items()} == after


def _tables() -> dict[str, sa.Table]:
    names = ["checkins", "checkin_revisions", "checkin_digests", "entries", "entry_revisions", "followups",
             "quarantine", "data_quality", "people_revisions"]  # fmt: skip
    return {n: store.metadata.tables[n] for n in names}


def _today() -> dt.date:
    return dt.datetime.now(ZONE).date()


def test_cli_purge_takes_retention_days_from_rules(db_url, tmp_path, capsys):
    params = tmp_path / "params"
    params.mkdir()
    schools = {
        "timezone": "Asia/Shanghai",
        "districts": [{"id": "d01", "name": "示范区"}],
        "schools": [{"id": "s001", "name": "第一小学", "district": "d01"}],
    }
    (params / "schools.yaml").write_text(yaml.safe_dump(schools, allow_unicode=True), "utf-8")
    engine = store.connect(db_url)
    expected = fill(engine, tmp_path)
    days = (_today() - CUTOFF).days
    (params / "rules.yaml").write_text(f"retention_days: {days}\n", encoding="utf-8")
    common = ["--db", db_url, "--params", str(params), "--outputs", str(tmp_path / "outputs")]
    archive = ["--archive", str(tmp_path / "data" / "archive")]
    assert cli.main([*common, "purge", "--dry-run", *archive]) == 0
    assert "would delete" in capsys.readouterr().out
    assert cli.main([*common, "purge", "--json", *archive]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["cutoff"], out["rows"], out["dry_run"]) == ("2020-03-01", expected, False)
    assert cli.main([*common, "purge", "--before", "2020-03-01", "--json", *archive]) == 0
    assert sum(json.loads(capsys.readouterr().out)["rows"].values()) == 0
