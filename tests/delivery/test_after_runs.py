"""``run`` then ``send`` on the small demo county: the real runner writes the manifest,
the PDFs and (with ``mask_names``) the masked PDF; send attaches only what matches.

Each test works on a copy of the demo's store and params, so it may write to them.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
import yaml

from reportkit import store
from reportkit.config import Settings
from reportkit.delivery import send_reports, summary_lines
from reportkit.execution import run_reports

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

pytestmark = pytest.mark.slow

DAY = date(2020, 2, 28)


def _copy_store(source_url: str, target: Path) -> str:
    """A consistent copy of a SQLite store (the backup API, WAL included)."""
    src = sqlite3.connect(sa.engine.make_url(source_url).database)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return f"sqlite:///{target}"


@pytest.fixture
def county(small_demo: Any, tmp_path: Path, smtp_server: SmtpServer) -> Any:
    params = tmp_path / "params"
    shutil.copytree(small_demo.params_dir, params)

    def configure(**delivery: Any) -> None:
        data = {"retries": 0, "backoff_seconds": 0, "smtp": smtp_server.smtp_settings()}
        (params / "delivery.yaml").write_text(
            yaml.safe_dump({**data, **delivery}, allow_unicode=True), encoding="utf-8"
        )

    configure(mask_names=False)
    settings = Settings(
        db=_copy_store(small_demo.db_url, tmp_path / "store.db"),
        params=params,
        outputs=tmp_path / "outputs",
    )
    school, person = small_demo.events["suspected"][0]
    return type(
        "County",
        (),
        {
            "settings": settings,
            "school": school,
            "person": person,
            "configure": staticmethod(configure),
            "server": smtp_server,
        },
    )()


def _run(county: Any) -> None:
    result = run_reports(county.settings, DAY, [county.school], progress=False)
    assert result.ok, result.failed


def _attachment(server: SmtpServer, index: int = -1) -> bytes:
    msg = server.received[index].message()
    parts = [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert len(parts) == 1
    return parts[0].get_content()


def _pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "attached.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_a_rendered_report_goes_once_and_an_unchanged_rerun_is_already_sent(county: Any) -> None:
    _run(county)
    pdf = county.settings.outputs / DAY.isoformat() / county.school / "report.pdf"
    first = send_reports(county.settings, DAY, school_ids=[county.school])
    assert first.ok, summary_lines(first)
    assert first.by_target("school", county.school).status == "sent"
    sent = len(county.server.received)
    assert sent >= 1
    assert _attachment(county.server) == pdf.read_bytes()

    before = hashlib.sha256(pdf.read_bytes()).hexdigest()
    _run(county)  # the same data rendered again: other PDF bytes, the same content
    again = send_reports(county.settings, DAY, school_ids=[county.school])
    assert again.by_target("school", county.school).status == "skipped_already_sent", (
        summary_lines(again),
        before,
    )
    assert len(county.server.received) == sent


def test_a_correction_after_the_run_is_refused_until_the_next_run(
    county: Any, tmp_path: Path
) -> None:
    _run(county)
    engine = store.connect(county.settings.db)
    with engine.begin() as conn:  # the suspected person's fever was a typo
        conn.execute(
            sa.update(store.checkins)
            .where(
                store.checkins.c.school_id == county.school,
                store.checkins.c.person_id == county.person,
                store.checkins.c.date == DAY,
            )
            .values(temperature=36.5, symptoms="", contact=False, key_area=False)
        )
    stale = send_reports(county.settings, DAY, school_ids=[county.school])
    outcome = stale.by_target("school", county.school)
    assert outcome.status == "stale", summary_lines(stale)
    assert "the findings changed since it was rendered" in outcome.error
    assert county.server.received == []

    _run(county)
    fresh = send_reports(county.settings, DAY, school_ids=[county.school])
    assert fresh.ok, summary_lines(fresh)
    pdf = county.settings.outputs / DAY.isoformat() / county.school / "report.pdf"
    assert _attachment(county.server) == pdf.read_bytes()


def test_a_pdf_overwritten_after_the_run_is_refused(county: Any) -> None:
    _run(county)
    pdf = county.settings.outputs / DAY.isoformat() / county.school / "report.pdf"
    pdf.write_bytes(pdf.read_bytes() + b"\n% appended later\n")
    result = send_reports(county.settings, DAY, school_ids=[county.school])
    outcome = result.by_target("school", county.school)
    assert outcome.status == "stale", summary_lines(result)
    assert "sha256 differs" in outcome.error
    assert county.server.received == []


def test_with_masking_the_masked_rendering_is_attached(county: Any, tmp_path: Path) -> None:
    county.configure(mask_names=True)
    _run(county)
    folder = county.settings.outputs / DAY.isoformat() / county.school
    result = send_reports(county.settings, DAY, school_ids=[county.school])
    assert result.ok, summary_lines(result)
    attached = _attachment(county.server)
    assert attached == (folder / "report.masked.pdf").read_bytes()
    engine = store.connect(county.settings.db)
    people = store.load_people(engine, [county.school])
    name = str(people.loc[people["person_id"] == county.person, "name"].iloc[0])
    assert name not in _pdf_text(attached, tmp_path)
    assert name in _pdf_text((folder / "report.pdf").read_bytes(), tmp_path)
