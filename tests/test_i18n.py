from __future__ import annotations

import string

import pytest

from reportkit import i18n
from reportkit.config import Rules
from reportkit.i18n import CATALOG, LANGS, UnknownLabelError, labels, t
from reportkit.schema import (
    SYMPTOMS,
    AbsenceReason,
    EntryKind,
    FlagLevel,
    Reason,
    Role,
    Session,
    Status,
)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_has_every_language_and_the_same_placeholders():
    assert LANGS == ("zh-CN", "en")
    for key, texts in CATALOG.items():
        assert set(texts) == set(LANGS), key
        assert all(texts[lang].strip() for lang in LANGS), key
        assert _fields(texts["zh-CN"]) == _fields(texts["en"]), key


def test_formatting_with_kwargs():
    assert t("submission_late", "en", n=12) == "late by 12 min"
    assert t("submission_late", n=12) == "迟报12分钟"
    assert t("flag_temperature", t="37.8") == "体温37.8℃"
    assert t("flag_temperature", "en", t="37.8") == "temperature 37.8 °C"
    assert t("flag_monitoring", n=3, total=14, end="2020-02-20") == "医学观察第3/14天，至2020-02-20"
    assert t("rule_three_days_desc", "en", min_cases=5, days=3) == (
        "5 or more symptomatic in one class within 3 consecutive days"
    )
    # extra arguments are ignored, so callers can pass n to every submission status
    assert t("submission_on_time", n=0) == "按时"
    assert t("zero_report", "en") == "Nothing abnormal today (zero report)"


def test_unknown_key_language_or_argument_is_a_clear_error():
    with pytest.raises(KeyError, match="no_such_label"):
        t("no_such_label")
    with pytest.raises(ValueError, match="no_such_label"):
        t("no_such_label", "en")
    with pytest.raises(UnknownLabelError, match="'fr'"):
        t("fever", "fr")
    with pytest.raises(UnknownLabelError, match="'n'"):
        t("submission_late")
    with pytest.raises(UnknownLabelError, match="fr"):
        labels("fr")


def test_labels_returns_every_key():
    zh, en = labels("zh-CN"), labels()
    assert set(zh) == set(CATALOG) == set(labels("en"))
    assert zh == en  # default language is zh-CN
    assert labels("en")["expected"] == "expected"
    assert zh["expected"] == "应报人数"


def test_vocabularies_are_covered():
    for code, (terms, _) in SYMPTOMS.items():
        assert t(f"symptom_{code}") == terms[0]
        assert t(f"symptom_{code}", "en")
    families = {
        "level": FlagLevel,
        "session": Session,
        "role": Role,
        "status": Status,
        "absence": AbsenceReason,
        "kind": EntryKind,
        "reason": Reason,
        "issue": Reason,  # the message of a quarantined row or a finding
    }
    for prefix, enum in families.items():
        for member in enum:
            assert f"{prefix}_{member.value}" in CATALOG, (prefix, member)
    for rule in Rules().clusters:
        assert f"rule_{rule}" in CATALOG
        assert f"rule_{rule}_desc" in CATALOG
    for status in ("on_time", "late", "missing"):
        assert f"submission_{status}" in CATALOG
    for flag in ("fever", "unapproved", "no_temperature", "still_inside"):
        assert f"entry_flag_{flag}" in CATALOG
        assert f"entries_{flag}" in CATALOG


def test_report_headers_present():
    headers = {
        "name": "姓名",
        "person_id": "学号",
        "grade": "年级",
        "class": "班级",
        "expected": "应报人数",
        "reported": "实报人数",
        "coverage": "报告率",
        "missing": "未报",
        "absent": "缺勤",
        "illness_absence": "因病缺勤",
        "fever": "发热",
        "symptomatic": "有症状",
        "suspected": "疑似",
        "key_persons": "重点人员",
        "clusters": "聚集性",
        "data_quality": "数据问题",
        "days_missing": "连续未报天数",
    }
    for key, zh in headers.items():
        assert t(key) == zh


def test_all_is_sorted():
    assert i18n.__all__ == sorted(i18n.__all__)
