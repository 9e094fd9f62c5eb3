"""Tests for reportkit.reports.pngchart: the mail's bitmap of the trend chart."""

from __future__ import annotations

import io

from PIL import Image

from reportkit.reports.pngchart import MAIL_CHART_SIZE, MAIL_FONT_SIZE, trend_png
from reportkit.reports.svgchart import COVERAGE_COLOR, SERIES, chart_labels, layout_trend
from tests.factories import make_trend

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def test_the_mail_chart_is_twice_as_sharp_as_it_is_shown_and_draws_every_series() -> None:
    png = trend_png(make_trend(), chart_labels("zh-CN"))
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (1200, 825)  # 480 x 330 CSS px at 2.5x: >= 2x the 580 px shown
    colours = {c for _, c in image.getcolors(maxcolors=1 << 20)}
    for _, colour in SERIES:
        assert _rgb(colour) in colours  # the bars of each series are drawn
    assert _rgb(COVERAGE_COLOR) in colours  # and the coverage line


def test_each_bar_is_drawn_where_the_layout_puts_it() -> None:
    trend = make_trend()
    chart = layout_trend(
        trend, chart_labels("en"), size=MAIL_CHART_SIZE, max_dates=5, font_size=MAIL_FONT_SIZE
    )
    image = Image.open(io.BytesIO(trend_png(trend, chart_labels("en")))).convert("RGB")
    for x, y, w, h, colour in chart.bars:
        middle = (round((x + w / 2) * 2.5), round((y + h / 2) * 2.5))
        assert image.getpixel(middle) == _rgb(colour)
    # a day with no fever has no fever bar: white (or a grid line) where it would be
    assert len(chart.bars) == sum(int((trend[k] > 0).sum()) for k, _ in SERIES)


def test_an_unknown_day_has_no_bar_and_no_point() -> None:
    counts = ["expected", "reported", "fever", "symptomatic", "suspected"]
    trend = make_trend().astype(dict.fromkeys(counts, float))
    trend.loc[13, ["reported", "fever", "symptomatic", "suspected"]] = float("nan")
    chart = layout_trend(
        trend, chart_labels("zh-CN"), size=MAIL_CHART_SIZE, max_dates=5, font_size=MAIL_FONT_SIZE
    )
    assert len(chart.points) == 13
    image = Image.open(io.BytesIO(trend_png(trend, chart_labels("zh-CN")))).convert("RGB")
    step = (chart.right - chart.left) / 14
    x0, x1 = round((chart.left + 13 * step) * 2.5) + 2, round((chart.left + 14 * step) * 2.5) - 2
    bar_colours = {_rgb(c) for _, c in SERIES} | {_rgb(COVERAGE_COLOR)}
    inside = {
        image.getpixel((x, y))
        for x in range(x0, x1, 3)
        for y in range(round(chart.top * 2.5), round(chart.bottom * 2.5) - 2, 3)
    }
    assert not inside & bar_colours


def test_the_same_data_gives_the_same_bytes() -> None:
    labels = chart_labels("zh-CN")
    assert trend_png(make_trend(), labels) == trend_png(make_trend(), labels)
    assert trend_png(make_trend(), labels) != trend_png(make_trend(13), labels)
