"""The 14-day trend as a PNG for mail clients that show no SVG, drawn with Pillow.

The same chart as the reports' (:func:`reportkit.reports.svgchart.layout_trend` gives
every position), laid out for a phone and drawn at ``scale`` times its size, so it is
sharp at 2x: 1,200 px wide for the 580 px a message body gives it. Drawing it takes a
few tens of milliseconds where a matplotlib figure takes half a second, which matters
once there is one message per school. Text is Noto Sans CJK SC (``fc-match``); without
that font the chart cannot be drawn and a :class:`~reportkit.errors.RenderError` says
what to install.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from reportkit.errors import RenderError
from reportkit.reports.svgchart import TrendLayout, layout_trend

if TYPE_CHECKING:
    from PIL import Image
    from PIL.ImageFont import FreeTypeFont

__all__ = ["MAIL_CHART_SIZE", "MAIL_FONT_SIZE", "trend_png"]

MAIL_CHART_SIZE = (480, 330)  # CSS px: a phone's column
MAIL_FONT_SIZE = 14  # ~10 px when a 390 px phone shows the chart 340 px wide
FONT = "Noto Sans CJK SC"
_FALLBACK = {
    False: ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    True: ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
}


@functools.cache
def _font_file(bold: bool) -> tuple[str, int]:
    """The file and face index of Noto Sans CJK SC (bold or regular)."""
    if shutil.which("fc-match"):
        pattern = FONT + (":bold" if bold else "")
        found = subprocess.run(
            ["fc-match", "-f", "%{file}\\n%{index}\\n%{family}", pattern],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split("\\n")
        if len(found) >= 3 and FONT in found[2] and Path(found[0]).exists():
            return found[0], int(found[1] or 0)
    path, index = _FALLBACK[bold]
    if Path(path).exists():
        return path, index
    raise RenderError(f"the font {FONT} is not installed: install fonts-noto-cjk")


@functools.cache
def _font(size: int, bold: bool = False) -> FreeTypeFont:
    from PIL import ImageFont

    path, index = _font_file(bold)
    return ImageFont.truetype(path, size, index=index)


def _rgb(color: str) -> tuple[int, int, int]:
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _draw(chart: TrendLayout, scale: float) -> bytes:
    from PIL import Image, ImageDraw

    def px(value: float) -> float:
        return value * scale

    size = round(chart.font_size * scale)
    font, title_font = _font(size), _font(round(13 * scale), True)
    ink = _rgb("#1f2328")
    image = Image.new("RGB", (round(px(chart.width)), round(px(chart.height))), "white")
    draw = ImageDraw.Draw(image)
    if chart.title:
        draw.text((px(chart.left), px(16)), chart.title, font=title_font, fill=ink, anchor="ls")
    for x, color, text in chart.legend:
        draw.rectangle([px(x), px(28), px(x + 12), px(38)], fill=_rgb(color))
        draw.text((px(x + 16), px(37)), text, font=font, fill=ink, anchor="ls")
    for y, text in chart.pct_ticks:
        draw.line([px(chart.left), px(y), px(chart.right), px(y)], fill=_rgb("#e5e7eb"), width=1)
        draw.text((px(chart.left - 6), px(y + 4)), text, font=font, fill=ink, anchor="rs")
    for y, text in chart.count_ticks:
        draw.text((px(chart.right + 6), px(y + 4)), text, font=font, fill=ink, anchor="ls")
    for x, y, w, h, color in chart.bars:
        draw.rectangle([px(x), px(y), px(x + w), px(y + h)], fill=_rgb(color))
    base = px(chart.bottom)
    draw.line([px(chart.left), base, px(chart.right), base], fill=_rgb("#59636e"), width=1)
    line = _rgb(chart.coverage_color)
    for segment in chart.lines:
        points = [tuple(px(float(v)) for v in p.split(",")) for p in segment.split()]
        draw.line(points, fill=line, width=max(1, round(2 * scale)), joint="curve")
    r = px(3)
    for x, y in chart.points:
        draw.ellipse([px(x) - r, px(y) - r, px(x) + r, px(y) + r], fill=line)
    for x, text in chart.date_ticks:
        draw.text((px(x), px(chart.bottom + 16)), text, font=font, fill=ink, anchor="ms")
    middle = (chart.left + chart.right) / 2
    draw.text(
        (px(middle), px(chart.height - 6)), chart.date_label, font=font, fill=ink, anchor="ms"
    )
    mid_y = px((chart.top + chart.bottom) / 2)
    for text, x, angle in (
        (chart.coverage_label, 14, 90),
        (chart.count_label, chart.width - 12, -90),
    ):
        _vertical(image, text, font, ink, (px(x), mid_y), angle)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def _vertical(
    image: Image.Image,
    text: str,
    font: FreeTypeFont,
    ink: tuple[int, int, int],
    centre: tuple[float, float],
    angle: int,
) -> None:
    """Draw ``text`` turned by ``angle`` degrees, its middle on ``centre`` (baseline
    towards the plot, as the SVG's rotated text)."""
    from PIL import Image, ImageDraw

    left, top, right, bottom = font.getbbox(text, anchor="ls")
    label = Image.new("L", (round(right - left) + 4, round(bottom - top) + 4), 0)
    ImageDraw.Draw(label).text((2 - left, 2 - top), text, font=font, fill=255, anchor="ls")
    turned = label.rotate(angle, expand=True)
    x, y = round(centre[0] - turned.width / 2), round(centre[1] - turned.height / 2)
    image.paste(Image.new("RGB", turned.size, ink), (x, y), turned)


def trend_png(
    trend: pd.DataFrame,
    labels: Mapping[str, str],
    title: str | None = None,
    *,
    size: tuple[int, int] = MAIL_CHART_SIZE,
    scale: float = 2.5,
) -> bytes:
    """The trend chart (see :mod:`reportkit.reports.svgchart`) as PNG bytes, ``size``
    CSS px drawn at ``scale`` (default 1,200 × 825 px), at most 5 dates labelled."""
    chart = layout_trend(trend, labels, title, size=size, max_dates=5, font_size=MAIL_FONT_SIZE)
    return _draw(chart, scale)
