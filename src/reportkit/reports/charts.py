"""Charts for the daily reports, drawn with matplotlib in a CJK-capable font.

This module owns the report charts (:func:`trend_chart`) and turning figures into PNG
bytes or ``data:`` URIs. Figures are plain :class:`matplotlib.figure.Figure` objects,
so no pyplot backend is selected or changed (safe in batch and inside Jupyter).

matplotlib's default font (DejaVu Sans) has no Chinese glyphs and draws boxes, so
every text element of a chart gets the :data:`FONT_RC` families explicitly ("Noto Sans
CJK SC", falling back to DejaVu Sans per glyph) - explicit fonts rather than
``rc_context``, because rcParams are process-wide and charts may be drawn from several
threads at once. Notebooks that draw their own pyplot charts can call
:func:`setup_fonts` once.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import matplotlib

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator

__all__ = [
    "CJK_FONT",
    "FONT_RC",
    "cjk_font_available",
    "figure_data_uri",
    "figure_png",
    "figure_svg",
    "setup_fonts",
    "trend_chart",
]

CJK_FONT = "Noto Sans CJK SC"
FONT_RC: dict[RcKeyType, Any] = {
    "font.family": [CJK_FONT, "DejaVu Sans"],
    "axes.unicode_minus": False,
}
TREND_COLUMNS = ("date", "expected", "reported", "fever", "symptomatic", "suspected")
COLORS = {
    "coverage": "#1a5fb4",
    "fever": "#e66100",
    "symptomatic": "#e5a50a",
    "suspected": "#c01c28",
}


def cjk_font_available() -> bool:
    """Whether matplotlib can find "Noto Sans CJK SC" (``apt-get install fonts-noto-cjk``).

    If the font was installed after matplotlib built its font cache, the system font
    directories are scanned once and any Noto CJK files are added.
    """
    if _has_cjk_font():
        return True
    for path in font_manager.findSystemFonts():
        if "NotoSansCJK" in path or "NotoSansSC" in path:
            font_manager.fontManager.addfont(path)
    return _has_cjk_font()


def _has_cjk_font() -> bool:
    return any(f.name == CJK_FONT for f in font_manager.fontManager.ttflist)


def setup_fonts() -> None:
    """Set :data:`FONT_RC` in matplotlib's global rcParams (for notebooks using pyplot)."""
    cjk_font_available()
    matplotlib.rcParams.update(FONT_RC)


def trend_chart(
    trend: pd.DataFrame,
    labels: Mapping[str, str],
    title: str | None = None,
) -> Figure:
    """Draw a 14-day trend: report coverage % (line, left) and case counts (bars, right).

    ``trend`` has one row per day with columns ``date``, ``expected``, ``reported``,
    ``fever``, ``symptomatic`` and ``suspected``. ``labels`` maps ``coverage``,
    ``fever``, ``symptomatic``, ``suspected``, ``date`` and ``count`` (the bars' axis) to
    display text in the report's language; missing keys show the key itself.
    """
    missing = [c for c in TREND_COLUMNS if c not in trend.columns]
    if missing:
        raise ValueError(f"trend is missing column(s): {', '.join(missing)}")

    def label(key: str) -> str:
        return labels.get(key, key)

    data = trend.sort_values("date", kind="stable").reset_index(drop=True)
    days = pd.to_datetime(data["date"])
    expected = data["expected"].to_numpy(dtype=float)
    reported = data["reported"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = np.where(expected > 0, reported / np.where(expected > 0, expected, 1) * 100, 0)
    x = np.arange(len(data))

    cjk_font_available()
    # Fonts are set per text element, not through rcParams: rc_context is process-wide
    # and would race when charts are drawn from several threads.
    fig = Figure(figsize=(8, 3.2), dpi=100)
    ax = fig.add_subplot()
    bars_ax = ax.twinx()
    # The coverage line is drawn above the bars of the twin axis.
    ax.set_zorder(bars_ax.get_zorder() + 1)
    ax.patch.set_visible(False)

    kinds = ("fever", "symptomatic", "suspected")
    width = 0.8 / len(kinds)
    for i, kind in enumerate(kinds):
        bars_ax.bar(
            x + (i - 1) * width,
            data[kind].to_numpy(dtype=float),
            width=width,
            color=COLORS[kind],
            label=label(kind),
            zorder=2,
        )
    (line,) = ax.plot(
        x,
        coverage,
        color=COLORS["coverage"],
        marker="o",
        markersize=4,
        linewidth=2,
        label=label("coverage"),
    )

    ax.set_ylim(0, max(105.0, float(np.max(coverage, initial=0)) + 5))
    ax.set_yticks([0, 25, 50, 75, 100], ["0", "25", "50", "75", "100"], fontproperties=_font(10))
    ax.set_ylabel(label("coverage"), fontproperties=_font(11))
    ax.set_xlabel(label("date"), fontproperties=_font(11))
    ax.set_xlim(-0.6, max(len(data) - 0.4, 0.4))
    ax.set_xticks(x, [d.strftime("%m-%d") for d in days], fontproperties=_font(10))
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)

    top = float(np.nanmax(data[list(kinds)].to_numpy(dtype=float), initial=0))
    bars_ax.set_ylim(0, max(5.0, top * 1.15))
    bars_ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    bars_ax.tick_params(axis="y", labelsize=10)
    bars_ax.set_ylabel(label("count"), fontproperties=_font(11))
    ax.spines["top"].set_visible(False)
    bars_ax.spines["top"].set_visible(False)

    handles = [line, *bars_ax.get_legend_handles_labels()[0]]
    ax.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=len(handles),
        frameon=False,
        prop=_font(10.5),
        handlelength=1.6,
        columnspacing=1.4,
    )
    if title:
        fig.suptitle(title, fontproperties=_font(13, weight="bold"))
    fig.tight_layout()
    return fig


def _font(size: float, weight: str = "normal") -> FontProperties:
    return FontProperties(family=FONT_RC["font.family"], size=size, weight=weight)


def figure_png(fig: Figure, dpi: float | None = None) -> bytes:
    """Render ``fig`` to PNG bytes (no timestamp metadata), at ``dpi`` (default: the
    dpi the figure was made with; a later ``set_dpi`` does not change what is saved).

    Figures are laid out when built (``tight_layout``); a tight bounding box here
    would lay the text out twice more and cost half the chart's time.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or "figure", metadata={"Software": None})
    return buf.getvalue()


def figure_svg(fig: Figure) -> str:
    """Render ``fig`` to SVG text: text drawn as paths (no font needed to show it), no
    date, and ids salted with a constant, so the same chart gives the same bytes."""
    if matplotlib.rcParams["svg.hashsalt"] is None:  # else ids are random per figure
        matplotlib.rcParams["svg.hashsalt"] = "reportkit"
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return buf.getvalue()


def figure_data_uri(fig: Figure) -> str:
    """Render ``fig`` to a ``data:image/png;base64,...`` URI for HTML and e-mail."""
    return "data:image/png;base64," + base64.b64encode(figure_png(fig)).decode("ascii")
