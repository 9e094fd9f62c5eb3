"""Corrections, on SQLite and PostgreSQL: the values of a date corrected after their first
receipt, the earlier value, when; and the corrections that removed a flag."""

from __future__ import annotations

import datetime as dt

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
from tests.factories import CORRECTION_LOG as LOG
from tests.factories import correction_config, ingest_correction, write_csv

D = dt.date(2020, 2, 10)


@pytest.fixture
def config() -> SchoolsConfig:
    return correction_config()


@pytest.fixture
def corrected(engine, config, tmp_path):
    return ingest_correction(engine, config, tmp_path)


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
