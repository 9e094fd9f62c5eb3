"""schools.yaml's org tree and calendars: validation names the file, the key and the value."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from reportkit.config import Calendar, load_schools
from reportkit.errors import ConfigError


def _load(tmp_path: Path, body: dict) -> object:
    (tmp_path / "schools.yaml").write_text(yaml.safe_dump(body, allow_unicode=True), "utf-8")
    return load_schools(tmp_path)


TREE = {
    "units": [
        {"id": "p", "name": "省", "level": "省"},
        {"id": "c", "name": "市", "level": "市", "parent": "p"},
    ],
    "schools": [
        {"id": "s1", "name": "中心校", "parent": "c"},
        {"id": "s2", "name": "村小", "parent": "s1"},
    ],
}


@pytest.mark.parametrize(
    ("change", "key", "value"),
    [
        (lambda b: b["units"][1].update(parent="x"), "units.1.parent", "'x'"),
        (lambda b: b["schools"][1].update(parent="nowhere"), "schools.1.parent", "'nowhere'"),
        (lambda b: b["units"][0].update(parent="c"), "units.0.parent", "p -> c -> p"),
        (lambda b: b["schools"][0].update(parent="s2"), "schools.0.parent", "s1 -> s2 -> s1"),
        (lambda b: b["schools"][0].update(id="c"), "schools", "'c'"),
        (lambda b: b["units"].append({"id": "c", "name": "重"}), "units.2.id", "'c'"),
        (lambda b: b["schools"][0].pop("parent"), "schools.0", "parent"),
        (lambda b: b["units"][0].update(deadline="25:00"), "units.0.deadline", "25:00"),
        (
            lambda b: b["units"][0].update(calendar={"closed": ["2020-02-30"]}),
            "units.0.calendar.closed",
            "2020-02-30",
        ),
        (
            lambda b: b["units"][0].update(calendar={"closed": ["2020-02-10..2020-02-01"]}),
            "units.0.calendar.closed",
            "ends before it starts",
        ),
        (
            lambda b: b["units"][0].update(calendar={"weekdays": ["mon", "funday"]}),
            "units.0.calendar.weekdays",
            "funday",
        ),
    ],
)
def test_a_bad_tree_names_the_file_the_key_and_the_value(tmp_path, change, key, value) -> None:
    body = yaml.safe_load(yaml.safe_dump(TREE))
    change(body)
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, body)
    message = str(caught.value)
    assert "schools.yaml" in message
    assert key in message
    assert value in message
    assert caught.value.exit_code == 2


def test_the_tree_its_depths_and_a_central_schools_unit(tmp_path) -> None:
    config = _load(tmp_path, TREE)
    assert config.rollup_ids == ["p", "c", "s1"]
    assert config.children == {"p": ["c"], "c": ["s1"], "s1": ["s2"], "s2": []}
    assert [config.depth(n) for n in ("p", "c", "s1", "s2")] == [0, 1, 2, 3]
    assert config.schools_under("p") == ["s1", "s2"]
    assert config.school("s2").district == "c"  # the nearest unit
    with pytest.raises(ConfigError, match="unknown unit"):
        config.unit("s2")  # a school without child schools has no roll-up


def test_calendars_are_inherited_key_by_key(tmp_path) -> None:
    body = yaml.safe_load(yaml.safe_dump(TREE))
    body["calendar"] = {"weekdays": ["mon", "tue", "wed", "thu", "fri"]}
    body["units"][1]["calendar"] = {"closed": ["2020-01-24..2020-01-30", "2020-02-12"]}
    body["schools"][1]["calendar"] = {"open": ["2020-02-15"], "closed": []}
    config = _load(tmp_path, body)
    city, village = config.calendar_of("c"), config.calendar_of("s2")
    assert city.weekdays == ["mon", "tue", "wed", "thu", "fri"]  # from the file's calendar
    assert config.calendar_of("s1").closed == ["2020-01-24..2020-01-30", "2020-02-12"]
    assert village.closed == []  # its own key replaces the inherited one
    assert village.weekdays == city.weekdays
    days = {
        date(2020, 1, 23): (True, True),  # the Thursday before the range
        date(2020, 1, 24): (False, True),  # the range's first day
        date(2020, 1, 30): (False, True),  # its last day
        date(2020, 1, 31): (True, True),  # the day after
        date(2020, 2, 12): (False, True),  # a single day
        date(2020, 2, 15): (False, True),  # a Saturday: a make-up day in the village only
        date(2020, 2, 16): (False, False),  # a Sunday
    }
    for day, (at_central, in_village) in days.items():
        assert config.reports_on("s1", day) is at_central, day
        assert config.reports_on("s2", day) is in_village, day


def test_open_wins_over_closed_and_closed_over_weekdays() -> None:
    cal = Calendar(weekdays=["sat"], closed=["2020-02-08..2020-02-15"], open=["2020-02-09"])
    assert not cal.reports_on(date(2020, 2, 8))  # a Saturday, but closed
    assert cal.reports_on(date(2020, 2, 9))  # a Sunday, closed, but open
    assert cal.reports_on(date(2020, 2, 22))  # a Saturday
    assert not cal.reports_on(date(2020, 2, 21))
    assert Calendar().every_day


def test_the_demo_and_the_example_deployment_load() -> None:
    root = Path(__file__).resolve().parents[1] / "params"
    config = load_schools(root)
    assert config.unit("d01").form is not None
    assert config.calendar_of("d02").closed == ["2020-02-21"]
