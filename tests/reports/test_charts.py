"""Tests for reportkit.reports.charts: CJK fonts, the trend chart, PNG output."""

from __future__ import annotations

import base64
import datetime as dt
import io
import threading
import warnings

import matplotlib
import pandas as pd
import pytest
from matplotlib.figure import Figure

from reportkit.reports import charts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LABELS = {
    "coverage": "报告率(%)",
    "fever": "发热",
    "symptomatic": "有症状",
    "suspected": "疑似",
    "date": "日期",
}


def make_trend(days: int = 14) -> pd.DataFrame:
    start = dt.date(2024, 3, 1)
    return pd.DataFrame(
        {
            "date": [start + dt.timedelta(days=i) for i in range(days)],
            "expected": [400] * (days - 1) + [0],
            "reported": [380 + i for i in range(days - 1)] + [0],
            "fever": [i % 4 for i in range(days)],
            "symptomatic": [i % 6 for i in range(days)],
            "suspected": [1 if i % 5 == 0 else 0 for i in range(days)],
        }
    )


def glyph_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_cjk_font_is_installed() -> None:
    assert charts.cjk_font_available(), "install fonts-noto-cjk (Noto Sans CJK SC)"


def test_trend_chart_renders_png() -> None:
    fig = charts.trend_chart(make_trend(), LABELS, title="靠山镇中心小学 近14天")
    assert isinstance(fig, Figure)
    assert tuple(fig.get_size_inches()) == (8.0, 3.2)
    assert fig.dpi == 100
    png = charts.figure_png(fig)
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) < 200_000


def test_chinese_text_has_no_missing_glyphs() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = charts.trend_chart(make_trend(), LABELS, title="靠山镇中心小学 疫情日报")
        charts.figure_png(fig)
    assert glyph_warnings(caught) == []


def test_missing_glyph_check_detects_default_font() -> None:
    # Control for the test above: without the CJK font, matplotlib does warn.
    with (
        warnings.catch_warnings(record=True) as caught,
        matplotlib.rc_context({"font.family": ["DejaVu Sans"]}),
    ):
        warnings.simplefilter("always")
        fig = Figure(figsize=(2, 1))
        fig.suptitle("靠山镇")
        fig.savefig(io.BytesIO(), format="png")
    assert glyph_warnings(caught)


def test_figure_data_uri() -> None:
    uri = charts.figure_data_uri(charts.trend_chart(make_trend(), LABELS))
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    assert base64.b64decode(uri[len(prefix) :]).startswith(PNG_SIGNATURE)


def test_trend_chart_content() -> None:
    trend = make_trend()
    fig = charts.trend_chart(trend.iloc[::-1], LABELS)  # unsorted input is sorted
    ax, bars_ax = fig.axes
    coverage = list(ax.lines[0].get_ydata())
    assert coverage[0] == pytest.approx(95.0)
    assert coverage[-1] == 0  # expected == 0 gives 0, not NaN or an error
    assert ax.get_ylim() == (0, 105)
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[0] == "03-01"
    assert ticks[-1] == "03-14"
    assert len(ticks) == 14
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["报告率(%)", "发热", "有症状", "疑似"]
    assert ax.get_xlabel() == "日期"
    assert len(bars_ax.patches) == 3 * 14


def test_trend_chart_missing_label_and_empty_counts() -> None:
    trend = make_trend()
    trend[["fever", "symptomatic", "suspected"]] = 0
    fig = charts.trend_chart(trend, {"coverage": "Coverage (%)"})
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["Coverage (%)", "fever", "symptomatic", "suspected"]
    assert fig.axes[1].get_ylim()[1] >= 5
    assert charts.figure_png(fig).startswith(PNG_SIGNATURE)


def test_trend_chart_rejects_missing_columns() -> None:
    with pytest.raises(ValueError, match="fever"):
        charts.trend_chart(make_trend().drop(columns=["fever"]), LABELS)


def test_setup_fonts_sets_rcparams() -> None:
    with matplotlib.rc_context():
        charts.setup_fonts()
        assert matplotlib.rcParams["font.family"][0] == "Noto Sans CJK SC"
        assert matplotlib.rcParams["axes.unicode_minus"] is False


def test_charts_from_threads_keep_cjk_font() -> None:
    # rcParams are process-wide; charts must not depend on them (warnings are errors here).
    from concurrent.futures import ThreadPoolExecutor

    stop = threading.Event()

    def churn_rcparams() -> None:
        while not stop.wait(0.001):  # yield the GIL between changes, or the drawing starves
            with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
                pass

    def draw(i: int) -> bytes:
        return charts.figure_png(
            charts.trend_chart(make_trend(), LABELS, title=f"第{i}张 疫情日报")
        )

    churner = threading.Thread(target=churn_rcparams)
    churner.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            pngs = list(pool.map(draw, range(8)))
    finally:
        stop.set()
        churner.join()
    assert all(p.startswith(PNG_SIGNATURE) for p in pngs)


def test_both_axes_are_labelled_in_the_reports_language() -> None:
    from reportkit.reports.html import _chart_labels

    for lang, count, date in (("zh-CN", "人数", "日期"), ("en", "people", "date")):
        ax, bars_ax = charts.trend_chart(make_trend(), _chart_labels(lang)).axes
        assert (ax.get_xlabel(), bars_ax.get_ylabel()) == (date, count)
        assert ax.get_ylabel()  # coverage (%), on the left


def test_the_report_chart_is_svg_the_same_bytes_every_time() -> None:
    from reportkit.reports.html import _figure_svg

    svg = _figure_svg(make_trend(), "zh-CN", "近14天趋势")
    assert svg.lstrip().startswith("<?xml")
    assert "<svg" in svg
    assert "viewBox" in svg
    assert "<text" not in svg  # text drawn as paths: the same glyphs without the font
    assert _figure_svg(make_trend(), "zh-CN", "近14天趋势") == svg  # content hash stable
    assert "dc:date" not in svg


def test_the_mail_chart_is_a_bitmap_twice_the_width_it_is_shown_at() -> None:
    from PIL import Image

    from reportkit.delivery.body import trend_image

    png = trend_image(make_trend(), "zh-CN").data
    width, _ = Image.open(io.BytesIO(png)).size
    assert width >= 2 * 580  # the body shows it 580 px wide at most
