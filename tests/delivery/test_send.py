"""Tests for reportkit.delivery.send and reportkit.delivery.body against real SMTP servers on loopback.

A tiny deployment (one district, two schools, eleven people; check-ins stored
directly) is built per test; its PDFs are minimal valid PDFs written in code.
"""

from __future__ import annotations

import base64
import re
import smtplib
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
import yaml

from reportkit import store
from reportkit.config import SchoolsConfig, Settings
from reportkit.delivery import school_body, send, summary_lines, transport
from reportkit.errors import ConfigError, DeliveryError
from reportkit.privacy import mask_name
from tests.factories import (
    ALL_RECIPIENTS,
    SCRIPT_NAME,
    Deployment,
    build_deployment,
    by_recipient,
    statuses,
    tiny_pdf,
)
from tests.factories import DEPLOYMENT_DAY as DAY
from tests.factories import DEPLOYMENT_PEOPLE as PEOPLE

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer


@pytest.fixture
def deployment(tmp_path: Path, db_url: str) -> Deployment:
    """On SQLite and on PostgreSQL."""
    return build_deployment(tmp_path, db_url)


@pytest.fixture
def lite(tmp_path: Path, sqlite_url: str) -> Deployment:
    """On SQLite only."""
    return build_deployment(tmp_path, sqlite_url)


# -- helpers -------------------------------------------------------------------------


def parse(data: bytes) -> EmailMessage:
    return message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    return part.get_content()


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


# -- registry and small helpers ------------------------------------------------------


def test_get_sender_unknown_names_the_known_ones() -> None:
    assert send.get_sender("smtp") is transport.SmtpSender
    assert send.get_sender("eml") is transport.EmlSender
    with pytest.raises(DeliveryError, match=r"^No sender named 'x'; known: eml, smtp$"):
        send.get_sender("x")


def test_mask_name() -> None:
    assert mask_name("张丽") == "张*"
    assert mask_name("张小丽") == "张*丽"
    assert mask_name("欧阳小丽") == "欧**丽"
    assert mask_name("张") == "*"
    assert mask_name(None) == ""


# -- sending through SMTP ------------------------------------------------------------


def test_send_delivers_well_formed_messages(
    deployment: Deployment, smtp_server: SmtpServer
) -> None:
    deployment.configure(smtp_server)
    result = send.send_reports(deployment.settings, DAY)

    assert result.ok
    assert statuses(result) == {
        "school:s001": "sent",
        "school:s002": "sent",
        "unit:d01": "sent",
    }
    received = by_recipient(smtp_server)
    assert set(received) == ALL_RECIPIENTS

    msg = received["principal@s001.example.org"]
    assert msg["Subject"] == "【晨午检日报】靠山镇中心小学 2020-02-10 未报2人 疑似1人"
    assert msg["To"].addresses[0].addr_spec == "principal@s001.example.org"
    assert msg["To"].addresses[0].display_name == "王校长"
    assert msg["From"].addresses[0].display_name == "晨午检日报"
    message_id = str(msg["Message-ID"]).strip()  # a long id is folded onto its own line
    assert message_id.startswith("<")
    assert message_id.endswith("@localhost>")
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["MIME-Version"] == "1.0"
    # multipart/mixed > multipart/related > multipart/alternative (text, html) + image; pdf
    assert msg.get_content_type() == "multipart/mixed"
    related, pdf = msg.get_payload()
    assert related.get_content_type() == "multipart/related"
    alternative, image = related.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.get_payload()] == ["text/plain", "text/html"]
    assert image.get_content_type() == "image/png"
    assert image.get_content().startswith(b"\x89PNG")
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == "靠山镇中心小学_2020-02-10_晨午检日报.pdf"
    raw = smtp_server.handler.received[0].content
    assert b"filename*0*=utf-8''%E9%9D%A0" in raw or b"filename*=utf-8''%E9%9D%A0" in raw
    assert all(b < 0x80 for b in raw)  # 7-bit clean: no 8BITMIME needed
    assert pdf.get_content() == tiny_pdf("report s001")

    html = html_of(msg)
    cids = re.findall(r'src="cid:([^"]+)"', html)
    assert cids
    content_ids = {p["Content-ID"].strip("<>") for p in msg.walk() if p["Content-ID"]}
    assert set(cids) <= content_ids
    assert "<script" not in html
    assert "<style" not in html
    assert "<link" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "max-width:600px" in html
    text = text_of(msg)
    assert "王大伟" in text
    assert "体温38.2℃" in text
    assert "一年级 1班" in text

    district = received["chief@district.example.org"]
    assert district["Subject"] == "【晨午检汇总】靠山镇教育办 2020-02-10 未报送学校0所 疑似1人"
    assert district.get_payload()[1].get_filename() == "靠山镇教育办_2020-02-10_晨午检汇总.pdf"

    rows = deployment.sent_rows()
    assert {(r.kind, r.target_id, r.recipient) for r in rows} == {
        ("school", "s001", "principal@s001.example.org"),
        ("school", "s001", "vice@s001.example.org"),
        ("school", "s002", "head@s002.example.org"),
        ("unit", "d01", "chief@district.example.org"),
    }
    ids = {r.recipient: r.message_id for r in rows}
    assert ids["principal@s001.example.org"] == message_id
    assert all(len(r.report_hash) == 64 and r.date == DAY for r in rows)


