"""The afternoon job end to end: inbox -> store -> reports -> email, once."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from reportkit import cli, daily, schedule, store
from reportkit.config import Settings
from reportkit.demo import build_demo

pytestmark = pytest.mark.slow

DAY = date(2020, 2, 28)


def _deployment(root: Path, db_url: str, server) -> Settings:
    """A small demo county with the demo date's files still in the inbox."""
    build_demo(root, root / "params", db_url, small=True, days=15, ingest_through=date(2020, 2, 27))
    delivery = {
        "retries": 1,
        "backoff_seconds": 0,
        "smtp": server.smtp_settings(),
        "from": "晨午检日报 <reports@example.org>",
    }
    (root / "params" / "delivery.yaml").write_text(
        yaml.safe_dump(delivery, allow_unicode=True), encoding="utf-8"
    )
    return Settings.resolve(db_url, root / "params", root / "outputs")


def _count(db_url: str, table: sa.Table) -> int:
    with store.connect(db_url).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_the_whole_afternoon_and_a_safe_rerun(tmp_path, db_url, smtp_server):
    settings = _deployment(tmp_path, db_url, smtp_server)
    inbox, archive = tmp_path / "data" / "inbox", tmp_path / "data" / "archive"
    day_files = sorted(
        p.relative_to(inbox / DAY.isoformat()) for p in (inbox / DAY.isoformat()).rglob("*.*")
    )
    assert day_files
    checkins_before = _count(db_url, store.checkins)

    result = daily.run_daily(settings, DAY, inbox=inbox, archive=archive, progress=False)

    # ingested and archived, nothing left in the inbox
    assert result.ingested["logs"]["inserted"] > 0
    assert _count(db_url, store.checkins) == checkins_before + result.ingested["logs"]["inserted"]
    assert not [p for p in (inbox / DAY.isoformat()).rglob("*") if p.is_file()]
    assert (
        sorted(
            p.relative_to(archive / DAY.isoformat())
            for p in (archive / DAY.isoformat()).rglob("*.*")
        )
        == day_files
    )
    # one late school, one missing, the rest on time
    assert result.submissions["late"] == 1
    assert result.submissions["missing"] == 1
    # every school and every roll-up with recipients rendered
    config = settings.schools()
    due = [u for u in config.rollup_ids if config.unit(u).recipients]
    assert result.reports_ok == len(config.schools) + len(due)
    assert not result.reports_failed
    html = settings.outputs / DAY.isoformat() / config.schools[0].id / "report.html"
    assert config.schools[0].name in html.read_text(encoding="utf-8")
    # every school and every unit with recipients emailed once (a central school's
    # principal gets the school's report and its roll-up)
    recipients = [r.email for s in config.schools for r in s.recipients] + [
        r.email for u in due for r in config.unit(u).recipients
    ]
    assert sorted(smtp_server.handler.recipients()) == sorted(recipients)
    assert result.messages_sent == len(recipients)
    assert result.ok
    log_text = result.log_path.read_text(encoding="utf-8")
    assert "ingested logs" in log_text
    assert "messages sent" in log_text

    # the schools' files arrive a second time: nothing doubles, nothing is emailed again
    for rel in day_files:
        (inbox / DAY.isoformat() / rel).parent.mkdir(parents=True, exist_ok=True)
        (inbox / DAY.isoformat() / rel).write_bytes((archive / DAY.isoformat() / rel).read_bytes())
    checkins = _count(db_url, store.checkins)
    quarantined = _count(db_url, store.quarantine)
    again = daily.run_daily(settings, DAY, inbox=inbox, archive=archive, progress=False)
    assert again.ingested["logs"]["inserted"] == 0
    assert again.ingested["logs"]["updated"] == 0
    assert _count(db_url, store.checkins) == checkins
    assert _count(db_url, store.quarantine) == quarantined
    assert again.reports_ok == result.reports_ok
    assert again.messages_sent == 0
    assert len(smtp_server.handler.recipients()) == len(recipients)
    assert again.ok


def _hold_lock(outputs: str, ready, release) -> None:
    with daily._Lock(Path(outputs) / ".daily.lock") as lock:
        lock.hold(DAY)
        ready.set()
        release.wait(30)


def test_a_second_run_is_refused_while_the_first_holds_the_lock(tmp_path, capsys):
    outputs = tmp_path / "outputs"
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(outputs), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(daily.LockedError, match=rf"pid {holder.pid} on .* since"):
            daily._Lock(outputs / ".daily.lock").__enter__()
    finally:
        release.set()
        holder.join(30)


