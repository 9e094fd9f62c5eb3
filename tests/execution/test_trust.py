"""Runs that can be trusted: reruns of the same data give the same bytes, a school
that sent nothing never reads as calm, masked names stay masked in the attachment,
a partial run keeps a roll-up's language, and every phase is announced."""

from __future__ import annotations

import hashlib
import html as html_lib
import json
import re
import shutil
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from reportkit import store
from reportkit.config import Settings
from reportkit.execution import RunResult, run_reports, select_units
from reportkit.layout import notebook_path

pytestmark = pytest.mark.slow

DAY = date(2020, 2, 28)
RUN_TIME = datetime(2020, 2, 28, 16, 45, tzinfo=ZoneInfo("Asia/Shanghai"))
# words a missing value turns into when printed; none may reach a reader
UNKNOWN_WORDS = re.compile(r"(?<![A-Za-z])(nan|NaN|None|NaT|null|undefined)(?![A-Za-z])")


def _pdf_text(path: Path) -> str:
    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) is required"
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def _visible_text(page: str) -> str:
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html_lib.unescape(page))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _jobs(result: RunResult) -> dict[tuple[str, str], dict]:
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    return {(j["kind"], j["id"]): j for j in manifest["jobs"]}


def _json_values(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _json_values(v)]
    if isinstance(value, list):
        return [s for v in value for s in _json_values(v)]
    return [value] if isinstance(value, str) else []


def test_a_rerun_of_the_same_data_gives_the_same_bytes_and_nothing_reads_nan(
    small_demo, demo_settings
):
    events = small_demo.events
    chosen = [
        events["missing_school"],
        events["late_school"],
        events["zero_report_school"],
        events["suspected"][0][0],
    ]
    first = run_reports(demo_settings, DAY, chosen, progress=False, run_time=RUN_TIME)
    assert first.ok, first.failed
    out = demo_settings.outputs / DAY.isoformat()
    files = {
        p.relative_to(out): p.read_bytes()
        for p in out.rglob("*")
        if p.suffix in (".html", ".pdf") and p.name != "index.html"
    }
    _, units = select_units(demo_settings.schools(), chosen, None)
    assert len(files) == 2 * (len(chosen) + len(units))
    hashes = {key: job["content_hash"] for key, job in _jobs(first).items()}

    second = run_reports(demo_settings, DAY, chosen, progress=False, run_time=RUN_TIME)
    assert second.ok, second.failed
    assert second.run_id != first.run_id
    jobs = _jobs(second)
    assert {key: job["content_hash"] for key, job in jobs.items()} == hashes
    for name, data in files.items():
        assert (out / name).read_bytes() == data, f"{name} differs on a rerun"
    for (kind, target), job in jobs.items():
        assert job["status"] == "ok"
        assert job["run_id"] == second.run_id
        assert job["lang"] == "zh-CN"
        assert re.fullmatch(r"[0-9a-f]{64}", job["findings_hash"])
        assert job["content_hash"] == job["sha256"]["html"]
        for fmt in ("html", "pdf"):
            assert _sha(Path(job["outputs"][fmt])) == job["sha256"][fmt], (kind, target, fmt)
        assert job["started_at"].endswith("+08:00")
        assert job["ended_at"].endswith("+08:00")
        nb = json.loads(Path(job["outputs"]["ipynb"]).read_text(encoding="utf-8"))
        assert [c["id"] for c in nb["cells"]] == [f"cell-{i:02d}" for i in range(len(nb["cells"]))]
        assert nb["metadata"]["papermill"]["parameters"]["run_id"] == second.run_id

    # no missing value printed anywhere a person or a program reads
    for path in out.rglob("*"):
        if path.suffix == ".html":
            text = _visible_text(path.read_text(encoding="utf-8"))
        elif path.suffix == ".pdf":
            text = _pdf_text(path)
        elif path.suffix == ".json":
            text = " ".join(_json_values(json.loads(path.read_text(encoding="utf-8"))))
        else:
            continue
        assert not UNKNOWN_WORDS.findall(text), (path, UNKNOWN_WORDS.findall(text))


