"""``run`` on a real Dask cluster: worker processes on loopback, one killed mid-batch."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from reportkit.execution import dask_executor, run_reports, select_units, unit_waves
from reportkit.layout import notebook_path

pytestmark = pytest.mark.slow

DAY = date(2020, 2, 28)


@contextlib.contextmanager
def _loopback_cluster(workers: int, threads: int) -> Iterator[Any]:
    """A real Dask cluster of worker processes on loopback, and a client of it."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=threads,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def test_without_dask_nothing_of_dask_is_imported():
    code = (
        "import sys, reportkit.cli, reportkit.execution.batch, reportkit.daily\n"
        "reportkit.cli.build_parser().parse_args(['run', '--date', '2020-02-28'])\n"
        "print([m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')])"
    )
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.timeout(600)
def test_run_on_a_local_cluster_survives_a_killed_worker(small_demo, demo_settings):
    events = small_demo.events
    schools = sorted(
        {
            events["late_school"],
            events["zero_report_school"],
            events["suspected"][0][0],
            events["cluster"][0],
        }
    )
    with _loopback_cluster(workers=2, threads=1) as client:
        pids = client.run(os.getpid)
        execute = dask_executor(client)
        killed: list[int] = []
        lock = threading.Lock()

        def kill_one_after_first(specs, done):
            def on_done(result):
                with lock:
                    if (
                        not killed
                    ):  # the first report is back: the others are running; kill a worker
                        victim = next(iter(pids.values()))
                        os.kill(victim, signal.SIGKILL)
                        killed.append(victim)
                done(result)

            return execute(specs, on_done)

        result = run_reports(
            demo_settings,
            DAY,
            schools,
            formats=("html",),
            executor=kill_one_after_first,
            progress=False,
        )

    assert killed
    assert result.ok, [(j.id, j.error) for j in result.failed]
    assert sorted(j.id for j in result.jobs if j.kind == "school") == schools
    config = demo_settings.schools()
    _, units = select_units(config, schools, None)
    bottom_up = [u for wave in unit_waves(config, units) for u in wave]
    assert [j.id for j in result.jobs if j.kind == "unit"] == bottom_up
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    assert {j["id"] for j in manifest["jobs"]} == {*schools, *units}
    for school in schools:
        html = demo_settings.outputs / DAY.isoformat() / school / "report.html"
        assert demo_settings.schools().school(school).name in html.read_text(encoding="utf-8")


@pytest.mark.timeout(300)
def test_a_failing_school_on_the_cluster_is_recorded_not_lost(
    small_demo, demo_settings, tmp_path, monkeypatch
):
    import shutil

    import nbformat

    notebooks = tmp_path / "notebooks"
    shutil.copytree(notebook_path("school").parent, notebooks)
    nb = nbformat.read(notebooks / "school_daily.ipynb", as_version=4)
    bad = small_demo.events["late_school"]
    nb.cells.insert(2, nbformat.v4.new_code_cell(f'assert school_id != "{bad}", "bad school"'))
    nbformat.write(nb, notebooks / "school_daily.ipynb")
    monkeypatch.setenv("REPORTKIT_NOTEBOOKS", str(notebooks))
    good = small_demo.events["zero_report_school"]
    with _loopback_cluster(workers=1, threads=2) as client:
        # the worker process inherits the notebook folder through its environment
        client.run(os.environ.__setitem__, "REPORTKIT_NOTEBOOKS", str(notebooks))
        result = run_reports(
            demo_settings,
            DAY,
            [bad, good],
            formats=("html",),
            retries=0,
            executor=dask_executor(client),
            progress=False,
        )
    status = {(j.kind, j.id): j.status for j in result.jobs}
    assert status[("school", bad)] == "failed"
    assert status[("school", good)] == "ok"
    failed = next(j for j in result.jobs if j.id == bad)
    assert failed.error.ename == "AssertionError"


@pytest.mark.timeout(300)
def test_cluster_workers_reuse_a_warm_kernel_and_keep_nothing_between_schools(tmp_path):
    from tests.factories import LEAVE_STATE, PROBE, probe_lines, probe_notebook, probe_spec

    nb = probe_notebook(tmp_path / "probe.ipynb", PROBE, LEAVE_STATE)
    schools = ["s001", "s002", "s003"]
    with _loopback_cluster(workers=1, threads=1) as client:
        results = dask_executor(client, kernel_reuse=2)(
            [probe_spec(tmp_path, s, nb) for s in schools], lambda r: None
        )
    by_id = {r.id: r for r in results}
    assert all(by_id[s].status == "ok" for s in schools), results
    printed = {s: probe_lines(by_id[s]) for s in schools}
    assert printed["s001"]["pid"] == printed["s002"]["pid"] != printed["s003"]["pid"]
    assert all(printed[s]["leftover"] == "[]" for s in schools)