def test_rerun_sends_nothing_and_force_sends_again(
    deployment: Deployment, smtp_server: SmtpServer
) -> None:
    deployment.configure(smtp_server)
    send.send_reports(deployment.settings, DAY)
    smtp_server.handler.clear()

    again = send.send_reports(deployment.settings, DAY)
    assert again.ok
    assert set(statuses(again).values()) == {"skipped_already_sent"}
    assert smtp_server.received == []

    forced = send.send_reports(deployment.settings, DAY, school_ids=["s002"], force=True)
    assert statuses(forced) == {"school:s002": "sent"}
    assert smtp_server.handler.recipients() == ["head@s002.example.org"]
    assert len(deployment.sent_rows()) == 5


def test_changed_report_is_not_sent_without_force(
    deployment: Deployment, smtp_server: SmtpServer
) -> None:
    deployment.configure(smtp_server)
    send.send_reports(deployment.settings, DAY)
    smtp_server.handler.clear()
    deployment.write_pdf("school", "s001", "report s001, corrected")

    result = send.send_reports(deployment.settings, DAY)
    outcome = result.by_target("school", "s001")
    assert outcome.status == "changed_not_sent"
    assert sorted(outcome.changed) == ["principal@s001.example.org", "vice@s001.example.org"]
    assert result.by_target("school", "s002").status == "skipped_already_sent"
    assert result.ok
    assert smtp_server.received == []
    assert any("changed since sent" in line for line in summary_lines(result))

    forced = send.send_reports(deployment.settings, DAY, school_ids=["s001"], force=True)
    assert statuses(forced) == {"school:s001": "sent"}
    assert sorted(smtp_server.handler.recipients()) == [
        "principal@s001.example.org",
        "vice@s001.example.org",
    ]
    pdfs = [m.get_payload()[1].get_content() for m in by_recipient(smtp_server).values()]
    assert pdfs == [tiny_pdf("report s001, corrected")] * 2


