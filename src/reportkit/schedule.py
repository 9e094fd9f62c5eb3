"""Scheduling the afternoon job: a crontab line, a systemd timer and service.

``reportkit schedule --at 16:45`` prints both for ``reportkit daily`` with the
settings in force when it runs: the current environment's ``reportkit``, absolute
``--db`` (its password left out), ``--params``, ``--outputs``, ``--inbox`` and
``--archive``, and the ``REPORTKIT_*`` (and ``PYTHONPATH``) variables that are set.
Secrets never go in the entry: a database password (``PGPASSWORD``) and the SMTP
password come from an environment file the output names (``<project>/.env`` by
default, mode 0600), which both entries read. Cron's output goes to
``<outputs>/cron.log`` (an absolute path whose folder is created now).

``--install`` adds the crontab line for the current user (once: a line marked
``# reportkit daily`` is replaced, never duplicated); ``--check`` runs the
entry's command as cron would (a bare environment, ``/bin/sh``) with
``daily --check`` and says whether the job would start. The schedule is in the
deployment's time zone (``CRON_TZ`` for cron, ``OnCalendar`` for systemd).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reportkit.config import Settings

from reportkit.layout import cron_log

__all__ = [
    "MARK",
    "CheckResult",
    "Job",
    "check",
    "crontab_line",
    "install_crontab",
    "plan",
    "systemd_units",
]

MARK = "# reportkit daily"
# variables that locate things: they become arguments of the command
_AS_ARGUMENTS = ("REPORTKIT_DB", "REPORTKIT_PARAMS", "REPORTKIT_OUTPUTS")
_SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN")
# what cron gives a job (Debian's cron): no profile, no virtualenv, /bin/sh
_CRON_PATH = "/usr/bin:/bin"


@dataclass(frozen=True)
class Job:
    """The afternoon job as the scheduler will start it."""

    at: str
    timezone: str
    workdir: Path
    argv: list[str]  # the command: reportkit daily and its arguments
    env: dict[str, str]  # variables set in the entry (no secrets)
    env_file: Path  # secrets: sourced by cron, EnvironmentFile= for systemd
    secrets: list[str]  # the variables the job needs from env_file
    log: Path  # cron's output, appended
    group: bool = False  # REPORTKIT_GROUP is set: the service's umask lets the group read


def _executable() -> list[str]:
    exe = Path(sys.executable).with_name("reportkit")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("reportkit")
    if found:
        return [str(Path(found).resolve())]
    return [sys.executable, "-m", "reportkit.cli"]


def _database(url: str) -> tuple[str, list[str]]:
    """The URL for the entry (absolute, no password) and the secrets it then needs."""
    import sqlalchemy as sa

    from reportkit.store.engine import sqlite_path

    parsed = sa.engine.make_url(url)
    path = sqlite_path(parsed)
    if path is not None:
        return f"sqlite:///{path.resolve()}", []
    if not parsed.password:
        return parsed.render_as_string(hide_password=False), []
    # libpq (psycopg) reads the password from PGPASSWORD when the URL has none
    bare = sa.engine.URL.create(
        parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database
    ).update_query_dict(dict(parsed.query))
    return bare.render_as_string(hide_password=False), ["PGPASSWORD"]


def plan(
    settings: Settings,
    at: str,
    timezone: str,
    workdir: Path,
    *,
    inbox: Path,
    archive: Path,
    env_file: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Job:
    """The job for ``settings`` (paths made absolute against ``workdir``)."""
    environ = dict(os.environ if environ is None else environ)
    workdir = Path(workdir).resolve()

    def absolute(path: Path | str) -> Path:
        path = Path(path)
        return path if path.is_absolute() else workdir / path

    url, secrets = _database(settings.db)
    outputs = absolute(settings.outputs)
    argv = [*_executable(), "daily", "--db", url]
    argv += ["--params", str(absolute(settings.params)), "--outputs", str(outputs)]
    argv += ["--inbox", str(absolute(inbox)), "--archive", str(absolute(archive))]
    carried = {}
    for name, value in sorted(environ.items()):
        if not (name.startswith("REPORTKIT_") or name == "PYTHONPATH") or name in _AS_ARGUMENTS:
            continue
        if any(word in name for word in _SECRET_WORDS):
            secrets.append(name)
        else:
            carried[name] = value
    password_env = _smtp_password_env(settings)
    if password_env and password_env not in secrets:
        secrets.append(password_env)
    return Job(
        at=at,
        timezone=timezone,
        workdir=workdir,
        argv=argv,
        env=carried,
        env_file=absolute(env_file) if env_file else workdir / ".env",
        secrets=secrets,
        log=cron_log(outputs),
        group=bool(environ.get("REPORTKIT_GROUP", "").strip()),
    )


def _smtp_password_env(settings: Settings) -> str | None:
    """The SMTP password variable, when delivery.yaml logs in with a user name."""
    try:
        smtp = settings.delivery().smtp
    except Exception:  # a bad delivery.yaml is daily --check's to report
        return None
    return smtp.password_env if getattr(smtp, "username", None) else None


def _shell(job: Job, *, check: bool = False) -> str:
    """The command line cron runs (``/bin/sh``): into the project, the secrets, the job."""
    q = shlex.quote
    env_file = q(str(job.env_file))
    assign = " ".join(f"{name}={q(value)}" for name, value in job.env.items())
    command = " ".join(q(a) for a in job.argv) + (" --check" if check else "")
    return (
        f"cd {q(str(job.workdir))} && {{ [ ! -f {env_file} ] || {{ set -a; . {env_file}; set +a; }}; }}"
        f" && {assign + ' ' if assign else ''}{command}"
    )


def crontab_line(job: Job) -> str:
    """``CRON_TZ=...`` and the entry, its output appended to ``job.log``."""
    hour, minute = (int(x) for x in job.at.split(":"))
    # in a crontab an unescaped % ends the command
    command = _shell(job).replace("%", r"\%")
    log = shlex.quote(str(job.log)).replace("%", r"\%")
    return f"CRON_TZ={job.timezone}\n{minute} {hour} * * * {command} >> {log} 2>&1 {MARK}"


def _unit_word(word: str) -> str:
    """One word of a unit file's ExecStart=/Environment=: quoted, ``%`` and ``$`` escaped."""
    word = word.replace("%", "%%").replace("$", "$$")
    if any(c in word for c in " \t\"'\\"):
        word = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


