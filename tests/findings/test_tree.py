"""Roll-ups over the org tree: every level's counts are the sums of its children's."""

from __future__ import annotations

import math
from datetime import date, time, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reportkit.config import Rules, SchoolsConfig
from reportkit.findings import PERSON_COLUMNS, ROLLUP_COLUMNS, compute_findings, unit_status
from reportkit.findings.tree import unit_rollups
from tests.factories import checkin, checkins_frame, person

D = date(2020, 2, 10)
COUNTS = [c for c in ROLLUP_COLUMNS[7:] if c != "coverage"]
STATUSES = ["on_time", "late", "missing", "closed"]


@st.composite
def trees(draw: st.DrawFn) -> tuple[SchoolsConfig, pd.DataFrame, pd.DataFrame]:
    """A random tree (units under units, schools under units or schools) and a day's
    per-school frame and trend for it."""
    n_units = draw(st.integers(1, 6))
    units = []
    for i in range(n_units):
        parent = draw(st.one_of(st.none(), st.integers(0, i - 1))) if i else None
        units.append({"id": f"u{i}", "name": f"单位{i}", "level": "镇", "parent": None})
        if parent is not None:
            units[-1]["parent"] = f"u{parent}"
    n_schools = draw(st.integers(1, 14))
    schools = []
    for i in range(n_schools):
        under_school = i > 0 and draw(st.booleans())
        parent = (
            f"s{draw(st.integers(0, i - 1))}"
            if under_school
            else f"u{draw(st.integers(0, n_units - 1))}"
        )
        schools.append({"id": f"s{i}", "name": f"学校{i}", "parent": parent})
    config = SchoolsConfig.model_validate({"units": units, "schools": schools})
    rows, trend = [], []
    for s in schools:
        status = draw(st.sampled_from(STATUSES))
        counts = {c: draw(st.integers(0, 30)) for c in COUNTS}
        if status == "closed":
            counts["expected"] = counts["reported"] = counts["missing"] = 0
        counts["reported"] = min(counts["reported"], counts["expected"])
        rows.append(
            {
                "school_id": s["id"],
                "name": s["name"],
                "town": "",
                "submission": status,
                "last_received": None,
                "minutes_late": 5 if status == "late" else 0,
                "zero_report": draw(st.booleans()) and status in ("on_time", "late"),
                "coverage": math.nan,
                **counts,
            }
        )
        for k in range(3):
            trend.append(
                {
                    "school_id": s["id"],
                    "date": D - timedelta(days=2 - k),
                    **{c: draw(st.integers(0, 9)) for c in ("expected", "reported")},
                    **{c: draw(st.integers(0, 3)) for c in ("fever", "symptomatic", "suspected")},
                }
            )
    return config, pd.DataFrame(rows)[ROLLUP_COLUMNS], pd.DataFrame(trend)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees())
def test_each_levels_counts_are_the_sums_of_its_childrens(tree) -> None:
    config, schools, trend = tree
    rollups = unit_rollups(schools, trend, D, config)
    assert set(rollups) == set(config.rollup_ids)
    by_id = schools.set_index("school_id")
    for uid, r in rollups.items():
        rows = r.schools
        # the rows are the children (a central school: itself first), each once
        children = config.children[uid]
        expected_ids = ([uid] if uid in config.by_id else []) + children
        assert sorted(rows["school_id"]) == sorted(expected_ids)
        subtree = by_id.loc[config.schools_under(uid)]
        for c in COUNTS:
            assert r.totals[c] == int(rows[c].sum()) == int(subtree[c].sum()), (uid, c)
        open_ = subtree[subtree["submission"] != "closed"]
        assert r.schools_expected == len(open_) == int(rows["schools_expected"].sum())
        assert r.schools_submitted == int(open_["submission"].isin(["on_time", "late"]).sum())
        assert r.schools_missing == int((open_["submission"] == "missing").sum())
        assert r.totals["schools_closed"] == int((subtree["submission"] == "closed").sum())
        for col in ("schools_submitted", "schools_on_time", "schools_late", "schools_missing"):
            assert r.totals[col] == int(rows[col].sum()), (uid, col)
        # rates are shares of the schools and people expected: never above 100 %
        for rate in (r.reporting_rate, r.reporting_rate_on_time, r.coverage):
            assert math.isnan(rate) or 0 <= rate <= 100
        if r.schools_expected == 0:
            assert math.isnan(r.reporting_rate)
        days = trend[trend["school_id"].isin(config.schools_under(uid))]
        sums = days.groupby("date")[["expected", "reported", "fever"]].sum()
        got = r.trend.set_index("date")[["expected", "reported", "fever"]]
        assert got.to_numpy().tolist() == sums.reindex(got.index).fillna(0).to_numpy().tolist()
        # a child unit's row is its own roll-up's totals
        for child in children:
            if child in rollups:
                row = rows.set_index("school_id").loc[child]
                for c in COUNTS:
                    assert int(row[c]) == rollups[child].totals[c]


