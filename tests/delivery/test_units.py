"""The demo city's chain end to end: every level rendered and mailed bottom-up, the
county's form attached, and no person's name in any unit's HTML, PDF, XLSX or email."""

from __future__ import annotations

import email
import io
import subprocess
from datetime import date
from email import policy

import pytest
from openpyxl import load_workbook

from reportkit import store
from reportkit.delivery import send_reports
from reportkit.execution import run_reports, select_units

DAY = date(2020, 2, 28)
pytestmark = pytest.mark.slow


def _pdf_text(path) -> str:
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def _xlsx_text(data: bytes) -> str:
    book = load_workbook(io.BytesIO(data))
    return "\n".join(
        str(c.value) for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value
    )


def test_every_level_bottom_up_with_its_form_and_no_names(small_demo, demo_settings) -> None:
    config = demo_settings.schools()
    school = small_demo.events["late_school"]
    result = run_reports(demo_settings, DAY, [school], ["c01"], formats=("html", "pdf"))
    assert result.ok, result.failed
    _, units = select_units(config, [school], ["c01"])
    due = {u for u in config.rollup_ids if config.unit(u).recipients}
    assert set(units) == due  # every roll-up with recipients under the city, and the city
    assert "t02" not in units  # a town without recipients is not rendered unless asked
    order = [j.id for j in result.jobs if j.kind == "unit"]
    assert sorted(order, key=lambda u: -config.depth(u)) == order  # deepest first
    out = demo_settings.outputs / DAY.isoformat() / "units"
    assert sorted(p.name for p in out.glob("*.xlsx")) == ["d01.xlsx"]  # the form's county

    delivery = send_reports(demo_settings, DAY, [school], ["c01"], dry_run=True)
    assert delivery.ok, [(o.target_id, o.error) for o in delivery.failed]
    kinds = [(o.kind, o.target_id) for o in delivery.outcomes]
    assert kinds[0] == ("school", school)
    assert [u for k, u in kinds if k == "unit"] == order  # sent bottom-up too

    people = store.load_people(store.connect(small_demo.db_url))
    places = " ".join(
        [s.name + s.town for s in config.schools] + [config.unit(u).name for u in config.rollup_ids]
    )
    names = {n for n in people["name"] if len(n) >= 2 and n not in places}
    assert len(names) > 100
    mail = demo_settings.outputs / DAY.isoformat() / "mail"
    texts = {}
    for u in units:
        texts[f"{u}.html"] = (out / f"{u}.html").read_text(encoding="utf-8")
        texts[f"{u}.pdf"] = _pdf_text(out / f"{u}.pdf")
    texts["d01.xlsx"] = _xlsx_text((out / "d01.xlsx").read_bytes())
    for eml in mail.glob("unit_*.eml"):
        message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
        for part in message.walk():
            if part.get_content_maintype() == "text":
                texts[eml.name + part.get_content_type()] = part.get_content()
            elif part.get_filename() and part.get_filename().endswith(".xlsx"):
                texts[eml.name + ".xlsx"] = _xlsx_text(part.get_payload(decode=True))
    assert len([k for k in texts if k.startswith("unit_")]) >= 2 * len(units)
    leaks = {k: sorted(n for n in names if n in text) for k, text in texts.items()}
    assert not {k: v for k, v in leaks.items() if v}

    # the county's message carries its PDF and its form, filled
    [county] = [e for e in mail.glob("unit_d01_*.eml")]
    message = email.message_from_bytes(county.read_bytes(), policy=policy.default)
    files = {p.get_filename(): p for p in message.iter_attachments()}
    assert set(files) == {"示范县_2020-02-28_晨午检汇总.pdf", "示范县_2020-02-28_日报表.xlsx"}
    sheet = load_workbook(
        io.BytesIO(files["示范县_2020-02-28_日报表.xlsx"].get_payload(decode=True))
    ).active
    rollup = result.findings.unit("d01", config) if result.findings else None
    assert rollup is not None
    assert sheet["B2"].value == "示范县"
    assert sheet["B4"].value == rollup.schools_expected
    assert sheet["D5"].value == rollup.reported
    towns = {config.unit(t).name for t in config.children["d01"]}
    assert {sheet["A8"].value, sheet["A9"].value} == towns
