"""Tests for reportkit.reports.svgchart: the reports' and the console's trend chart."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from reportkit.reports.svgchart import chart_labels, layout_trend, report_chart, trend_svg
from tests.factories import make_trend

NS = "{http://www.w3.org/2000/svg}"


def _texts(svg: str) -> list[str]:
    return [e.text or "" for e in ET.fromstring(svg).iter(f"{NS}text")]


def test_the_chart_is_svg_with_both_axes_dates_and_legend_in_the_reports_language() -> None:
    svg = report_chart(make_trend(), "zh-CN")
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag == f"{NS}svg"
    assert root.get("viewBox") == "0 0 640 270"
    texts = _texts(svg)
    for label in ("近14天趋势", "报告率(%)", "人数", "日期", "发热", "有症状", "疑似"):
        assert label in texts, label
    assert "03-14" in texts  # the last day is always labelled
    assert sum(bool(re.fullmatch(r"\d\d-\d\d", t)) for t in texts) == 7  # every other day
    assert "Noto Sans CJK SC" in root.get("font-family", "")
    assert report_chart(make_trend(), "zh-CN") == svg  # the same bytes
    en = report_chart(make_trend(), "en")
    assert not re.search(r"[\u4e00-\u9fff]", en)
    assert {"people", "date", "fever"} <= set(_texts(en))


def test_bars_and_points_are_where_the_figures_say() -> None:
    trend = make_trend()
    chart = layout_trend(trend, chart_labels("zh-CN"))
    # one bar per positive count, none for zero
    positive = sum(int((trend[k] > 0).sum()) for k in ("fever", "symptomatic", "suspected"))
    assert len(chart.bars) == positive
    assert len(chart.points) == 14
    assert len(chart.lines) == 1
    # the count axis: whole people, five steps, the top at or above the highest bar (5)
    assert [text for _, text in chart.count_ticks] == ["0", "1", "2", "3", "4", "5"]
    wider = layout_trend(trend.assign(fever=trend["fever"] * 3), chart_labels("zh-CN"))
    assert [text for _, text in wider.count_ticks] == ["0", "2", "4", "6", "8", "10"]
    # coverage 380/400 = 95 % sits at 95 % of the plot's height
    y = chart.points[0][1]
    assert abs((chart.bottom - y) / (chart.bottom - chart.top) - 0.95) < 1e-6
    # taller bars for larger counts
    fever = {x: h for x, _, _, h, c in chart.bars if c == "#e66100"}
    heights = sorted(fever.values())
    assert heights[0] < heights[-1]


def test_an_unknown_day_draws_nothing_never_zero() -> None:
    trend = make_trend().astype({"reported": float, "fever": float, "symptomatic": float})
    trend["suspected"] = trend["suspected"].astype(float)
    trend.loc[13, ["reported", "fever", "symptomatic", "suspected"]] = float("nan")  # no data
    trend.loc[6, "expected"] = 0  # a holiday: nobody expected
    trend.loc[6, ["reported", "fever", "symptomatic", "suspected"]] = 0
    chart = layout_trend(trend, chart_labels("zh-CN"))
    assert len(chart.points) == 12  # neither the holiday nor today is a 0 % point
    assert len(chart.lines) == 2  # the line breaks at the holiday
    step = (chart.right - chart.left) / 14
    today_x = chart.left + 13 * step
    assert all(not (today_x <= x < today_x + step) for x, *_ in chart.bars)
    assert "nan" not in trend_svg(trend, chart_labels("zh-CN")).lower()


def test_names_in_the_title_are_escaped() -> None:
    svg = trend_svg(make_trend(), chart_labels("en"), "<b>&</b>")
    assert "<b>" not in svg
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in svg
    ET.fromstring(svg)
