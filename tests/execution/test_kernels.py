"""Warm kernels: reused across reports, yet nothing of one school reaches the next."""

from __future__ import annotations

import os
import re
import time
from datetime import date
from pathlib import Path

import nbformat
import pytest

from reportkit.execution import JobResult, JobSpec, WarmKernel, run_job, run_reports
from reportkit.execution.batch import thread_executor
from tests.factories import LEAVE_STATE, PROBE, probe_lines, probe_notebook, probe_spec

pytestmark = pytest.mark.slow


def _run(specs: list[JobSpec], reuse: int, jobs: int = 1) -> dict[str, JobResult]:
    results = thread_executor(jobs, kernel_reuse=reuse)(specs, lambda r: None)
    return {r.id: r for r in results}


def _first_count(result: JobResult) -> int:
    nb = nbformat.read(result.outputs["ipynb"], as_version=4)
    return next(c.execution_count for c in nb.cells if c.cell_type == "code")


def test_one_kernel_serves_several_schools_and_keeps_nothing_between_them(tmp_path):
    nb = probe_notebook(tmp_path / "probe.ipynb", PROBE, LEAVE_STATE)
    schools = ["s001", "s002", "s003"]
    results = _run([probe_spec(tmp_path, s, nb) for s in schools], reuse=10)

    assert all(results[s].status == "ok" for s in schools), results
    printed = {s: probe_lines(results[s]) for s in schools}
    assert len({printed[s]["pid"] for s in schools}) == 1  # one warm kernel ran all three
    for s in schools:
        assert printed[s]["leftover"] == "[]"  # s001's variable never reached s002
        assert printed[s]["figures"] == "0"  # nor its open figure
        assert _first_count(results[s]) == 1  # numbered as in a fresh kernel
    assert int(printed["s001"]["pid"]) != os.getpid()


CYCLE = """\
import builtins, gc, weakref
probes = getattr(builtins, "_probes", [])
print("alive", sum(1 for p in probes if p() is not None), "of", len(probes))
print("frozen", gc.get_freeze_count() > 0)
class Held:
    pass
held = Held()
held.me = held  # a reference cycle: freed only by a collection
builtins._probes = [*probes, weakref.ref(held)]
"""


def test_what_a_report_leaves_in_cycles_is_collected_before_the_next(tmp_path):
    """The reset freezes what survives it (gc.freeze): what a later report makes is
    still collected by the reset after it."""
    nb = probe_notebook(tmp_path / "probe.ipynb", PROBE, CYCLE)
    schools = ["s001", "s002", "s003", "s004"]
    results = _run([probe_spec(tmp_path, s, nb) for s in schools], reuse=10)
    assert all(results[s].status == "ok" for s in schools), results
    lines = {s: probe_lines_of(results[s], "alive") for s in schools}
    assert len({probe_lines(results[s])["pid"] for s in schools}) == 1
    assert [lines[s]["alive"] for s in schools] == ["0 of 0", "0 of 1", "0 of 2", "0 of 3"]
    assert [lines[s]["frozen"] for s in schools] == ["True"] * 4  # the warm-up too


def probe_lines_of(result: JobResult, key: str) -> dict[str, str]:
    nb = nbformat.read(result.outputs["ipynb"], as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and key in c.source)
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    return dict(line.split(" ", 1) for line in text.splitlines())


def test_kernel_reuse_one_gives_every_report_a_fresh_kernel(tmp_path):
    nb = probe_notebook(tmp_path / "probe.ipynb", PROBE)
    results = _run([probe_spec(tmp_path, s, nb) for s in ("s001", "s002")], reuse=1)
    assert probe_lines(results["s001"])["pid"] != probe_lines(results["s002"])["pid"]


def test_a_kernel_is_retired_after_max_uses(tmp_path):
    nb = probe_notebook(tmp_path / "probe.ipynb", PROBE)
    schools = ["s001", "s002", "s003"]
    results = _run([probe_spec(tmp_path, s, nb) for s in schools], reuse=2)
    pids = [probe_lines(results[s])["pid"] for s in schools]
    assert pids[0] == pids[1] != pids[2]


def test_a_failed_report_never_hands_its_kernel_on(tmp_path):
    nb = probe_notebook(
        tmp_path / "probe.ipynb",
        PROBE,
        LEAVE_STATE + 'if school_id == "s002":\n    raise RuntimeError("broken export")',
    )
    results = _run([probe_spec(tmp_path, s, nb) for s in ("s001", "s002", "s003")], reuse=10)
    assert results["s002"].status == "failed"
    assert results["s002"].error.ename == "RuntimeError"
    assert results["s003"].status == "ok"
    pid = {s: probe_lines(results[s])["pid"] for s in ("s001", "s002", "s003")}
    assert pid["s001"] == pid["s002"]  # s002 ran on the warm kernel ...
    assert pid["s003"] != pid["s002"]  # ... which was shut down after it failed
    assert probe_lines(results["s003"])["leftover"] == "[]"


