"""The findings read only the flags' inputs of the days before the report date
(:func:`reportkit.findings.compute.load_window`): the same findings as on whole rows."""

from __future__ import annotations

from datetime import timedelta

from reportkit import store
from reportkit.findings import compute_findings, load_findings
from reportkit.findings.compute import WINDOW_COLUMNS, load_window, span_days


def test_the_window_of_flag_inputs_gives_the_findings_of_whole_rows(demo_settings, small_demo):
    settings = demo_settings
    config, rules = settings.schools(), settings.rules()
    engine = store.connect(small_demo.db_url)
    day = small_demo.demo_date
    ids = [s.id for s in config.schools]
    start = day - timedelta(days=span_days(rules) - 1)
    whole = store.load_checkins(engine, start, day, ids)
    window = load_window(engine, start, day, ids)
    assert len(window) == len(whole) > 10_000
    assert list(window.columns) == list(whole.columns)
    earlier = window["date"] < day
    assert earlier.any()
    assert (~earlier).any()
    # the days before hold the flags' inputs only; the report date holds every column
    assert window.loc[earlier, "name"].isna().all()
    assert window.loc[~earlier, "name"].notna().any()
    for column in WINDOW_COLUMNS:
        assert column in window
    people = store.load_people(engine, ids)
    quality = store.load_data_quality(engine, day, day, ids)
    entries = store.load_entries(engine, day, day, ids)
    teachers = store.load_class_teachers(engine, ids)

    def compute(checkins, rules):
        return compute_findings(
            people, checkins, quality, config, rules, day, ids, entries=entries,
            class_teachers=teachers,
        )  # fmt: skip

    on_whole = compute(whole, rules)
    loaded = load_findings(engine, config, rules, day)
    assert loaded.to_json() == on_whole.to_json()
    assert len(loaded.attention) > 0
    assert len(loaded.missing) > 0
    # and a fever threshold lowered: the same again (the window's temperatures are read)
    lower = rules.model_copy(update={"fever_celsius": 37.0})
    assert compute(window, lower).to_json() == compute(whole, lower).to_json()
    assert len(loaded.fever) > 0
