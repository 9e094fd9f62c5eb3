"""The report sections: HTML from the templates only, escaped, masked, "—" without data."""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from reportkit import store
from reportkit.config import load_rules, load_schools
from reportkit.findings import load_findings
from reportkit.i18n import t
from reportkit.reports import MASKED_MIME, DistrictReport, SchoolReport, render_template
from reportkit.reports.html import Figure, Table

DAY = date(2020, 2, 28)
REPORTS = Path(__file__).resolve().parents[2] / "src" / "reportkit" / "reports"
HOSTILE = '<script>alert("x")</script>&\'张三丽'


@pytest.fixture(scope="module")
def demo(small_demo):
    config = load_schools(small_demo.params_dir)
    engine = store.connect(small_demo.db_url, create=False)
    findings = load_findings(engine, config, load_rules(small_demo.params_dir), DAY)
    return small_demo, config, findings


def _visible(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def _strings_outside_docstrings(path: Path) -> list[ast.Constant]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_no_html_is_put_together_in_python() -> None:
    """Markup is the templates': no string of the sections' modules holds a tag."""
    tag = re.compile(r"</?[a-z][a-z0-9]*[\s>/]")
    found = [
        f"{name}:{node.lineno}: {node.value[:40]!r}"
        for name in ("sections.py", "html.py")
        for node in _strings_outside_docstrings(REPORTS / name)
        if tag.search(node.value)
    ]
    assert found == []


def test_templates_escape_every_value_and_print_nothing_for_a_missing_one() -> None:
    table = Table(
        ["姓名", "体温"],
        [(HOSTILE, float("nan")), (None, pd.NaT), ("李四", 37.5)],
        "无",
        heading="发热 <1>",
    )
    html = render_template(
        "sections/listing.html.j2", heading="A&B", count=3, tables=[table], note=None
    )
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<h3>发热 &lt;1&gt;</h3>" in html
    assert "<h2>A&amp;B <span" in html
    for shown in ("nan", "None", "NaT"):
        assert shown not in html
    assert '<td data-label="体温">37.5</td>' in html  # each cell names its column (phones)
    assert len(re.findall(r"<td[^>]*></td>", html)) == 3
    empty = render_template(
        "sections/listing.html.j2",
        heading="h",
        count=None,
        tables=[Table(["x"], [], "无数据")],
        note=None,
    )
    assert '<p class="rk-empty">无数据</p>' in empty
    assert "<table" not in empty
    assert "rk-count" not in empty
    tiles = render_template("sections/figures.html.j2", figures=[Figure("发热", "—")], note="n")
    assert '<span class="rk-value">—</span><span class="rk-label">发热</span>' in tiles
    assert '<p class="rk-nodata">n</p>' in tiles


def test_a_hostile_name_is_escaped_in_the_full_and_the_masked_rendering(demo) -> None:
    small, config, findings = demo
    school, person = small.events["suspected"][0]
    attention = findings.attention.copy()
    attention.loc[attention["person_id"] == person, "name"] = HOSTILE
    report = SchoolReport(replace(findings, attention=attention), config, school)
    report.mask_names = True
    bundle = report.attention()._repr_mimebundle_()
    full, masked = bundle["text/html"], bundle[MASKED_MIME]
    for html in (full, masked):
        assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;&#39;张三丽" in full
    assert "张三丽" not in masked
    assert "张三丽" not in _visible(masked)


def test_every_section_masks_the_names_it_shows(demo) -> None:
    small, config, findings = demo
    school, _ = small.events["suspected"][0]
    report = SchoolReport(findings, config, school)
    report.mask_names = True
    names = set(findings.attention.loc[findings.attention["school_id"] == school, "name"])
    names |= set(findings.missing.loc[findings.missing["school_id"] == school, "name"])
    assert names
    names |= set(
        findings.missing_sessions.loc[findings.missing_sessions["school_id"] == school, "name"]
    )
    sections = ("action", "missing", "missing_sessions", "attention", "clusters")
    for section in (*sections, "illness_absence", "entries"):
        bundle = getattr(report, section)()._repr_mimebundle_()
        shown = bundle.get(MASKED_MIME, bundle["text/html"])
        assert not [n for n in names if len(n) > 1 and n in _visible(shown)], section


def test_a_school_that_sent_nothing_shows_no_data_never_zero(demo) -> None:
    small, config, findings = demo
    report = SchoolReport(findings, config, small.events["missing_school"])
    assert report.no_data
    submission = report.submission().body
    assert 'class="rk-status rk-missing"' in submission
    assert '<p class="rk-nodata">' in submission
    figures = report.key_figures().body
    tiles = {
        label: value
        for value, label in re.findall(
            r'rk-value">([^<]*)</span><span class="rk-label">([^<]*)<', figures
        )
    }
    for key in ("reported", "coverage", "missing", "fever", "suspected"):
        assert tiles[t(key, "zh-CN")] == "—", key
    assert tiles[t("expected", "zh-CN")] not in ("—", "0")  # the roster is known
    missing = report.missing().body
    assert '<p class="rk-nodata">' in missing
    assert "rk-count" not in missing  # no count of people that nobody counted
    assert "无数据" in report.clusters().body


def test_the_district_report_shows_a_dash_for_a_silent_schools_checkins(demo) -> None:
    small, config, findings = demo
    silent = config.school(small.events["missing_school"])
    report = DistrictReport(findings, config, config.parents[silent.id])  # its central school
    row = next(r for r in report.schools().body.split("<tr>") if silent.name in r)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    assert cells[0] == silent.name
    assert cells[1] == t("submission_missing", "zh-CN", n=0)
    assert cells[2] not in ("—", "0")  # expected: the roster
    assert set(cells[3:]) == {"—"}  # reported, coverage, missing, fever …: nobody knows


def test_line_breaks_between_tags_are_not_output_but_spaces_are() -> None:
    import jinja2

    from reportkit.reports.html import LineBreaksBetweenTags

    env = jinja2.Environment(extensions=[LineBreaksBetweenTags], autoescape=True)
    source = (
        "<p>\n  <b>{{ a }} {{ b }}</b>\n</p>\n{% if x %}\n<i>y</i> <span>z</span>\n{% endif %}\n"
    )
    assert (
        env.from_string(source).render(a=1, b=2, x=True)
        == "<p><b>1 2</b></p><i>y</i> <span>z</span>"
    )
    text = env.from_string("<p>一行\n两行</p>").render()
    assert text == "<p>一行\n两行</p>"  # a break inside text is the text's
