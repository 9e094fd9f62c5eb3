"""The audit log, on SQLite and PostgreSQL: append-only (the store refuses UPDATE and
DELETE), written by follow-ups, sends and runs, and shown by ``reportkit audit``."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from reportkit import cli, store

ZONE = dt.timezone(dt.timedelta(hours=8))
D = dt.date(2020, 2, 10)


def test_the_store_refuses_to_update_or_delete_an_audit_row(engine):
    store.record_audit(engine, [store.audit_row("config", day=D, subject="rules.yaml")])
    for stmt in (
        sa.update(store.audit_log).values(subject="other"),
        sa.delete(store.audit_log),
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(stmt)
    (row,) = store.list_audit(engine, D, ZONE)
    assert row["subject"] == "rules.yaml"
    with pytest.raises(ValueError, match="unknown audit event"):
        store.audit_row("edit")


def test_followups_sends_and_runs_are_audited(engine, tmp_path):
    row_id = store.record_followup(engine, "s001", "p1", D, "cleared", "已退热", "李老师")
    log = store.SentLog(engine)
    log.accepted("school", "s001", D, "head@s001.example", "<m1@x>", "abc123")
    log.accepted("district", "d01", D, "chief@d01.example", "<m2@x>", "def456")
    params = tmp_path / "params"
    (params / "forms").mkdir(parents=True)
    (params / "schools.yaml").write_text("districts: []\n", encoding="utf-8")
    (params / "forms" / "county.xlsx").write_bytes(b"form")
    jobs = [
        {"kind": "school", "id": "s001", "status": "ok", "run_id": "r1", "content_hash": "c1"},
        {"kind": "school", "id": "s002", "status": "failed", "run_id": "r1"},
        {"kind": "district", "id": "d01", "status": "ok", "run_id": "r1", "content_hash": "c2"},
        {"kind": "school", "id": "s003", "status": "ok", "run_id": "r0", "content_hash": "c0"},
    ]
    store.record_run(engine, D, "r1", params, jobs)

    events = store.list_audit(engine, D, ZONE)
    by = {}
    for e in events:
        by.setdefault(e["event"], []).append(e)
    (followup,) = by["followup"]
    assert followup["detail"] == {
        "id": row_id,
        "person_id": "p1",
        "action": "cleared",
        "officer": "李老师",
    }  # the note is the officer's text about a child: not in the kept log
    assert [(e["school_id"], e["subject"], e["sha256"]) for e in by["send"]] == [
        ("s001", "head@s001.example", "abc123"),
        (None, "chief@d01.example", "def456"),
    ]
    assert by["send"][1]["detail"]["target_id"] == "d01"
    hashes = store.params_hashes(params)
    assert set(hashes) == {"schools.yaml", "forms/county.xlsx"}
    assert {(e["subject"], e["sha256"], e["run_id"]) for e in by["config"]} == {
        (name, digest, "r1") for name, digest in hashes.items()
    }
    assert [(e["subject"], e["sha256"]) for e in by["render"]] == [
        ("school:s001", "c1"),
        ("district:d01", "c2"),
    ]
    assert [e["event"] for e in store.list_audit(engine, D, ZONE, "s001")] == [
        "followup",
        "send",
        "render",
    ]
    assert store.list_audit(engine, D + dt.timedelta(days=1), ZONE) == []


def _write_csv(path: Path, rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)
    return path


def test_cli_audit_shows_the_earlier_value(db_url, tmp_path, capsys):
    params = tmp_path / "params"
    params.mkdir()
    schools = {
        "districts": [{"id": "d01", "name": "示范区"}],
        "schools": [
            {"id": "s001", "name": "第一小学", "district": "d01"},
            {"id": "s002", "name": "第二小学", "district": "d01"},
        ],
    }
    (params / "schools.yaml").write_text(yaml.safe_dump(schools, allow_unicode=True), "utf-8")
    common = ["--db", db_url, "--params", str(params), "--outputs", str(tmp_path / "out")]
    roster = _write_csv(
        tmp_path / "s001" / "名册.csv", [["学号", "姓名", "身份"], ["001", "张三", "学生"]]
    )
    header = ["学号", "姓名", "日期", "体温", "填报时间"]
    first = _write_csv(
        tmp_path / "s001" / "晨检.csv", [header, ["001", "张三", "2020-02-10", "38.1", "08:10"]]
    )
    second = _write_csv(
        tmp_path / "s001" / "晨检2.csv", [header, ["001", "张三", "2020-02-10", "36.5", "16:00"]]
    )
    for kind, path in (("roster", roster), ("logs", first), ("logs", second)):
        assert cli.main([*common, "ingest", kind, str(path), "--school", "s001"]) == 0
    capsys.readouterr()

    assert cli.main([*common, "audit", "--date", "2020-02-10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (revision,) = out["revisions"]
    assert revision["earlier"]["temperature"] == 38.1
    assert revision["earlier"]["reported_at"] == "2020-02-10T08:10:00"
    assert revision["source_file"] == str(first)
    assert revision["revised_at"].endswith("+08:00")
    events = [(e["event"], e["subject"]) for e in out["events"]]
    assert events == [("ingestion", str(first)), ("ingestion", str(second)),
                      ("revision", str(second))]  # fmt: skip
    (revised,) = [e for e in out["events"] if e["event"] == "revision"]
    assert revised["detail"]["ids"] == [revision["id"]]

    assert cli.main([*common, "audit", "--date", "2020-02-10"]) == 0
    text = capsys.readouterr().out
    assert "temperature=38.1" in text
    assert "revision" in text
    assert cli.main([*common, "audit", "--date", "2020-02-10", "--school", "s002", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["revisions"] == []


@pytest.mark.slow
def test_no_command_updates_or_deletes_an_audit_row_on_postgresql(pg_url, tmp_path, smtp_server):
    """The README's grants: the kit's role may not UPDATE, DELETE or TRUNCATE the audit
    log. The whole afternoon (ingest, correct, run, send) and a purge run under it."""
    from reportkit import daily
    from reportkit.config import Settings
    from reportkit.demo import build_demo

    day = dt.date(2020, 2, 28)
    root = tmp_path
    build_demo(
        root, root / "params", pg_url, small=True, days=15, ingest_through=day.replace(day=27)
    )
    delivery = {"retries": 1, "backoff_seconds": 0, "smtp": smtp_server.smtp_settings()}
    (root / "params" / "delivery.yaml").write_text(yaml.safe_dump(delivery), encoding="utf-8")
    owner = store.connect(pg_url)
    role = f"rk_app_{pg_url.rsplit('/', 1)[1]}"
    with owner.begin() as conn:
        for statement in _GRANTS:
            conn.exec_driver_sql(statement.format(role=role))
    app_url = pg_url.replace("//reportkit@", f"//{role}@")
    assert app_url != pg_url
    with store.connect(app_url).begin() as conn, pytest.raises(sa.exc.ProgrammingError):
        conn.exec_driver_sql("DELETE FROM audit_log")  # the grant, not only the trigger
    audit_rows = _count(owner, store.audit_log)

    # a correction of yesterday's check-in arrives with the day's files
    checkins = store.checkins
    with owner.connect() as conn:
        school, pid, name = conn.execute(
            sa.select(checkins.c.school_id, checkins.c.person_id, checkins.c.name)
            .where(checkins.c.date == day.replace(day=27), checkins.c.session == "morning")
            .order_by(checkins.c.school_id, checkins.c.person_id)
            .limit(1)
        ).one()
    _write_csv(
        root / "data" / "inbox" / day.isoformat() / school / "晨检更正.csv",
        [["学号", "姓名", "日期", "时段", "体温", "填报时间"],
         [pid, name, "2020-02-27", "晨检", "38.6", "2020-02-28 09:00"]],
    )  # fmt: skip
    settings = Settings.resolve(app_url, root / "params", root / "outputs")
    archive = root / "data" / "archive"
    result = daily.run_daily(settings, day, inbox=root / "data" / "inbox", archive=archive,
                             progress=False)  # fmt: skip
    assert result.ok, result.summary_lines()
    assert result.ingested["logs"]["updated"] == 1
    purged = store.purge(store.connect(app_url), day, dt.UTC, outputs=root / "outputs",
                         archive=archive)  # fmt: skip
    assert purged.ok
    assert purged.rows["checkins"] > 0

    events = {e["event"] for e in store.list_audit(owner, day, dt.UTC)}
    assert {"ingestion", "render", "send", "config"} <= events
    today = store.list_audit(owner, dt.datetime.now(dt.UTC).date(), dt.UTC)
    assert [e["detail"]["rows"] for e in today if e["event"] == "purge"] == [purged.rows]
    revised = store.list_audit(owner, day.replace(day=27), dt.UTC, school)
    assert [e["detail"]["person_id"] for e in revised if e["event"] == "revision"] == [[pid]]
    assert _count(owner, store.audit_log) > audit_rows
    assert purged.rows["checkin_revisions"] == 1  # the correction's earlier version, purged
    assert _count(owner, store.checkin_revisions) == 0


_GRANTS = [
    "CREATE ROLE {role} LOGIN",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
    "REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {role}",
]


def _count(engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
