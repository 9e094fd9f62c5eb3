"""Tests for reportkit.reports.charts: the CJK font for notebooks' own matplotlib charts."""

from __future__ import annotations

import io
import warnings

import matplotlib
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from reportkit.reports import charts


def glyph_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def _draw_chinese(family: list[str]) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = Figure(figsize=(3, 1))
        fig.suptitle("靠山镇中心小学 疫情日报", fontproperties=FontProperties(family=family))
        fig.savefig(io.BytesIO(), format="png")
    return glyph_warnings(caught)


def test_cjk_font_is_installed() -> None:
    assert charts.cjk_font_available(), "install fonts-noto-cjk (Noto Sans CJK SC)"


def test_chinese_text_has_no_missing_glyphs_in_the_cjk_font() -> None:
    assert _draw_chinese(charts.FONT_RC["font.family"]) == []


def test_missing_glyph_check_detects_default_font() -> None:
    # Control for the test above: without the CJK font, matplotlib does warn.
    assert _draw_chinese(["DejaVu Sans"])


def test_setup_fonts_sets_rcparams() -> None:
    with matplotlib.rc_context():
        charts.setup_fonts()
        assert matplotlib.rcParams["font.family"][0] == "Noto Sans CJK SC"
        assert matplotlib.rcParams["axes.unicode_minus"] is False
