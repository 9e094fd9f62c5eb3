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
        "ingest",
        "demo",
        "flags",
        "run",
        "send",
        "remind",
        "daily",
        "schedule",
        "console",
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
