from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reportkit import store
from reportkit.config import ClusterRule, Rules, SchoolsConfig, load_rules
from reportkit.errors import ConfigError
from reportkit.findings import (
    DQ_COLUMNS,
    PERSON_COLUMNS,
    compute_findings,
    load_findings,
    summary_lines,
    summary_table,
)
from tests.factories import checkin, checkins_frame, person

D = date(2020, 2, 10)
CONFIG = SchoolsConfig.model_validate(
    {
        "districts": [{"id": "d1", "name": "城关学区"}, {"id": "d2", "name": "北区"}],
        "schools": [
            {"id": "s1", "name": "一小", "district": "d1", "sessions": ["morning", "noon"]},
            {"id": "s2", "name": "二小", "district": "d1"},
            {"id": "s3", "name": "三小", "district": "d1", "timezone": "Asia/Urumqi"},
            {"id": "s4", "name": "四小", "district": "d2", "deadline": "17:00"},
        ],
    }
)


# -- builders -------------------------------------------------------------------------


def frame(rows, columns=None):
    return pd.DataFrame(rows, columns=columns or (list(rows[0]) if rows else None))


def run(people, checkins, rules=None, *, config=CONFIG, school_ids=None, dq=None, entries=None,
        day=D):  # fmt: skip
    people_f = pd.DataFrame(people, columns=[*PERSON_COLUMNS, "status"])
    return compute_findings(
        people_f,
        checkins_frame(checkins),
        dq,
        config,
        rules or Rules(),
        day,
        school_ids=school_ids,
        entries=entries,
    )


def ids(frame_, column="person_id"):
    return sorted(frame_[column].astype(str))


def row(findings, school="s1"):
    return findings.schools.set_index("school_id").loc[school]


def only_rules(*names, **changes):
    base = Rules()
    clusters = {k: v for k, v in base.clusters.items() if k in names}
    return base.model_copy(update={"clusters": clusters, **changes})


# -- fever, symptomatic, suspected, key person ---------------------------------------------


def test_fever_boundary_37_2_is_not_fever_37_3_is():
    people = [person(1), person(2), person(3)]
    f = run(people, [checkin(1, temperature=37.2), checkin(2, temperature=37.3), checkin(3)])
    assert ids(f.fever) == ["2"]
    assert f.fever.iloc[0]["fever_by"] == "temperature"
    assert ids(f.attention) == ["2"]


def test_fever_is_the_highest_reading_or_the_reported_symptom():
    people = [person(1), person(2)]
    f = run(
        people,
        [
            checkin(1, temperature=36.5),
            checkin(1, session="noon", temperature=37.6),
            checkin(2, temperature=36.6, symptoms="fever"),
        ],
    )
    fever = f.fever.set_index("person_id")
    assert fever.loc["1", "temperature"] == 37.6
    assert fever.loc["2", "fever_by"] == "symptom"
    assert set(f.attention["level"]) == {"symptomatic"}


def test_float_noise_at_the_threshold_is_still_fever():
    f = run([person(1)], [checkin(1, temperature=37.3 - 1e-9)])  # e.g. converted from °F
    assert ids(f.fever) == ["1"]


def test_changed_threshold_changes_results():
    people = [person(1)]
    rows = [checkin(1, temperature=37.5)]
    assert ids(run(people, rows).fever) == ["1"]
    assert run(people, rows, Rules(fever_celsius=38.0)).fever.empty


def test_respiratory_symptom_makes_symptomatic_other_symptoms_do_not():
    people = [person(1), person(2), person(3)]
    rows = [checkin(1, symptoms="cough"), checkin(2, symptoms="diarrhoea"), checkin(3)]
    f = run(people, rows)
    assert ids(f.attention) == ["1"]
    assert f.attention.iloc[0]["level"] == "symptomatic"
    assert f.attention.iloc[0]["reasons"] == ("cough",)
    # the respiratory list is a rule too
    f2 = run(people, rows, Rules(respiratory_symptoms=["sore_throat"]))
    assert f2.attention.empty


