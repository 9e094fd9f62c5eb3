"""Scheduling the afternoon job: a crontab line, a systemd timer and service.

``reportkit schedule --at 16:45`` prints both for ``reportkit daily`` run from the
current project folder with the current environment's ``reportkit``;
``--install`` adds the crontab line for the current user (once: a line marked
``# reportkit daily`` is replaced, never duplicated). The schedule is in the
deployment's time zone (``CRON_TZ`` for cron, ``OnCalendar`` for systemd).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["MARK", "crontab_line", "install_crontab", "systemd_units"]

MARK = "# reportkit daily"


def _command(workdir: Path, extra: str = "") -> str:
    exe = Path(sys.executable).with_name("reportkit")
    if not exe.exists():
        exe = Path(shutil.which("reportkit") or "reportkit")
    return f"cd {shlex.quote(str(workdir))} && {shlex.quote(str(exe))} daily{extra}"


def crontab_line(at: str, workdir: Path, timezone: str) -> str:
    hour, minute = (int(x) for x in at.split(":"))
    log = "outputs/cron.log"
    return f"CRON_TZ={timezone}\n{minute} {hour} * * * {_command(workdir)} >> {log} 2>&1 {MARK}"


def systemd_units(at: str, workdir: Path, timezone: str) -> dict[str, str]:
    exe = Path(sys.executable).with_name("reportkit")
    service = f"""[Unit]
Description=reportkit daily: ingest, render and send the school health reports
After=network-online.target postgresql.service

[Service]
Type=oneshot
WorkingDirectory={workdir}
ExecStart={exe} daily
# REPORTKIT_SMTP_PASSWORD and REPORTKIT_DB come from here:
EnvironmentFile=-{workdir}/.env
TimeoutStartSec=2h
"""
    timer = f"""[Unit]
Description=Run reportkit daily every afternoon at {at} ({timezone})

[Timer]
OnCalendar=*-*-* {at}:00 {timezone}
Persistent=true

[Install]
WantedBy=timers.target
"""
    return {"reportkit-daily.service": service, "reportkit-daily.timer": timer}


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
