"""Spreadsheets reportkit writes: text stays text, files are private and whole.

A name or a note that begins with ``=``, ``+``, ``-`` or ``@`` is a formula to
openpyxl (``cell.value = "=HYPERLINK(...)"`` makes a live formula) and so to Excel
and WPS when the file is opened. :func:`set_cell` is the one way reportkit puts a
value in a cell: text is always a string cell (never ``<f>``), and text that a
spreadsheet would read as a formula when the cell is edited also carries Excel's
quote prefix (the leading apostrophe of OWASP's CSV-injection guidance, kept as a
cell style so the text itself is unchanged). Control characters a workbook
cannot hold are replaced by U+FFFD rather than failing the export.

:func:`write_table` writes frames as sheets; :func:`save_workbook` saves any
workbook (a filled-in upward form too) atomically, 0600 (0640 with
``REPORTKIT_GROUP``) within the umask.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

__all__ = ["FORMULA_STARTS", "save_workbook", "set_cell", "write_table"]

# what a spreadsheet reads as the start of a formula (OWASP), in ASCII and full width
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def set_cell(cell: Any, value: Any) -> Any:
    """Put ``value`` in an openpyxl cell: text as text, numbers as numbers, NaN empty."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if value is None or (isinstance(value, float) and math.isnan(value)):
        cell.value = None
        return cell
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.isoformat(timespec="minutes")  # Excel has no time zones
    if isinstance(value, bool | int | float | date):
        cell.value = value
        return cell
    text = ILLEGAL_CHARACTERS_RE.sub("\ufffd", str(value))
    cell.value = text
    cell.data_type = "s"  # openpyxl made "=..." a formula: undo it
    if text.startswith(FORMULA_STARTS):
        cell.quotePrefix = True
    return cell


def write_table(path: Path | str, sheets: Mapping[str, Any]) -> Path:
    """Write each frame (header row, then its rows) as a sheet of ``path``; see :func:`set_cell`.

    Formatted to be read as it opens: the header bold and frozen (it stays in view while
    scrolling), an autofilter on it, each column as wide as its longest text (a Chinese
    character counting two), long texts wrapped."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    bold = Font(bold=True)
    for title, frame in sheets.items():
        sheet = book.create_sheet(_sheet_title(title))
        widths = [_display_width(name) for name in frame.columns]
        for col, name in enumerate(frame.columns, start=1):
            set_cell(sheet.cell(row=1, column=col), name).font = bold
        for row, record in enumerate(frame.itertuples(index=False), start=2):
            for col, value in enumerate(record, start=1):
                cell = set_cell(sheet.cell(row=row, column=col), value)
                width = _display_width(cell.value)
                widths[col - 1] = max(widths[col - 1], width)
                if width > _MAX_WIDTH:
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.freeze_panes = "A2"
        if len(frame.columns):
            sheet.auto_filter.ref = (
                f"A1:{get_column_letter(len(frame.columns))}{max(1, len(frame) + 1)}"
            )
        for col, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(col)].width = min(_MAX_WIDTH, width + 2)
    return save_workbook(book, path)


_MAX_WIDTH = 60  # characters; a longer text wraps in its cell


def _display_width(value: Any) -> int:
    """How wide a value shows, in Excel's character widths (a CJK character is two)."""
    if value is None:
        return 0
    import unicodedata

    text = value.isoformat() if isinstance(value, date) else str(value)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _sheet_title(title: str) -> str:
    # Excel: at most 31 characters, none of []:*?/\
    cleaned = "".join("_" if c in "[]:*?/\\" else c for c in str(title)).strip("'")
    return cleaned[:31] or "Sheet"


def save_workbook(book: Any, path: Path | str) -> Path:
    """Save an openpyxl workbook to ``path`` atomically and privately."""
    buffer = io.BytesIO()
    book.save(buffer)
    return _write_private(Path(path), buffer.getvalue())


def _write_private(path: Path, data: bytes) -> Path:
    """Temp file in the same folder (0600/0640 within the umask), fsync, rename."""
    from reportkit.files import write_atomic

    return Path(write_atomic(path, data, private=True))