def test_highest_level_only_and_fever_list_separate():
    people = [person(i) for i in range(1, 6)]
    rows = [
        checkin(1, 5, key_area=True, key_area_place="湖北武汉"),
        checkin(1, temperature=37.8, symptoms="cough"),  # suspected (fever + exposure)
        checkin(2, temperature=37.9),  # symptomatic
        checkin(3, 3, contact=True),
        checkin(3),  # key person
        checkin(4, 14, contact=True),  # exposure outside the window
        checkin(4, symptoms="cough"),  # symptomatic only
        checkin(5),
    ]
    f = run(people, rows)
    levels = dict(zip(f.attention["person_id"], f.attention["level"], strict=True))
    assert levels == {"1": "suspected", "2": "symptomatic", "4": "symptomatic", "3": "key_person"}
    assert list(f.attention["level"]) == ["suspected", "symptomatic", "symptomatic", "key_person"]
    assert ids(f.fever) == ["1", "2"]
    assert dict(zip(f.fever["person_id"], f.fever["level"], strict=True)) == {
        "1": "suspected",
        "2": "symptomatic",
    }
    s = row(f)
    assert (s["fever"], s["symptomatic"], s["suspected"], s["key_persons"]) == (2, 2, 1, 1)


def test_reason_sentences_in_both_languages():
    rows = [
        checkin(1, 2, key_area=True, key_area_place="湖北武汉"),
        checkin(1, temperature=37.8, symptoms="cough"),
    ]
    a = run([person(1)], rows).attention.iloc[0]
    assert a["reasons"] == ("fever", "cough", "key_area")
    assert a["reason_zh"] == "体温37.8℃，咳嗽；14天内到过重点地区（湖北武汉）"
    assert a["reason_en"] == (
        "temperature 37.8 °C, cough; stayed in a key area in the last 14 days (湖北武汉)"
    )
    assert a["exposure_date"] == D - timedelta(days=2)


def test_key_person_monitoring_day_14_listed_day_15_not():
    people = [person(1), person(2)]
    rows = [
        checkin(1, 13, contact=True),  # first declared 13 days ago: day 14
        checkin(1),
        checkin(2, 14, contact=True),  # 14 days ago: day 15, outside the window
        checkin(2),
    ]
    f = run(people, rows)
    key = f.attention[f.attention["level"] == "key_person"]
    assert ids(key) == ["1"]
    k = key.iloc[0]
    assert k["monitoring_day"] == 14
    assert k["monitoring_ends"] == D
    assert k["reason_zh"].endswith(f"第14/14天，至{D.isoformat()}")
    assert k["reason_en"] == (
        "contact with a confirmed or suspected case in the last 14 days; "
        f"monitoring day 14 of 14, until {D.isoformat()}"
    )


def test_key_person_counts_from_the_first_declaration_and_ends_after_monitoring_days():
    people = [person(1), person(2)]
    rows = [
        checkin(1, 4, key_area=True),  # day 5 of 5
        checkin(1, 2, key_area=True),
        checkin(2, 5, key_area=True),  # day 6 of 5: monitoring over, not listed
    ]
    f = run(people, rows, Rules(monitoring_days=5))
    key = f.attention
    assert ids(key) == ["1"]
    assert key.iloc[0]["monitoring_day"] == 5
    assert key.iloc[0]["monitoring_ends"] == D
    assert key.iloc[0]["exposure_date"] == D - timedelta(days=4)


# -- clusters ---------------------------------------------------------------------------------


def _cluster_run(cases, rules, klass="2班"):
    """``cases``: list of days back for symptomatic students, one student each."""
    people = [person(i, klass=klass) for i in range(1, 9)]
    rows = [checkin(i + 1, back, symptoms="cough") for i, back in enumerate(cases)]
    return run(people, rows, rules)


def test_same_day_2_is_no_cluster_3_is():
    rules = only_rules("same_day")
    assert _cluster_run([0, 0], rules).clusters.empty
    c = _cluster_run([0, 0, 0], rules).clusters
    assert len(c) == 1
    alert = c.iloc[0]
    assert (alert["rule"], alert["count"], alert["class_label"]) == ("same_day", 3, "三年级 2班")
    assert alert["person_ids"] == ("1", "2", "3")
    assert alert["names"] == ("学生1", "学生2", "学生3")


def test_three_days_4_is_no_cluster_5_is():
    rules = only_rules("three_days")
    assert _cluster_run([0, 0, 1, 2, 3], rules).clusters.empty  # the 5th is 4 days back
    c = _cluster_run([0, 0, 1, 2, 2], rules).clusters
    assert list(c["rule"]) == ["three_days"]
    assert c.iloc[0]["count"] == 5