def systemd_units(job: Job) -> dict[str, str]:
    """``reportkit-daily.service`` and ``reportkit-daily.timer``."""
    environment = "".join(
        f"Environment={_unit_word(f'{name}={value}')}\n" for name, value in job.env.items()
    )
    secrets = ", ".join(job.secrets) or "none needed now"
    service = f"""[Unit]
Description=reportkit daily: ingest, render and send the school health reports
After=network-online.target postgresql.service

[Service]
Type=oneshot
WorkingDirectory={_unit_word(str(job.workdir))}
# secrets (mode 0600, NAME=value lines; {secrets}):
EnvironmentFile=-{_unit_word(str(job.env_file))}
{environment}UMask={"0027" if job.group else "0077"}
ExecStart={" ".join(_unit_word(a) for a in job.argv)}
TimeoutStartSec=2h
"""
    timer = f"""[Unit]
Description=Run reportkit daily every afternoon at {job.at} ({job.timezone})

[Timer]
OnCalendar=*-*-* {job.at}:00 {job.timezone}
Persistent=true

[Install]
WantedBy=timers.target
"""
    return {"reportkit-daily.service": service, "reportkit-daily.timer": timer}


@dataclass
class CheckResult:
    ok: bool
    lines: list[str]


def check(job: Job, *, timeout: float = 300.0) -> CheckResult:
    """Run the entry's command as cron would, with ``daily --check``: would the job start?

    A bare environment (``HOME``, ``LOGNAME``, ``PATH=/usr/bin:/bin``, ``SHELL=/bin/sh``;
    nothing of this shell's virtualenv or exports), ``/bin/sh -c`` from the home folder;
    and the log's folder must be writable.
    """
    lines = []
    ok = True
    folder = job.log.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        ok = False
        lines.append(
            f"the log's folder {folder} is missing or not writable: cron cannot start the job"
        )
    if job.env_file.exists() and job.env_file.stat().st_mode & 0o077:
        lines.append(
            f"warning: {job.env_file} holds secrets and is readable by others: chmod 600 {job.env_file}"
        )
    home = os.environ.get("HOME", "/")
    user = os.environ.get("LOGNAME") or os.environ.get("USER") or ""
    env = {"HOME": home, "LOGNAME": user, "USER": user, "PATH": _CRON_PATH, "SHELL": "/bin/sh"}
    try:
        proc = subprocess.run(
            ["/bin/sh", "-c", _shell(job, check=True)],
            env=env,
            cwd=home if Path(home).is_dir() else "/",
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return CheckResult(False, [*lines, f"the check did not end within {timeout:.0f} s"])
    output = (proc.stdout + proc.stderr).strip()
    lines += output.splitlines() if output else []
    if proc.returncode != 0:
        ok = False
    verdict = "would start" if ok else "would NOT start"
    lines.append(f"reportkit daily at {job.at} ({job.timezone}): the job {verdict}")
    return CheckResult(ok, lines)


def install_crontab(line: str) -> str:
    """Put ``line`` in the current user's crontab, replacing an earlier reportkit line."""
    if not shutil.which("crontab"):
        from reportkit.errors import ReportkitError

        raise ReportkitError("crontab not found: install cron (apt-get install cron)")
    current = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    kept = [
        ln
        for ln in (current.stdout.splitlines() if current.returncode == 0 else [])
        if not ln.rstrip().endswith(MARK) and not _is_our_tz(ln, current.stdout)
    ]
    new = "\n".join([*kept, line]) + "\n"
    subprocess.run(["crontab", "-"], input=new, text=True, check=True)
    return new


def _is_our_tz(line: str, text: str) -> bool:
    # the CRON_TZ line written just above our line belongs to it
    lines = text.splitlines()
    if not line.startswith("CRON_TZ="):
        return False
    i = lines.index(line)
    return i + 1 < len(lines) and lines[i + 1].rstrip().endswith(MARK)
