"""Corrections after sending: version 2 of a report, 更正说明, sent once as 【更正】.

The small demo county on SQLite and PostgreSQL, the real runner, Chromium and the
loopback SMTP server: the afternoon sends version 1; a check-in arrives late for a
person of one school who was missing; the next run renders version 2 of that school
and of the roll-ups above it, and send mails it once, as 【更正】, to those who got
version 1, and nothing to anyone else; version 1 stays on disk byte for byte.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from reportkit import daily, store
from reportkit.config import Settings
from reportkit.context import RunContext
from reportkit.delivery import send_reports, summary_lines
from reportkit.demo import build_demo
from reportkit.execution import run_reports
from reportkit.findings import load_findings
from reportkit.layout import day_outputs

pytestmark = pytest.mark.slow

DAY = date(2020, 2, 28)


def _deployment(root: Path, db_url: str, server: Any) -> Settings:
    build_demo(root, root / "params", db_url, small=True, days=15, ingest_through=date(2020, 2, 27))
    delivery = {"retries": 0, "backoff_seconds": 0, "smtp": server.smtp_settings()}
    (root / "params" / "delivery.yaml").write_text(
        yaml.safe_dump(delivery, allow_unicode=True), encoding="utf-8"
    )
    return Settings.resolve(db_url, root / "params", root / "outputs")


def _daily(settings: Settings, root: Path) -> daily.DailyResult:
    result = daily.run_daily(
        settings,
        DAY,
        inbox=root / "data" / "inbox",
        archive=root / "data" / "archive",
        progress=False,
    )
    assert result.ok, result.summary_lines()
    return result


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _late_checkin(settings: Settings, school: str, person: str) -> None:
    """The missing person's check-ins of the day, received after the report was sent."""
    engine = store.connect(settings.db)
    with engine.begin() as conn:
        sessions = sorted(
            conn.execute(
                sa.select(store.checkins.c.session)
                .where(store.checkins.c.school_id == school, store.checkins.c.date == DAY)
                .distinct()
            ).scalars()
        )
        now = datetime(2020, 2, 28, 17, 5)
        conn.execute(
            sa.insert(store.checkins),
            [
                {
                    "school_id": school,
                    "person_id": person,
                    "date": DAY,
                    "session": session,
                    "temperature": 36.6,
                    "symptoms": "",
                    "symptoms_other": "",
                    "absent": False,
                    "key_area": False,
                    "contact": False,
                    "reported_at": now,
                    "row_hash": f"late-{session}",
                    "source_file": "late.csv",
                    "source_row": 2,
                    "updated_at": now,
                }
                for session in sessions or ["morning"]
            ],
        )
    engine.dispose()


def _text(message: Any) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content()


def test_a_late_checkin_after_sending_is_reissued_once_as_a_correction(
    tmp_path: Path, db_url: str, smtp_server: Any
) -> None:
    settings = _deployment(tmp_path, db_url, smtp_server)
    first = _daily(settings, tmp_path)
    assert first.messages_sent > 0

    ctx = RunContext.of(settings, sync=True)
    config = ctx.schools
    ids = [s.id for s in config.schools]
    findings = load_findings(ctx.engine, config, ctx.rules, DAY, ids)
    missing = findings.missing
    school = next(
        s for s in ids if config.school(s).recipients and (missing["school_id"] == s).any()
    )
    row = missing[missing["school_id"] == school].iloc[0]
    person, name = str(row["person_id"]), str(row["name"])
    day = day_outputs(settings.outputs, DAY)
    v1 = day.version_dir("school", school, 1)
    kept = _files(v1)
    assert {"report.html", "report.pdf", "report.ipynb", f"{school}.arrow", "version.json"} <= set(
        kept
    )
    # the roll-ups that count the school (a central school's own roll-up too)
    above = [
        u
        for u in config.rollup_ids
        if config.unit(u).recipients and school in config.schools_under(u)
    ]
    assert above, "the demo school has roll-ups with recipients above it"
    unit_v1 = {u: _files(day.version_dir("unit", u, 1)) for u in above}

    # a late check-in: version 2, run then `reportkit send --date` (from the store)
    _late_checkin(settings, school, person)
    smtp_server.handler.clear()
    rerun = run_reports(settings, DAY, progress=False)
    assert rerun.ok, rerun.failed
    manifest = json.loads(day.manifest.read_text(encoding="utf-8"))
    versions = {(j["kind"], j["id"]): j["version"] for j in manifest["jobs"]}
    assert versions[("school", school)] == 2
    assert all(versions[("unit", u)] == 2 for u in above)
    assert {v for (k, i), v in versions.items() if k == "school" and i != school} == {1}

    sent = send_reports(settings, DAY)
    assert sent.ok, summary_lines(sent)
    expected = sorted(
        r.email.lower()
        for r in [
            *config.school(school).recipients,
            *(r for u in above for r in config.unit(u).recipients),
        ]
    )
    received = smtp_server.received
    assert sorted(a.lower() for m in received for a in m.rcpt_tos) == expected
    messages = [m.message() for m in received]
    assert all(str(m["Subject"]).startswith("【更正】") for m in messages)
    by_target = {(o.kind, o.target_id): o for o in sent.outcomes}
    assert by_target[("school", school)].status == "sent"
    others = [o for (k, i), o in by_target.items() if k == "school" and i != school]
    assert others
    assert all(o.status == "skipped_already_sent" for o in others)

    # the school's 【更正】 leads with what changed: the person left the missing list
    to_school = {r.email.lower() for r in config.school(school).recipients}
    school_mail = next(m for m in received if to_school & {a.lower() for a in m.rcpt_tos})
    text = _text(school_mail.message())
    assert text.startswith("== 更正说明 ==")
    removed = next(line for line in text.splitlines() if line.startswith("- 移出未报"))
    assert name in removed
    # and so does version 2's report, right after its key figures
    v2 = day.version_dir("school", school, 2)
    html = (v2 / "report.html").read_text(encoding="utf-8")
    assert "更正说明" in html
    assert "第 2 版" in html
    changes = html[html.index("rk-changes") :]
    changes = changes[: changes.index("</div>")]
    assert "移出未报（已补报）" in changes
    assert name in changes
    assert html.index("rk-changes") < html.index("<h2>需处置")  # before what needs action
    for u in above:  # a roll-up's 更正说明: counts only, no one named
        unit_html = (day.version_dir("unit", u, 2) / f"{u}.html").read_text(encoding="utf-8")
        assert "更正说明" in unit_html
        assert name not in unit_html

    # version 1 is kept byte for byte
    assert _files(v1) == kept
    assert all(_files(day.version_dir("unit", u, 1)) == unit_v1[u] for u in above)

    # nothing changed since: neither send nor the afternoon sends anything again
    smtp_server.handler.clear()
    again = send_reports(settings, DAY)
    assert again.ok, summary_lines(again)
    assert smtp_server.received == []
    assert _daily(settings, tmp_path).messages_sent == 0
    assert smtp_server.received == []
    assert _files(v1) == kept
    assert not day.version_dir("school", school, 3).exists()

    # the audit log names the version of each render and send
    audit = store.list_audit(ctx.engine, DAY, config.zone(), school_id=school)
    details = [r["detail"] for r in audit if r["event"] in ("render", "send")]
    assert {d.get("version") for d in details} == {1, 2}
