"""Revisions and the audit log of ingestion, on SQLite and PostgreSQL: a replaced row keeps
its earlier version, written in the replacement's transaction, for changed rows only."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from reportkit import store
from reportkit.config import SchoolsConfig
from reportkit.ingest import ingest_paths

D = dt.date(2020, 2, 10)
ZONE = dt.timezone(dt.timedelta(hours=8))
LOG = ["学号", "姓名", "日期", "时段", "体温", "症状", "14天内是否到过重点地区", "填报时间"]


@pytest.fixture
def config() -> SchoolsConfig:
    return SchoolsConfig.model_validate(
        {
            "districts": [{"id": "d01", "name": "示范区"}],
            "schools": [{"id": "s001", "name": "第一小学", "district": "d01"}],
        }
    )


def write_csv(path: Path, rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)
    return path


def rows_of(engine, table: sa.Table) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(*table.c[:1]))]


@pytest.fixture
def roster(engine, config, tmp_path):
    path = write_csv(
        tmp_path / "s001" / "名册.csv",
        [["学号", "姓名", "身份", "年级", "班级"], ["001", "张三", "学生", "3", "01"],
         ["002", "李四", "学生", "3", "01"], ["003", "王五", "学生", "3", "02"]],
    )  # fmt: skip
    assert ingest_paths(engine, [path], "roster", config).inserted == 3
    return path


def log_rows(fever: str = "38.2", exposure: str = "是") -> list[list[object]]:
    return [
        LOG,
        ["001", "张三", "2020-02-10", "晨检", fever, "咳嗽", exposure, "2020-02-10 08:10"],
        ["002", "李四", "2020-02-10", "晨检", "36.5", "无", "否", "2020-02-10 08:12"],
        ["003", "王五", "2020-02-11", "晨检", "36.6", "无", "否", "2020-02-11 08:15"],
    ]


def test_a_correction_keeps_the_earlier_version_and_is_audited(engine, roster, config, tmp_path):
    first = write_csv(tmp_path / "s001" / "晨检.csv", log_rows())
    report = ingest_paths(engine, [first], "logs", config)
    assert report.inserted == 3
    assert rows_of(engine, store.checkin_revisions) == []  # new rows: no revision
    (before,) = [r for r in rows_of(engine, store.checkins) if r["person_id"] == "001"]

    corrected = log_rows(fever="36.5", exposure="否")
    corrected[1][-1] = "2020-02-10 16:00"
    second = write_csv(tmp_path / "s001" / "晨检-更正.csv", corrected)
    report = ingest_paths(engine, [second], "logs", config)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 2)

    (revision,) = rows_of(engine, store.checkin_revisions)  # only the changed row
    assert (revision["person_id"], revision["date"], revision["session"]) == ("001", D, "morning")
    assert revision["temperature"] == 38.2
    assert revision["key_area"] is True
    assert revision["source_file"] == str(first)
    assert revision["source_row"] == before["source_row"]
    assert revision["row_hash"] == before["row_hash"]
    assert revision["updated_at"] == before["updated_at"]  # when that version was written
    sha = {i["path"]: i["sha256"] for i in rows_of(engine, store.ingestions)}
    assert revision["replaced_by"] == sha[str(second)]
    (now,) = [r for r in rows_of(engine, store.checkins) if r["person_id"] == "001"]
    assert now["temperature"] == 36.5
    assert now["key_area"] is False
    assert revision["revised_at"] == now["updated_at"]

    # the audit log: the ingestions per school and date, the revision with its id
    events = store.list_audit(engine, D, ZONE)
    ingestions = [e for e in events if e["event"] == "ingestion"]
    assert {(e["subject"], e["date"]) for e in ingestions} == {(str(first), D), (str(second), D)}
    seconds = next(e for e in ingestions if e["subject"] == str(second))
    assert seconds["detail"]["here"] == {
        "inserted": 0, "updated": 1, "unchanged": 1, "quarantined": 0, "findings": 0
    }  # fmt: skip
    assert seconds["detail"]["file"]["rows_read"] == 3
    assert seconds["sha256"] == sha[str(second)]
    assert seconds["os_user"]
    assert seconds["host"]
    (revised,) = [e for e in events if e["event"] == "revision"]
    assert revised["detail"] == {
        "table": "checkins", "count": 1, "ids": [revision["id"]], "person_id": ["001"]
    }  # fmt: skip
    assert {e["date"] for e in store.list_audit(engine, D + dt.timedelta(days=1), ZONE)} == {
        D + dt.timedelta(days=1)
    }
    # the earlier value, in the audit report
    audit = store.audit_report(engine, D, ZONE)
    (shown,) = audit.revisions
    assert shown["earlier"]["temperature"] == 38.2
    assert shown["earlier"]["person_id"] == "001"
    assert shown["replaced_by"] == sha[str(second)]
    assert store.audit_report(engine, D, ZONE, "s002").revisions == []

    # the same file again: nothing written, nothing revised
    assert ingest_paths(engine, [second], "logs", config).files[0].already_ingested
    assert len(rows_of(engine, store.checkin_revisions)) == 1
    # forced: all unchanged, no revision
    assert ingest_paths(engine, [second], "logs", config, force=True).unchanged == 3
    assert len(rows_of(engine, store.checkin_revisions)) == 1
    # a second correction keeps both earlier versions, oldest first
    corrected[1][4] = "37.0"
    third = write_csv(tmp_path / "s001" / "晨检-再更正.csv", corrected)
    assert ingest_paths(engine, [third], "logs", config).updated == 1
    history = store.load_revisions(engine, "checkins", day=D)
    assert history["temperature"].tolist() == [38.2, 36.5]


def test_a_failed_ingestion_writes_no_revision(engine, roster, config, tmp_path, monkeypatch):
    first = write_csv(tmp_path / "s001" / "晨检.csv", log_rows())
    ingest_paths(engine, [first], "logs", config)
    from reportkit.ingest import write

    def broken(*args, **kwargs):
        raise sa.exc.OperationalError("upsert", {}, Exception("disk I/O error"))

    monkeypatch.setattr(write.store, "upsert_frame", broken)
    second = write_csv(tmp_path / "s001" / "晨检-更正.csv", log_rows(fever="36.5"))
    with pytest.raises(sa.exc.OperationalError):
        ingest_paths(engine, [second], "logs", config)
    # the revision went with the replacement's transaction
    assert rows_of(engine, store.checkin_revisions) == []
    assert not any(e["subject"] == str(second) for e in store.list_audit(engine, D, ZONE))


def test_roster_and_gate_entry_revisions(engine, roster, config, tmp_path):
    moved = write_csv(
        tmp_path / "s001" / "名册-v2.csv",
        [["学号", "姓名", "身份", "年级", "班级"], ["001", "张三", "学生", "3", "02"],
         ["002", "李四", "学生", "3", "01"], ["003", "王五", "学生", "3", "02"]],
    )  # fmt: skip
    assert ingest_paths(engine, [moved], "roster", config).updated == 1
    (person,) = rows_of(engine, store.people_revisions)
    assert (person["person_id"], person["class"], person["source_file"]) == (
        "001", "01", str(roster)
    )  # fmt: skip
    events = store.list_audit(engine, dt.datetime.now(ZONE).date(), ZONE, "s001")
    assert [e["detail"]["person_id"] for e in events if e["event"] == "revision"] == [["001"]]

    header = ["日期", "姓名", "类别", "电话", "体温", "进校时间"]
    gate = [header, ["2020-02-10", "周师傅", "送货", "13800138000", "36.4", "08:12"]]
    ingest_paths(engine, [write_csv(tmp_path / "s001" / "门卫.csv", gate)], "entries", config)
    gate[1][4] = "37.6"
    again = write_csv(tmp_path / "s001" / "门卫-v2.csv", gate)
    assert ingest_paths(engine, [again], "entries", config).updated == 1
    (entry,) = rows_of(engine, store.entry_revisions)
    assert (entry["temperature"], entry["date"], entry["school_id"]) == (36.4, D, "s001")
    (revised,) = [e for e in store.list_audit(engine, D, ZONE) if e["event"] == "revision"]
    assert revised["detail"]["table"] == "entries"
    assert revised["detail"]["entry_id"] == [entry["entry_id"]]
    assert store.audit_report(engine, D, ZONE).revisions[0]["earlier"]["temperature"] == 36.4