def test_clustered_illness_1_is_no_cluster_2_within_14_days_is():
    rules = only_rules("clustered_illness")
    assert _cluster_run([0, 14], rules).clusters.empty  # 15 days apart
    c = _cluster_run([0, 13], rules).clusters
    assert list(c["rule"]) == ["clustered_illness"]
    assert c.iloc[0]["person_ids"] == ("1", "2")


def test_rule_switched_off_produces_no_alert():
    off = Rules().model_copy(
        update={
            "clusters": {
                **Rules().clusters,
                "same_day": ClusterRule(enabled=False, min_cases=3, days=1),
            }
        }
    )
    rules_on = _cluster_run([0, 0, 0], Rules()).clusters
    rules_off = _cluster_run([0, 0, 0], off).clusters
    assert "same_day" in set(rules_on["rule"])
    assert "same_day" not in set(rules_off["rule"])
    assert "clustered_illness" in set(rules_off["rule"])


def test_changed_min_cases_changes_clusters():
    rules = only_rules("same_day")
    lower = rules.model_copy(update={"clusters": {"same_day": ClusterRule(min_cases=2, days=1)}})
    assert _cluster_run([0, 0], rules).clusters.empty
    assert len(_cluster_run([0, 0], lower).clusters) == 1


def test_clusters_are_per_class_and_students_only():
    people = [
        person(1, klass="1班"),
        person(2, klass="1班"),
        person(3, klass="2班"),
        person(4, role="staff", grade=None, klass="语文组"),
        person(5, role="staff", grade=None, klass="语文组"),
        person(6, role="staff", grade=None, klass="语文组"),
    ]
    rows = [checkin(i, symptoms="cough") for i in range(1, 7)]
    f = run(people, rows, only_rules("same_day"))
    assert f.clusters.empty  # 2 + 1 students in two classes, 3 staff in a department
    assert row(f)["clusters"] == 0


# -- coverage ---------------------------------------------------------------------------------


def test_missing_and_on_leave_or_left_not_expected():
    people = [
        person(1),
        person(2),
        person(3, status="on_leave"),
        person(4, status="left"),
        person(5, role="staff", grade=None, klass="教务处"),
    ]
    rows = [checkin(1), checkin(3), checkin(4), checkin("x9")]  # x9 is not on the roster
    f = run(people, rows)
    s = row(f)
    assert (s["expected"], s["reported"], s["missing"]) == (3, 1, 2)
    assert ids(f.missing) == ["2", "5"]
    assert set(f.missing["role"]) == {"student", "staff"}
    assert s["unrostered"] == 1
    assert s["rows"] == 4
    assert s["coverage"] == pytest.approx(100 / 3)


def test_unreachable_1_vs_2_days_and_days_missing():
    people = [person(i) for i in range(1, 5)]
    rows = [
        checkin(1, 1),  # missing today only
        checkin(3, 3),  # missing 3 days
        checkin(4),
    ]
    f = run(people, rows)
    days = dict(zip(f.missing["person_id"], f.missing["days_missing"], strict=True))
    assert days == {"1": 1, "2": 14, "3": 3}  # never seen: capped at the window
    assert dict(zip(f.unreachable["person_id"], f.unreachable["days"], strict=True)) == {
        "2": 14,
        "3": 3,
    }
    assert list(run(people, rows, Rules(unreachable_days=4)).unreachable["person_id"]) == ["2"]


def test_missing_sessions_for_a_school_with_morning_and_noon():
    people = [person(i) for i in range(1, 5)] + [person(9, "s2")]
    rows = [
        checkin(1),
        checkin(1, session="noon"),
        checkin(2),  # no noon check
        checkin(3, session="noon"),  # no morning check
        checkin(4, absent=True, absence_reason="personal"),  # absent: no noon check expected
        checkin(9, school="s2"),  # s2 only expects the morning check
    ]
    f = run(people, rows)
    got = sorted(zip(f.missing_sessions["person_id"], f.missing_sessions["session"], strict=True))
    assert got == [("2", "noon"), ("3", "morning")]
    assert row(f)["missing_sessions"] == 2
    assert row(f, "s2")["missing_sessions"] == 0


def test_illness_absence_with_and_without_a_symptom():
    people = [person(i) for i in range(1, 6)]
    rows = [
        checkin(1, absent=True, absence_reason="illness"),
        checkin(2, absent=True, absence_reason="illness", symptoms="diarrhoea"),
        checkin(3, absent=True, absence_reason="illness", temperature=37.5),
        checkin(4, absent=True, absence_reason="illness", symptoms_other="牙痛"),
        checkin(5, absent=True, absence_reason="personal"),
    ]
    f = run(people, rows)
    assert ids(f.illness_absence) == ["1"]
    assert f.illness_absence.iloc[0]["temperature"] == 36.5
    assert f.illness_absence["unexplained"].all()
    assert f.to_json()["schools"][0]["illness_absence_unexplained"] == ["1"]
    s = row(f)
    assert (s["absent"], s["illness_absence"], s["illness_absence_unexplained"]) == (5, 4, 1)


