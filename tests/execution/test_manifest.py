"""The manifest: planned jobs written at once, ends written at most every SAVE_INTERVAL.

A district's afternoon ends thousands of jobs, and each write of the manifest costs
what the whole day's manifest does; these tests pin that ends are written in few
writes, that an end held back reaches the file within the interval with nothing else
happening, that a flush writes it at once, and that what is written is what a write
per end would have written.
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import pytest

from reportkit.execution import JobResult
from reportkit.execution import manifest as manifest_module
from reportkit.execution.manifest import SAVE_INTERVAL, Manifest, read_manifest
from tests.factories import probe_spec

DAY = date(2020, 2, 28)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the manifest writes, in order (and written, as usual)."""
    from reportkit import files

    seen: list[str] = []
    real = files.write_atomic

    def counting(path, data, **kw):
        seen.append(data)
        return real(path, data, **kw)

    monkeypatch.setattr(files, "write_atomic", counting)
    return seen


def _ended(school: str) -> JobResult:
    return JobResult(kind="school", id=school, status="ok", seconds=0.1, attempts=1, run_id="r1")


def _statuses(path: Path) -> dict[str, str]:
    return {key[1]: job["status"] for key, job in read_manifest(path).items()}


def test_many_ends_are_written_in_few_writes_and_none_is_lost(tmp_path, writes):
    schools = [f"s{i:03d}" for i in range(200)]
    manifest = Manifest(tmp_path, DAY, "r1", None)
    manifest.plan([probe_spec(tmp_path, s, tmp_path / "nb.ipynb", run_id="r1") for s in schools])
    assert len(writes) == 1  # planned: at once, before any file changes
    assert set(_statuses(manifest.path).values()) == {"pending"}
    for school in schools:
        manifest.start(probe_spec(tmp_path, school, tmp_path / "nb.ipynb", run_id="r1"))
        manifest.end(_ended(school))
    assert len(writes) <= 3  # not 400
    # the last ends are held back, and reach the file within the interval by themselves
    deadline = time.monotonic() + SAVE_INTERVAL + 5
    while time.monotonic() < deadline and set(_statuses(manifest.path).values()) != {"ok"}:
        time.sleep(0.05)
    assert set(_statuses(manifest.path).values()) == {"ok"}
    # what was written is what a write per end gives
    one_by_one = Manifest(tmp_path / "other", DAY, "r1", None)
    for school in schools:
        one_by_one.plan([probe_spec(tmp_path, school, tmp_path / "nb.ipynb", run_id="r1")])
        one_by_one.end(_ended(school))
        one_by_one.save()
    ours, theirs = read_manifest(manifest.path), read_manifest(one_by_one.path)
    drop = {"started_at", "ended_at", "first_ok_at"}  # when
    assert {k: {f: v for f, v in j.items() if f not in drop} for k, j in ours.items()} == {
        k: {f: v for f, v in j.items() if f not in drop} for k, j in theirs.items()
    }


def test_a_flush_writes_what_was_held_back_at_once(tmp_path, writes, monkeypatch):
    monkeypatch.setattr(manifest_module, "SAVE_INTERVAL", 3600.0)  # no timer in time
    manifest = Manifest(tmp_path, DAY, "r1", None)
    manifest.plan([probe_spec(tmp_path, s, tmp_path / "nb.ipynb") for s in ("s001", "s002")])
    manifest.end(_ended("s001"))
    assert _statuses(manifest.path) == {"s001": "pending", "s002": "pending"}
    manifest.flush()
    assert _statuses(manifest.path) == {"s001": "ok", "s002": "pending"}
    count = len(writes)
    manifest.flush()  # nothing held back: no write
    assert len(writes) == count


def test_the_manifest_is_json_with_a_job_a_line(tmp_path):
    manifest = Manifest(tmp_path, DAY, "r1", None)
    manifest.plan([probe_spec(tmp_path, s, tmp_path / "nb.ipynb") for s in ("s001", "s002")])
    text = manifest.path.read_text(encoding="utf-8")
    document = json.loads(text)
    assert [j["id"] for j in document["jobs"]] == ["s001", "s002"]
    assert document["version"] == manifest_module.MANIFEST_VERSION
    lines = text.splitlines()
    assert sum(1 for line in lines if '"kind": "school"' in line) == 2
    assert len(lines) == 4  # the head, a line a job, the end