def test_refused_recipient_is_retried_then_failed_and_retried_by_a_rerun(
    deployment: Deployment, smtp_server: SmtpServer
) -> None:
    deployment.configure(smtp_server, retries=2)
    smtp_server.handler.refuse.add("vice@s001.example.org")

    result = send.send_reports(deployment.settings, DAY)
    assert not result.ok
    s001 = result.by_target("school", "s001")
    assert s001.status == "failed"
    assert s001.accepted == ["principal@s001.example.org"]
    assert list(s001.refused) == ["vice@s001.example.org"]
    assert "550" in s001.refused["vice@s001.example.org"]
    assert result.by_target("school", "s002").status == "sent"
    assert result.by_target("unit", "d01").status == "sent"
    assert set(smtp_server.handler.recipients()) == ALL_RECIPIENTS - {"vice@s001.example.org"}
    logged = {r.recipient for r in deployment.sent_rows()}
    assert logged == ALL_RECIPIENTS - {"vice@s001.example.org"}
    assert any("vice@s001.example.org" in line for line in summary_lines(result))

    smtp_server.handler.refuse.clear()
    smtp_server.handler.clear()
    rerun = send.send_reports(deployment.settings, DAY)
    assert rerun.ok
    assert rerun.by_target("school", "s001").accepted == ["vice@s001.example.org"]
    assert smtp_server.handler.recipients() == ["vice@s001.example.org"]
    assert {r.recipient for r in deployment.sent_rows()} == ALL_RECIPIENTS