# -- submission -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "status", "minutes"),
    [
        (time(16, 29), "on_time", 0),
        (time(16, 30), "on_time", 0),
        (time(16, 30, 1), "late", 1),
        (time(16, 31), "late", 1),
        (time(17, 5), "late", 35),
    ],
)
def test_deadline_one_minute_before_at_and_after(at, status, minutes):
    f = run([person(1), person(2)], [checkin(1, at=time(8)), checkin(2, at=at)])
    s = row(f)
    assert (s["submission"], s["minutes_late"]) == (status, minutes)
    assert s["last_received"] == datetime.combine(D, at).isoformat()


def test_submission_missing_and_rows_without_time():
    people = [person(1), person(2, "s2")]
    f = run(people, [checkin(1, at=None)])
    assert row(f)["submission"] == "on_time"
    assert row(f)["last_received"] is None
    assert row(f, "s2")["submission"] == "missing"
    assert not row(f, "s2")["zero_report"]


def test_school_in_another_timezone_compares_local_times():
    people = [person(1, "s3"), person(2, "s1")]
    f = run(people, [checkin(1, school="s3", at=time(16, 30)), checkin(2, at=time(16, 30))])
    assert row(f, "s3")["submission"] == "on_time"
    assert row(f, "s3")["deadline"] == "2020-02-10T16:30:00+06:00"
    assert row(f, "s1")["deadline"] == "2020-02-10T16:30:00+08:00"
    # aware timestamps are read in the school's own zone
    utc = datetime(2020, 2, 10, 10, 30, tzinfo=UTC)  # 16:30 in Urumqi, 18:30 in Shanghai
    rows = [checkin(1, school="s3", at=utc), checkin(2, at=utc)]
    f2 = run(people, rows)
    assert row(f2, "s3")["submission"] == "on_time"
    assert (row(f2, "s1")["submission"], row(f2, "s1")["minutes_late"]) == ("late", 120)
    assert row(f2, "s1")["last_received"] == "2020-02-10T18:30:00"


def test_school_deadline_is_configurable():
    f = run([person(1, "s4")], [checkin(1, school="s4", at=time(16, 45))])
    assert row(f, "s4")["submission"] == "on_time"  # s4's deadline is 17:00


def test_zero_report_true_and_false():
    people = [person(1), person(2, "s2"), person(3, "s2")]
    rows = [checkin(1), checkin(1, session="noon"), checkin(2, school="s2")]
    f = run(people, rows)
    assert bool(row(f)["zero_report"])
    assert not bool(row(f, "s2")["zero_report"])  # person 3 missing
    assert not bool(row(f, "s3")["zero_report"])  # nothing submitted
    fever = run(people, [checkin(1, temperature=38.0)])
    assert not bool(row(fever)["zero_report"])
    late = run([person(1, "s2")], [checkin(1, school="s2", at=time(18))])
    assert bool(row(late, "s2")["zero_report"])  # late but submitted, nothing abnormal


# -- trend, per class, data quality, entries ---------------------------------------------------


def test_trend_counts_each_day_with_its_own_window():
    people = [person(1), person(2), person(3, status="left")]
    rows = [
        checkin(1, 20, contact=True),  # exposure 20 days back
        checkin(1, 10, symptoms="cough"),  # in its window (10 days later): suspected then
        checkin(1, symptoms="cough"),  # 20 days later: out of window, symptomatic
        checkin(2, 3, temperature=38.0),
        checkin(3, 3),  # left: not reported
    ]
    f = run(people, rows)
    tr = f.trend[f.trend["school_id"] == "s1"].set_index("date")
    assert len(tr) == 14
    assert tr.index[0] == D - timedelta(days=13)
    assert tr.index[-1] == D
    assert (tr["expected"] == 2).all()
    d10, d3 = D - timedelta(days=10), D - timedelta(days=3)
    assert (tr.loc[d10, "suspected"], tr.loc[d10, "symptomatic"]) == (1, 0)
    assert (tr.loc[D, "suspected"], tr.loc[D, "symptomatic"]) == (0, 1)
    assert (tr.loc[d3, "fever"], tr.loc[d3, "symptomatic"], tr.loc[d3, "reported"]) == (1, 1, 1)
    assert tr["suspected"].sum() == 1


