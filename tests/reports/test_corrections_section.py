"""The school report's corrections section: the corrections that removed a flag with the
school's time, the values corrected (已更正) beside the value first received; masked
names; "—" when the findings carry no corrections."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from reportkit.config import Rules
from reportkit.findings import load_findings
from reportkit.reports import SchoolReport
from tests.factories import correction_config, ingest_correction

D = dt.date(2020, 2, 10)


def test_the_section_lists_the_corrections(sqlite_url, tmp_path):
    from reportkit import store

    engine = store.connect(sqlite_url)
    config = correction_config()
    ingest_correction(engine, config, tmp_path)
    findings = load_findings(engine, config, Rules(), D)
    report = SchoolReport(findings, config, "s001")
    report.mask_names = True
    section = report.corrections()
    html = section.body
    assert "更正记录" in html
    assert "学校更正（消除标记） (3)" in html
    assert "已更正数值 (3)" in html
    assert "38.2℃" in html
    assert "36.5℃（已更正）" in html
    assert "2020-02-10 16:00" in html  # the school's time of the correction
    assert "咳嗽" in html  # the symptom first received, by name
    assert "重点地区旅居史" in html
    assert "张三" in html
    assert "张三" not in section.masked  # the masked rendering for the masked PDF
    english = SchoolReport(findings, config, "s001", "en").corrections().body
    assert "values corrected (3)" in english
    assert "38.2℃" in english

    quiet = SchoolReport(findings, config, "s002").corrections().body
    assert "(0)" in quiet  # nothing corrected: said so

    unloaded = replace(findings, corrections=None, flag_corrections=None)
    assert "—" in SchoolReport(unloaded, config, "s001").corrections().body


def test_a_school_that_sent_nothing_shows_no_data_not_none(sqlite_url, tmp_path):
    from reportkit import store

    engine = store.connect(sqlite_url)
    config = correction_config()
    ingest_correction(engine, config, tmp_path)
    other = tmp_path / "s002"
    other.mkdir()
    findings = load_findings(engine, config, Rules(), D)
    report = SchoolReport(findings, config, "s002")
    assert report.no_data
    html = report.corrections().body
    assert "无数据" in html
    assert '<p class="rk-empty">无</p>' not in html
