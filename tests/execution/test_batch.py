"""The runner executes real notebooks in real kernels and renders HTML and PDF."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import sqlalchemy as sa

from reportkit import cli, store
from reportkit.execution import JobResult, plan_jobs, run_reports, select_units
from reportkit.execution.batch import write_manifest
from reportkit.layout import notebook_path, output_dir

pytestmark = pytest.mark.slow

DAY = date(2020, 2, 28)


def _roster(small_demo, school_id: str) -> pd.DataFrame:
    people = store.load_people(store.connect(small_demo.db_url), [school_id])
    return people


def _pdf_text(path: Path) -> str:
    assert shutil.which("pdftotext"), (
        "pdftotext (poppler-utils) is required: apt-get install poppler-utils"
    )
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_reports_show_the_day_and_only_the_schools_own_people(small_demo, demo_settings):
    events = small_demo.events
    suspected_school, suspected_person = events["suspected"][0]
    late = events["late_school"]
    chosen = [suspected_school, late, events["zero_report_school"]]

    config = demo_settings.schools()
    missing_central = config.school(events["missing_school"]).parent
    result = run_reports(
        demo_settings, DAY, chosen, ["d01", missing_central], jobs=2, progress=False
    )

    assert result.ok, result.failed
    # the chosen schools under the units asked for, then those roll-ups and the ones
    # with recipients under them
    _, units = select_units(config, chosen, ["d01", missing_central])
    assert {"d01", missing_central} <= set(units)
    assert {(j.kind, j.id) for j in result.jobs} == {
        ("school", s) for s in chosen if s in set(config.schools_under("d01"))
    } | {("unit", u) for u in units}
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    assert manifest["failed"] == 0
    assert manifest["ok"] == len(result.jobs)
    # bottom-up: every roll-up ended after the roll-ups of its child units
    ended = {(j["kind"], j["id"]): j["ended_at"] for j in manifest["jobs"]}
    for u in units:
        for child in config.children[u]:
            if ("unit", child) in ended:
                assert ended[("unit", child)] <= ended[("unit", u)]
    assert {suspected_school, late} <= set(config.schools_under("d01"))

    out = demo_settings.outputs / DAY.isoformat()
    html = (out / suspected_school / "report.html").read_text(encoding="utf-8")
    assert config.school(suspected_school).name in html
    assert suspected_person in html
    assert "重点地区" in html or "接触" in html  # the suspected person's reason
    assert 'lang="zh-CN"' in html
    for leak in ("SchoolReport.open", "Traceback", "report.title()", "In&nbsp;[", "<script src"):
        assert leak not in html

    # privacy: nobody of another school in this school's outputs
    own = set(_roster(small_demo, suspected_school)["person_id"])
    others = _roster(small_demo, late)
    foreign_ids = set(others["person_id"]) - own
    assert foreign_ids
    assert not [p for p in foreign_ids if p in html]
    pdf_text = _pdf_text(out / suspected_school / "report.pdf")
    assert config.school(suspected_school).name in pdf_text
    assert "姓名" in pdf_text
    assert not [p for p in foreign_ids if p in pdf_text]

    # a central school's roll-up: itself, then its village schools, the missing one first
    central_html = (out / "units" / f"{missing_central}.html").read_text(encoding="utf-8")
    names = [config.school(s).name for s in config.schools_under(missing_central)]
    assert all(n in central_html for n in names)
    missing_name = config.school(events["missing_school"]).name
    others = [n for n in names[1:] if n != missing_name]
    assert central_html.index(names[0]) < central_html.index(missing_name)
    assert all(central_html.index(missing_name) < central_html.index(n) for n in others)
    people = store.load_people(store.connect(small_demo.db_url))
    assert not [p for p in people["person_id"] if f">{p}<" in central_html]
    assert missing_name in _pdf_text(out / "units" / f"{missing_central}.pdf")
    # the county: its towns, counts only
    county_html = (out / "units" / "d01.html").read_text(encoding="utf-8")
    for town in config.children["d01"]:
        assert config.unit(town).name in county_html


def test_english_reports(small_demo, demo_settings):
    school = small_demo.events["late_school"]
    result = run_reports(demo_settings, DAY, [school], lang="en", formats=("html",), progress=False)
    assert result.ok
    html = (demo_settings.outputs / DAY.isoformat() / school / "report.html").read_text(
        encoding="utf-8"
    )
    assert 'lang="en"' in html
    assert "late by" in html.lower()
    assert not (demo_settings.outputs / DAY.isoformat() / school / "report.pdf").exists()


def test_a_failing_school_never_stops_the_batch(
    small_demo, demo_settings, tmp_path, monkeypatch, capsys
):
    # a notebook whose cell fails for one school: a stand-in for a broken file or a bug
    notebooks = tmp_path / "notebooks"
    shutil.copytree(notebook_path("school").parent, notebooks)
    nb = nbformat.read(notebooks / "school_daily.ipynb", as_version=4)
    bad = small_demo.events["late_school"]
    nb.cells.insert(
        3,
        nbformat.v4.new_code_cell(
            f'if school_id == "{bad}":\n    raise RuntimeError("broken export")'
        ),
    )
    nbformat.write(nb, notebooks / "school_daily.ipynb")
    monkeypatch.setenv("REPORTKIT_NOTEBOOKS", str(notebooks))
    good = small_demo.events["zero_report_school"]

    code = cli.main(
        [
            "run",
            "--date",
            DAY.isoformat(),
            "--school",
            bad,
            "--school",
            good,
            "--db",
            demo_settings.db,
            "--params",
            str(demo_settings.params),
            "--outputs",
            str(demo_settings.outputs),
            "--formats",
            "html",
            "--retries",
            "1",
        ]
    )

    assert code == 1
    # cell 4 of the executed notebook: papermill inserts the injected parameters after cell 0
    assert f"FAILED school {bad} (cell 4): RuntimeError: broken export" in capsys.readouterr().err
    out = demo_settings.outputs / DAY.isoformat()
    manifest = {
        (j["kind"], j["id"]): j
        for j in json.loads((out / "manifest.json").read_text("utf-8"))["jobs"]
    }
    failed = manifest[("school", bad)]
    assert failed["status"] == "failed"
    assert failed["attempts"] == 2
    assert failed["error"]["cell_index"] == 4
    assert failed["error"]["ename"] == "RuntimeError"
    assert manifest[("school", good)]["status"] == "ok"
    assert (out / good / "report.html").exists()
    assert not (out / bad / "report.html").exists()
    executed = (out / bad / "report.ipynb").read_text(encoding="utf-8")
    assert "papermill-error-cell-tag" in executed  # papermill's error marker is kept


def test_unsafe_ids_never_become_paths(tmp_path):
    with pytest.raises(Exception, match="unsafe id"):
        output_dir(tmp_path, DAY, "school", "../etc")


def test_manifest_merges_runs_of_the_same_day(tmp_path):
    ok = JobResult("school", "s001", "ok", 1.0, 1, {"html": "x"})
    write_manifest(tmp_path, DAY, [ok], 0.0, "zh-CN", ["html"])
    other = JobResult("school", "s002", "failed", 2.0, 2, {}, {"ename": "E"})
    path = write_manifest(tmp_path, DAY, [other], 0.0, "zh-CN", ["html"])
    jobs = json.loads(path.read_text("utf-8"))["jobs"]
    assert [(j["id"], j["status"]) for j in jobs] == [("s001", "ok"), ("s002", "failed")]


def test_findings_are_saved_once_for_the_batch(small_demo, demo_settings):
    specs = plan_jobs(demo_settings, DAY, [small_demo.events["late_school"]])
    assert len({s.findings_dir for s in specs}) == 1
    folder = Path(specs[0].findings_dir)
    config = demo_settings.schools()
    _, units = select_units(config, [small_demo.events["late_school"]], None)
    assert "c01" in units  # the city's roll-up is above it: it needs every school
    # one file per school under the roll-ups (they need them all) and one per roll-up
    expected = {f"{s.id}.arrow" for s in config.schools} | {f"unit_{u}.arrow" for u in units}
    assert {p.name for p in folder.iterdir()} == expected
    assert not list(folder.parent.glob("*.pkl"))
    with store.connect(small_demo.db_url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.schools)).scalar() >= 20


def test_a_failed_job_carries_a_report_execution_error(
    small_demo, demo_settings, tmp_path, monkeypatch
):
    from reportkit.errors import ReportExecutionError

    notebooks = tmp_path / "notebooks"
    shutil.copytree(notebook_path("school").parent, notebooks)
    nb = nbformat.read(notebooks / "school_daily.ipynb", as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell('raise ValueError("no such column: 体温")'))
    nbformat.write(nb, notebooks / "school_daily.ipynb")
    monkeypatch.setenv("REPORTKIT_NOTEBOOKS", str(notebooks))
    school = small_demo.events["zero_report_school"]

    result = run_reports(demo_settings, DAY, [school], formats=("html",), retries=0, progress=False)

    [failed] = [j for j in result.failed if j.kind == "school"]
    error = failed.error
    assert isinstance(error, ReportExecutionError)
    assert (error.kind, error.school_id, error.date) == ("school", school, DAY.isoformat())
    assert error.cell_index == 4  # the injected parameters cell comes after cell 0
    assert (error.ename, error.evalue) == ("ValueError", "no such column: 体温")
    assert isinstance(error.exec_count, int)
    assert f"school {school} {DAY.isoformat()}: report failed in cell 4" in str(error)
    # the manifest and --json keep the error's JSON shape
    jobs = json.loads(result.manifest.read_text("utf-8"))["jobs"]
    [entry] = [j for j in jobs if j["id"] == school]
    assert entry["error"] == error.to_json()
    assert list(entry["error"]) == ["cell_index", "exec_count", "ename", "evalue"]
    assert cli._jsonable(result)["jobs"][0]["error"] == entry["error"]
    assert "findings" not in cli._jsonable(result)  # the run's findings stay in the process
    assert result.findings is not None
    assert school in result.findings.school_ids