def test_per_class_table():
    people = [
        person(1, klass="1班"),
        person(2, klass="1班"),
        person(3, klass="2班"),
        person(4, role="staff", grade=None, klass="教务处"),
    ]
    rows = [checkin(1, temperature=38.1), checkin(3, absent=True, absence_reason="personal")]
    pc = run(people, rows).per_class
    pc = pc[pc["school_id"] == "s1"].set_index(["grade", "class"])
    assert pc.loc[("三年级", "1班")][["expected", "reported", "missing", "fever"]].tolist() == [
        2,
        1,
        1,
        1,
    ]
    assert pc.loc[("三年级", "2班"), "absent"] == 1
    assert pc.loc[("", "教务处"), "missing"] == 1


def test_data_quality_passes_through_for_the_day_and_school():
    dq = pd.DataFrame(
        [
            {"school_id": "s1", "person_id": "1", "date": D, "file": "a.csv", "row": 3,
             "column": "temperature", "value": "99", "reason": "impossible_temperature",
             "message": "m", "quarantined": False},
            {"school_id": "s1", "person_id": "1", "date": D - timedelta(days=1), "file": "a.csv",
             "row": 4, "column": "temperature", "value": "x", "reason": "bad_temperature",
             "message": "m", "quarantined": False},
            {"school_id": "s2", "person_id": None, "date": D, "file": "b.csv", "row": 2,
             "column": "person_id", "value": "", "reason": "missing_person_id", "message": "m",
             "quarantined": True},
        ]
    )  # fmt: skip
    f = run([person(1)], [checkin(1)], dq=dq)
    assert list(f.data_quality["reason"]) == ["impossible_temperature", "missing_person_id"]
    assert list(f.data_quality.columns) == DQ_COLUMNS
    assert row(f)["data_quality"] == 1
    assert row(f, "s2")["data_quality"] == 1
    assert f.to_json()["schools"][1]["data_quality"] == [
        {"person_id": None, "column": "person_id", "value": "", "reason": "missing_person_id"}
    ]


def _entry(eid, *, school="s1", kind="visitor", temperature=36.5, approved_by="王校长",
           entered=time(9), left=time(10), day=D):  # fmt: skip
    return {
        "entry_id": eid,
        "school_id": school,
        "date": day,
        "entered_at": datetime.combine(day, entered),
        "name": f"访客{eid}",
        "kind": kind,
        "phone": "13800000000",
        "id_number": "110101199001011234",
        "purpose": "送材料",
        "temperature": temperature,
        "approved_by": approved_by,
        "left_at": None if left is None else datetime.combine(day, left),
    }


def test_entries_summary_and_flags():
    entries = pd.DataFrame(
        [
            _entry("e1"),
            _entry("e2", temperature=37.3),
            _entry("e3", approved_by=""),
            _entry("e4", kind="staff", approved_by=None),  # staff need no approval
            _entry("e5", temperature=None),
            _entry("e6", left=time(18, 1)),  # left after closing (18:00)
            _entry("e7", left=time(18, 0)),  # left at closing: fine
            _entry("e8", left=None),  # never signed out, entered before closing
            _entry("e9", entered=time(19), left=None, kind="delivery"),  # entered after closing
            _entry("e0", day=D - timedelta(days=1)),  # another day
            _entry("x1", school="s2", approved_by=None),
        ]
    )
    f = run([person(1)], [checkin(1)], entries=entries)
    e = f.entries.set_index("school_id")
    assert e.loc["s1"].to_dict() == {
        "total": 9,
        "fever": 1,
        "unapproved": 1,
        "no_temperature": 1,
        "still_inside": 2,
        "staff": 1,
        "visitor": 7,
        "delivery": 1,
        "other": 0,
    }
    assert e.loc["s2", "unapproved"] == 1
    assert e.loc["s3", "total"] == 0
    flagged = f.entry_flags[f.entry_flags["school_id"] == "s1"]
    assert dict(flagged.groupby("flag")["entry_id"].apply(sorted)) == {
        "fever": ["e2"],
        "unapproved": ["e3"],
        "no_temperature": ["e5"],
        "still_inside": ["e6", "e8"],
    }
    assert "id_number" not in f.entry_flags.columns
    assert row(f)["entries_total"] == 9
    assert row(f)["entries_still_inside"] == 2
    j = f.to_json()["schools"][0]["entries"]
    assert j == {"total": 9, "fever": ["e2"], "unapproved": ["e3"], "no_temperature": ["e5"]}


