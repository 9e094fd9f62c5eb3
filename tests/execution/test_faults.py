"""Faults during a run: killed mid-batch, or out of disk space. Real processes, a real
SIGKILL, a real full file system (a small tmpfs; the tests run as root)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from reportkit.execution import run_reports, select_units

pytestmark = pytest.mark.slow

DAY = date(2020, 2, 28)


def _command(settings, *extra: str) -> list[str]:
    command = [sys.executable, "-m", "reportkit.cli", "run", "--date", DAY.isoformat()]
    command += ["--db", settings.db, "--params", str(settings.params)]
    command += ["--outputs", str(settings.outputs), *extra]
    return command


def _manifest(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_no_partial_report(out: Path, *, killed: bool = False) -> None:
    """Every file under a report's name is whole. A process killed mid-write can leave
    only a hidden temp file (never a report's name); after a clean run, none."""
    for path in out.rglob("*"):
        if not path.is_file():
            continue
        if path.name.endswith(".tmp"):
            assert killed, f"temp file left: {path}"
            assert path.name.startswith("."), path
            continue
        data = path.read_bytes()
        if path.suffix == ".html":
            assert data.rstrip().endswith(b"</html>"), f"cut-off {path}"
        elif path.suffix == ".pdf":
            assert data.startswith(b"%PDF"), path
            assert data.rstrip().endswith(b"%%EOF"), f"cut-off {path}"
        elif path.suffix in (".ipynb", ".json"):
            json.loads(data)  # a cut-off notebook or manifest would not parse
        elif path.suffix == ".arrow":
            from reportkit.findings import read_header

            read_header(path)


def _assert_manifest_true(manifest: dict) -> None:
    """What the manifest calls ok is exactly what is on disk."""
    for job in manifest["jobs"]:
        if job["status"] != "ok":
            continue
        for fmt, digest in job["sha256"].items():
            path = Path(job["outputs"][fmt])
            assert path.exists(), (job["id"], fmt)
            assert _sha(path) == digest, (job["id"], fmt)


def test_a_killed_run_leaves_a_manifest_that_says_what_is_unfinished(small_demo, demo_settings):
    config = demo_settings.schools()
    schools = [s.id for s in config.schools][:10]
    first = run_reports(demo_settings, DAY, schools, progress=False)
    assert first.ok, first.failed
    path = first.manifest
    # the next run (a correction came in) is killed once its first report is done
    school_args = [a for s in schools for a in ("--school", s)]
    process = subprocess.Popen(
        _command(demo_settings, *school_args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # kernels and Chromium die with it
    )
    killed_at = None
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and process.poll() is None:
            manifest = _manifest(path)
            if manifest and manifest["run_id"] != first.run_id:
                mine = [j for j in manifest["jobs"] if j["run_id"] == manifest["run_id"]]
                if any(j["status"] == "ok" for j in mine):
                    os.killpg(process.pid, signal.SIGKILL)
                    killed_at = manifest
                    break
            time.sleep(0.02)
    finally:
        if process.poll() is None and killed_at is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    assert killed_at is not None, "the run ended before it could be killed mid-batch"
    assert process.returncode == -signal.SIGKILL

    manifest = _manifest(path)
    assert manifest is not None
    run_id = manifest["run_id"]
    assert run_id != first.run_id
    jobs = {(j["kind"], j["id"]): j for j in manifest["jobs"]}
    _, units = select_units(demo_settings.schools(), schools, None)
    assert set(jobs) == {("school", s) for s in schools} | {("unit", u) for u in units}
    assert all(j["run_id"] == run_id for j in jobs.values())  # every job of the new run
    unfinished = [j for j in jobs.values() if j["status"] != "ok"]
    assert unfinished, "the kill came after the last report"
    for job in unfinished:
        assert job["status"] == "pending"
        assert job["sha256"] == {}  # nothing vouches for the previous run's files
        assert job["ended_at"] is None
    _assert_manifest_true(manifest)
    _assert_no_partial_report(path.parent / "units", killed=True)
    for school in schools:
        _assert_no_partial_report(path.parent / school, killed=True)

    # the next run removes what the killed one left half-written, and finishes the day
    again = run_reports(demo_settings, DAY, schools, progress=False)
    assert again.ok, again.failed
    _assert_manifest_true(_manifest(path))
    _assert_no_partial_report(path.parent / "units")
    for school in schools:
        _assert_no_partial_report(path.parent / school)


def test_a_stale_temp_file_is_swept_and_a_live_writers_is_kept(tmp_path: Path):
    from reportkit.files import sweep_stale_temps, write_atomic

    write_atomic(tmp_path / "a" / "report.pdf", b"%PDF whole")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = tmp_path / "a" / f".report.pdf.{dead.stdout.strip()}.x1y2.tmp"
    stale.write_bytes(b"%PDF half")
    live = tmp_path / "a" / f".report.html.{os.getppid()}.x1y2.tmp"  # a running process
    live.write_bytes(b"<html")
    mine = tmp_path / "a" / f".report.json.{os.getpid()}.x1y2.tmp"
    mine.write_bytes(b"{")
    other = tmp_path / "a" / ".notes.tmp"  # not one of write_atomic's: not touched
    other.write_bytes(b"x")
    assert sweep_stale_temps(tmp_path) == [stale]
    assert not stale.exists()
    assert live.exists()
    assert mine.exists()
    assert other.exists()
    assert (tmp_path / "a" / "report.pdf").read_bytes() == b"%PDF whole"


@pytest.fixture
def full_disk(tmp_path: Path):
    """A real 3 MB file system, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_ends_the_batch_with_a_summary_and_no_partial_file(
    small_demo, demo_settings, full_disk
):
    from reportkit.config import Settings

    settings = Settings.resolve(demo_settings.db, demo_settings.params, full_disk / "outputs")
    done = subprocess.run(
        _command(settings), capture_output=True, text=True, timeout=600, check=False
    )
    err = done.stderr
    assert done.returncode == 1, (done.stdout, err)
    assert "Traceback" not in err
    assert "No space left on device" in err or "no space left" in err.lower()
    assert "the batch stopped" in err
    assert "reports rendered" in done.stdout  # the summary is there
    out = full_disk / "outputs" / DAY.isoformat()
    _assert_no_partial_report(out)
    manifest = _manifest(out / "manifest.json")
    if manifest is not None:  # written once space came back, or removed: never stale
        _assert_manifest_true(manifest)
        statuses = [j["status"] for j in manifest["jobs"]]
        assert "failed" in statuses
        assert "pending" not in statuses
        for job in manifest["jobs"]:
            if job["status"] != "ok":
                folder = out / ("units" if job["kind"] == "unit" else job["id"])
                stem = "report" if job["kind"] == "school" else job["id"]
                assert not (folder / f"{stem}.html").exists()
                assert not (folder / f"{stem}.pdf").exists()
