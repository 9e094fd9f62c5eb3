"""The ``reportkit`` command: lean start-up, JSON outputs, documented exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reportkit import cli

PARAMS = Path(__file__).resolve().parents[1] / "params"


def test_help_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from reportkit import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('pandas', 'sqlalchemy', 'papermill', 'nbconvert', 'matplotlib', 'jupyterlab', 'jsonschema')\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_every_command_has_help(capsys):
    for command in (
        "init",
        "ingest",
        "demo",
        "flags",
        "run",
        "send",
        "remind",
        "daily",
        "schedule",
        "console",
        "audit",
        "purge",
    ):
        with pytest.raises(SystemExit) as exit_:
            cli.main([command, "--help"])
        assert exit_.value.code == 0
        assert "--db" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["flags", "--date", "28/02/2020"])
    assert exit_.value.code == 2
    assert "not a date YYYY-MM-DD" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "--date", "2020-02-28", "--kernel-reuse", "0"])
    assert exit_.value.code == 2
    assert (
        "--kernel-reuse: must be a whole number of 1 or more (got '0')" in capsys.readouterr().err
    )


def test_a_bad_config_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "schools.yaml").write_text(
        "districts: [{id: d01, name: 县}]\nschools:\n  - {id: s001, name: 小学, district: d01, deadline: '25:00'}\n",
        encoding="utf-8",
    )
    code = cli.main(
        [
            "flags",
            "--date",
            "2020-02-28",
            "--params",
            str(tmp_path),
            "--db",
            f"sqlite:///{tmp_path / 'x.db'}",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "schools.yaml: schools.0.deadline: must be a time HH:MM (got '25:00')" in err
    assert "Traceback" not in err


def test_ingest_json_and_exit_codes(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    roster = tmp_path / "s001" / "名册.csv"
    roster.parent.mkdir()
    roster.write_text(
        "学号,姓名,身份,年级,班级\n001,张三,学生,一年级,1班\n002,李四,学生,一年级,1班\n",
        encoding="gbk",
    )
    logs = tmp_path / "s001" / "晨检.csv"
    logs.write_text("学号,日期,体温\n001,2020-02-28,36.5\n,2020-02-28,36.6\n", encoding="utf-8-sig")
    broken = tmp_path / "s001" / "broken.xlsx"
    broken.write_bytes(b"not a spreadsheet")
    common = ["--db", db, "--params", str(PARAMS)]

    assert cli.main(["ingest", "roster", str(roster), "--json", *common]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "roster"
    assert report["inserted"] == 2
    assert report["files"][0]["encoding"] in ("gbk", "gb18030")
    assert cli.main(["ingest", "roster", str(roster), "--json", *common]) == 0
    assert json.loads(capsys.readouterr().out)["files"][0]["already_ingested"] is True
    assert cli.main(["ingest", "roster", str(roster), "--json", "--force", *common]) == 0
    again = json.loads(capsys.readouterr().out)
    assert "already_ingested" not in again["files"][0]
    assert (again["inserted"], again["unchanged"]) == (0, 2)

    assert cli.main(["ingest", "logs", str(logs), str(broken), "--json", *common]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["inserted"] == 1
    assert report["quarantined"] == 1
    errors = [f for f in report["files"] if f.get("error")]
    assert [Path(f["path"]).name for f in errors] == ["broken.xlsx"]
    assert set(report) >= {
        "kind",
        "files",
        "rows_read",
        "inserted",
        "updated",
        "unchanged",
        "quarantined",
        "findings",
    }

    assert cli.main(["ingest", "logs", str(tmp_path / "nope.csv"), *common]) == 1
    assert "no such file" in capsys.readouterr().err


@pytest.mark.slow
def test_flags_json_on_the_demo(small_demo, capsys):
    code = cli.main(
        [
            "flags",
            "--date",
            "2020-02-28",
            "--json",
            "--db",
            small_demo.db_url,
            "--params",
            str(small_demo.params_dir),
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["date"] == "2020-02-28"
    by_id = {s["school_id"]: s for s in data["schools"]}
    assert by_id[small_demo.events["late_school"]]["submission"]["status"] == "late"
    assert by_id[small_demo.events["missing_school"]]["submission"]["status"] == "missing"
    school, person = small_demo.events["suspected"][0]
    assert person in by_id[school]["suspected"]
    assert by_id[small_demo.events["zero_report_school"]]["zero_report"] is True
    assert all(s["missing"] == sorted(s["missing"]) for s in data["schools"])


def test_package_surface_is_small_and_sorted():
    import reportkit

    assert reportkit.__all__ == sorted(reportkit.__all__)
    for name in reportkit.__all__:
        assert getattr(reportkit, name) is not None


# --- a store that is not there: one line, exit 2, nothing created ----------------------


def _schools_yaml(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schools.yaml").write_text(
        "districts: [{id: d1, name: 县}]\nschools:\n"
        "  - {id: s001, name: 一小, district: d1}\n  - {id: s002, name: 二小, district: d1}\n",
        encoding="utf-8",
    )
    return folder


@pytest.mark.parametrize(
    "command",
    [
        ["flags", "--date", "2020-02-28"],
        ["run", "--date", "2020-02-28"],
        ["send", "--date", "2020-02-28", "--dry-run"],
        ["remind", "--date", "2020-02-28", "--dry-run"],
        ["daily", "--date", "2020-02-28", "--dry-run"],
        ["console", "--no-browser"],
    ],
)
def test_reading_commands_refuse_a_store_that_is_not_there(tmp_path, capsys, command):
    params = _schools_yaml(tmp_path / "params")
    db = tmp_path / "data" / "reportkit.bd"  # mistyped
    args = [*command, "--db", f"sqlite:///{db}", "--params", str(params)]
    code = cli.main([*args, "--outputs", str(tmp_path / "outputs")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(f"reportkit: no store at sqlite:///{db}")
    assert "Traceback" not in err
    assert not db.exists()
    assert not db.parent.exists()


def test_init_creates_the_store_and_a_school_without_roster_is_refused(tmp_path, capsys):
    params = _schools_yaml(tmp_path / "params")
    db = tmp_path / "data" / "reportkit.db"
    common = ["--db", f"sqlite:///{db}", "--params", str(params)]
    assert cli.main(["init", *common]) == 0
    out = capsys.readouterr().out
    assert "store created" in out
    assert "2 schools" in out
    assert db.exists()
    assert cli.main(["init", *common]) == 0
    assert "store already there" in capsys.readouterr().out

    # an empty store: no roster for any school, never a table of zeros
    assert cli.main(["flags", "--date", "2020-02-28", *common]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no roster in the store" in captured.err
    assert "s001, s002" in captured.err
    roster = tmp_path / "名册.csv"
    roster.write_text("学号,姓名,身份,年级,班级\n001,张三,学生,一年级,1班\n", encoding="utf-8")
    assert cli.main(["ingest", "roster", str(roster), "--school", "s001", *common]) == 0
    capsys.readouterr()
    assert cli.main(["flags", "--date", "2020-02-28", "--school", "s002", *common]) == 2
    assert "for s002:" in capsys.readouterr().err
    assert cli.main(["flags", "--date", "2020-02-28", "--school", "s001", *common]) == 0
    assert "s001 一小" in capsys.readouterr().out


def test_exit_codes_come_from_the_error_classes():
    from reportkit import daily
    from reportkit.errors import (
        ConfigError,
        IngestError,
        ReportkitError,
        RosterMissingError,
        StoreError,
        StoreLockedError,
        StoreMissingError,
    )

    assert ReportkitError.exit_code == 1
    assert ConfigError("x.yaml").exit_code == 2
    assert StoreMissingError("x").exit_code == 2
    assert RosterMissingError(["s001"], "sqlite://").exit_code == 2
    assert (StoreError.exit_code, StoreLockedError.exit_code, IngestError.exit_code) == (1, 1, 1)
    assert issubclass(daily.LockedError, ReportkitError)
    assert daily.LockedError.exit_code == 1


def test_every_reporting_command_takes_json():
    parser = cli.build_parser()
    for command in (["run"], ["send"], ["remind"], ["daily"], ["flags"], ["ingest", "logs", "x"]):
        date = [] if command[0] in ("daily", "ingest") else ["--date", "2020-02-28"]
        assert parser.parse_args([*command, *date, "--json"]).json is True


def test_results_as_json_dates_iso_paths_as_text():
    from datetime import date as day

    from reportkit.daily import DailyResult
    from reportkit.delivery import DeliveryResult, MessageOutcome
    from reportkit.execution import JobResult, RunResult
    from reportkit.ingest import FileReport, IngestReport

    run = RunResult(
        "2020-02-28",
        Path("/out/2020-02-28/manifest.json"),
        [JobResult("school", "s001", "ok", 1.5, 1, {"pdf": "/out/s001/report.pdf"})],
    )
    data = json.loads(json.dumps(cli._jsonable(run)))
    assert data["manifest"] == "/out/2020-02-28/manifest.json"
    assert data["jobs"][0]["outputs"]["pdf"] == "/out/s001/report.pdf"
    assert data["ok"] is True
    sent = DeliveryResult(
        day(2020, 2, 28),
        [MessageOutcome("school", "s001", "一小", "failed", error="no PDF")],
        mail_dir=Path("/out/mail"),
    )
    data = json.loads(json.dumps(cli._jsonable(sent), ensure_ascii=False))
    assert (data["date"], data["mail_dir"], data["ok"]) == ("2020-02-28", "/out/mail", False)
    assert data["outcomes"][0]["error"] == "no PDF"
    result = DailyResult(day(2020, 2, 28), Path("/out/daily.log"), seconds={"ingest": float("nan")})
    data = json.loads(json.dumps(cli._jsonable(result)))
    assert (data["date"], data["log_path"], data["seconds"]["ingest"]) == (
        "2020-02-28",
        "/out/daily.log",
        None,
    )
    report = IngestReport("logs", [FileReport("a.csv", "gbk", rows_read=3, inserted=3)])
    assert cli._jsonable(report)["inserted"] == 3  # its own to_json


# --- reportkit flags at 80 columns (cron logs, pipes) ------------------------------------


def _flags_output(small_demo, *extra: str) -> str:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "reportkit.cli",
            "flags",
            "--date",
            "2020-02-28",
            "--db",
            small_demo.db_url,
            "--params",
            str(small_demo.params_dir),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout  # a pipe: not a terminal


@pytest.mark.slow
def test_flags_piped_fits_80_columns_and_cuts_no_id_or_name(small_demo):
    import re

    from rich.cells import cell_len

    from reportkit.config import load_schools

    out = _flags_output(small_demo)
    lines = out.splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    assert "…" not in out
    for school in load_schools(small_demo.params_dir).schools:
        assert f"{school.id} {school.name}" in out
    # zh-CN: no English word in the table (ids like s001 are not words)
    assert not re.findall(r"\b[A-Za-z]{2,}\b", re.sub(r"\bs\d{3}\b", "", out))
    missing = small_demo.events["missing_school"]
    block = out[out.index(f"{missing} ") :].split("\ns0", 1)[0]
    assert "未报送" in block
    assert "发热 —" in block
    assert "疑似 —" in block  # not "0": nothing is known
    english = _flags_output(small_demo, "--lang", "en")
    assert "suspected" in english
    assert "疑似" not in english
    assert max(cell_len(line) for line in english.splitlines()) <= 80
