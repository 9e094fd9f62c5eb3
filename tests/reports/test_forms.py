"""The upward Excel form: the template kept, the roll-up's figures read back with openpyxl."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from reportkit.config import FormRef, SchoolsConfig
from reportkit.demo.forms import COUNTY_MAP, TABLE_ROWS, write_county_form
from reportkit.errors import ConfigError
from reportkit.findings import ROLLUP_COLUMNS
from reportkit.findings.tree import unit_rollups
from reportkit.reports import fill_form, load_form, write_form

D = date(2020, 2, 28)
REF = FormRef(template="forms/county_daily.xlsx", map="forms/county_daily.yaml")
COUNTS = [c for c in ROLLUP_COLUMNS[7:] if c != "coverage"]


def _rollup(n_schools: int, first_name: str = "一小"):
    schools = [{"id": f"s{i}", "name": f"第{i}小学", "parent": "d1"} for i in range(n_schools)]
    schools[0]["name"] = first_name
    config = SchoolsConfig.model_validate(
        {"units": [{"id": "d1", "name": "示范县", "level": "县"}], "schools": schools}
    )
    rows = []
    for i, s in enumerate(schools):
        rows.append(
            {
                "school_id": s["id"],
                "name": s["name"],
                "town": "",
                "submission": "missing" if i == 1 else "on_time",
                "last_received": None,
                "minutes_late": 0,
                "zero_report": False,
                "coverage": 90.0,
                **{c: i + 1 for c in COUNTS},
            }
        )
    trend = pd.DataFrame(
        [
            {"school_id": s["id"], "date": D, "expected": 1, "reported": 1}
            | {"fever": 0, "symptomatic": 0, "suspected": 0}
            for s in schools
        ]
    )
    return unit_rollups(pd.DataFrame(rows)[ROLLUP_COLUMNS], trend, D, config)["d1"]


@pytest.fixture
def params(tmp_path: Path) -> Path:
    write_county_form(tmp_path)
    return tmp_path


def test_the_shipped_form_is_the_one_the_script_builds() -> None:
    root = Path(__file__).resolve().parents[2] / "params" / "forms"
    assert (root / "county_daily.yaml").read_text(encoding="utf-8") == COUNTY_MAP
    from reportkit.demo.forms import build_county_form

    shipped = load_workbook(root / "county_daily.xlsx").active
    built = build_county_form().active  # type: ignore[attr-defined]
    cells = lambda ws: [[c.value for c in row] for row in ws.iter_rows()]  # noqa: E731
    assert cells(shipped) == cells(built)
    assert {str(r) for r in shipped.merged_cells.ranges} == {
        str(r) for r in built.merged_cells.ranges
    }


def test_a_form_is_filled_and_read_back(params: Path, tmp_path: Path) -> None:
    form = load_form(params, REF)
    rollup = _rollup(3)
    path = write_form(form, rollup, tmp_path / "out" / "d1.xlsx")
    ws = load_workbook(path).active
    assert ws["A1"].value == "学校疫情防控日报表"  # the template's own text
    assert ws["B2"].value == "示范县"
    assert ws["F2"].value == "2020-02-28"
    assert ws["F2"].data_type == "s"  # text as text
    assert (ws["B4"].value, ws["D4"].value, ws["F4"].value) == (3, 2, 1)
    assert ws["B5"].value == rollup.expected
    assert ws["D5"].value == rollup.reported
    assert ws["B6"].value == rollup.totals["fever"]
    # the table: the missing school first, then the others; the ready rows left empty
    assert [ws.cell(row=8 + i, column=1).value for i in range(4)] == [
        "第1小学",
        "第2小学",
        "一小",
        None,
    ]
    assert ws["B8"].value == "未报送"
    assert ws["B9"].value == "按时"
    assert ws["C8"].value == 2  # its expected
    # nothing inserted: the totals, merged cells and styles as the template has them
    assert ws["A13"].value == "合计"
    assert ws["C13"].value == "=SUM(C8:C12)"
    assert "A14:D14" in {str(r) for r in ws.merged_cells.ranges}
    assert ws["A7"].font.b
    assert ws["C9"].border.left.style == "thin"


def test_a_table_longer_than_the_template_inserts_rows(params: Path, tmp_path: Path) -> None:
    form = load_form(params, REF)
    n = TABLE_ROWS + 4
    path = write_form(form, _rollup(n), tmp_path / "d1.xlsx")
    book = load_workbook(path)
    ws = book.active
    names = [ws.cell(row=8 + i, column=1).value for i in range(n)]
    assert len(set(names)) == n
    assert None not in names
    total = 8 + n  # the totals row moved down by the rows inserted
    assert ws.cell(row=total, column=1).value == "合计"
    assert ws.cell(row=total, column=3).value == f"=SUM(C8:C{total - 1})"  # the SUM grew
    assert ws.cell(row=total, column=2).value == f"=COUNTA(A8:A{total - 1})"
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert {f"A{total + 1}:D{total + 1}", f"E{total + 1}:I{total + 1}"} <= merged
    assert f"A{total + 2}:I{total + 2}" in merged
    assert {"A1:I1", "B2:D2", "A3:I3"} <= merged  # above the table: unchanged
    assert "填报人" in ws.cell(row=total + 1, column=1).value
    assert ws.row_dimensions[total + 2].height == 28  # the note row's height moved too
    for r in range(8, total):  # every table row styled like the template's
        assert ws.cell(row=r, column=5).border.left.style == "thin"
    assert [ws.cell(row=8 + i, column=3).value for i in range(n)] == sorted(
        [ws.cell(row=8 + i, column=3).value for i in range(n)], key=lambda v: v != 2
    )


def test_text_is_never_a_formula(params: Path) -> None:
    book = fill_form(load_form(params, REF), _rollup(2, first_name="=HYPERLINK(1)"))
    ws = book.active
    cell = next(c for row in ws.iter_rows(min_row=8, max_row=9) for c in row if c.value and
                str(c.value).startswith("=HYP"))  # fmt: skip
    assert cell.data_type == "s"
    assert cell.quotePrefix


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("cells: {B2: nobody}\n", "cells.B2", "nobody"),
        ("cells: {B2x: unit_name}\n", "cells.B2x", "B2x"),
        ("cells: {ZZZZ1: unit_name}\n", "cells.ZZZZ1", "ZZZZ1"),
        ("table: {start: 8A, columns: [name]}\n", "table.start", "8A"),
        ("table: {start: A8, columns: [name, names]}\n", "table.columns.1", "names"),
        ("cellz: {}\n", "cellz", None),
    ],
)
def test_a_bad_mapping_is_a_configuration_error(params: Path, text, key, value) -> None:
    (params / "forms" / "county_daily.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_form(params, REF)
    message = str(caught.value)
    assert "county_daily.yaml" in message
    assert key in message
    if value is not None:
        assert value in message
    assert caught.value.exit_code == 2


def test_a_missing_template_is_a_configuration_error(params: Path) -> None:
    (params / "forms" / "county_daily.xlsx").unlink()
    with pytest.raises(ConfigError, match=r"county_daily\.xlsx"):
        load_form(params, REF)
