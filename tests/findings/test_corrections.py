"""Corrections, on SQLite and PostgreSQL: the values of a date corrected after their first
receipt, the earlier value, when; and the corrections that removed a flag."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from reportkit.config import Rules, SchoolsConfig
from reportkit.findings import (
    CORRECTION_COLUMNS,
    FLAG_CORRECTION_COLUMNS,
    findings_hash,
    load_findings,
    load_findings_files,
    save_findings,
)
from reportkit.ingest import ingest_paths

D = dt.date(2020, 2, 10)
LOG = ["学号", "姓名", "日期", "时段", "体温", "症状", "14天内是否到过重点地区",
       "是否接触确诊或疑似病例", "填报时间"]  # fmt: skip


@pytest.fixture
def config() -> SchoolsConfig:
    return SchoolsConfig.model_validate(
        {
            "districts": [{"id": "d01", "name": "示范区"}],
            "schools": [
                {"id": "s001", "name": "第一小学", "district": "d01"},
                {"id": "s002", "name": "第二小学", "district": "d01"},
            ],
        }
    )


def write_csv(path: Path, rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)
    return path


def day_file(path: Path, zhang: list[object], li: list[object], at: str) -> Path:
    return write_csv(
        path,
        [LOG, ["001", "张三", "2020-02-10", "晨检", *zhang, f"2020-02-10 {at}"],
         ["002", "李四", "2020-02-10", "晨检", *li, "2020-02-10 08:05"],
         ["003", "王五", "2020-02-09", "晨检", "38.5", "无", "否", "否", "2020-02-09 08:00"]],
    )  # fmt: skip


@pytest.fixture
def corrected(engine, config, tmp_path):
    roster = write_csv(
        tmp_path / "s001" / "名册.csv",
        [["学号", "姓名", "身份"], ["001", "张三", "学生"], ["002", "李四", "学生"],
         ["003", "王五", "学生"]],
    )  # fmt: skip
    ingest_paths(engine, [roster], "roster", config)
    first = day_file(tmp_path / "s001" / "a.csv", ["38.2", "咳嗽", "是", "否"],
                     ["36.5", "无", "否", "否"], "08:10")  # fmt: skip
    ingest_paths(engine, [first], "logs", config)
    second = day_file(tmp_path / "s001" / "b.csv", ["36.5", "无", "否", "否"],
                      ["36.5", "无", "否", "否"], "16:00")  # fmt: skip
    assert ingest_paths(engine, [second], "logs", config).updated == 1
    return first, second


def test_a_correction_that_removes_flags_is_in_the_findings(engine, config, corrected):
    first, _ = corrected
    findings = load_findings(engine, config, Rules(), D)
    frame = findings.corrections
    assert list(frame.columns) == CORRECTION_COLUMNS
    assert set(frame["person_id"]) == {"001"}  # 李四 unchanged; 王五's day is another date
    values = {r.column: (r.earlier, r.current) for r in frame.itertuples()}
    assert values == {
        "temperature": ("38.2", "36.5"),
        "symptoms": ("cough", ""),
        "key_area": ("yes", "no"),
    }
    row = frame.iloc[0]
    assert (row["name"], row["session"], row["date"]) == ("张三", "morning", D)
    assert row["source_file"] == str(first)
    assert row["corrected_at"] >= row["received_at"]
    assert str(row["corrected_at"].tz) == "UTC"

    flags = findings.flag_corrections
    assert list(flags.columns) == FLAG_CORRECTION_COLUMNS
    by_flag = {r.flag: (r.earlier, r.current) for r in flags.itertuples()}
    assert by_flag == {
        "fever": ("38.2", "36.5"),
        "respiratory": ("cough", ""),
        "key_area": ("yes", "no"),
    }
    assert set(flags["reported_at"]) == {pd.Timestamp("2020-02-10 16:00")}  # the school's time
    # the current check-in no longer flags anyone: the correction is what remains
    assert findings.attention.empty
    assert findings.for_school("s002").corrections.empty


def test_corrections_survive_the_findings_files(engine, config, corrected, tmp_path):
    findings = load_findings(engine, config, Rules(), D)
    hashes = save_findings(findings, tmp_path / "findings", "run-1")
    loaded = load_findings_files(tmp_path / "findings", ["s001", "s002"], D)
    assert loaded is not None
    assert findings_hash(loaded, "s001") == hashes["s001"]
    pd.testing.assert_frame_equal(
        loaded.corrections.reset_index(drop=True), findings.corrections, check_dtype=False
    )
    assert len(loaded.flag_corrections) == 3


def test_no_revision_no_correction(engine, config, tmp_path):
    roster = write_csv(tmp_path / "s001" / "名册.csv", [["学号", "姓名"], ["001", "张三"]])
    ingest_paths(engine, [roster], "roster", config)
    log = write_csv(
        tmp_path / "s001" / "a.csv",
        [LOG, ["001", "张三", "2020-02-10", "晨检", "38.2", "咳嗽", "否", "否", "08:10"]],
    )
    ingest_paths(engine, [log], "logs", config)
    findings = load_findings(engine, config, Rules(), D)
    assert findings.corrections.empty
    assert findings.flag_corrections.empty
    assert list(findings.corrections.columns) == CORRECTION_COLUMNS
