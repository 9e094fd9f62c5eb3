"""Upward forms: a unit's roll-up written into the Excel table its bureau prescribes.

A unit of ``schools.yaml`` may name ``form: {template: forms/x.xlsx, map: forms/x.yaml}``
(paths relative to the params folder). The map says which cell gets which figure
of the roll-up and where the table of children starts::

    sheet: 日报表                 # optional; the workbook's active sheet by default
    cells:                        # a cell -> a figure (reportkit.findings.UNIT_FIGURES)
      B2: unit_name
      B4: schools_expected
    table:                        # one row per child unit or school, from ``start`` down
      start: A8
      rows: 5                     # rows the template has ready for it (default 1)
      columns: [name, status, expected, reported, missing, fever, suspected]

:func:`load_form` validates the map (a cell that is not a cell, a figure or column
that does not exist: :class:`~reportkit.errors.ConfigError` naming the file, the key
and the value, exit 2) and :func:`fill_form` fills a copy of the template with
openpyxl: its styles, merged cells and formulas are kept, each value goes through
:func:`reportkit.xlsx.set_cell` (text is text, never a formula). When the table has
more rows than the template, rows are inserted inside the table (before its last
ready row, so a ``SUM`` over the ready rows grows with it) styled like the table's
rows; openpyxl's ``insert_rows`` moves cells only, so the merged cells, the row
heights and every formula and defined name that points below are moved here too.
Counts only: the rows are units and schools, never a person.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from copy import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from reportkit.config import FormRef, load_yaml_model
from reportkit.errors import ConfigError
from reportkit.i18n import t

if TYPE_CHECKING:
    from reportkit.findings import UnitRollup

__all__ = ["ROW_COLUMNS", "Form", "fill_form", "load_form", "write_form"]

# the columns a form's table may name: a child unit's or school's figures
ROW_COLUMNS = (
    *("id", "name", "level", "status", "expected", "reported", "coverage", "missing"),
    *("absent", "fever", "symptomatic", "suspected", "key_persons", "clusters"),
    *("illness_absence", "illness_absence_unexplained", "unreachable", "schools_expected"),
    *("schools_submitted", "schools_late", "schools_missing"),
)
_CELL = re.compile(r"^\$?([A-Z]{1,3})\$?([1-9]\d{0,6})$")
_REF = re.compile(r"(\$?)([A-Z]{1,3})(\$?)(\d+)")


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start: str
    rows: int = 1
    columns: list[str]


class _Map(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sheet: str | None = None
    cells: dict[str, str] = {}
    table: _Table | None = None


@dataclass(frozen=True)
class Form:
    """A validated form: its template, the cells and the table."""

    template: Path
    map_path: Path
    sheet: str | None
    cells: dict[str, str]
    table_start: tuple[int, int] | None  # (row, column)
    table_rows: int
    columns: tuple[str, ...]


def _cell(value: str, path: Path, key: str) -> tuple[int, int]:
    from openpyxl.utils.cell import column_index_from_string

    match = _CELL.match(str(value).strip().upper())
    if not match:
        raise ConfigError(path, key, value, "is not a cell (like B4)")
    column = column_index_from_string(match.group(1))
    row = int(match.group(2))
    if column > 16384 or row > 1048576:
        raise ConfigError(path, key, value, "is outside a worksheet")
    return row, column


def load_form(params_dir: Path | str, ref: FormRef) -> Form:
    """The form of ``ref`` (paths under ``params_dir``), validated; ConfigError if not."""
    from reportkit.findings import UNIT_FIGURES

    base = Path(params_dir)
    map_path, template = base / ref.map, base / ref.template
    mapping = load_yaml_model(map_path, _Map)
    for cell, figure in mapping.cells.items():
        _cell(cell, map_path, f"cells.{cell}")
        if figure not in UNIT_FIGURES:
            raise ConfigError(
                map_path,
                f"cells.{cell}",
                figure,
                f"unknown figure; known: {', '.join(UNIT_FIGURES)}",
            )
    start: tuple[int, int] | None = None
    rows = 1
    columns: tuple[str, ...] = ()
    if mapping.table is not None:
        start = _cell(mapping.table.start, map_path, "table.start")
        rows = mapping.table.rows
        if rows < 1:
            raise ConfigError(map_path, "table.rows", rows, "must be at least 1")
        for i, column in enumerate(mapping.table.columns):
            if column not in ROW_COLUMNS:
                raise ConfigError(
                    map_path,
                    f"table.columns.{i}",
                    column,
                    f"unknown column; known: {', '.join(ROW_COLUMNS)}",
                )
        columns = tuple(mapping.table.columns)
    if not template.is_file():
        raise ConfigError(template, reason="form template not found")
    return Form(template, map_path, mapping.sheet, dict(mapping.cells), start, rows, columns)


def _row_values(row: Mapping[Hashable, Any], lang: str) -> dict[str, Any]:
    status = str(row["submission"])
    label = {
        "on_time": t("submission_on_time", lang),
        "late": t("submission_late_short", lang),
        "missing": t("submission_missing", lang),
        "closed": t("submission_closed", lang),
    }.get(status, "—")
    values = {k: row.get(k) for k in ROW_COLUMNS if k in row}
    values.update(id=row["school_id"], status=label)
    coverage = row.get("coverage")
    values["coverage"] = None if coverage is None or coverage != coverage else round(coverage, 1)
    return values


def fill_form(form: Form, rollup: UnitRollup, lang: str = "zh-CN") -> Any:
    """A copy of the template (an openpyxl workbook) filled with ``rollup``
    (a :class:`~reportkit.findings.UnitRollup`)."""
    from openpyxl import load_workbook

    from reportkit.xlsx import set_cell

    book = load_workbook(form.template)
    if form.sheet is not None and form.sheet not in book.sheetnames:
        raise ConfigError(form.map_path, "sheet", form.sheet, "no such sheet in the template")
    sheet = book[form.sheet] if form.sheet else book.active
    figures = rollup.figures()
    for cell, figure in form.cells.items():
        set_cell(sheet[cell.replace("$", "")], figures[figure])
    if form.table_start is not None:
        rows = [_row_values(r, lang) for r in rollup.ordered().to_dict("records")]
        first, column = form.table_start
        extra = len(rows) - form.table_rows
        if extra > 0:
            _insert_rows(book, sheet, first + form.table_rows - 1, extra, first)
        for i, values in enumerate(rows):
            for j, name in enumerate(form.columns):
                set_cell(sheet.cell(row=first + i, column=column + j), values.get(name))
    return book


def write_form(form: Form, rollup: UnitRollup, path: Path | str, lang: str = "zh-CN") -> Path:
    """Fill the form (:func:`fill_form`) and save it to ``path`` atomically, privately."""
    from reportkit.xlsx import save_workbook

    return save_workbook(fill_form(form, rollup, lang), path)


# -- inserting rows the way a spreadsheet does -------------------------------------------


def _shift_refs(formula: str, at: int, n: int, sheet_title: str, own_sheet: bool) -> str:
    """``formula`` with every reference to row ``at`` or below (on ``sheet_title``, or
    unqualified when ``own_sheet``) moved ``n`` rows down; text in quotes untouched."""
    from openpyxl.formula.tokenizer import Token, Tokenizer

    tokens = Tokenizer(formula).items
    out = []
    for token in tokens:
        value = token.value
        if token.type == Token.OPERAND and token.subtype == Token.RANGE:
            sheet, _, ref = value.rpartition("!")
            name = sheet.strip("'") if sheet else None
            if (name is None and own_sheet) or name == sheet_title:

                def move(m: re.Match[str]) -> str:
                    row = int(m.group(4))
                    return f"{m.group(1)}{m.group(2)}{m.group(3)}{row + n if row >= at else row}"

                ref = _REF.sub(move, ref)
                value = f"{sheet}!{ref}" if sheet else ref
        out.append(value)
    return "=" + "".join(out)


def _insert_rows(book: Any, sheet: Any, at: int, n: int, style_row: int) -> None:
    """Insert ``n`` rows before row ``at`` of ``sheet``, moving what openpyxl leaves."""
    merged = [rng for rng in sheet.merged_cells.ranges]
    heights = {
        r: d.height for r, d in sheet.row_dimensions.items() if r >= at and d.height is not None
    }
    for rng in merged:
        sheet.unmerge_cells(str(rng))
    sheet.insert_rows(at, n)
    for rng in merged:
        if rng.min_row >= at:
            rng.shift(row_shift=n)
        elif rng.max_row >= at:  # a merge across the insertion grows with it
            rng.expand(down=n)
        sheet.merge_cells(str(rng))
    for r in sorted(heights, reverse=True):
        sheet.row_dimensions[r + n].height = heights[r]
        sheet.row_dimensions[r].height = None
    if style_row >= at:  # the row styled like the table's moved down with the others
        style_row += n
    template_height = sheet.row_dimensions[style_row].height
    for r in range(at, at + n):
        for col in range(1, sheet.max_column + 1):
            source = sheet.cell(row=style_row, column=col)
            target = sheet.cell(row=r, column=col)
            if source.has_style:
                target._style = copy(source._style)
        if template_height is not None:
            sheet.row_dimensions[r].height = template_height
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f" and isinstance(cell.value, str):
                    cell.value = _shift_refs(cell.value, at, n, sheet.title, ws is sheet)
    for name in list(book.defined_names.values()):
        if name.attr_text and not name.attr_text.startswith("="):
            name.attr_text = _shift_refs("=" + name.attr_text, at, n, sheet.title, False)[1:]
