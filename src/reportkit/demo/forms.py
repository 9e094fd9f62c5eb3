"""The example upward form: a county education bureau's 学校疫情防控日报表.

:func:`build_county_form` writes the template workbook reportkit ships as
``params/forms/county_daily.xlsx`` (``python -m reportkit.demo.forms <path>`` rebuilds
it), and :data:`COUNTY_MAP` is its mapping, ``params/forms/county_daily.yaml``. The
table has five ready rows, a 合计 row of ``SUM`` formulas under them and merged
signature and note rows below, so a county with more schools or towns than that
shows how the rows are inserted (see :mod:`reportkit.reports.forms`).
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["COUNTY_MAP", "TABLE_ROWS", "build_county_form", "template_bytes", "write_county_form"]

TABLE_ROWS = 5
_TABLE_HEADERS: tuple[str, ...] = ("单位/学校", "报送情况", "应到人数", "实到人数", "未报人数")
_TABLE_HEADERS += ("发热", "有症状", "疑似", "医学观察")

COUNTY_MAP = """\
# The cells of params/forms/county_daily.xlsx (built by reportkit.demo.forms): a cell ->
# a figure of the unit's roll-up; the table: one row per town, central school or school.
cells:
  B2: unit_name
  F2: date
  H2: deadline
  B4: schools_expected
  D4: schools_submitted
  F4: schools_missing
  H4: schools_late
  B5: people_expected
  D5: people_reported
  F5: absent
  H5: illness_absence
  B6: fever
  D6: suspected
  F6: key_persons
  H6: missing
table:
  start: A8
  rows: 5
  columns: [name, status, expected, reported, missing, fever, symptomatic, suspected, key_persons]
"""


def build_county_form() -> object:
    """The template workbook (openpyxl): title, figures, a table of five rows, totals."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    book = Workbook()
    ws = book.active
    ws.title = "日报表"
    thin = Side(style="thin", color="000000")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    centre = Alignment(horizontal="center", vertical="center", wrap_text=True)
    label_fill = PatternFill("solid", fgColor="DDEBF7")
    ws.merge_cells("A1:I1")
    ws["A1"] = "学校疫情防控日报表"
    ws["A1"].font = Font(name="宋体", size=16, bold=True)
    ws["A1"].alignment = centre
    ws.row_dimensions[1].height = 30
    labels = {
        "A2": "填报单位", "E2": "日期", "G2": "截止时间",
        "A3": "一、学校报送情况与人员健康状况",
        "A4": "学校总数", "C4": "已报送", "E4": "未报送", "G4": "迟报",
        "A5": "应到人数", "C5": "实到人数", "E5": "缺勤", "G5": "因病缺勤",
        "A6": "发热", "C6": "疑似", "E6": "医学观察", "G6": "未报人数",
    }  # fmt: skip
    ws.merge_cells("B2:D2")
    ws.merge_cells("A3:I3")
    for ref, text in labels.items():
        ws[ref] = text
        ws[ref].font = Font(name="宋体", bold=True)
        ws[ref].alignment = centre
        if ref != "A3":
            ws[ref].fill = label_fill
    for row in range(2, 7):
        for col in range(1, 10):
            ws.cell(row=row, column=col).border = box
    for col, text in enumerate(_TABLE_HEADERS, start=1):
        cell = ws.cell(row=7, column=col, value=text)
        cell.font = Font(name="宋体", bold=True)
        cell.alignment = centre
        cell.fill = label_fill
        cell.border = box
    first, last = 8, 8 + TABLE_ROWS - 1
    for row in range(first, last + 2):
        for col in range(1, 10):
            cell = ws.cell(row=row, column=col)
            cell.border = box
            cell.alignment = centre if col > 1 else Alignment(vertical="center")
    total = last + 1
    ws.cell(row=total, column=1, value="合计").font = Font(name="宋体", bold=True)
    ws.cell(row=total, column=2, value=f"=COUNTA(A{first}:A{last})")
    for col in range(3, 10):
        letter = "ABCDEFGHI"[col - 1]
        ws.cell(row=total, column=col, value=f"=SUM({letter}{first}:{letter}{last})")
    ws.merge_cells(start_row=total + 1, start_column=1, end_row=total + 1, end_column=4)
    ws.merge_cells(start_row=total + 1, start_column=5, end_row=total + 1, end_column=9)
    ws.cell(row=total + 1, column=1, value="填报人：")
    ws.cell(row=total + 1, column=5, value="审核人：")
    ws.merge_cells(start_row=total + 2, start_column=1, end_row=total + 2, end_column=9)
    ws.cell(
        row=total + 2,
        column=1,
        value="注：各校16:30前报送，县教育局17:30前汇总报送上级教育行政部门；零报告亦须报送。",
    )
    ws.row_dimensions[total + 2].height = 28
    for letter, width in zip("ABCDEFGHI", (22, 12, 10, 10, 10, 8, 8, 8, 10), strict=True):
        ws.column_dimensions[letter].width = width
    ws.print_title_rows = "7:7"
    return book


def template_bytes() -> bytes:
    """The template as a workbook file, the same bytes on every build: openpyxl stamps
    the time of saving into the file and its zip entries, so both are fixed here."""
    import io
    import re
    import zipfile

    buffer = io.BytesIO()
    build_county_form().save(buffer)  # type: ignore[attr-defined]
    out = io.BytesIO()
    stamp = b"2020-02-01T00:00:00Z"
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp, data)
            entry = zipfile.ZipInfo(info.filename, date_time=(2020, 2, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, data)
    return out.getvalue()


def write_county_form(params_dir: Path | str) -> tuple[Path, Path]:
    """Write ``forms/county_daily.xlsx`` and ``forms/county_daily.yaml`` under
    ``params_dir``; their paths."""
    from reportkit.files import write_atomic

    folder = Path(params_dir) / "forms"
    folder.mkdir(parents=True, exist_ok=True)
    template = Path(write_atomic(folder / "county_daily.xlsx", template_bytes()))
    mapping = folder / "county_daily.yaml"
    mapping.write_text(COUNTY_MAP, encoding="utf-8")
    return template, mapping


if __name__ == "__main__":  # python -m reportkit.demo.forms [params folder]
    for path in write_county_form(sys.argv[1] if len(sys.argv) > 1 else "params"):
        print(path)
