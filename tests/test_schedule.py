"""``reportkit schedule``: entries that carry the settings in force, and a check that runs them."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

from reportkit import cli, schedule
from reportkit.config import Settings

SCHOOLS = "districts: [{id: d1, name: 县}]\nschools:\n  - {id: s001, name: 一小, district: d1}\n"


def _project(root: Path) -> Path:
    (root / "params").mkdir(parents=True)
    (root / "params" / "schools.yaml").write_text(SCHOOLS, encoding="utf-8")
    return root


def _cron_command(out: str) -> str:
    line = next(ln for ln in out.splitlines() if ln.endswith(schedule.MARK))
    return line.split(" * * * ", 1)[1].removesuffix(schedule.MARK).strip()


def test_the_entries_carry_the_settings_in_force_without_the_password(
    tmp_path, capsys, monkeypatch
):
    project = _project(tmp_path / "proj")
    monkeypatch.chdir(project)
    monkeypatch.setenv("REPORTKIT_GROUP", "")
    monkeypatch.setenv("REPORTKIT_DB_BUSY_TIMEOUT", "60")
    monkeypatch.setenv("REPORTKIT_SMTP_PASSWORD", "mail-secret")
    outputs = tmp_path / "elsewhere" / "out 100%"  # a space and a % (cron's newline)
    url = "postgresql://rk:s3cret@db.example:5432/reportkit"
    code = cli.main(["schedule", "--at", "16:45", "--db", url, "--outputs", str(outputs)])
    out = capsys.readouterr().out
    assert code == 0
    assert "s3cret" not in out
    assert "mail-secret" not in out
    command = _cron_command(out)
    assert "--db postgresql://rk@db.example:5432/reportkit" in command
    assert f"--params {project / 'params'}" in command
    assert "--outputs '" + str(outputs).replace("%", r"\%") + "'" in command
    assert f"--inbox {project / 'data' / 'inbox'}" in command
    assert "REPORTKIT_DB_BUSY_TIMEOUT=60" in command
    # the log is an absolute path in a folder that exists now
    log = shlex.split(command.rsplit(">>", 1)[1].replace(r"\%", "%"))[0]
    assert Path(log) == outputs / "cron.log"
    assert outputs.stat().st_mode & 0o777 == 0o700
    assert Path(log).stat().st_mode & 0o777 == 0o600  # not the 0644 a shell would make
    # unescaped % would end the command in a crontab
    assert not re.search(r"(?<!\\)%", command)
    # the secrets are named, with the file they go in
    assert f"PGPASSWORD=..., REPORTKIT_SMTP_PASSWORD=... in {project / '.env'}" in out
    assert f"EnvironmentFile=-{project / '.env'}" in out
    service = out[out.index("[Service]") : out.index("reportkit-daily.timer")]
    assert "ExecStart=" in service
    assert "--db postgresql://rk@db.example:5432/reportkit" in service
    assert '"' + str(outputs).replace("%", "%%") + '"' in service
    assert "Environment=REPORTKIT_DB_BUSY_TIMEOUT=60" in service
    assert "UMask=0077" in service
    assert "mail-secret" not in service


def test_check_runs_the_entry_as_cron_would(tmp_path, capsys, monkeypatch):
    project = _project(tmp_path / "proj")
    monkeypatch.chdir(project)
    db = f"sqlite:///{project / 'data' / 'reportkit.db'}"
    # no store yet: the job would not start, and the check says why
    assert cli.main(["schedule", "--check", "--db", db]) == 2
    out = capsys.readouterr().out
    assert "the job would NOT start" in out
    assert "problem: store: no store at" in out
    assert not (project / "data" / "reportkit.db").exists()

    assert cli.main(["init", "--db", db]) == 0
    capsys.readouterr()
    assert cli.main(["schedule", "--check", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "reportkit daily: ready" in out
    assert "the job would start" in out
    assert "warning: no roster for s001" in out


def test_check_sees_what_cron_does_not_have(tmp_path, capsys, monkeypatch):
    project = _project(tmp_path / "proj")
    monkeypatch.chdir(project)
    db = f"sqlite:///{project / 'data' / 'reportkit.db'}"
    assert cli.main(["init", "--db", db]) == 0
    (project / "params" / "delivery.yaml").write_text(
        "smtp: {host: smtp.example.org, username: reports}\n", encoding="utf-8"
    )
    monkeypatch.setenv("REPORTKIT_SMTP_PASSWORD", "in-this-shell-only")
    capsys.readouterr()
    # cron starts the job without this shell's variables: the password must be in .env
    assert cli.main(["schedule", "--check", "--db", db]) == 2
    out = capsys.readouterr().out
    assert "problem: the SMTP password variable REPORTKIT_SMTP_PASSWORD is not set" in out
    env_file = project / ".env"
    env_file.write_text("REPORTKIT_SMTP_PASSWORD='in-the-file'\n", encoding="utf-8")
    os.chmod(env_file, 0o600)
    assert cli.main(["schedule", "--check", "--db", db]) == 0
    assert "the job would start" in capsys.readouterr().out


def test_the_entrys_own_command_starts_from_any_folder(tmp_path, monkeypatch):
    project = _project(tmp_path / "proj")
    settings = Settings.resolve(f"sqlite:///{project / 'rk.db'}", project / "params", "outputs")
    job = schedule.plan(
        settings,
        "16:45",
        "Asia/Shanghai",
        project,
        inbox=Path("data/inbox"),
        archive=Path("data/archive"),
    )
    assert job.log == project / "outputs" / "cron.log"
    assert all(Path(a).is_absolute() for a in job.argv[job.argv.index("--params") + 1 :: 2])
    command = schedule.crontab_line(job).splitlines()[1].split(" * * * ", 1)[1]
    command = command.removesuffix(schedule.MARK).replace(r"\%", "%")
    command = command.rsplit(">>", 1)[0] + "--help"  # the entry as written, started as cron does
    proc = subprocess.run(
        ["/bin/sh", "-c", command],
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **_pythonpath()},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "the afternoon job" in proc.stdout


def _pythonpath() -> dict[str, str]:
    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}
