"""Progress: plain lines on stderr when not a terminal, a bar with an ETA on one."""

from __future__ import annotations

import io
import sys

import pytest

from reportkit.execution import JobResult, Progress, announce


def _run(enabled: bool, monkeypatch: pytest.MonkeyPatch) -> str:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with Progress(enabled) as progress:
        progress.phase("starting 2 report kernels")
        progress.phase("computing the findings of 3 schools")
        progress.reports(2, "rendering 1 school report(s), then 1 roll-up(s)")
        progress.advance(JobResult("school", "s001", "ok", 1.2, 1))
        progress.advance(JobResult("unit", "d01", "failed", 0.5, 2, {}, {"ename": "E"}))
    return err.getvalue()


def test_plain_lines_announce_every_phase_and_report(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _run(False, monkeypatch).splitlines()
    assert lines == [
        "[reportkit] starting 2 report kernels",
        "[reportkit] computing the findings of 3 schools",
        "[reportkit] rendering 1 school report(s), then 1 roll-up(s)",
        "[1/2] school s001 ok 1.2s",
        "[2/2] unit d01 failed 0.5s E",
    ]


def test_a_terminal_gets_a_bar_with_a_count_and_an_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _run(True, monkeypatch)
    assert "2/2" in out
    assert "ETA" in out
    assert "reportkit:" not in out  # no plain lines under the bar


def test_announce_prints_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    announce("ingesting the inbox of 2020-02-28")
    assert capsys.readouterr().err == "[reportkit] ingesting the inbox of 2020-02-28\n"
