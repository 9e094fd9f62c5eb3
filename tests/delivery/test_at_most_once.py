"""At most once per recipient and report version, whatever fails; never a stale report.

Real faults on loopback: an SMTP server that stores a message and answers DATA
after the client's timeout, and a store that becomes unwritable in the middle
of a send (a SQLite write lock held by another connection; a PostgreSQL
database whose connections are killed and that refuses new ones). Each case
runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from reportkit import cli, store
from reportkit.delivery import NotSendable, check_report, send_reports, summary_lines
from reportkit.delivery.transport import Envelope, stable_message_id
from tests.factories import (
    ALL_RECIPIENTS,
    Deployment,
    build_deployment,
    by_recipient,
    statuses,
    tiny_pdf,
)
from tests.factories import DEPLOYMENT_DAY as DAY

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer


PRINCIPAL = "principal@s001.example.org"


@pytest.fixture
def deployment(tmp_path: Path, db_url: str) -> Deployment:
    """test_deliver's two schools and district, on SQLite and on PostgreSQL."""
    return build_deployment(tmp_path, db_url)


@pytest.fixture
def lite(tmp_path: Path, sqlite_url: str) -> Deployment:
    """The same on SQLite only."""
    return build_deployment(tmp_path, sqlite_url)


class StoreBreaker:
    """Makes the store unwritable for real, and usable again.

    SQLite: another connection takes the write lock (``BEGIN IMMEDIATE``) and keeps
    it. PostgreSQL: the database stops taking connections and every open one is
    killed, as when the server goes down.
    """

    def __init__(self, db_url: str) -> None:
        self.url = sa.engine.make_url(db_url)
        self.sqlite = self.url.get_backend_name() == "sqlite"
        self.holder: sqlite3.Connection | None = None
        self.broken = threading.Event()

    def _admin(self) -> sa.Engine:
        return sa.create_engine(
            self.url.set(database="postgres"),
            isolation_level="AUTOCOMMIT",
            poolclass=sa.pool.NullPool,
        )

    def break_(self, *_: object) -> None:
        if self.broken.is_set():
            return
        if self.sqlite:
            self.holder = sqlite3.connect(
                self.url.database, timeout=5, isolation_level=None, check_same_thread=False
            )
            self.holder.execute("BEGIN IMMEDIATE")
        else:
            name = self.url.database
            engine = self._admin()
            with engine.connect() as conn:
                conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
            engine.dispose()
        self.broken.set()

    def restore(self) -> None:
        if self.sqlite:
            if self.holder is not None:
                self.holder.rollback()
                self.holder.close()
                self.holder = None
        else:
            engine = self._admin()
            with engine.connect() as conn:
                conn.exec_driver_sql(f'ALTER DATABASE "{self.url.database}" ALLOW_CONNECTIONS true')
            engine.dispose()


@pytest.fixture
def breaker(db_url: str) -> Any:
    b = StoreBreaker(db_url)
    yield b
    b.restore()


def _cli(dep: Deployment, *args: str) -> list[str]:
    return [
        *args,
        "--db",
        dep.settings.db,
        "--params",
        str(dep.params),
        "--outputs",
        str(dep.settings.outputs),
    ]


# -- a reply that never comes ------------------------------------------------------------