@pytest.mark.parametrize("entries", [None, pd.DataFrame(columns=store.ENTRY_COLUMNS)])
def test_entries_absent_or_empty(entries):
    f = run([person(1)], [checkin(1)], entries=entries)
    assert (f.entries.drop(columns="school_id") == 0).all().all()
    assert f.entry_flags.empty
    assert list(f.entry_flags.columns)[:3] == ["entry_id", "school_id", "flag"]


# -- the findings object -----------------------------------------------------------------------


def _district_findings():
    people = [person(1), person(2, "s2"), person(3, "s3"), person(4, "s4")]
    rows = [checkin(1, temperature=38.2), checkin(2, school="s2", at=time(17, 0))]
    return run(people, rows)


def test_district_rollup_rates_and_no_names():
    f = _district_findings()
    r = f.district("d1", CONFIG)
    assert r.schools_expected == 3
    assert (r.schools_submitted, r.schools_on_time, r.schools_missing) == (2, 1, 1)
    assert r.reporting_rate == pytest.approx(200 / 3)
    assert r.reporting_rate_on_time == pytest.approx(100 / 3)
    assert r.coverage == pytest.approx(200 / 3)
    assert r.totals["fever"] == 1
    assert r.totals["schools_late"] == 1
    assert list(r.schools["school_id"]) == ["s1", "s2", "s3"]
    assert list(r.schools["submission"]) == ["on_time", "late", "missing"]
    assert list(r.schools["minutes_late"]) == [0, 30, 0]
    assert len(r.trend) == 14
    assert r.trend.iloc[-1][["expected", "reported", "fever", "schools_reported"]].tolist() == [
        3,
        2,
        1,
        2,
    ]
    for table in (r.schools, r.trend):
        assert not {"person_id", "person_ids", "names", "role"} & set(table.columns)
        text = table.to_csv()
        assert "学生" not in text
    assert "学生" not in json.dumps(r.to_json(), ensure_ascii=False)
    assert list(r.schools["name"]) == ["一小", "二小", "三小"]  # school names only


def test_district_needs_all_its_schools():
    f = _district_findings().for_schools(["s1", "s2"])
    with pytest.raises(ValueError, match="s3"):
        f.district("d1", CONFIG)
    with pytest.raises(ValueError, match="s4"):
        f.district("d2", CONFIG)


def test_for_school_slices_every_frame():
    people = [person(i) for i in range(1, 4)] + [person(i, "s2") for i in range(1, 4)]
    rows = [
        checkin(1, temperature=38.0, symptoms="cough"),
        checkin(1, school="s2", symptoms="cough"),
    ]
    rows += [checkin(2, 1, key_area=True), checkin(2, 1, school="s2", key_area=True)]
    entries = pd.DataFrame(
        [_entry("e1", approved_by=""), _entry("e2", school="s2", approved_by="")]
    )
    f = run(people, rows, entries=entries)
    followups = pd.DataFrame({"school_id": ["s1", "s2"], "person_id": ["1", "1"]})
    f = replace(f, followups=followups)
    one = f.for_school("s2")
    for name, value in vars(one).items():
        if isinstance(value, pd.DataFrame):
            assert set(value["school_id"]) <= {"s2"}, name
            assert len(value) == (getattr(f, name)["school_id"] == "s2").sum(), name
    assert not one.missing.empty
    assert not one.attention.empty
    assert one.date == f.date
    assert list(one.followups["school_id"]) == ["s2"]
    with pytest.raises(ValueError, match="nope"):
        f.for_school("nope")


def test_by_school_is_for_school_of_each_school():
    from reportkit.findings import findings_hash

    f = _district_findings()
    f = replace(f, followups=pd.DataFrame({"school_id": ["s2", "s1"], "person_id": ["1", "2"]}))
    split = f.by_school()
    assert list(split) == f.school_ids
    for sid, own in split.items():
        one = f.for_school(sid)
        for name, value in vars(one).items():
            if isinstance(value, pd.DataFrame):
                pd.testing.assert_frame_equal(getattr(own, name), value, obj=f"{sid} {name}")
        assert findings_hash(own, sid) == findings_hash(f, sid)
    assert len(split["s2"].followups) == 1
    assert split["s3"].attention.empty  # a school with no rows in a frame: its empty part