# -- districts: the two-level tree -------------------------------------------------------------

LEGACY = SchoolsConfig.model_validate(
    {
        "districts": [{"id": "d1", "name": "城关学区"}, {"id": "d2", "name": "北区"}],
        "schools": [
            {"id": "s1", "name": "一小", "district": "d1", "sessions": ["morning", "noon"]},
            {"id": "s2", "name": "二小", "district": "d1", "reports_to": "s1"},
            {"id": "s3", "name": "三小", "district": "d1", "timezone": "Asia/Urumqi"},
            {"id": "s4", "name": "四小", "district": "d2", "deadline": "17:00"},
        ],
    }
)


def _findings(config=LEGACY, day=D, rows=None, people=None):
    people = people or [person(1), person(2, "s2"), person(3, "s3"), person(4, "s4")]
    rows = rows if rows is not None else [
        checkin(1, temperature=38.2),
        checkin(2, school="s2", at=time(17, 0)),
    ]  # fmt: skip
    frame = pd.DataFrame(people, columns=[*PERSON_COLUMNS, "status"])
    return compute_findings(frame, checkins_frame(rows), None, config, Rules(), day)


def test_districts_read_as_a_two_level_tree_with_todays_figures() -> None:
    """``districts:`` and ``school.district``: each district a unit, its schools its rows
    with the figures of findings.schools unchanged; ``reports_to`` stays informational."""
    assert LEGACY.rollup_ids == ["d1", "d2"]  # s1 is reported to, but has no child schools
    assert [u.level for u in LEGACY.districts] == ["县", "县"]
    f = _findings()
    r = f.district("d1", LEGACY)
    schools = f.schools.set_index("school_id").loc[["s1", "s2", "s3"]].reset_index()
    pd.testing.assert_frame_equal(
        r.schools[ROLLUP_COLUMNS].reset_index(drop=True),
        schools[ROLLUP_COLUMNS].reset_index(drop=True),
        check_dtype=False,
    )
    n = 3
    submitted = int((schools["submission"] != "missing").sum())
    on_time = int((schools["submission"] == "on_time").sum())
    assert (r.schools_expected, r.schools_submitted, r.schools_on_time) == (n, submitted, on_time)
    assert r.reporting_rate == pytest.approx(submitted / n * 100)
    assert r.reporting_rate_on_time == pytest.approx(on_time / n * 100)
    for c in COUNTS:
        assert r.totals[c] == int(schools[c].sum())
    assert r.totals["zero_reports"] == int(schools["zero_report"].sum())
    assert list(r.schools["kind"]) == ["school"] * 3


def _calendar_config(calendar: dict, school_calendar: dict | None = None) -> SchoolsConfig:
    schools = [
        {"id": "s1", "name": "一小", "parent": "t1"},
        {"id": "s2", "name": "二小", "parent": "t1"},
    ]
    if school_calendar is not None:
        schools[1]["calendar"] = school_calendar
    return SchoolsConfig.model_validate(
        {
            "units": [
                {"id": "c1", "name": "县", "level": "县", "calendar": calendar},
                {"id": "t1", "name": "镇", "level": "镇", "parent": "c1"},
            ],
            "schools": schools,
        }
    )


def test_on_a_non_reporting_day_nobody_is_expected_and_no_school_is_missing() -> None:
    config = _calendar_config({"closed": ["2020-02-08..2020-02-10"]}, {"open": ["2020-02-10"]})
    people = [person(1), person(2), person(1, "s2"), person(2, "s2")]
    f = _findings(config, D, rows=[checkin(1, school="s2")], people=people)
    s1, s2 = (f.to_json()["schools"][i] for i in range(2))
    # s1 is closed on the last day of the range: expected 0, nobody missing
    assert (s1["expected"], s1["missing"], s1["submission"]["status"]) == (0, [], "closed")
    assert not s1["zero_report"]
    # s2 reopens for a make-up day (its own ``open``, the county's ``closed`` kept)
    assert s2["expected"] == 2
    assert s2["missing"] == ["2"]
    r = f.unit("c1", config)
    assert r.schools_expected == 1
    assert r.totals["schools_closed"] == 1
    assert r.reporting_rate == 100.0
    assert r.coverage == 50.0
    trend = f.trend[f.trend["school_id"] == "s1"].set_index("date")["expected"]
    assert trend[date(2020, 2, 7)] == 2
    assert trend[date(2020, 2, 8)] == 0
    # the day after the range: s1 reports again
    after = _findings(config, D + timedelta(days=1), rows=[], people=people)
    assert after.to_json()["schools"][0]["expected"] == 2


