"""README.md's "A day with reportkit", run on the demo as written.

The block is read from the README, so this test follows it: every command must
run on a freshly built demo (the day before the demo date ingested, the demo
date's files still in the inbox). Sending is a dry run (``send``, ``remind`` and
``daily`` get ``--dry-run``); ``console`` gets ``--no-browser`` and is stopped once
it serves its page.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"
SENDS = ("send", "remind", "daily")


def readme_commands() -> list[list[str]]:
    """The commands of the first ``sh`` block under "## A day with reportkit"."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## A day with reportkit", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands = [shlex.split(line, comments=True) for line in block.splitlines()]
    return [c for c in commands if c]


def _argv(words: list[str]) -> list[str]:
    assert words[0] == "reportkit", words
    argv = [sys.executable, "-m", "reportkit.cli", *words[1:]]
    if words[1] in SENDS and "--dry-run" not in words:
        argv.append("--dry-run")
    if words[1] == "console" and "--no-browser" not in words:
        argv.append("--no-browser")
    return argv


def _run(argv: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _console_serves(argv: list[str], cwd: Path, timeout: float = 180) -> str:
    """Start the console, wait until its page answers 200, stop it; the URL it printed."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("reportkit console: http"), line
        url = line.split(": ", 1)[1].strip()
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, "the console stopped before it served its page"
            try:
                with urllib.request.urlopen(url, timeout=5) as page:
                    if page.status == 200:
                        return url
            except OSError:
                pass
            assert time.monotonic() < deadline, f"{url} did not answer in {timeout:.0f} s"
            time.sleep(1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the console stops its server and kernels
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)


def test_the_readme_names_the_days_commands():
    names = [c[1] for c in readme_commands()]
    assert names[:3] == ["init", "ingest", "ingest"]
    assert {"flags", "remind", "run", "send", "daily", "console"} <= set(names)


def test_a_day_with_reportkit_runs_as_written_on_the_demo(tmp_path):
    demo = _run(
        [
            sys.executable,
            "-m",
            "reportkit.cli",
            "demo",
            "--small",
            "--ingest-through",
            "2020-02-27",
        ],
        tmp_path,
    )
    assert demo.returncode == 0, demo.stderr
    for words in readme_commands():
        argv = _argv(words)
        if words[1] == "console":
            assert "token=" in _console_serves(argv, tmp_path)
            continue
        done = _run(argv, tmp_path)
        assert done.returncode == 0, (
            f"{shlex.join(words)} exited {done.returncode}\n{done.stdout[-3000:]}\n"
            f"{done.stderr[-3000:]}"
        )
        assert "Traceback" not in done.stderr, shlex.join(words)
    assert (tmp_path / "outputs" / "2020-02-28" / "s001" / "report.pdf").exists()
