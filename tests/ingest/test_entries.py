"""The campus entry register in the day's reports: findings, masking everywhere, idempotency."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date
from email import message_from_bytes, policy

import pytest
import sqlalchemy as sa

from reportkit import store
from reportkit.delivery import send_reports
from reportkit.execution import run_reports
from reportkit.privacy import mask_phone

pytestmark = pytest.mark.slow

DAY = date(2020, 2, 28)


def _phones(db_url: str, school_id: str) -> list[str]:
    with store.connect(db_url).connect() as conn:
        rows = conn.execute(
            sa.select(store.entries.c.phone).where(
                store.entries.c.school_id == school_id, store.entries.c.date == DAY
            )
        )
        return [r.phone for r in rows if r.phone]


def _phone_of(db_url: str, school_id: str, name: str) -> str:
    with store.connect(db_url).connect() as conn:
        return conn.execute(
            sa.select(store.entries.c.phone).where(
                store.entries.c.school_id == school_id,
                store.entries.c.date == DAY,
                store.entries.c.name == name,
            )
        ).scalar_one()


def _text_parts(raw: bytes) -> str:
    message = message_from_bytes(raw, policy=policy.default)
    return "\n".join(
        part.get_content()
        for part in message.walk()
        if part.get_content_type() in ("text/plain", "text/html")
    )


def test_mask_phone_keeps_only_the_ends():
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("110101199001011234") == "110***********1234"
    assert mask_phone("") == ""
    assert mask_phone(None) == ""


def test_gate_register_findings_and_masking_in_html_pdf_and_email(small_demo, demo_settings):
    unapproved_school, visitor, _ = small_demo.events["gate_unapproved"]
    fever_school, feverish, _ = small_demo.events["gate_fever"]
    schools = sorted({unapproved_school, fever_school})

    result = run_reports(demo_settings, DAY, schools, progress=False)
    assert result.ok
    out = demo_settings.outputs / DAY.isoformat()

    for school, person, flag in (
        (unapproved_school, visitor, "来访未审批"),
        (fever_school, feverish, "发热"),
    ):
        phones = _phones(small_demo.db_url, school)
        assert phones
        html = (out / school / "report.html").read_text(encoding="utf-8")
        assert "入校登记" in html
        assert person in html
        assert flag in html
        assert not [p for p in phones if p in html]
        assert shutil.which("pdftotext"), "pdftotext (poppler-utils) is required"
        pdf = subprocess.run(
            ["pdftotext", str(out / school / "report.pdf"), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert person in pdf
        assert not [p for p in phones if p in pdf]
        shown = re.findall(r"1\d\d\*{4}\d{4}", html)
        assert shown  # the flagged entry's phone is there, masked
        # and it is the flagged person's own number, masked
        assert mask_phone(_phone_of(small_demo.db_url, school, person)) in shown

    delivery = send_reports(demo_settings, DAY, schools, dry_run=True)
    assert delivery.ok
    emls = sorted((out / "mail").glob("*.eml"))
    assert emls
    for eml in emls:
        body = _text_parts(eml.read_bytes())
        for school in schools:
            assert not [p for p in _phones(small_demo.db_url, school) if p in body]
    bodies = "\n".join(_text_parts(e.read_bytes()) for e in emls)
    assert visitor in bodies
    assert re.search(r"1\d\d\*{4}\d{4}", bodies)

    # the city's roll-up carries the counts, not the people
    district = (out / "units" / "c01.html").read_text(encoding="utf-8")
    assert visitor not in district
    assert "入校登记" in district


def test_reingesting_a_register_changes_nothing(small_demo, tmp_path):
    from reportkit import ingest
    from reportkit.config import load_schools

    db = f"sqlite:///{tmp_path / 'e.db'}"
    engine = store.connect(db)
    config = load_schools(small_demo.params_dir)
    store.sync_schools(engine, config)
    school = small_demo.events["gate_unapproved"][0]
    register = next((small_demo.root / "data" / "inbox" / DAY.isoformat() / school).glob("门卫*"))
    first = ingest.ingest_paths(engine, [register], "entries", config, school=school)
    with engine.connect() as conn:
        ids = sorted(conn.execute(sa.select(store.entries.c.entry_id)).scalars())
    again = ingest.ingest_paths(engine, [register], "entries", config, school=school)
    forced = ingest.ingest_paths(engine, [register], "entries", config, school=school, force=True)
    with engine.connect() as conn:
        assert sorted(conn.execute(sa.select(store.entries.c.entry_id)).scalars()) == ids
    assert first.inserted == len(ids) > 0
    assert again.inserted == again.updated == 0
    assert forced.inserted == forced.updated == 0