def test_unreachable_runs_skip_non_reporting_days() -> None:
    # weekends off: a person missing Friday and Monday is missing 2 reporting days in a row
    config = _calendar_config({"weekdays": ["mon", "tue", "wed", "thu", "fri"]})
    monday = date(2020, 2, 10)
    people = [person(1), person(2)]
    rows = [checkin(2, day=monday - timedelta(days=k)) for k in range(5)]
    rows += [checkin(1, day=monday - timedelta(days=k)) for k in (4, 5)]  # Thu, Wed
    rows += [checkin(1, day=monday - timedelta(days=k)) for k in (1, 2)]  # Sat, Sun: ignored
    f = _findings(config, monday, rows=rows, people=people)
    unreachable = f.to_json()["schools"][0]["unreachable"]
    assert unreachable == [{"person_id": "1", "days": 2}]
    assert int(f.missing.loc[f.missing["person_id"] == "1", "days_missing"].iloc[0]) == 2


def test_a_child_units_status_is_its_roll_ups_by_its_deadline() -> None:
    config = SchoolsConfig.model_validate(
        {
            "units": [
                {"id": "c1", "name": "市", "level": "市"},
                {"id": "d1", "name": "甲县", "parent": "c1", "deadline": "17:30",
                 "recipients": [{"name": "局", "email": "a@example.org"}]},
                {"id": "d2", "name": "乙县", "parent": "c1",
                 "recipients": [{"name": "局", "email": "b@example.org"}]},
                {"id": "d3", "name": "丙县", "parent": "c1"},
            ],
            "schools": [{"id": f"s{i}", "name": f"校{i}", "parent": f"d{i}"} for i in (1, 2, 3)],
        }
    )  # fmt: skip
    assert unit_status(config, "d1", D, "2020-02-10T17:30:00+08:00") == (
        "on_time",
        0,
        "2020-02-10T17:30:00+08:00",
    )
    assert unit_status(config, "d1", D, "2020-02-10T17:31:30+08:00")[:2] == ("late", 2)  # up
    assert unit_status(config, "d1", D, "2020-02-10T09:45:00+00:00")[:2] == ("late", 15)
    assert unit_status(config, "d2", D, None)[:2] == ("missing", 0)  # due, never rendered
    assert unit_status(config, "d3", D, None)[:2] == ("none", 0)  # no recipients: not due
    people = [person(1, "s1"), person(1, "s2"), person(1, "s3")]
    rows = [checkin(1, school="s1"), checkin(1, school="s2"), checkin(1, school="s3")]
    f = _findings(config, D, rows=rows, people=people)
    statuses = {
        "d1": unit_status(config, "d1", D, "2020-02-10T17:40:00+08:00"),
        "d2": unit_status(config, "d2", D, None),
        "d3": unit_status(config, "d3", D, None),
    }
    r = f.unit("c1", config, statuses)
    assert r.late_units == ["甲县"]
    ordered = r.ordered()
    assert list(ordered["school_id"]) == ["d2", "d1", "d3"]  # missing, late, the rest
    assert list(ordered["submission"]) == ["missing", "late", "none"]
    assert r.schools_submitted == 3  # the schools' own submissions are unchanged


def test_the_rows_lead_with_missing_and_late_then_by_severity() -> None:
    config = SchoolsConfig.model_validate(
        {
            "units": [{"id": "t1", "name": "镇"}],
            "schools": [{"id": f"s{i}", "name": f"校{i}", "parent": "t1"} for i in range(1, 6)],
        }
    )
    people = [person(1, f"s{i}") for i in range(1, 6)] + [person(2, "s5")]
    rows = [
        checkin(1, school="s1"),
        checkin(1, school="s2", temperature=38.0),  # fever
        checkin(1, school="s3", at=time(17, 0)),  # late
        checkin(1, school="s5"),  # one of two missing
    ]
    f = _findings(config, D, rows=rows, people=people)
    order = list(f.unit("t1", config).ordered()["school_id"])
    assert order == ["s4", "s3", "s2", "s5", "s1"]


def test_a_central_schools_roll_up_is_itself_and_its_village_schools() -> None:
    config = SchoolsConfig.model_validate(
        {
            "units": [{"id": "t1", "name": "镇", "level": "镇"}],
            "schools": [
                {"id": "c", "name": "中心校", "parent": "t1"},
                {"id": "v1", "name": "一村小", "parent": "c"},
                {"id": "v2", "name": "二村小", "parent": "c"},
                {"id": "m", "name": "中学", "parent": "t1"},
            ],
        }
    )
    assert config.rollup_ids == ["t1", "c"]
    assert config.unit("c").level == "中心校"
    assert config.school("v1").district == "t1"  # the nearest unit
    people = [person(1, s) for s in ("c", "v1", "v2", "m")]
    rows = [checkin(1, school=s) for s in ("c", "v1", "m")]
    f = _findings(config, D, rows=rows, people=people)
    central = f.unit("c", config)
    assert list(central.schools["school_id"]) == ["c", "v1", "v2"]
    assert central.ordered()["school_id"].iloc[0] == "c"  # its own row first
    assert (central.schools_expected, central.schools_missing) == (3, 1)
    town = f.unit("t1", config)
    row = town.schools.set_index("school_id").loc["c"]
    assert (int(row["expected"]), int(row["schools_expected"]), row["submission"]) == (
        3,
        3,
        "on_time",
    )
    assert town.totals["expected"] == 4
