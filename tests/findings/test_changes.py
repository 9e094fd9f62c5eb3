"""The 更正说明 diff on its own: who was added to or removed from the lists, and the
figures that changed, before → after (reportkit.findings.changes)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from reportkit.config import Rules, SchoolsConfig
from reportkit.findings import PERSON_COLUMNS, compute_findings, school_changes, unit_changes
from reportkit.reports import change_lines
from tests.factories import checkin, checkins_frame, person

D = date(2020, 2, 10)
CONFIG = SchoolsConfig.model_validate(
    {
        "districts": [{"id": "d1", "name": "城关学区"}],
        "schools": [
            {"id": "s1", "name": "一小", "district": "d1"},
            {"id": "s2", "name": "二小", "district": "d1"},
        ],
    }
)
PEOPLE = [person(1), person(2), person(3), person(4, school="s2")]


def findings(rows):
    people = pd.DataFrame(PEOPLE, columns=[*PERSON_COLUMNS, "status"])
    return compute_findings(people, checkins_frame(rows), None, CONFIG, Rules(), D)


def test_a_late_checkin_moves_the_person_out_of_missing_and_changes_the_counts() -> None:
    sent = findings([checkin(1), checkin(4, school="s2")])
    now = findings([checkin(1), checkin(2), checkin(4, school="s2")])
    changes = school_changes(sent, now, "s1")
    assert [p.person_id for p in changes.missing_removed] == ["2"]
    assert changes.missing_removed[0].name == "学生2"
    assert changes.missing_added == ()
    assert changes.attention_added == changes.attention_removed == ()
    reported, missing = changes.count("reported"), changes.count("missing")
    assert reported is not None
    assert (reported.before, reported.after) == (1, 2)
    assert missing is not None
    assert (missing.before, missing.after) == (2, 1)
    assert changes.count("expected") is None  # only what changed
    coverage = changes.count("coverage")
    assert coverage is not None
    assert (coverage.before, coverage.after) == (33.3, 66.7)
    assert not changes.empty


def test_a_fever_reported_late_adds_the_person_to_attention_at_its_level() -> None:
    sent = findings([checkin(1), checkin(2), checkin(3)])
    now = findings([checkin(1), checkin(2, temperature=38.4), checkin(3)])
    changes = school_changes(sent, now, "s1")
    assert [(p.person_id, p.level) for p in changes.attention_added] == [("2", "symptomatic")]
    fever = changes.count("fever")
    assert fever is not None
    assert (fever.before, fever.after) == (0, 1)
    back = school_changes(now, sent, "s1")  # and the other way round
    assert [p.person_id for p in back.attention_removed] == ["2"]
    assert back.attention_added == ()


def test_the_same_findings_give_no_change_and_other_schools_are_not_looked_at() -> None:
    sent = findings([checkin(1), checkin(4, school="s2")])
    now = findings([checkin(1)])  # s2's check-in withdrawn: not s1's business
    assert school_changes(sent, sent, "s1").empty
    assert school_changes(sent, now, "s1").empty
    assert change_lines(school_changes(sent, sent, "s1"), "en")[0].kind == "note"


def test_a_roll_up_shows_counts_only() -> None:
    sent = findings([checkin(1), checkin(4, school="s2")])
    now = findings([checkin(1), checkin(2), checkin(4, school="s2")])
    changes = unit_changes(sent.unit("d1", CONFIG), now.unit("d1", CONFIG))
    assert changes.missing_removed == changes.attention_added == ()
    people = changes.count("people_reported")
    assert people is not None
    assert (people.before, people.after) == (2, 3)
    lines = change_lines(changes, "zh-CN")
    assert all("学生2" not in line.text for line in lines)
    assert any(line.text == "2 → 3" for line in lines)


def test_the_lines_name_the_person_and_show_before_and_after_in_one_language() -> None:
    sent = findings([checkin(1)])
    now = findings([checkin(1), checkin(2)])
    zh = change_lines(school_changes(sent, now, "s1"), "zh-CN")
    assert zh[0].label == "移出未报（已补报） (1)"
    assert zh[0].text == "学生2（三年级 2班）"
    en = change_lines(school_changes(sent, now, "s1"), "en", name=lambda n: "X")
    assert en[0].text == "X (三年级 2班)"
    assert any(line.label == "reported" and line.text == "1 → 2" for line in en)
