"""Spreadsheets reportkit writes: text is never a formula, files are private."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from reportkit.xlsx import FORMULA_STARTS, save_workbook, set_cell, write_table

FORMULAS = ["=1+1", "+1", "-1+2", "@SUM(1)", "\t=1", "＝1+1", "=cmd|' /C calc'!A0"]


def _formulas(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as book:
        xml = "".join(book.read(n).decode() for n in book.namelist() if n.endswith(".xml"))
    return re.findall(r"<f[ >/]", xml)


def test_openpyxl_alone_would_write_a_formula(tmp_path):
    # why set_cell exists: a plain assignment makes "=..." a live formula
    book = Workbook()
    book.active["A1"] = "=1+1"
    book.save(tmp_path / "plain.xlsx")
    assert _formulas(tmp_path / "plain.xlsx")


def test_set_cell_keeps_text_as_text_and_values_as_values(tmp_path):
    book = Workbook()
    sheet = book.active
    values = [*FORMULAS, "张三", 36.5, 12, True, None, float("nan"), "bad\x00char"]
    for row, value in enumerate(values, start=1):
        set_cell(sheet.cell(row=row, column=1), value)
    path = save_workbook(book, tmp_path / "out.xlsx")
    assert _formulas(path) == []
    cells = [c for (c,) in load_workbook(path).active.iter_rows(max_col=1)]
    for cell, value in zip(cells, values, strict=False):
        if isinstance(value, str) and value.startswith(FORMULA_STARTS):
            assert (cell.value, cell.data_type, cell.quotePrefix) == (value, "s", True)
    by_value = [c.value for c in cells]
    assert by_value[len(FORMULAS) : len(FORMULAS) + 4] == ["张三", 36.5, 12, True]
    assert "bad\ufffdchar" in by_value  # a control character a workbook cannot hold
    assert not cells[len(FORMULAS)].quotePrefix  # ordinary text is left alone


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_write_table_is_private_and_leaves_no_temp_file(tmp_path, umask, monkeypatch):
    monkeypatch.delenv("REPORTKIT_GROUP", raising=False)
    frame = pd.DataFrame({"姓名": ['=HYPERLINK("http://x")', "李四"], "体温": [36.5, None]})
    old = os.umask(umask)
    try:
        path = write_table(tmp_path / "new" / "view.xlsx", {"未报/名单": frame})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["view.xlsx"]
    sheet = load_workbook(path).active
    assert sheet.title == "未报_名单"
    assert [tuple(r) for r in sheet.iter_rows(values_only=True)] == [
        ("姓名", "体温"),
        ('=HYPERLINK("http://x")', 36.5),
        ("李四", None),
    ]
    assert _formulas(path) == []


def test_the_demos_spreadsheets_hold_no_formula(small_demo):
    """The schools' exports the demo writes hold values only. The upward form's
    template (params/forms/) is the bureau's own and keeps its 合计 formulas; what the
    kit writes into it is text (tests/reports/test_forms.py)."""
    root = Path(small_demo.root)
    books = sorted(p for p in root.rglob("*.xlsx") if "forms" not in p.relative_to(root).parts)
    assert books
    for path in books:
        assert _formulas(path) == [], path