def test_save_and_load_round_trip(tmp_path: Path):
    from reportkit.findings import findings_hash, load_findings_files, save_findings

    f = _district_findings()
    folder = tmp_path / "out" / "findings"
    hashes = save_findings(f, folder, "run-1")
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{s}.arrow" for s in f.school_ids)
    assert all(p.read_bytes()[:6] == b"ARROW1" for p in folder.iterdir())  # Arrow IPC files
    back = load_findings_files(folder, f.school_ids, f.date)
    assert back.date == f.date
    assert {s: findings_hash(back, s) for s in f.school_ids} == hashes
    assert back.to_json() == f.to_json()


def test_to_json_shape():
    people = [person(i) for i in (3, 1, 2, 10)] + [person(5, klass="1班")]
    rows = [
        checkin(2, 4, key_area=True),
        checkin(2),
        checkin(3, temperature=37.9, symptoms="cough"),
        checkin(10, symptoms="cough"),
        checkin(10, 1, symptoms="cough"),
    ]
    f = run(people, rows)
    out = f.to_json()
    json.dumps(out)
    assert set(out) == {"date", "schools"}
    assert out["date"] == "2020-02-10"
    assert [s["school_id"] for s in out["schools"]] == ["s1", "s2", "s3", "s4"]
    s1 = out["schools"][0]
    assert list(s1) == [
        "school_id",
        "expected",
        "reported",
        "submission",
        "zero_report",
        "missing",
        "missing_sessions",
        "unreachable",
        "fever",
        "symptomatic",
        "suspected",
        "key_persons",
        "clusters",
        "illness_absence_unexplained",
        "data_quality",
        "entries",
    ]
    assert set(s1["submission"]) == {"status", "last_received", "minutes_late"}
    assert s1["missing"] == ["1", "5"]
    assert s1["missing_sessions"] == [{"person_id": p, "session": "noon"} for p in ["10", "2", "3"]]
    assert s1["unreachable"] == [{"person_id": "1", "days": 14}, {"person_id": "5", "days": 14}]
    assert s1["fever"] == ["3"]
    assert s1["symptomatic"] == ["10", "3"]
    assert s1["suspected"] == []
    assert s1["key_persons"] == [{"person_id": "2", "day": 5, "ends": "2020-02-19"}]
    assert s1["clusters"] == [
        {"class": "三年级 2班", "rule": "clustered_illness", "people": ["10", "3"]}
    ]
    assert set(s1["entries"]) == {"total", "fever", "unapproved", "no_temperature"}
    assert out["schools"][1]["submission"] == {
        "status": "missing",
        "last_received": None,
        "minutes_late": 0,
    }


def test_summary_helpers():
    from rich.console import Console
    from rich.table import Table

    f = _district_findings()
    table = summary_table(f, lang="en")
    assert isinstance(table, Table)
    assert table.row_count == 4
    console = Console(width=250, record=True)
    console.print(table)
    assert "late by 30 min" in console.export_text()
    lines = summary_lines(f, "zh-CN")
    assert lines[0] == "日期 2020-02-10"
    assert "迟报30分钟" in lines[2]
    assert "未报送" in lines[3]


def test_unknown_school_is_a_config_error():
    with pytest.raises(ConfigError, match="nope"):
        run([person(1)], [checkin(1)], school_ids=["nope"])


def test_selected_schools_only_and_empty_inputs():
    f = run([person(1), person(2, "s2")], [checkin(1), checkin(2, school="s2")], school_ids=["s2"])
    assert list(f.schools["school_id"]) == ["s2"]
    assert set(f.trend["school_id"]) == {"s2"}
    empty = compute_findings(
        pd.DataFrame(columns=[*PERSON_COLUMNS, "status"]),
        pd.DataFrame(columns=store.CHECKIN_COLUMNS),
        None,
        CONFIG,
        Rules(),
        D,
    )
    assert list(empty.schools["expected"]) == [0, 0, 0, 0]
    assert list(empty.schools["submission"]) == ["missing"] * 4
    assert empty.schools["coverage"].isna().all()
    assert len(empty.trend) == 4 * 14
    json.dumps(empty.to_json())
    assert empty.district("d1", CONFIG).reporting_rate == 0