def test_a_school_that_sent_nothing_reads_as_not_submitted_never_as_zeros(
    small_demo, demo_settings
):
    events = small_demo.events
    silent, late = events["missing_school"], events["late_school"]
    ontime = events["zero_report_school"]
    result = run_reports(
        demo_settings, DAY, [silent, late, ontime], formats=("html", "pdf"), progress=False
    )
    assert result.ok, result.failed
    out = demo_settings.outputs / DAY.isoformat()
    page = (out / silent / "report.html").read_text(encoding="utf-8")
    text = _visible_text(page)
    body = text[text.index("晨午检日报") :]
    status = re.search(r'class="rk-status[^"]*"><b>([^<]+)</b>', page)
    assert status is not None
    assert status.group(1) == "未报送"  # the first line after the title
    assert "最后报送时间" not in text
    figures = dict(
        (label, value)
        for value, label in re.findall(
            r'<span class="rk-value">([^<]*)</span><span class="rk-label">([^<]*)</span>', page
        )
    )
    roster = store.load_people(store.connect(demo_settings.db), [silent])
    assert figures["应报人数"] == str(len(roster))
    for label in ("实报人数", "报告率", "未报", "缺勤", "发热", "疑似", "重点人员"):
        assert figures[label] == "—", (label, figures[label])
    assert "0" not in figures.values()
    # the missing list is one line, not a row per person
    assert f"名册在册 {len(roster)} 人" in body
    assert not [p for p in roster["person_id"] if f">{p}<" in page]
    assert "无数据" in body
    assert " 无 " not in f" {body} "  # never "none", which would say nothing was found
    pdf = _pdf_text(out / silent / "report.pdf")
    assert "未报送" in pdf
    assert "无数据" in pdf

    # its central school's roll-up shows dashes for what the silent school did not send
    config = demo_settings.schools()
    district = (out / "units" / f"{config.parents[silent]}.html").read_text(encoding="utf-8")
    name = config.school(silent).name
    row = re.search(rf"<tr><td[^>]*>{re.escape(name)}</td>(.*?)</tr>", district)
    assert row is not None
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))
    assert cells[0] == "未报送"
    assert cells[1] == str(len(roster))  # expected: the roster is known
    assert set(cells[2:]) == {"—"}  # reported, coverage, missing, fever …: unknown, not 0
    assert "无数据" in _visible_text(district)  # the totals say whom they leave out

    # the index: headers, the submission status apart from the rendering status
    index = (out / "index.html").read_text(encoding="utf-8")
    headers = re.findall(r"<th>([^<]+)</th>", index)
    assert headers == ["报告", "报送情况", "生成状态", "语言", "文件"]
    config = demo_settings.schools()
    rows = {
        cells[0]: cells
        for cells in (
            re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S)
            for r in re.findall(r"<tr class=\"rk-[a-z]+\">(.*?)</tr>", index, flags=re.S)
        )
    }
    assert rows[config.school(silent).name][1] == "未报送"
    assert rows[config.school(late).name][1].startswith("迟报")
    assert rows[config.school(late).name][1].endswith("分钟")
    assert rows[config.school(ontime).name][1] == "按时"
    assert all(r[2] == "✓ 已生成" for r in rows.values())
    assert rows[config.school(silent).name][3] == "中文"


def test_masked_names_stay_masked_in_the_attachment(small_demo, demo_settings, tmp_path):
    from reportkit.privacy import mask_name

    params = tmp_path / "params"
    shutil.copytree(demo_settings.params, params)
    (params / "delivery.yaml").write_text("mask_names: true\n", encoding="utf-8")
    settings = Settings.resolve(demo_settings.db, params, demo_settings.outputs)
    school, person = small_demo.events["suspected"][0]
    people = store.load_people(store.connect(settings.db), [school])
    name = people.set_index("person_id").loc[person, "name"]
    result = run_reports(settings, DAY, [school], progress=False)
    assert result.ok, result.failed
    job = _jobs(result)[("school", school)]
    masked = Path(job["outputs"]["pdf_masked"])
    assert masked.name == "report.masked.pdf"
    assert _sha(masked) == job["sha256"]["pdf_masked"]
    full_text = _pdf_text(Path(job["outputs"]["pdf"]))
    masked_text = _pdf_text(masked)
    assert name in full_text  # the school's own report stays complete
    assert name not in masked_text
    assert mask_name(name) in masked_text
    assert not [n for n in people["name"] if len(n) >= 2 and n in masked_text]
    assert person in masked_text  # ids stay: the school can find the person
    for key, rollup in _jobs(result).items():
        if key[0] == "unit":
            assert "pdf_masked" not in rollup["outputs"]  # a roll-up has no names to mask

    # masking turned off: no masked PDF is left behind to be sent as current
    (params / "delivery.yaml").write_text("mask_names: false\n", encoding="utf-8")
    again = run_reports(settings, DAY, [school], formats=("html", "pdf"), progress=False)
    assert "pdf_masked" not in _jobs(again)[("school", school)]["outputs"]
    assert not masked.exists()


