"""A CJK font for matplotlib, for notebooks that draw charts of their own.

The reports' chart is :mod:`reportkit.reports.svgchart` (SVG) and, for mail,
:mod:`reportkit.reports.pngchart` (a bitmap): neither needs matplotlib. A data
officer's notebook that draws with pyplot calls :func:`setup_fonts` once:
matplotlib's default font (DejaVu Sans) has no Chinese glyphs and draws boxes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType
from matplotlib import font_manager

__all__ = ["CJK_FONT", "FONT_RC", "cjk_font_available", "setup_fonts"]

CJK_FONT = "Noto Sans CJK SC"
FONT_RC: dict[RcKeyType, Any] = {
    "font.family": [CJK_FONT, "DejaVu Sans"],
    "axes.unicode_minus": False,
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