def test_refusals_are_retried_with_backoff(
    lite: Deployment, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    lite.configure(smtp_server, retries=3, backoff_seconds=0.5)
    smtp_server.handler.refuse.add("head@s002.example.org")
    sleeps: list[float] = []
    monkeypatch.setattr(send.time, "sleep", sleeps.append)
    result = send.send_reports(lite.settings, DAY, school_ids=["s002"])
    assert result.by_target("school", "s002").status == "failed"
    assert sleeps == [0.5, 1.0, 2.0]


def test_server_down_fails_everything_and_logs_nothing(
    deployment: Deployment, closed_port: int
) -> None:
    deployment.configure(
        smtp={"host": "127.0.0.1", "port": closed_port, "security": "none", "timeout": 2}
    )
    result = send.send_reports(deployment.settings, DAY)
    assert not result.ok
    assert set(statuses(result).values()) == {"failed"}
    first = result.outcomes[0]
    assert "ConnectionRefusedError" in first.refused["principal@s001.example.org"]
    assert all(not o.accepted for o in result.outcomes)
    assert deployment.sent_rows() == []


def test_starttls_with_a_private_ca(lite: Deployment, smtp_starttls: SmtpServer) -> None:
    lite.configure(smtp_starttls)
    result = send.send_reports(lite.settings, DAY, school_ids=["s002"])
    assert result.ok, summary_lines(result)
    assert smtp_starttls.handler.recipients() == ["head@s002.example.org"]


def test_implicit_tls(lite: Deployment, smtp_ssl: SmtpServer) -> None:
    lite.configure(smtp_ssl)
    result = send.send_reports(lite.settings, DAY, school_ids=["s002"])
    assert result.ok, summary_lines(result)
    assert smtp_ssl.handler.recipients() == ["head@s002.example.org"]


def test_a_rejected_message_is_not_retried_and_others_go(
    lite: Deployment, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    lite.configure(smtp_server, retries=3)
    smtp_server.handler.reject_data = "554 5.7.1 message rejected"
    sleeps: list[float] = []
    monkeypatch.setattr(send.time, "sleep", sleeps.append)
    result = send.send_reports(lite.settings, DAY)
    assert set(statuses(result).values()) == {"failed"}
    assert all("554" in e for o in result.outcomes for e in o.refused.values())
    assert sum(len(o.refused) for o in result.outcomes) == 4  # each tried, none given up on
    assert sleeps == []
    assert lite.sent_rows() == []


def test_untrusted_certificate_fails_without_retries(
    lite: Deployment, smtp_starttls: SmtpServer
) -> None:
    lite.configure(smtp_starttls, smtp={"ca_file": None})
    result = send.send_reports(lite.settings, DAY)
    assert set(statuses(result).values()) == {"failed"}
    assert "SSLCertVerificationError" in next(iter(result.outcomes[0].refused.values()))
    assert smtp_starttls.received == []


def test_plain_smtp_to_a_starttls_only_server_fails(
    lite: Deployment, smtp_starttls: SmtpServer
) -> None:
    lite.configure(smtp_starttls, smtp={"security": "none"})
    result = send.send_reports(lite.settings, DAY, school_ids=["s002"])
    assert result.by_target("school", "s002").status == "failed"
    assert smtp_starttls.received == []


def test_auth_password_from_the_environment(
    lite: Deployment, smtp_auth: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    lite.configure(smtp_auth)
    monkeypatch.delenv("REPORTKIT_TEST_SMTP_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match=r"REPORTKIT_TEST_SMTP_PASSWORD.*not set"):
        send.send_reports(lite.settings, DAY)
    assert smtp_auth.received == []

    monkeypatch.setenv("REPORTKIT_TEST_SMTP_PASSWORD", "wrong")
    wrong = send.send_reports(lite.settings, DAY, school_ids=["s002"])
    assert (
        "SMTPAuthenticationError"
        in wrong.by_target("school", "s002").refused["head@s002.example.org"]
    )

    monkeypatch.setenv("REPORTKIT_TEST_SMTP_PASSWORD", smtp_auth.password)
    result = send.send_reports(lite.settings, DAY)
    assert result.ok, summary_lines(result)
    assert set(smtp_auth.handler.recipients()) == ALL_RECIPIENTS


def test_missing_pdf_is_a_failure_and_others_still_go(
    lite: Deployment, smtp_server: SmtpServer
) -> None:
    lite.configure(smtp_server)
    lite.pdf_path("school", "s002").unlink()
    result = send.send_reports(lite.settings, DAY)
    assert statuses(result) == {
        "school:s001": "sent",
        "school:s002": "failed",
        "unit:d01": "sent",
    }
    assert "report PDF missing" in result.by_target("school", "s002").error
    assert "head@s002.example.org" not in smtp_server.handler.recipients()
    assert not result.ok


def test_dry_run_writes_eml_files_and_sends_nothing(lite: Deployment, closed_port: int) -> None:
    lite.configure(smtp={"host": "127.0.0.1", "port": closed_port, "security": "none"})
    result = send.send_reports(lite.settings, DAY, dry_run=True)
    assert result.ok
    assert set(statuses(result).values()) == {"dry_run"}
    mail = lite.settings.outputs / DAY.isoformat() / "mail"
    assert result.mail_dir == mail
    names = sorted(p.name for p in mail.glob("*.eml"))
    assert names == [
        "school_s001_principal_at_s001.example.org.eml",
        "school_s001_vice_at_s001.example.org.eml",
        "school_s002_head_at_s002.example.org.eml",
        "unit_d01_chief_at_district.example.org.eml",
    ]
    msg = parse((mail / names[0]).read_bytes())
    assert msg["Subject"].startswith("【晨午检日报】靠山镇中心小学")
    assert msg.get_payload()[1].get_filename() == "靠山镇中心小学_2020-02-10_晨午检日报.pdf"
    assert lite.sent_rows() == []


def test_a_school_without_recipients_is_reported_not_failed(lite: Deployment) -> None:
    schools = yaml.safe_load((lite.params / "schools.yaml").read_text(encoding="utf-8"))
    schools["schools"][1]["recipients"] = []
    (lite.params / "schools.yaml").write_text(yaml.safe_dump(schools), encoding="utf-8")
    result = send.send_reports(lite.settings, DAY, dry_run=True)
    assert result.by_target("school", "s002").status == "no_recipients"
    assert result.ok


def test_unknown_school_is_a_config_error(lite: Deployment) -> None:
    from reportkit.errors import ConfigError

    with pytest.raises(ConfigError, match="nope"):
        send.send_reports(lite.settings, DAY, school_ids=["nope"], dry_run=True)


# -- what the messages say -----------------------------------------------------------


def test_a_school_message_holds_only_its_own_people(
    lite: Deployment, smtp_server: SmtpServer
) -> None:
    lite.configure(smtp_server)
    send.send_reports(lite.settings, DAY)
    received = by_recipient(smtp_server)
    own = {sid: {(p, n) for s, p, n, *_ in PEOPLE if s == sid} for sid in ("s001", "s002")}

    def everything(msg: EmailMessage) -> str:
        return html_of(msg) + text_of(msg) + str(msg["Subject"])

    a = everything(received["principal@s001.example.org"])
    b = everything(received["head@s002.example.org"])
    assert "钱多多" in b
    assert "郑成功" in b
    for pid, name in own["s002"]:
        assert name not in a
        assert pid not in a
    for pid, name in own["s001"]:
        assert name not in b
        assert pid not in b
    district = everything(received["chief@district.example.org"])
    for _, pid, name, *_ in PEOPLE:
        assert name not in district
        assert pid not in district
    assert "靠山镇第二小学" in district
    assert "迟报40分钟" in district


def test_names_are_masked_when_configured(lite: Deployment) -> None:
    lite.configure(mask_names=True)
    lite.write_pdf("school", "s001", "report s001", masked_text="report s001 masked")
    send.send_reports(lite.settings, DAY, dry_run=True)
    msg = parse(
        (
            lite.settings.outputs
            / DAY.isoformat()
            / "mail"
            / "school_s001_principal_at_s001.example.org.eml"
        ).read_bytes()
    )
    body = html_of(msg) + text_of(msg)
    assert "王*伟" in body
    assert "李*" in body
    assert "赵*" in body
    assert "王大伟" not in body
    assert "李明" not in body
    # the attachment is the masked rendering; the school's own report.pdf stays complete
    assert msg.get_payload()[1].get_content() == tiny_pdf("report s001 masked")
    assert lite.pdf_path("school", "s001").read_bytes() == tiny_pdf("report s001")


def test_headers_and_html_cannot_be_injected(
    lite: Deployment, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    lite.configure(smtp_server)
    evil = "X\r\nBcc: evil@example.org"
    raw = yaml.safe_load((lite.params / "schools.yaml").read_text(encoding="utf-8"))
    valid = SchoolsConfig.model_validate(raw)
    # schools.yaml rejects such a name, so construct the config around the validator
    school = valid.schools[0].model_copy(update={"name": evil})
    recipient = school.recipients[0].model_copy(update={"name": "Eve\r\nBcc: evil@example.org"})
    school = school.model_copy(update={"recipients": [recipient]})
    config = valid.model_copy(update={"schools": [school, valid.schools[1]]})
    monkeypatch.setattr(Settings, "schools", lambda self: config)
    lite.write_pdf("school", "s001", "report s001")  # rendered under that name

    result = send.send_reports(lite.settings, DAY, school_ids=["s001"])
    assert result.ok, summary_lines(result)
    (env,) = smtp_server.received
    assert env.rcpt_tos == ["principal@s001.example.org"]
    head = env.content.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert not re.search(r"^bcc:", head, flags=re.IGNORECASE | re.MULTILINE)
    msg = env.message()
    assert "Bcc" not in msg
    assert msg["Subject"].startswith("【晨午检日报】X Bcc: evil@example.org 2020-02-10")
    html = html_of(msg)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert SCRIPT_NAME in text_of(msg)  # plain text shows it as written, harmlessly


def test_message_body_sections(lite: Deployment) -> None:
    from reportkit.findings import load_findings

    config = lite.settings.schools()
    findings = load_findings(store.connect(lite.settings.db), config, lite.settings.rules(), DAY)
    body = school_body(
        findings, config.school("s002"), config.district("d01"), lite.settings.delivery(), "en"
    )
    # delivery.yaml sets no subject: the default in the message's language
    assert (
        body.subject
        == "[Daily health check] 靠山镇第二小学 2020-02-10: 1 not reported, 0 suspected"
    )
    assert "late by 40 min" in body.text
    assert "钱多多" in body.text
    assert "#fff4e0" in body.html  # the late colour
    on_time = school_body(
        findings, config.school("s001"), config.district("d01"), lite.settings.delivery()
    )
    assert "#e8f5e9" in on_time.html
    assert "按时" in on_time.text
    assert "疑似" in on_time.html
    assert "14天内接触过确诊或疑似病例" in on_time.html
    # what needs action comes first, an illness absence among it, then who did not report
    assert "[因病缺勤] 赵六" in on_time.text
    assert "因病缺勤，未记录症状" in on_time.text
    assert on_time.text.index("== 需处置") < on_time.text.index("== 未报人员（按班级）")
    assert "一年级 1班 · 1/4人: 李明" in on_time.text  # n of the class's N
    # the body is stable, so the report hash is too
    again = school_body(
        findings, config.school("s001"), config.district("d01"), lite.settings.delivery()
    )
    assert again == on_time


UNKNOWN_AS_TEXT = re.compile(r"\b(nan|NaN|None|NaT)\b")


def _everything(msg: EmailMessage) -> dict[str, str]:
    return {"subject": str(msg["Subject"]), "text": text_of(msg), "html": html_of(msg)}


def test_a_school_that_sent_nothing_reads_as_not_submitted_never_as_zeros(
    deployment: Deployment, smtp_server: SmtpServer
) -> None:
    engine = store.connect(deployment.settings.db)
    with engine.begin() as conn:  # s002 sent nothing today
        conn.execute(
            sa.delete(store.checkins).where(
                store.checkins.c.school_id == "s002", store.checkins.c.date == DAY
            )
        )
    deployment.write_pdf("school", "s002", "report s002 nothing received")
    deployment.write_pdf("unit", "d01", "roll-up d01, s002 missing")
    deployment.configure(smtp_server)
    result = send.send_reports(deployment.settings, DAY)
    assert result.ok, summary_lines(result)
    received = by_recipient(smtp_server)

    msg = received["head@s002.example.org"]
    assert msg["Subject"] == "【晨午检日报】靠山镇第二小学 2020-02-10 未报送"
    text = text_of(msg)
    assert text.splitlines()[0].startswith("未报送：今日未收到本校任何晨午检记录")
    shown = html_of(msg).split("<body", 1)[1]  # the first thing the body shows
    headline = shown.index("未报送：今日未收到本校任何晨午检记录")
    assert headline < shown.index("靠山镇第二小学 晨午检日报")
    for label in ("实报人数", "未报", "发热", "疑似", "有症状", "重点人员", "因病缺勤", "报告率"):
        line = next(x for x in text.splitlines() if x.startswith(f"{label}:"))
        assert line == f"{label}: —", line
    assert "应报人数: 3" in text  # the roster is known
    assert "全员已报" not in text  # never "all clear" without data
    assert "0人" not in text
    assert "钱多多" not in text  # no list of "missing" people standing in for "no data"
    assert "应报3人，今日无任何填报记录" in text

    district = text_of(received["chief@district.example.org"]).replace("\r\n", "\n")
    assert "== 未报送学校 (1) ==\n- 靠山镇第二小学" in district
    assert "- 靠山镇第二小学 (" not in district  # not among the schools with counts

    smtp_server.handler.clear()
    at = datetime.fromisoformat("2020-02-10T15:30:00+08:00")
    assert send.send_reminders(deployment.settings, DAY, now=at).ok
    reminders = [env.message() for env in smtp_server.received]
    assert len(reminders) == 3
    for message in [*received.values(), *reminders]:
        for part, content in _everything(message).items():
            assert not UNKNOWN_AS_TEXT.search(content), (message["To"], part, content)


def test_missing_subject_is_configurable(lite: Deployment) -> None:
    from reportkit.findings import load_findings

    engine = store.connect(lite.settings.db)
    with engine.begin() as conn:
        conn.execute(
            sa.delete(store.checkins).where(
                store.checkins.c.school_id == "s002", store.checkins.c.date == DAY
            )
        )
    lite.configure(
        missing_subject="{district} {school}（{school_id}）{date} 未报送，应报{expected}人"
    )
    config = lite.settings.schools()
    findings = load_findings(engine, config, lite.settings.rules(), DAY)
    body = school_body(
        findings, config.school("s002"), config.district("d01"), lite.settings.delivery(), "en"
    )
    assert body.subject == "靠山镇教育办 靠山镇第二小学（s002）2020-02-10 未报送，应报3人"
    assert body.text.splitlines()[0].startswith("Not submitted: no check-in")
    lite.configure(missing_subject="{school} 未报{missing}人")
    with pytest.raises(DeliveryError, match=r"missing_subject: cannot fill"):
        school_body(
            findings, config.school("s002"), config.district("d01"), lite.settings.delivery()
        )


def test_date_header_is_in_the_deployments_zone(lite: Deployment, smtp_server: SmtpServer) -> None:
    from email.utils import parsedate_to_datetime

    lite.configure(smtp_server)
    send.send_reports(lite.settings, DAY, school_ids=["s002"])
    send.send_reminders(lite.settings, DAY, now=datetime.fromisoformat("2020-02-10T15:30:00+08:00"))
    assert len(smtp_server.received) == 4  # one report, three reminders
    for env in smtp_server.received:
        header = env.message()["Date"]
        assert str(header).endswith("+0800"), header
        sent = parsedate_to_datetime(str(header))
        assert sent.utcoffset() == timedelta(hours=8)
        assert abs((sent - datetime.now(sent.tzinfo)).total_seconds()) < 120


# -- reminders -----------------------------------------------------------------------


def test_reminders_once_per_day(lite: Deployment, smtp_server: SmtpServer) -> None:
    lite.configure(smtp_server)
    now = datetime.fromisoformat("2020-02-10T15:30:00+08:00")
    result = send.send_reminders(lite.settings, DAY, now=now)
    assert statuses(result) == {"reminder:s001": "sent", "reminder:s002": "sent"}
    received = by_recipient(smtp_server)
    assert set(received) == ALL_RECIPIENTS - {"chief@district.example.org"}
    msg = received["principal@s001.example.org"]
    assert msg["Subject"] == "【晨午检提醒】靠山镇中心小学 2020-02-10 尚有2人未报"
    assert msg.get_content_type() == "multipart/alternative"  # no chart, no attachment
    assert msg["MIME-Version"] == "1.0"
    text = text_of(msg)
    assert "截至15:30" in text
    assert "16:30" in text
    assert "一年级\t1班\t1" in text
    assert "二年级\t1班\t1" in text
    assert "李明" not in text  # counts per class, no names
    assert {r.kind for r in lite.sent_rows()} == {"reminder"}

    smtp_server.handler.clear()
    again = send.send_reminders(lite.settings, DAY, now=now)
    assert set(statuses(again).values()) == {"skipped_already_sent"}
    assert smtp_server.received == []
    forced = send.send_reminders(lite.settings, DAY, now=now, force=True)
    assert set(statuses(forced).values()) == {"sent"}
    assert len(smtp_server.received) == 3


def test_reminders_skip_complete_schools(lite: Deployment, smtp_server: SmtpServer) -> None:
    lite.configure(smtp_server)
    engine = store.connect(lite.settings.db)
    with engine.begin() as conn:  # everyone of s002 reports
        conn.execute(
            sa.insert(store.checkins),
            [
                {
                    "school_id": "s002",
                    "person_id": "5001",
                    "date": DAY,
                    "session": "morning",
                    "absent": False,
                    "key_area": False,
                    "contact": False,
                    "row_hash": "z",
                    "updated_at": store.utcnow(),
                }
            ],
        )
    now = datetime.fromisoformat("2020-02-10T15:30:00+08:00")
    result = send.send_reminders(lite.settings, DAY, dry_run=True, now=now)
    assert statuses(result) == {"reminder:s001": "dry_run"}


def test_no_reminders_after_the_deadline(lite: Deployment, smtp_server: SmtpServer) -> None:
    lite.configure(smtp_server)
    # 16:30 in Shanghai is the deadline; a minute later a reminder would only confuse
    late = datetime.fromisoformat("2020-02-10T08:31:00+00:00")
    result = send.send_reminders(lite.settings, DAY, now=late)
    assert statuses(result) == {
        "reminder:s001": "past_deadline",
        "reminder:s002": "past_deadline",
    }
    assert result.ok
    assert smtp_server.received == []
    assert lite.sent_rows() == []
    assert "deadline 16:30 has passed (use --force to send anyway)" in "\n".join(
        summary_lines(result)
    )
    on_time = datetime.fromisoformat("2020-02-10T08:29:00+00:00")
    assert set(statuses(send.send_reminders(lite.settings, DAY, now=on_time)).values()) == {"sent"}
    smtp_server.handler.clear()
    forced = send.send_reminders(lite.settings, DAY, now=late, force=True)
    assert set(statuses(forced).values()) == {"sent"}
    assert len(smtp_server.received) == 3


def test_remind_dry_run_says_what_it_wrote(
    lite: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    from reportkit import cli

    mail = lite.settings.outputs / DAY.isoformat() / "mail"
    args = ["remind", "--date", DAY.isoformat(), "--dry-run", "--db", lite.settings.db]
    args += ["--params", str(lite.params), "--outputs", str(lite.settings.outputs)]
    assert cli.main(args) == 0  # now is long past 2020-02-10's deadline
    out = capsys.readouterr().out
    assert "2 past_deadline" in out
    assert "dry run: nothing written" in out
    assert "written to" not in out
    assert not list(mail.glob("*.eml"))

    before = datetime.fromisoformat("2020-02-10T15:30:00+08:00")
    result = send.send_reminders(lite.settings, DAY, dry_run=True, now=before)
    assert sorted(p.name for p in result.written) == sorted(p.name for p in mail.glob("*.eml"))
    assert len(result.written) == 3
    assert f"dry run: 3 messages written to {mail}" in summary_lines(result)


def test_send_summary_says_what_was_sent(lite: Deployment, smtp_server: SmtpServer) -> None:
    lite.configure(smtp_server)
    first = summary_lines(send.send_reports(lite.settings, DAY))
    assert "4 messages sent" in first
    again = summary_lines(send.send_reports(lite.settings, DAY))
    assert "nothing sent" in again
    assert again[-1] == "2020-02-10: 3 skipped_already_sent"


# -- the summary ---------------------------------------------------------------------


def test_summary_lines() -> None:
    result = send.DeliveryResult(
        DAY,
        [
            send.MessageOutcome("school", "s001", "A", "sent", accepted=["a@x.org"]),
            send.MessageOutcome(
                "school",
                "s002",
                "B",
                "failed",
                refused={"b@x.org": "550 no"},
                error="not delivered",
            ),
        ],
    )
    lines = summary_lines(result)
    assert lines[0] == "school s001 A: sent; 1 accepted"
    assert "refused b@x.org (550 no)" in lines[1]
    assert lines[-1] == "2020-02-10: 1 failed, 1 sent"
    assert not result.ok


# -- on a phone ----------------------------------------------------------------------


@pytest.mark.slow
def test_html_fits_a_phone_screen(lite: Deployment, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    lite.configure()
    send.send_reports(lite.settings, DAY, dry_run=True)
    mail = lite.settings.outputs / DAY.isoformat() / "mail"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 375, "height": 800})
            for name in (
                "school_s001_principal_at_s001.example.org",
                "unit_d01_chief_at_district.example.org",
            ):
                msg = parse((mail / f"{name}.eml").read_bytes())
                html = html_of(msg)
                for part in msg.walk():
                    if part["Content-ID"]:
                        uri = (
                            "data:image/png;base64," + base64.b64encode(part.get_content()).decode()
                        )
                        html = html.replace(f"cid:{part['Content-ID'].strip('<>')}", uri)
                assert "cid:" not in html
                page.set_content(html)
                shot = tmp_path / f"{name}.png"
                page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
                assert page.evaluate("document.documentElement.scrollWidth") <= 375
                width = page.evaluate("document.querySelector('img').getBoundingClientRect().width")
                assert 300 <= width <= 375
        finally:
            browser.close()


def test_smtp_errors_are_described() -> None:
    exc = smtplib.SMTPDataError(554, b"5.7.1 rejected")
    assert send._describe(exc) == "SMTPDataError: 554 5.7.1 rejected"