def test_a_partial_run_keeps_a_rollups_language_and_says_so(small_demo, demo_settings, capsys):
    from reportkit import cli

    events = small_demo.events
    config = demo_settings.schools()
    first, other = events["late_school"], events["zero_report_school"]
    above_first = set(select_units(config, [first], None)[1])
    above_other = set(select_units(config, [other], None)[1])
    assert "d01" in above_first
    assert "c01" in above_first & above_other  # the city's roll-up is above both
    done = run_reports(demo_settings, DAY, [first], formats=("html",), progress=False)
    assert _jobs(done)[("unit", "d01")]["lang"] == "zh-CN"
    args = ["run", "--date", DAY.isoformat(), "--school", other, "--lang", "en"]
    args += ["--db", demo_settings.db, "--params", str(demo_settings.params)]
    args += ["--outputs", str(demo_settings.outputs), "--formats", "html"]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "unit c01" in printed
    assert "zh-CN" in printed
    manifest = json.loads(
        (demo_settings.outputs / DAY.isoformat() / "manifest.json").read_text("utf-8")
    )
    langs = {(j["kind"], j["id"]): j["lang"] for j in manifest["jobs"]}
    # a roll-up made in zh-CN stays so; one made for the first time is in en
    assert langs == {
        ("school", first): "zh-CN",
        ("school", other): "en",
        **{("unit", u): "zh-CN" for u in above_first},
        **{("unit", u): "en" for u in above_other - above_first},
    }
    district = demo_settings.outputs / DAY.isoformat() / "units" / "d01.html"
    assert 'lang="zh-CN"' in district.read_text(encoding="utf-8")
    assert "lang" not in manifest  # one language per output, none for the whole day

    # asked for explicitly, the roll-up changes language
    explicit = run_reports(
        demo_settings, DAY, [other], ["d01"], lang="en", formats=("html",), progress=False
    )
    assert _jobs(explicit)[("unit", "d01")]["lang"] == "en"
    assert not explicit.notes
    assert 'lang="en"' in district.read_text(encoding="utf-8")


def test_every_phase_is_announced_as_it_starts(small_demo, demo_settings):
    school = small_demo.events["late_school"]
    command = [sys.executable, "-m", "reportkit.cli", "run", "--date", DAY.isoformat()]
    command += ["--school", school, "--db", demo_settings.db, "--params", str(demo_settings.params)]
    command += ["--outputs", str(demo_settings.outputs), "--formats", "html"]
    started = time.monotonic()
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines: list[tuple[float, str]] = []
    assert process.stderr is not None
    for line in process.stderr:
        lines.append((time.monotonic() - started, line.rstrip()))
    assert process.wait(timeout=300) == 0
    said = [text for _, text in lines if not text.startswith("[IPKernelApp]")]
    wanted = [
        r"\[reportkit\] starting 2 report kernels",
        r"\[reportkit\] computing the findings of",
        r"\[reportkit\] rendering 1 school report\(s\)",
        rf"\[\d/\d\] school {school} ok",
        r"\[reportkit\] rendering 1 roll-up\(s\), level 1 of \d",
        r"\[\d/\d\] unit \S+ ok",
    ]
    positions = []
    for pattern in wanted:
        found = [i for i, line in enumerate(said) if re.match(pattern, line)]
        assert found, (pattern, said)
        positions.append(found[0])
    # the roll-ups start once the school's report is done: bottom-up
    assert positions == sorted(positions), said
    first_line = lines[0][0]
    findings_line = next(t for t, text in lines if "computing the findings" in text)
    assert first_line < 10.0  # the interpreter and imports; never the findings' time
    assert findings_line <= next(t for t, text in lines if text.startswith("[1/"))
    assert "ETA" not in "".join(said)  # not a terminal: plain lines, no bar


def test_a_notebook_without_masked_sections_gets_no_masked_pdf(
    small_demo, demo_settings, tmp_path, monkeypatch
):
    import nbformat

    notebooks = tmp_path / "notebooks"
    shutil.copytree(notebook_path("school").parent, notebooks)
    nb = nbformat.read(notebooks / "school_daily.ipynb", as_version=4)
    opening = next(c for c in nb.cells if "SchoolReport.open" in c.source)
    opening.source = opening.source.replace(", mask_names=mask_names", "")
    nbformat.write(nb, notebooks / "school_daily.ipynb")
    monkeypatch.setenv("REPORTKIT_NOTEBOOKS", str(notebooks))
    params = tmp_path / "params"
    shutil.copytree(demo_settings.params, params)
    (params / "delivery.yaml").write_text("mask_names: true\n", encoding="utf-8")
    settings = Settings.resolve(demo_settings.db, params, demo_settings.outputs)
    school = small_demo.events["suspected"][0][0]
    result = run_reports(settings, DAY, [school], retries=0, progress=False)
    job = _jobs(result)[("school", school)]
    assert job["status"] == "failed"  # rather than a "masked" PDF that shows names
    assert job["error"]["ename"] == "RenderError"
    assert not (demo_settings.outputs / DAY.isoformat() / school / "report.masked.pdf").exists()