def test_no_answer_after_data_is_unknown_and_never_sent_again_without_force(
    deployment: Deployment, smtp_slow_data: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment.configure(smtp_slow_data, retries=2)
    result = send_reports(deployment.settings, DAY, school_ids=["s002"])
    outcome = result.by_target("school", "s002")
    assert outcome.status == "unknown"
    assert list(outcome.unknown) == ["head@s002.example.org"]
    assert "no answer after the message data" in outcome.unknown["head@s002.example.org"]
    assert not result.ok
    assert len(smtp_slow_data.received) == 1  # stored once, not retried (retries=2)
    assert deployment.sent_rows() == []
    (attempt,) = deployment.attempts()
    assert attempt.status == "unknown"
    assert attempt.recipient == "head@s002.example.org"
    stored_id = str(smtp_slow_data.received[0].message()["Message-ID"]).strip()
    assert attempt.message_id == stored_id
    assert any("outcome unknown for head@s002" in line for line in summary_lines(result))

    # a rerun (here through the command) sends nothing and says so, exit 1
    assert cli.main(_cli(deployment, "send", "--date", DAY.isoformat(), "--school", "s002")) == 1
    out = capsys.readouterr().out
    assert "school s002 靠山镇第二小学: unknown" in out
    assert "not resent without --force" in out
    assert "2020-02-10: 1 unknown" in out
    assert len(smtp_slow_data.received) == 1

    # --force resends it, under the same Message-ID, so a mail system can drop the copy
    smtp_slow_data.handler.delay_data = 0
    forced = send_reports(deployment.settings, DAY, school_ids=["s002"], force=True)
    assert statuses(forced) == {"school:s002": "sent"}
    ids = [str(r.message()["Message-ID"]).strip() for r in smtp_slow_data.received]
    assert ids == [stored_id, stored_id]
    assert deployment.attempts() == []
    assert [r.message_id for r in deployment.sent_rows()] == [stored_id]
    again = send_reports(deployment.settings, DAY, school_ids=["s002"])
    assert statuses(again) == {"school:s002": "skipped_already_sent"}
    assert len(smtp_slow_data.received) == 2


def test_a_connection_lost_after_data_is_unknown(
    deployment: Deployment, smtp_server: SmtpServer
) -> None:
    deployment.configure(smtp_server, retries=3)
    smtp_server.handler.drop_after_store = True
    result = send_reports(deployment.settings, DAY)
    assert set(statuses(result).values()) == {"unknown"}
    assert Counter(smtp_server.handler.recipients()) == dict.fromkeys(ALL_RECIPIENTS, 1)
    assert deployment.sent_rows() == []
    assert {a.status for a in deployment.attempts()} == {"unknown"}

    smtp_server.handler.drop_after_store = False
    rerun = send_reports(deployment.settings, DAY)
    assert set(statuses(rerun).values()) == {"unknown"}
    assert len(smtp_server.received) == len(ALL_RECIPIENTS)


def test_a_temporary_refusal_of_the_data_is_retried_and_leaves_nothing_open(
    lite: Deployment, smtp_server: SmtpServer
) -> None:
    lite.configure(smtp_server, retries=2)
    smtp_server.handler.reject_data = "451 4.3.0 try again later"
    smtp_server.handler.reject_data_times = 2  # the third try is taken
    result = send_reports(lite.settings, DAY, school_ids=["s002"])
    assert statuses(result) == {"school:s002": "sent"}
    assert smtp_server.handler.recipients() == ["head@s002.example.org"]
    assert lite.attempts() == []
    assert len(lite.sent_rows()) == 1

    smtp_server.handler.reject_data_times = None  # now every try is refused
    failed = send_reports(lite.settings, DAY, school_ids=["s001"])
    assert statuses(failed) == {"school:s001": "failed"}
    assert lite.attempts() == []  # refused for certain: nothing in doubt
    smtp_server.handler.reject_data = None
    again = send_reports(lite.settings, DAY, school_ids=["s001"])
    assert statuses(again) == {"school:s001": "sent"}


# -- a store that stops in the middle ---------------------------------------------------------


def test_store_failing_after_acceptance_stops_the_batch_and_nothing_goes_twice(
    deployment: Deployment, smtp_server: SmtpServer, breaker: StoreBreaker
) -> None:
    deployment.configure(smtp_server, sent_log_timeout=1)
    smtp_server.handler.after_store = breaker.break_  # between acceptance and the log

    result = send_reports(deployment.settings, DAY)

    assert breaker.broken.is_set()
    assert smtp_server.handler.recipients() == [PRINCIPAL]  # nothing more was sent
    assert result.stopped is not None
    assert "sent log" in result.stopped
    assert not result.ok
    s001 = result.by_target("school", "s001")
    assert s001.accepted == [PRINCIPAL]
    assert s001.unrecorded == [PRINCIPAL]
    assert s001.not_sent == ["vice@s001.example.org"]
    for target in ("school:s002", "unit:d01"):
        assert statuses(result)[target] == "failed"
    lines = summary_lines(result)
    assert any(line.startswith("STOPPED: the sent log cannot be written") for line in lines)
    assert "1 message sent" in lines

    breaker.restore()
    smtp_server.handler.after_store = None
    rerun = send_reports(deployment.settings, DAY)
    s001 = rerun.by_target("school", "s001")
    assert s001.status == "unknown"  # handed over, acceptance never recorded
    assert list(s001.unknown) == [PRINCIPAL]
    assert "acceptance never recorded" in s001.unknown[PRINCIPAL]
    assert s001.accepted == ["vice@s001.example.org"]
    assert statuses(rerun)["school:s002"] == "sent"
    assert statuses(rerun)["unit:d01"] == "sent"
    assert Counter(smtp_server.handler.recipients()) == dict.fromkeys(ALL_RECIPIENTS, 1)
    assert rerun.stopped is None

    third = send_reports(deployment.settings, DAY)
    assert Counter(smtp_server.handler.recipients()) == dict.fromkeys(ALL_RECIPIENTS, 1)
    assert third.by_target("school", "s001").status == "unknown"


def test_store_failing_before_data_sends_nothing(
    deployment: Deployment, smtp_server: SmtpServer, breaker: StoreBreaker
) -> None:
    deployment.configure(smtp_server, sent_log_timeout=1)
    smtp_server.handler.on_mail = breaker.break_  # the attempt cannot be recorded

    result = send_reports(deployment.settings, DAY)
    assert breaker.broken.is_set()
    assert smtp_server.received == []
    assert result.stopped is not None
    assert "cannot record the attempt" in result.stopped
    assert set(statuses(result).values()) == {"failed"}
    assert sum(len(o.not_sent) for o in result.outcomes) == len(ALL_RECIPIENTS)
    assert "nothing sent" in summary_lines(result)

    breaker.restore()
    smtp_server.handler.on_mail = None
    assert deployment.attempts() == []
    rerun = send_reports(deployment.settings, DAY)
    assert rerun.ok, summary_lines(rerun)
    assert Counter(smtp_server.handler.recipients()) == dict.fromkeys(ALL_RECIPIENTS, 1)


def test_an_older_store_gains_the_attempts_table(
    tmp_path: Path, db_url: str, smtp_server: SmtpServer
) -> None:
    old = sa.MetaData()
    for table in store.metadata.sorted_tables:
        if table.name != "send_attempts":
            table.to_metadata(old)
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    old.create_all(engine)
    with engine.connect() as conn:
        assert "send_attempts" not in sa.inspect(conn).get_table_names()
    engine.dispose()

    dep = build_deployment(tmp_path, db_url)
    dep.configure(smtp_server)
    assert send_reports(dep.settings, DAY).ok
    with store.connect(db_url).connect() as conn:
        assert "send_attempts" in sa.inspect(conn).get_table_names()
    assert len(dep.sent_rows()) == len(ALL_RECIPIENTS)


# -- never stale, never unmasked ----------------------------------------------------------


def _correct_a_check_in(dep: Deployment) -> None:
    """1003's fever was a typo: the store now says 36.6 (a correction ingested after the run)."""
    engine = store.connect(dep.settings.db)
    with engine.begin() as conn:
        conn.execute(
            sa.update(store.checkins)
            .where(store.checkins.c.person_id == "1003", store.checkins.c.date == DAY)
            .values(temperature=36.6, symptoms="cough")
        )


def test_a_report_rendered_from_other_findings_is_refused(
    deployment: Deployment, smtp_server: SmtpServer
) -> None:
    deployment.configure(smtp_server)
    _correct_a_check_in(deployment)
    result = send_reports(deployment.settings, DAY)
    assert statuses(result) == {
        "school:s001": "stale",
        "school:s002": "sent",  # its own findings did not change
        "unit:d01": "stale",  # its counts did
    }
    s001 = result.by_target("school", "s001")
    assert "the findings changed since it was rendered (run run-1)" in s001.error
    assert "reportkit run" in s001.error
    assert smtp_server.handler.recipients() == ["head@s002.example.org"]
    assert not result.ok
    lines = summary_lines(result)
    assert any(line.startswith("school s001 靠山镇中心小学: stale; not sent") for line in lines)

    deployment.write_pdf("school", "s001", "report s001 corrected")  # the next run
    deployment.write_pdf("unit", "d01", "roll-up d01 corrected")
    again = send_reports(deployment.settings, DAY)
    assert again.ok, summary_lines(again)
    assert statuses(again)["school:s001"] == "sent"


def test_a_pdf_that_is_not_the_one_the_run_wrote_is_refused(
    lite: Deployment, smtp_server: SmtpServer
) -> None:
    lite.configure(smtp_server)
    lite.pdf_path("school", "s001").write_bytes(tiny_pdf("an older report"))
    result = send_reports(lite.settings, DAY, school_ids=["s001"])
    outcome = result.by_target("school", "s001")
    assert outcome.status == "stale"
    assert "is not the file run run-1 wrote (sha256 differs)" in outcome.error
    assert smtp_server.received == []


def test_an_interrupted_or_failed_run_is_refused(lite: Deployment, smtp_server: SmtpServer) -> None:
    lite.configure(smtp_server)
    lite.set_job("school", "s001", status="pending", run_id="run-2")
    lite.set_job("school", "s002", status="failed", run_id="run-2", error={"ename": "Timeout"})
    result = send_reports(lite.settings, DAY)
    assert statuses(result) == {
        "school:s001": "stale",
        "school:s002": "failed",
        "unit:d01": "sent",
    }
    assert "(run run-2) did not finish" in result.by_target("school", "s001").error
    assert "its last render failed (run run-2) Timeout" in result.by_target("school", "s002").error
    assert smtp_server.handler.recipients() == ["chief@district.example.org"]


def test_no_manifest_no_send(lite: Deployment, smtp_server: SmtpServer) -> None:
    lite.configure(smtp_server)
    lite.manifest_path.unlink()
    result = send_reports(lite.settings, DAY)
    assert set(statuses(result).values()) == {"failed"}
    assert all("no report in manifest.json" in o.error for o in result.outcomes)
    assert smtp_server.received == []


def test_an_unchanged_rerender_is_already_sent(lite: Deployment, smtp_server: SmtpServer) -> None:
    lite.configure(smtp_server)
    assert send_reports(lite.settings, DAY).ok
    # a new run: other PDF bytes (the print time differs), the same content
    job = lite.job("school", "s001")
    pdf = lite.pdf_path("school", "s001")
    pdf.write_bytes(tiny_pdf("report s001 printed 16:52"))
    lite.set_job(
        "school",
        "s001",
        run_id="run-2",
        sha256={"pdf": hashlib.sha256(pdf.read_bytes()).hexdigest()},
        content_hash=job["content_hash"],
    )
    smtp_server.handler.clear()
    again = send_reports(lite.settings, DAY)
    assert set(statuses(again).values()) == {"skipped_already_sent"}
    assert smtp_server.received == []


def test_masking_on_without_a_masked_pdf_never_attaches_the_full_one(
    lite: Deployment, smtp_server: SmtpServer
) -> None:
    lite.configure(smtp_server, mask_names=True)
    result = send_reports(lite.settings, DAY)
    assert statuses(result) == {
        "school:s001": "failed",
        "school:s002": "failed",
        "unit:d01": "sent",  # counts only: nothing to mask
    }
    assert "mask_names is on but no masked PDF (report.masked.pdf)" in (
        result.by_target("school", "s001").error
    )
    assert smtp_server.handler.recipients() == ["chief@district.example.org"]

    lite.write_pdf("school", "s002", "report s002", masked_text="report s002 masked")
    masked = send_reports(lite.settings, DAY, school_ids=["s002"])
    assert statuses(masked) == {"school:s002": "sent"}
    msg = by_recipient(smtp_server)["head@s002.example.org"]
    assert msg.get_payload()[1].get_content() == tiny_pdf("report s002 masked")
    assert "钱*多" in msg.get_body(preferencelist=("plain",)).get_content()


def _entry(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4 full")
    masked = tmp_path / "report.masked.pdf"
    masked.write_bytes(b"%PDF-1.4 masked")
    entry = {
        "kind": "school",
        "id": "s001",
        "status": "ok",
        "run_id": "r7",
        "lang": "zh-CN",
        "findings_hash": "f" * 64,
        "content_hash": "c" * 64,
        "outputs": {"pdf": str(pdf), "pdf_masked": str(masked)},
        "sha256": {
            "pdf": hashlib.sha256(pdf.read_bytes()).hexdigest(),
            "pdf_masked": hashlib.sha256(masked.read_bytes()).hexdigest(),
        },
    }
    entry.update(changes)
    return entry


@pytest.mark.parametrize(
    ("changes", "masked", "lang", "status", "reason"),
    [
        ({"status": "pending"}, False, None, "stale", "(run r7) did not finish"),
        ({"status": "failed"}, False, None, "failed", "its last render failed (run r7)"),
        ({"findings_hash": None}, False, None, "stale", "records no findings hash"),
        ({"findings_hash": "0" * 64}, False, None, "stale", "the findings changed"),
        ({}, False, "en", "stale", "rendered in zh-CN, this message is in en"),
        ({"outputs": {"pdf": "report.pdf"}}, True, None, "failed", "no masked PDF"),
        ({"outputs": {}}, False, None, "failed", "report PDF missing"),
        ({"sha256": {}}, False, None, "stale", "records no sha256 for report.pdf"),
        ({"sha256": {"pdf": "0" * 64}}, False, None, "stale", "sha256 differs"),
        ({"content_hash": ""}, False, None, "stale", "records no content hash"),
    ],
)
def test_check_report_refuses(
    tmp_path: Path,
    changes: dict[str, Any],
    masked: bool,
    lang: str | None,
    status: str,
    reason: str,
) -> None:
    entry = _entry(tmp_path, **changes)
    with pytest.raises(NotSendable) as caught:
        check_report(entry, "f" * 64, tmp_path, masked=masked, lang=lang)
    assert reason in caught.value.reason
    assert caught.value.status == status


def test_check_report_accepts_and_picks_the_masked_pdf(tmp_path: Path) -> None:
    entry = _entry(tmp_path)
    full = check_report(entry, "f" * 64, tmp_path, lang="zh-CN")
    assert (full.path.name, full.data, full.masked) == ("report.pdf", b"%PDF-1.4 full", False)
    assert full.content_hash == "c" * 64
    masked = check_report(entry, "f" * 64, tmp_path, masked=True)
    assert (masked.path.name, masked.data) == ("report.masked.pdf", b"%PDF-1.4 masked")
    with pytest.raises(NotSendable, match=r"no report in manifest\.json"):
        check_report(None, "f" * 64, tmp_path)
    # the manifest names a file; only its name is used, inside the report's own folder
    elsewhere = _entry(tmp_path, outputs={"pdf": "/etc/../somewhere/report.pdf"})
    assert check_report(elsewhere, "f" * 64, tmp_path).path == tmp_path / "report.pdf"


def test_message_ids_are_stable_per_version_and_recipient() -> None:
    env = Envelope("school", "s001", DAY, "reports@example.org", "a@example.org")
    other = Envelope("school", "s001", DAY, "reports@example.org", "b@example.org")
    from_ = "晨午检日报 <reports@example.org>"
    first = stable_message_id(env, "a" * 64, from_)
    assert first == stable_message_id(env, "a" * 64, from_)
    assert first != stable_message_id(env, "b" * 64, from_)
    assert first != stable_message_id(other, "a" * 64, from_)
    assert first.startswith("<reportkit.school.s001.20200210.")
    assert first.endswith("@example.org>")
    assert "a@example.org" not in first  # the recipient only as a digest


def test_delivery_result_to_json(lite: Deployment) -> None:
    result = send_reports(lite.settings, DAY, dry_run=True)
    data = json.loads(json.dumps(result.to_json(), ensure_ascii=False))
    assert data["date"] == "2020-02-10"
    assert data["dry_run"] is True
    assert data["ok"] is True
    assert data["counts"] == {"dry_run": 3}
    assert len(data["written"]) == 4
    assert {o["target_id"] for o in data["outcomes"]} == {"s001", "s002", "d01"}
    assert data["outcomes"][0]["accepted"] == [PRINCIPAL, "vice@s001.example.org"]