def test_inputs_are_not_changed():
    people = pd.DataFrame([person(1), person(2)])
    rows = checkins_frame([checkin(1, temperature=38.0)])
    before = (people.copy(), rows.copy())
    compute_findings(people, rows, None, CONFIG, Rules(), D)
    pd.testing.assert_frame_equal(people, before[0])
    pd.testing.assert_frame_equal(rows, before[1])


def test_rules_yaml_equals_defaults():
    rules = load_rules(Path(__file__).resolve().parents[2] / "params")
    assert rules == Rules()


# -- through the store (SQLite and PostgreSQL) -----------------------------------------------


def test_load_findings_through_the_store(engine):
    now = store.utcnow()
    people = [person(1), person(2), person(3, status="on_leave"), person(4, "s3")]
    rows = [
        checkin(1, 3, contact=True),
        checkin(1, temperature=37.4, symptoms="cough"),
        checkin(1, session="noon", at=time(16, 45)),
        checkin(4, school="s3", at=time(16, 30)),
        checkin(2, 30),  # outside the loaded span
    ]
    with engine.begin() as conn:
        store.upsert(
            conn, store.people, [{**p, "row_hash": "h", "updated_at": now} for p in people]
        )
        store.upsert(
            conn,
            store.checkins,
            [{**r, "row_hash": "h", "source_file": "f.csv", "updated_at": now} for r in rows],
        )
    loaded = load_findings(engine, CONFIG, Rules(), D, ["s1", "s3"])
    assert list(loaded.schools["school_id"]) == ["s1", "s3"]
    s = row(loaded)
    assert (s["expected"], s["reported"], s["submission"], s["minutes_late"]) == (
        2,
        1,
        "late",
        15,
    )
    assert row(loaded, "s3")["submission"] == "on_time"
    assert list(loaded.attention["level"]) == ["suspected"]
    assert ids(loaded.missing) == ["2"]
    assert loaded.missing.iloc[0]["days_missing"] == 14
    computed = run(people, rows, school_ids=["s1", "s3"])
    assert loaded.to_json() == computed.to_json()


# -- properties ------------------------------------------------------------------------------

_people_st = st.lists(
    st.tuples(
        st.sampled_from(["s1", "s2"]),
        st.integers(0, 12),
        st.sampled_from(["active", "active", "on_leave", "left"]),
        st.sampled_from(["1班", "2班"]),
    ),
    max_size=25,
    unique_by=lambda x: (x[0], x[1]),
)
_checkins_st = st.lists(
    st.tuples(
        st.sampled_from(["s1", "s2"]),
        st.integers(0, 14),  # person 13, 14: not on any roster
        st.integers(0, 16),  # days back
        st.sampled_from(["morning", "noon"]),
        st.sampled_from([36.5, 37.2, 37.3, 39.0, float("nan")]),
        st.sampled_from(["", "cough", "fever", "diarrhoea"]),
        st.booleans(),
        st.booleans(),
    ),
    max_size=60,
    unique_by=lambda x: x[:4],
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_people_st, _checkins_st)
def test_property_partition_and_single_level(people_spec, checkin_spec):
    people = [person(p, s, status=status, klass=k) for s, p, status, k in people_spec]
    rows = [
        checkin(p, back, s, session=sess, temperature=temp, symptoms=sym, key_area=ka,
                contact=ct and back % 3 == 0)
        for s, p, back, sess, temp, sym, ka, ct in checkin_spec
    ]  # fmt: skip
    f = run(people, rows, school_ids=["s1", "s2"])
    active = {(s, str(p)) for s, p, status, _ in people_spec if status == "active"}
    seen_today = {(s, str(p)) for s, p, back, *_ in checkin_spec if back == 0}
    reported = active & seen_today
    missing = set(zip(f.missing["school_id"], f.missing["person_id"], strict=True))
    assert not missing & reported
    assert missing | reported == active
    sch = f.schools
    assert (sch["reported"] + sch["missing"] == sch["expected"]).all()
    assert sch["expected"].sum() == len(active)
    keys = list(zip(f.attention["school_id"], f.attention["person_id"], strict=True))
    assert len(keys) == len(set(keys))
    assert set(f.attention["level"]) <= {"suspected", "symptomatic", "key_person"}
    fever = set(zip(f.fever["school_id"], f.fever["person_id"], strict=True))
    assert fever <= set(keys)
    unreachable = set(zip(f.unreachable["school_id"], f.unreachable["person_id"], strict=True))
    assert unreachable <= missing
    json.dumps(f.to_json())