def test_a_lock_left_by_a_killed_run_does_not_block(tmp_path):
    outputs = tmp_path / "outputs"
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(outputs), ready, release))
    holder.start()
    assert ready.wait(30)
    holder.kill()  # no clean-up runs: the note file stays behind
    holder.join(30)
    assert (outputs / ".daily.json").exists()
    with daily._Lock(outputs / ".daily.lock") as lock:
        lock.hold(DAY)
        note = json.loads((outputs / ".daily.json").read_text())
    assert note["date"] == DAY.isoformat()


def test_cli_daily_reports_the_lock_holder_and_fails(tmp_path, capsys):
    outputs = tmp_path / "outputs"
    params = Path(__file__).resolve().parents[1] / "params"
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(outputs), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        code = cli.main(
            [
                "daily",
                "--date",
                "2020-02-28",
                "--outputs",
                str(outputs),
                "--params",
                str(params),
                "--db",
                f"sqlite:///{tmp_path / 'x.db'}",
            ]
        )
    finally:
        release.set()
        holder.join(30)
    assert code == 1
    assert "already running" in capsys.readouterr().err


def test_files_are_routed_by_name():
    assert daily.classify_file(Path("名册.xlsx")) == "roster"
    assert daily.classify_file(Path("门卫登记.csv")) == "entries"
    assert daily.classify_file(Path("2月28日晨午检.csv")) == "logs"


def test_schedule_prints_cron_and_systemd(tmp_path, capsys, monkeypatch):
    params = Path(__file__).resolve().parents[1] / "params"
    monkeypatch.chdir(tmp_path)
    assert cli.main(["schedule", "--at", "16:45", "--params", str(params)]) == 0
    out = capsys.readouterr().out
    assert "CRON_TZ=Asia/Shanghai" in out
    assert f"45 16 * * * cd {tmp_path}" in out
    assert f">> {tmp_path / 'outputs' / 'cron.log'} 2>&1" in out
    assert (tmp_path / "outputs").is_dir()  # cron opens the log before the job starts
    assert "OnCalendar=*-*-* 16:45:00 Asia/Shanghai" in out
    assert "[Service]" in out
    assert schedule.MARK in out
    assert cli.main(["schedule", "--at", "25:00", "--params", str(params)]) == 2


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        # Asia/Shanghai is UTC+8 all year: its day begins at 16:00 UTC the day before
        (datetime(2020, 2, 27, 15, 59, tzinfo=UTC), date(2020, 2, 27)),
        (datetime(2020, 2, 27, 16, 0, tzinfo=UTC), date(2020, 2, 28)),
        (datetime(2020, 2, 28, 15, 59, tzinfo=UTC), date(2020, 2, 28)),
    ],
)
def test_today_is_in_the_configured_zone(monkeypatch, utc, expected):
    from reportkit.config import load_schools

    class Clock(datetime):  # the machine's clock at ``utc``
        @classmethod
        def now(cls, tz=None):
            return utc.astimezone(tz) if tz is not None else utc.replace(tzinfo=None)

    config = load_schools(Path(__file__).resolve().parents[1] / "params")
    assert config.timezone == "Asia/Shanghai"
    monkeypatch.setattr(daily, "datetime", Clock)
    assert daily.today(config) == expected


# --- a locked store, a school without a roster, the log's clock, --check -------------------

_HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(60)
"""
_OFFSET = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00 "


def _small_deployment(root: Path) -> Settings:
    """Three schools in two districts, rosters and two days of check-ins (tests.factories)."""
    from tests.factories import build_district

    return build_district(root)


def test_a_locked_store_is_one_line_in_the_log_and_on_stderr(tmp_path, capsys, monkeypatch):
    import re
    import subprocess
    import sys

    monkeypatch.setenv("REPORTKIT_DB_BUSY_TIMEOUT", "0.3")  # read when the engine is made
    monkeypatch.setenv("REPORTKIT_DB_RETRIES", "1")
    monkeypatch.setenv("REPORTKIT_DB_BACKOFF", "0.1")
    settings = _small_deployment(tmp_path)
    db = settings.db.removeprefix("sqlite:///")
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, db], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code = cli.main(
            [
                "daily",
                "--date",
                DAY.isoformat(),
                "--no-send",
                "--db",
                settings.db,
                "--params",
                str(settings.params),
                "--outputs",
                str(settings.outputs),
                "--inbox",
                str(tmp_path / "inbox"),
                "--archive",
                str(tmp_path / "archive"),
            ]
        )
    finally:
        holder.kill()
        holder.wait(30)
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    [line] = [ln for ln in err.splitlines() if ln.startswith("reportkit:")]
    assert line.startswith(f"reportkit: the store sqlite:///{db} is locked by another process")
    log = (settings.outputs / DAY.isoformat() / "daily.log").read_text(encoding="utf-8")
    [stopped] = [ln for ln in log.splitlines() if "stopped" in ln]
    assert re.match(
        _OFFSET + r"ERROR reportkit\.daily: daily run for 2020-02-28 \(pid \d+\) stopped: ", stopped
    )
    assert f"the store sqlite:///{db} is locked by another process" in stopped
    assert "trying again" in log  # the retry, with its back-off, is in the log too


def test_a_school_without_a_roster_fails_by_name_and_the_others_run(tmp_path):
    import re

    settings = _small_deployment(tmp_path)
    engine = store.connect(settings.db)
    with engine.begin() as conn:  # b1 (the only school of d2) lost its roster
        conn.execute(sa.delete(store.people).where(store.people.c.school_id == "b1"))
    result = daily.run_daily(
        settings,
        DAY,
        inbox=tmp_path / "inbox",
        archive=tmp_path / "archive",
        send=False,
        progress=False,
        formats=("html",),
    )
    assert not result.ok
    assert [line.split(":")[0] for line in result.no_roster] == ["school b1"]
    assert "FAILED school b1: no roster in the store" in "\n".join(result.summary_lines())
    assert result.reports_ok == 2  # a1 and a2 (d1 has no recipients: its roll-up is not due)
    assert not result.reports_failed
    day = settings.outputs / DAY.isoformat()
    assert (day / "a1" / "report.html").exists()
    assert not (day / "b1").exists()  # never a report of zeros
    log = result.log_path.read_text(encoding="utf-8")
    assert result.log_path.stat().st_mode & 0o777 == 0o600
    assert day.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "archive" / DAY.isoformat()).stat().st_mode & 0o777 == 0o700
    assert re.search(_OFFSET + r"ERROR reportkit\.daily: school b1: no roster", log, re.M)
    assert all(re.match(_OFFSET, ln) for ln in log.splitlines() if ln[:2] == "20")


def test_daily_check_says_whether_it_would_start(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the inbox defaults to ./data/inbox: none here
    settings = _small_deployment(tmp_path)
    common = ["--params", str(settings.params), "--outputs", str(settings.outputs)]
    assert cli.main(["daily", "--check", "--db", settings.db, *common]) == 0
    out = capsys.readouterr().out
    assert "reportkit daily: ready" in out
    assert "warning: the inbox" in out  # no inbox yet: nothing would be ingested
    missing = f"sqlite:///{tmp_path / 'nope.db'}"
    assert cli.main(["daily", "--check", "--db", missing, *common]) == 2
    out = capsys.readouterr().out
    assert "problem: store: no store at" in out
    assert "would not start" in out
    assert not (tmp_path / "nope.db").exists()
    assert not (settings.outputs / DAY.isoformat()).exists()  # a check writes nothing


def test_one_daily_parses_the_params_once_and_computes_the_findings_once(tmp_path, monkeypatch):
    """One context for the command: schools.yaml read once, schools.yaml's schools
    written once, the findings computed once and handed from the run to delivery."""
    from collections import Counter

    import reportkit.config
    import reportkit.findings.compute
    import reportkit.store.writes

    settings = _small_deployment(tmp_path)
    schools = (settings.params / "schools.yaml").read_text(encoding="utf-8")
    schools = schools.replace(
        "district: d1}", "district: d1, recipients: [{name: 校长, email: head@example.org}]}"
    )
    (settings.params / "schools.yaml").write_text(schools, encoding="utf-8")
    (settings.params / "rules.yaml").write_text("fever_celsius: 37.3\n", encoding="utf-8")
    (settings.params / "delivery.yaml").write_text("retries: 0\n", encoding="utf-8")
    calls: Counter[str] = Counter()

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)

        return wrapper

    parse = reportkit.config.load_yaml_model
    monkeypatch.setattr(
        reportkit.config,
        "load_yaml_model",
        lambda path, model: counted(Path(path).name, parse)(path, model),
    )
    monkeypatch.setattr(
        reportkit.store.writes,
        "sync_schools",
        counted("sync_schools", reportkit.store.writes.sync_schools),
    )
    monkeypatch.setattr(store, "sync_schools", reportkit.store.writes.sync_schools)
    monkeypatch.setattr(
        reportkit.findings.compute,
        "compute_findings",
        counted("compute_findings", reportkit.findings.compute.compute_findings),
    )
    code = cli.main(
        [
            "daily",
            "--date",
            DAY.isoformat(),
            "--dry-run",
            "--db",
            settings.db,
            "--params",
            str(settings.params),
            "--outputs",
            str(settings.outputs),
            "--inbox",
            str(tmp_path / "inbox"),
            "--archive",
            str(tmp_path / "archive"),
        ]
    )

    assert code == 0
    assert len(list((settings.outputs / DAY.isoformat() / "mail").rglob("*.eml"))) == 2
    # in this process; each report's kernel reads the params of its own notebook
    assert calls == {
        "schools.yaml": 1,
        "rules.yaml": 1,
        "delivery.yaml": 1,
        "sync_schools": 1,
        "compute_findings": 1,
    }
