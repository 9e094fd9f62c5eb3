from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from reportkit import store
from reportkit.errors import FollowupError
from reportkit.store import (
    ACTIONS,
    latest_followups,
    list_followups,
    record_followup,
)

DAY = date(2020, 2, 28)


def _rows(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(store.followups).order_by(store.followups.c.id)).all()


def test_record_appends_one_row_with_officer_and_utc_timestamp(engine):
    before = store.utcnow()
    row_id = record_followup(engine, "s001", "p1", DAY, "contacted_family", " 电话 ", " 李老师 ")
    rows = _rows(engine)
    assert len(rows) == 1
    row = rows[0]._mapping
    assert row["id"] == row_id
    assert isinstance(row_id, int)
    assert (row["school_id"], row["person_id"], row["date"]) == ("s001", "p1", DAY)
    assert (row["action"], row["note"], row["officer"]) == ("contacted_family", "电话", "李老师")
    created = row["created_at"]
    assert before - timedelta(seconds=1) <= created <= store.utcnow()
    assert datetime.now(UTC).replace(tzinfo=None) - created < timedelta(minutes=1)


def test_history_is_appended_never_overwritten(engine):
    first = record_followup(engine, "s001", "p1", DAY, "contacted_family", "", "李老师")
    second = record_followup(engine, "s001", "p1", DAY, "seen_by_doctor", "发热门诊", "王老师")
    assert second > first
    assert [r.action for r in _rows(engine)] == ["contacted_family", "seen_by_doctor"]
    history = list_followups(engine, ["s001"])
    assert list(history["id"]) == [first, second]
    latest = latest_followups(engine, ["s001"])
    assert len(latest) == 1
    assert latest.iloc[0]["action"] == "seen_by_doctor"
    assert latest.iloc[0]["officer"] == "王老师"


@pytest.mark.parametrize("officer", ["", "   ", None])
def test_officer_name_is_required(engine, officer):
    with pytest.raises(FollowupError, match="officer"):
        record_followup(engine, "s001", "p1", DAY, "cleared", "", officer)
    assert _rows(engine) == []


def test_unknown_action_is_refused(engine):
    with pytest.raises(FollowupError, match="unknown follow-up action 'called'"):
        record_followup(engine, "s001", "p1", DAY, "called", "", "李老师")
    assert _rows(engine) == []


def test_person_and_school_are_required(engine):
    with pytest.raises(FollowupError, match="person id"):
        record_followup(engine, "s001", " ", DAY, "cleared", "", "李老师")
    assert _rows(engine) == []


def test_actions_are_the_five_documented():
    assert ACTIONS == (
        "contacted_family",
        "seen_by_doctor",
        "isolated_at_home",
        "returned_to_school",
        "cleared",
    )


def test_latest_per_person_by_school_and_date(engine):
    record_followup(engine, "s001", "p1", date(2020, 2, 27), "isolated_at_home", "", "李老师")
    record_followup(engine, "s001", "p1", DAY, "returned_to_school", "", "李老师")
    record_followup(engine, "s001", "p2", DAY, "cleared", "", "李老师")
    record_followup(engine, "s002", "p1", DAY, "seen_by_doctor", "", "赵老师")

    latest = latest_followups(engine, ["s001"])
    assert list(zip(latest["person_id"], latest["action"], strict=True)) == [
        ("p1", "returned_to_school"),
        ("p2", "cleared"),
    ]
    # a date before the last follow-up shows what was known then
    earlier = latest_followups(engine, ["s001", "s002"], upto_date="2020-02-27")
    assert list(earlier["action"]) == ["isolated_at_home"]
    everyone = latest_followups(engine, None)
    assert len(everyone) == 3
    assert set(everyone.columns) >= {"school_id", "person_id", "action", "officer", "created_at"}


def test_empty_store_gives_empty_frames(engine):
    assert latest_followups(engine, ["s001"]).empty
    assert list(list_followups(engine).columns)[:3] == ["id", "school_id", "person_id"]


def test_created_at_reads_back_as_utc_and_shows_in_the_schools_zone(engine):
    from zoneinfo import ZoneInfo

    from reportkit.clock import local_time

    record_followup(engine, "s001", "p1", DAY, "cleared", "", "李老师")
    created = list_followups(engine, ["s001"])["created_at"].iloc[0]
    assert created.tzinfo is not None
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
    shanghai = ZoneInfo("Asia/Shanghai")
    assert local_time(created, shanghai) == created.astimezone(shanghai).strftime("%Y-%m-%d %H:%M")
    # what the store holds is naive UTC: shown 8 hours later in Shanghai
    assert local_time(datetime(2020, 2, 28, 8, 30), shanghai) == "2020-02-28 16:30"
    assert local_time("2020-02-28T08:30:00+00:00", shanghai) == "2020-02-28 16:30"
    assert local_time(None, shanghai) == ""


@pytest.mark.slow
def test_a_reports_follow_up_time_is_the_schools_local_time(small_demo):
    from dataclasses import replace

    import pandas as pd

    from reportkit.config import load_rules, load_schools
    from reportkit.findings import load_findings
    from reportkit.reports import SchoolReport

    config = load_schools(small_demo.params_dir)
    school, person = small_demo.events["suspected"][0]
    findings = load_findings(
        store.connect(small_demo.db_url, create=False),
        config,
        load_rules(small_demo.params_dir),
        DAY,
        [school],
    )
    followups = pd.DataFrame(
        {
            "id": [1],
            "school_id": [school],
            "person_id": [person],
            "date": [DAY],
            "action": ["contacted_family"],
            "note": [""],
            "officer": ["李老师"],
            "created_at": [pd.Timestamp("2020-02-28 08:30", tz="UTC")],
        }
    )
    report = SchoolReport(replace(findings, followups=followups), config, school)
    html = report.attention().body
    assert "已联系家长 · 李老师 · 2020-02-28 16:30" in html  # +08:00, not 08:30 UTC