def test_a_timed_out_report_is_recorded_and_the_next_school_runs(tmp_path):
    nb = probe_notebook(
        tmp_path / "probe.ipynb",
        PROBE,
        'if school_id == "s001":\n    import time\n    time.sleep(60)',
    )
    started = time.perf_counter()
    results = _run([probe_spec(tmp_path, s, nb, timeout=3.0) for s in ("s001", "s002")], reuse=10)
    assert time.perf_counter() - started < 45
    assert results["s001"].status == "failed"
    assert re.search("timeout|timed out", str(results["s001"].error), re.IGNORECASE)
    # the timed-out notebook is kept, and the manifest names the cell that hung
    kept = nbformat.read(results["s001"].outputs["ipynb"], as_version=4)
    hung = results["s001"].error.cell_index
    assert "time.sleep(60)" in kept.cells[hung].source
    assert kept.cells[hung].metadata["papermill"]["status"] == "failed"
    assert results["s002"].status == "ok"
    assert probe_lines(results["s002"])["pid"] != probe_lines(results["s001"])["pid"]


def test_kernels_are_shut_down_when_the_batch_ends(tmp_path):
    nb = probe_notebook(tmp_path / "probe.ipynb", PROBE)
    results = _run(
        [probe_spec(tmp_path, s, nb) for s in ("s001", "s002", "s003")], reuse=10, jobs=2
    )
    pids = {int(probe_lines(r)["pid"]) for r in results.values()}
    assert 1 <= len(pids) <= 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_warm_kernel_restarts_a_dead_kernel(tmp_path):
    import signal

    from jupyter_core.utils import run_sync

    with WarmKernel(max_uses=10) as kernel:
        km, _ = kernel.acquire()
        kernel.release(True)
        os.kill(km.provisioner.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while run_sync(km.is_alive)() and time.monotonic() < deadline:
            time.sleep(0.05)
        km2, _ = kernel.acquire()
        assert km2 is not km
        assert kernel.started == 2
        assert run_sync(km2.is_alive)()


def test_warm_up_code_leaves_nothing_for_the_first_report(tmp_path):
    nb = probe_notebook(tmp_path / "probe.ipynb", PROBE)
    with WarmKernel(max_uses=5) as kernel:
        kernel.warm('secret_warm_up = "x"\nimport matplotlib.pyplot as plt\nplt.figure()')
        result = run_job(probe_spec(tmp_path, "s001", nb), kernel)
    assert result.status == "ok"
    assert probe_lines(result)["leftover"] == "[]"
    assert probe_lines(result)["figures"] == "0"
    assert _first_count(result) == 1


def _kernel_children() -> list[int]:
    """This process's child processes that are kernels."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"ipykernel" in cmdline:
            pids.append(int(proc.name))
    return pids


def test_warm_kernels_stop_when_planning_fails(tmp_path, demo_settings):
    from reportkit.errors import ReportkitError

    before = set(_kernel_children())
    with pytest.raises(ReportkitError, match="nope"):
        run_reports(demo_settings, date(2020, 2, 28), ["nope"], formats=["html"])
    deadline = time.monotonic() + 10
    while set(_kernel_children()) - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(_kernel_children()) - before == set()


def test_a_kernel_that_hangs_warming_up_is_replaced(tmp_path):
    nb = probe_notebook(tmp_path / "probe.ipynb", PROBE)
    with WarmKernel(max_uses=5, timeout=2.0) as kernel:
        with pytest.raises(TimeoutError):
            kernel.warm("import time\ntime.sleep(30)")
        assert kernel.km is None  # shut down, not kept busy
        result = run_job(probe_spec(tmp_path, "s001", nb), kernel)
    assert result.status == "ok"
    assert kernel.started == 2


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_that_dies_leaves_its_reports_recorded(tmp_path, monkeypatch):
    from reportkit.execution import workers

    nb = probe_notebook(tmp_path / "probe.ipynb", PROBE)

    def broken_worker(self, lang, formats):
        raise RuntimeError("worker thread crashed")

    monkeypatch.setattr(workers.ThreadExecutor, "_work", broken_worker)
    seen: list[str] = []
    results = thread_executor(1)(
        [probe_spec(tmp_path, s, nb) for s in ("s001", "s002")], lambda r: seen.append(r.id)
    )
    assert sorted(r.id for r in results) == ["s001", "s002"]
    assert {r.status for r in results} == {"failed"}
    assert results[0].error.ename == "WorkerError"
    assert sorted(seen) == ["s001", "s002"]


def test_a_failing_progress_display_does_not_stop_the_batch(tmp_path):
    nb = probe_notebook(tmp_path / "probe.ipynb", PROBE)

    def display(result):
        raise ValueError("terminal gone")

    results = thread_executor(1)([probe_spec(tmp_path, s, nb) for s in ("s001", "s002")], display)
    assert sorted((r.id, r.status) for r in results) == [("s001", "ok"), ("s002", "ok")]
