from __future__ import annotations

import re
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
        if key.startswith("ingest_"):  # filled from one reason's params (ingest_reason)
            continue
        assert _fields(texts["zh-CN"]) == _fields(texts["en"]), key


# the Chinese of an ingestion reason quotes a name as written where the English shows
# it as Python does (column_repr, sheet_repr, examples_en), and leaves out a detail
# only the library or the system words (detail, required: canonical column names)
_ZH_ONLY = {"column", "sheet", "examples", "value"}
_EN_ONLY = {"column_repr", "sheet_repr", "examples_en", "detail", "required"}
ENGLISH_WORD = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z]{2,}(?![A-Za-z0-9_])")


def test_every_ingest_reason_is_worded_in_both_languages_from_the_same_params():
    keys = [k for k in CATALOG if k.startswith("ingest_")]
    assert len(keys) >= 40
    for key in keys:
        zh, en = _fields(CATALOG[key]["zh-CN"]), _fields(CATALOG[key]["en"])
        assert zh - _ZH_ONLY <= en, key
        assert en - _EN_ONLY <= zh, key
        # the Chinese holds no English word but a name to type (in `backticks`)
        text = re.sub(r"`[^`]*`", " ", CATALOG[key]["zh-CN"])
        text = re.sub(r"\{[^}]*\}", " ", text)
        assert ENGLISH_WORD.findall(text) == [], key


def test_an_ingest_error_says_why_in_english_and_keeps_its_key_for_every_language():
    from reportkit.errors import IngestError, RefusedFileError
    from reportkit.i18n import ingest_error, ingest_reason, issue_value, refusal_value

    refused = ingest_error(
        "a.xlsx", "zip_members", n=12_000, limit="max_zip_members", limit_value=10_000
    )
    assert isinstance(refused, RefusedFileError)
    assert str(refused) == (
        "a.xlsx: the workbook holds 12,000 parts; the limit is 10,000 "
        "(limits.max_zip_members in rules.yaml)"
    )
    assert refused.limit == "max_zip_members"
    assert ingest_reason(refused.key or "", "zh-CN", refused.params) == (
        "工作簿含 12,000 个部件；上限为 10,000（`rules.yaml` 中的 `limits.max_zip_members`）"
    )
    failed = ingest_error("b.csv", "unknown_school_option", refused=False, value="s9")
    assert type(failed) is IngestError
    assert str(failed) == "b.csv: --school is not a school of schools.yaml (got 's9')"
    assert ingest_reason("unknown_school_option", "zh-CN", failed.params).endswith("（s9）")
    stored = refusal_value(refused.key, refused.params, refused.reason)
    assert issue_value("file_rejected", stored, "zh-CN").startswith("工作簿含 12,000 个部件")
    assert issue_value("file_rejected", stored, "en") == refused.reason
    assert issue_value("file_rejected", "an older finding's text", "zh-CN") == (
        "an older finding's text"  # recorded before reasons had keys: as it was
    )
    assert issue_value("unknown_symptom", "牙疼", "en") == "牙疼"  # data, as written


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
