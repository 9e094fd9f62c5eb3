"""The 14-day trend as SVG laid out here and written by a Jinja template.

:func:`trend_svg` is the chart of every report, roll-up and the officer's console:
report coverage (a line on the left axis, %) and the day's fever, symptomatic and
suspected counts (bars on the right axis, people), both axes and the dates labelled,
a legend. It takes a few milliseconds where a matplotlib figure takes a fifth of a
second, needs no plotting library in the report kernel, is sharp at any pixel
density and gives the same bytes for the same data. Its text is text, in the page's
CJK font stack, so the HTML, the PDF printed from it and a phone show the same
glyphs as the report around it. A day whose figures are unknown (a school that sent
nothing today, a day nobody was expected) draws no point and no bar, never a zero.

The mail's bitmap of the same chart is :func:`reportkit.reports.pngchart.trend_png`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["SERIES", "TrendLayout", "chart_labels", "layout_trend", "report_chart", "trend_svg"]

WIDTH, HEIGHT = 640, 270
LEFT, RIGHT, TOP, BOTTOM = 50, 50, 58, 44
FONT_SIZE = 11
COVERAGE_COLOR = "#1a5fb4"
SERIES = (("fever", "#e66100"), ("symptomatic", "#e5a50a"), ("suspected", "#c01c28"))
FONT_FAMILY = "Noto Sans CJK SC, Source Han Sans SC, Microsoft YaHei, PingFang SC, sans-serif"


def chart_labels(lang: str) -> dict[str, str]:
    """The chart's labels in ``lang`` (:func:`layout_trend`'s ``labels``)."""
    from reportkit.i18n import t

    keys = ("coverage", "fever", "symptomatic", "suspected", "date", "count")
    return {k: t(f"chart_{k}", lang) for k in keys}


def _text_width(text: str, size: float = FONT_SIZE) -> float:
    """About how wide ``text`` is drawn: a CJK character is one em, Latin about half."""
    return sum(size if ord(ch) > 0x2E7F else size * 0.56 for ch in text)


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


@dataclass
class TrendLayout:
    """Everything the template draws, in SVG user units."""

    width: int = WIDTH
    height: int = HEIGHT
    left: float = LEFT
    right: float = WIDTH - RIGHT
    top: float = TOP
    bottom: float = HEIGHT - BOTTOM
    font_family: str = FONT_FAMILY
    font_size: int = FONT_SIZE
    title: str = ""
    coverage_label: str = ""
    count_label: str = ""
    date_label: str = ""
    pct_ticks: list[tuple[float, str]] = field(default_factory=list)  # (y, text)
    count_ticks: list[tuple[float, str]] = field(default_factory=list)
    date_ticks: list[tuple[float, str]] = field(default_factory=list)  # (x, text)
    bars: list[tuple[float, float, float, float, str]] = field(default_factory=list)
    points: list[tuple[float, float]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # the coverage line, broken at unknown days
    legend: list[tuple[float, str, str]] = field(default_factory=list)  # (x, colour, text)
    coverage_color: str = COVERAGE_COLOR


def layout_trend(
    trend: pd.DataFrame,
    labels: Mapping[str, str],
    title: str | None = None,
    *,
    size: tuple[int, int] = (WIDTH, HEIGHT),
    max_dates: int = 7,
    font_size: int = FONT_SIZE,
) -> TrendLayout:
    """Lay out the chart of ``trend`` (one row per day: ``date``, ``expected``,
    ``reported``, ``fever``, ``symptomatic``, ``suspected``; sorted here). ``labels``
    maps ``coverage``, ``fever``, ``symptomatic``, ``suspected``, ``date`` and ``count``
    to text in the report's language; a missing key shows the key. ``size``: the
    chart's width and height in user units (CSS px); at most ``max_dates`` dates are
    labelled, the last day always; text ``font_size`` units high."""

    def label(key: str) -> str:
        return labels.get(key, key)

    data = trend.sort_values("date", kind="stable").reset_index(drop=True)
    width, height = size
    out = TrendLayout(
        width=width,
        height=height,
        right=width - RIGHT,
        bottom=height - BOTTOM,
        font_size=font_size,
        title=title or "",
        coverage_label=label("coverage"),
        count_label=label("count"),
        date_label=label("date"),
    )
    plot_w, plot_h = out.right - out.left, out.bottom - out.top
    n = max(len(data), 1)
    step = plot_w / n
    counts = {
        key: [_number(v) for v in data[key]] if key in data else [None] * len(data)
        for key, _ in SERIES
    }
    highest = max([0.0, *(v for values in counts.values() for v in values if v is not None)])
    per_tick = max(1, math.ceil(highest / 5))  # five whole-person steps above the highest bar
    scale = 5.0 * per_tick

    def y_pct(value: float) -> float:
        return out.top + plot_h * (1 - min(value, 100.0) / 100)

    def y_count(value: float) -> float:
        return out.top + plot_h * (1 - value / scale)

    out.pct_ticks = [(y_pct(p), str(p)) for p in (0, 25, 50, 75, 100)]
    out.count_ticks = [(y_count(i * per_tick), str(i * per_tick)) for i in range(6)]
    bar_w = step * 0.8 / len(SERIES)
    for j, (key, color) in enumerate(SERIES):
        for i, value in enumerate(counts[key]):
            if value is None or value <= 0:
                continue
            x = out.left + i * step + step * 0.1 + j * bar_w
            y = y_count(value)
            out.bars.append(
                (round(x, 1), round(y, 1), round(bar_w, 1), round(out.bottom - y, 1), color)
            )
    segment: list[tuple[float, float]] = []
    for i, (expected, reported) in enumerate(zip(data["expected"], data["reported"], strict=True)):
        e, r = _number(expected), _number(reported)
        if e is None or r is None or e <= 0:
            # unknown, or nobody expected (a holiday): no point, never 0 %; the line breaks
            out.lines += [_polyline(segment)] if len(segment) > 1 else []
            segment = []
            continue
        point = (out.left + (i + 0.5) * step, y_pct(r / e * 100))
        out.points.append(point)
        segment.append(point)
    out.lines += [_polyline(segment)] if len(segment) > 1 else []
    every = max(1, math.ceil(n / max_dates))  # the last day always shown
    for i, day in enumerate(data["date"]):
        if (n - 1 - i) % every == 0:
            stamp = pd.Timestamp(day).strftime("%m-%d")
            out.date_ticks.append((out.left + (i + 0.5) * step, stamp))
    x = out.left
    for key, color in (("coverage", COVERAGE_COLOR), *SERIES):
        text = label(key)
        out.legend.append((x, color, text))
        x += 16 + _text_width(text, font_size) + 14
    return out


def _polyline(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def trend_svg(trend: pd.DataFrame, labels: Mapping[str, str], title: str | None = None) -> str:
    """The chart of :func:`layout_trend` as SVG text (``<svg …>…</svg>``)."""
    from reportkit.reports.html import render_template

    return render_template("charts/trend.svg.j2", chart=layout_trend(trend, labels, title))


def report_chart(trend: pd.DataFrame, lang: str) -> str:
    """The reports' trend chart in ``lang``, titled 近14天趋势 / its translation."""
    from reportkit.i18n import t

    return trend_svg(trend, chart_labels(lang), t("trend_14d", lang))
