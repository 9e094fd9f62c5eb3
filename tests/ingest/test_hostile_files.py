"""Hostile and oversized files: refused with the file and the limit named, never fatal.

The bomb workbooks are written here by hand (zipfile and XML), as small as their
trick needs. Each case that killed or swamped the process before runs the real
command in a child process, so that on old code the test fails instead of taking
pytest down with it.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
import zipfile
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
import xlwt

from reportkit import daily, store
from reportkit.config import IngestLimits, Rules, SchoolsConfig, Settings
from reportkit.errors import RefusedFileError
from reportkit.findings import load_findings
from reportkit.ingest import SheetReader, ingest_paths, readers
from reportkit.ingest.sheets import check_workbook
from tests.factories import (
    GOOD,
    LOG_HEADER,
    blank_rows,
    cell,
    corner_cell,
    giant_string,
    table_rows,
    workbook,
)

SRC = Path(__file__).resolve().parents[2] / "src"
DAY = date(2020, 2, 10)


def run_ingest(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``reportkit ingest ...`` in a process of its own, as an operator runs it."""
    params = Path(__file__).resolve().parents[2] / "params"
    command = [sys.executable, "-m", "reportkit.cli", "ingest", *args]
    command += ["--db", f"sqlite:///{tmp_path / 'rk.db'}", "--params", str(params)]
    command += ["--lang", "en"]  # the lines these tests read, in English
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


# --- the three bombs, through the command ------------------------------------------------


@pytest.mark.parametrize(
    ("build", "limit"),
    [
        (corner_cell, "limits.max_rows"),
        (giant_string, "limits.max_compression_ratio"),
        (blank_rows, "limits.max_rows"),
    ],
)
def test_a_bomb_workbook_is_refused_and_the_command_lives(tmp_path, build, limit):
    bomb = build(tmp_path / "bomb.xlsx")
    good = tmp_path / "good.csv"
    good.write_text("学号,姓名,身份\n001,张三,学生\n", encoding="utf-8")
    started = time.perf_counter()
    done = run_ingest("roster", str(bomb), str(good), "--school", "s001", tmp_path=tmp_path)
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])  # not -6: alive
    assert time.perf_counter() - started < 120
    out = " ".join(done.stdout.split())  # as one line, whatever the terminal's width
    assert f"REFUSED {bomb}" in out
    assert limit in out
    with store.connect(f"sqlite:///{tmp_path / 'rk.db'}").connect() as conn:
        people = conn.execute(sa.select(store.people.c.person_id)).scalars().all()
    assert people == ["001"]  # the good file after the bomb was read


def test_the_checks_find_each_trick_before_any_parsing(tmp_path):
    limits = IngestLimits()
    cases = {
        "corner": (corner_cell(tmp_path / "a.xlsx"), "refers to row 1,048,576"),
        "giant": (giant_string(tmp_path / "b.xlsx"), "xl/sharedStrings.xml unpacks"),
        "declared": (
            workbook(tmp_path / "c.xlsx", dimension="A1:XFD1048576"),
            "declares its size to reach column XFD",
        ),
        "wide": (
            workbook(tmp_path / "d.xlsx", GOOD + f'<row r="3">{cell("HA3", "x")}</row>'),
            "refers to column HA",
        ),
    }
    for name, (path, said) in cases.items():
        with pytest.raises(RefusedFileError, match=said) as caught:
            check_workbook(path.read_bytes(), path, limits)
        assert str(path) in str(caught.value), name
        assert caught.value.limit is not None
    check_workbook(workbook(tmp_path / "ok.xlsx").read_bytes(), "ok", limits)  # passes


def test_big_shared_strings_are_refused_by_size(tmp_path):
    path = workbook(tmp_path / "sst.xlsx", GOOD, shared="张三丽" * 1000, shared_repeat=8000)
    with pytest.raises(RefusedFileError, match="max_shared_strings_mb") as caught:
        check_workbook(path.read_bytes(), path, IngestLimits(max_compression_ratio=1e6))
    assert "its shared strings take" in str(caught.value)


def test_with_the_checks_passed_the_reader_still_cannot_kill_the_caller(tmp_path):
    """Limits raised past the corner cell: the reader's own process runs out of memory,
    the file is refused, and the next workbook is read by a new reader process."""
    limits = IngestLimits(max_rows=2_000_000, max_columns=20_000, reader_memory_mb=1024)
    corner = corner_cell(tmp_path / "corner.xlsx")
    good = workbook(tmp_path / "good.xlsx")
    with SheetReader(limits) as reader:
        with pytest.raises(RefusedFileError, match="memory") as caught:
            readers.read_table(corner, "logs", limits=limits, sheets=reader)
        assert caught.value.limit == "reader_memory_mb"
        assert "limits.reader_memory_mb" in str(caught.value)
        frame, _, _ = readers.read_table(good, "logs", limits=limits, sheets=reader)
        assert frame["姓名"].tolist() == ["张三"]
        assert reader.starts == 2


def test_a_reader_that_takes_too_long_is_stopped(tmp_path):
    rows = [LOG_HEADER] + [[f"{i:05d}", "张三", "2020-02-10", "36.5"] for i in range(30_000)]
    slow = workbook(tmp_path / "slow.xlsx", table_rows(rows))
    with SheetReader(IngestLimits(reader_timeout_seconds=0.05)) as reader:
        with pytest.raises(RefusedFileError, match="reader_timeout_seconds"):
            readers.read_table(slow, "logs", sheets=reader)
        reader.limits = IngestLimits()
        frame, _, _ = readers.read_table(workbook(tmp_path / "ok.xlsx"), "logs", sheets=reader)
        assert len(frame) == 1
        assert reader.starts == 2


def test_one_reader_process_serves_every_workbook_of_an_ingestion(engine, tmp_path):
    config = SchoolsConfig.model_validate(
        {
            "districts": [{"id": "d01", "name": "区"}],
            "schools": [{"id": "s001", "name": "一小", "district": "d01"}],
        }
    )
    roster = tmp_path / "in" / "roster.csv"
    roster.parent.mkdir(parents=True)
    roster.write_text("学号,姓名\n001,张三\n", encoding="utf-8")
    ingest_paths(engine, [roster], "roster", config, school="s001")
    books = []
    for day in range(10, 15):
        rows = table_rows([LOG_HEADER, ["001", "张三", f"2020-02-{day}", "36.5"]])
        books.append(workbook(tmp_path / "in" / f"logs{day}.xlsx", rows))
    with SheetReader() as reader:
        report = ingest_paths(engine, books, "logs", config, school="s001", sheets=reader)
        assert report.inserted == 5
        assert reader.starts == 1


# --- cell, row and column limits -----------------------------------------------------------


def test_a_cell_longer_than_the_limit_refuses_a_workbook(tmp_path):
    path = workbook(tmp_path / "long.xlsx", GOOD + table_rows([["002", "李" * 40_000]], 3))
    with pytest.raises(RefusedFileError, match=r"cell B3: 40,000 characters") as caught:
        readers.read_table(path, "logs")
    assert "limits.max_cell_chars" in str(caught.value)


def test_csv_files_are_under_the_same_limits(tmp_path):
    limits = IngestLimits(max_rows=5, max_columns=8, max_cell_chars=100)

    def write(name: str, rows: list[list[str]]) -> Path:
        path = tmp_path / name
        with path.open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows(rows)
        return path

    body = [["001", "张三", "2020-02-10", "36.5"]]
    cases = {
        "rows": (write("rows.csv", [LOG_HEADER, *body * 6]), "limits.max_rows"),
        "wide": (write("wide.csv", [[*LOG_HEADER, *"abcde"], *body]), "limits.max_columns"),
        "ragged": (write("ragged.csv", [LOG_HEADER, *body, ["1"] * 50]), "limits.max_columns"),
        "long": (write("long.csv", [LOG_HEADER, *body * 3, ["002", "李" * 300]]), "max_cell_chars"),
    }
    for name, (path, limit) in cases.items():
        with pytest.raises(RefusedFileError, match=limit) as caught:
            readers.read_table(path, "logs", limits=limits)
        assert str(path) in str(caught.value), name
    assert len(readers.read_table(cases["rows"][0], "logs")[0]) == 6  # the defaults allow it
    # a file of line breaks alone is refused without building millions of rows
    breaks = tmp_path / "breaks.csv"
    breaks.write_bytes(",".join(LOG_HEADER).encode() + b"\n" * 3_000_000)
    with pytest.raises(RefusedFileError, match="more than 200,000 rows"):
        readers.read_table(breaks, "logs")


def test_a_legacy_xls_is_read_by_the_reader_process_under_the_limits(tmp_path):
    book = xlwt.Workbook()
    sheet = book.add_sheet("Sheet1")
    for j, head in enumerate(LOG_HEADER):
        sheet.write(0, j, head)
    for i in range(1, 31):
        sheet.write(i, 0, f"{i:03d}")
        sheet.write(i, 1, "张三")
    path = tmp_path / "old.xls"
    book.save(str(path))
    assert len(readers.read_table(path, "logs")[0]) == 30
    with pytest.raises(RefusedFileError, match=r"limits\.max_rows"):
        readers.read_table(path, "logs", limits=IngestLimits(max_rows=10))


def test_a_file_larger_than_the_limit_is_not_read(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(",".join(LOG_HEADER).encode() + b"\n" + b"001,x,2020-02-10,36.5\n" * 60_000)
    with pytest.raises(RefusedFileError, match=r"limits\.max_file_mb"):
        readers.read_table(path, "logs", limits=IngestLimits(max_file_mb=1))


def test_limits_are_configured_in_rules_yaml(tmp_path):
    from reportkit.config import load_rules

    (tmp_path / "rules.yaml").write_text("limits:\n  max_rows: 500000\n", encoding="utf-8")
    rules = load_rules(tmp_path)
    assert rules.limits.max_rows == 500_000
    assert rules.limits.max_columns == 200
    assert Rules().limits == IngestLimits()


# --- the afternoon job ---------------------------------------------------------------------


def _deployment(tmp_path: Path) -> Settings:
    params = tmp_path / "params"
    params.mkdir()
    (params / "schools.yaml").write_text(
        "timezone: Asia/Shanghai\n"
        "districts: [{id: d01, name: 示范区}]\n"
        "schools:\n"
        "  - {id: s001, name: 第一小学, district: d01}\n"
        "  - {id: s002, name: 第二小学, district: d01}\n",
        encoding="utf-8",
    )
    return Settings.resolve(f"sqlite:///{tmp_path / 'rk.db'}", params, tmp_path / "outputs")


def test_daily_moves_a_refused_file_aside_and_ingests_the_rest(tmp_path):
    settings = _deployment(tmp_path)
    inbox, archive = tmp_path / "data" / "inbox", tmp_path / "data" / "archive"
    day = inbox / DAY.isoformat()
    for school, pid in (("s001", "001"), ("s002", "101")):
        folder = day / school
        folder.mkdir(parents=True)
        (folder / "名册.csv").write_text(f"学号,姓名\n{pid},张三\n", encoding="utf-8")
        (folder / "晨检.csv").write_text(
            f"学号,姓名,日期,体温\n{pid},张三,2020-02-10,36.5\n", encoding="utf-8"
        )
    bomb = corner_cell(day / "s001" / "晨检补报.xlsx")
    code = (
        "import sys, datetime; from pathlib import Path; from reportkit import daily\n"
        "from reportkit.config import Settings\n"
        f"s = Settings.resolve({settings.db!r}, {str(settings.params)!r}, 'o')\n"
        f"r = daily.ingest_inbox(s, datetime.date(2020, 2, 10), Path({str(inbox)!r}), "
        f"Path({str(archive)!r}))\n"
        "print(r[2], len(r[3]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]  # not -6
    assert done.stdout.split() == ["4", "1"]  # 4 files archived, 1 rejected
    rejected = tmp_path / "data" / "rejected" / DAY.isoformat() / "s001"
    assert not bomb.exists()  # out of the inbox: a rerun does not meet it again
    assert (rejected / "晨检补报.xlsx").exists()
    reason = (rejected / "晨检补报.xlsx.reason.txt").read_text(encoding="utf-8")
    assert "limits.max_rows" in reason
    assert sorted(p.name for p in (archive / DAY.isoformat()).rglob("*.csv")) == [
        "名册.csv",
        "名册.csv",
        "晨检.csv",
        "晨检.csv",
    ]
    # the school's data-quality section shows the refused file
    engine = store.connect(settings.db)
    found = load_findings(engine, settings.schools(), Rules(), DAY)
    quality = found.data_quality
    row = quality[quality["reason"] == "file_rejected"]
    assert row["school_id"].tolist() == ["s001"]
    assert row["file"].iloc[0].endswith("晨检补报.xlsx")
    # its reason kept as a key: each report words it in its own language
    from reportkit.i18n import issue_value

    assert "limits.max_rows" in issue_value("file_rejected", row["value"].iloc[0], "en")
    shown = issue_value("file_rejected", row["value"].iloc[0], "zh-CN")
    assert "上限为" in shown
    assert "`limits.max_rows`" in shown
    assert "上限为" in reason  # reason.txt: in Chinese, then in English
    assert found.schools.set_index("school_id").loc["s001", "rows"] == 1  # the rest is in
    # a rerun finds nothing to do and does not die
    assert daily.ingest_inbox(settings, DAY, inbox, archive) == ({}, [], 0, [])


def test_a_rejected_file_fails_the_day():
    result = daily.DailyResult(DAY, Path("daily.log"), rejected=["x.xlsx: too big"])
    assert not result.ok
    assert "  files rejected: 1" in result.summary_lines()
    assert "  REJECTED x.xlsx: too big" in result.summary_lines()


def test_bombs_are_cheap_to_refuse(tmp_path):
    """Each bomb is refused in well under a second and without the memory it asks for
    (the figures themselves are printed by benchmarks/bench_ingest.py)."""
    for build in (corner_cell, giant_string, blank_rows):
        path = build(tmp_path / f"{build.__name__}.xlsx")
        started = time.perf_counter()
        with pytest.raises(RefusedFileError):
            readers.read_table(path, "logs")
        assert time.perf_counter() - started < 5, build.__name__


def test_workbook_bytes_in_memory_are_checked_too():
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as book:
        book.writestr("xl/worksheets/sheet1.xml", '<sheetData><row r="9999999"/></sheetData>')
    with pytest.raises(RefusedFileError, match="refers to row 9,999,999"):
        check_workbook(data.getvalue(), "<upload>", IngestLimits())


def test_a_corrupt_workbook_is_refused_not_fatal(tmp_path):
    path = workbook(tmp_path / "ok.xlsx", GOOD + table_rows([["x" * 50]] * 2000, 3))
    data = bytearray(path.read_bytes())
    start = data.index(b"xl/worksheets/sheet1.xml") + 200  # inside the packed sheet
    data[start : start + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
    with pytest.raises(RefusedFileError, match="cannot read workbook"):
        readers.read_table(path, "logs")


@pytest.mark.slow
def test_the_afternoon_reports_a_rejected_file_in_its_schools_report(tmp_path):
    """A bomb among a day's files: the day is ingested and rendered, the bomb's school's
    report lists the refused file in its data-quality section, and the run fails (exit 1)."""
    from reportkit.demo import build_demo

    day = date(2020, 2, 28)
    build_demo(
        tmp_path,
        tmp_path / "params",
        f"sqlite:///{tmp_path / 'rk.db'}",
        small=True,
        days=2,
        ingest_through=date(2020, 2, 27),
    )
    inbox, archive = tmp_path / "data" / "inbox", tmp_path / "data" / "archive"
    corner_cell(inbox / day.isoformat() / "s001" / "2月28日补报.xlsx")
    settings = Settings.resolve(
        f"sqlite:///{tmp_path / 'rk.db'}", tmp_path / "params", tmp_path / "outputs"
    )
    result = daily.run_daily(
        settings, day, inbox=inbox, archive=archive, formats=("html",), send=False, progress=False
    )
    assert not result.ok  # the run exits 1
    (rejected,) = result.rejected
    assert "2月28日补报.xlsx" in rejected
    assert "limits.max_rows" in rejected
    assert result.ingested["logs"]["inserted"] > 0  # the rest of the day is in
    assert not result.reports_failed
    config = settings.schools()  # every school, and every roll-up with recipients
    due = [u for u in config.rollup_ids if config.unit(u).recipients]
    assert result.reports_ok == len(config.schools) + len(due)
    html = (settings.outputs / day.isoformat() / "s001" / "report.html").read_text("utf-8")
    assert "文件被拒收" in html
    assert "2月28日补报.xlsx" in html
    other = (settings.outputs / day.isoformat() / "s002" / "report.html").read_text("utf-8")
    assert "2月28日补报.xlsx" not in other
    assert any("REJECTED" in line for line in result.summary_lines())


@pytest.mark.parametrize(
    ("ref", "refused"),
    [("Z15", False), ("AA1", True), ("A16", True), ("A0016", True), ("B9", False)],
)
def test_references_are_checked_at_the_limits_edge(tmp_path, ref, refused):
    limits = IngestLimits(max_rows=5, max_columns=26)  # rows up to 5 + 10 title rows
    path = workbook(tmp_path / "edge.xlsx", GOOD + f'<row r="3">{cell(ref, "x")}</row>')
    if refused:
        with pytest.raises(RefusedFileError):
            check_workbook(path.read_bytes(), path, limits)
    else:
        check_workbook(path.read_bytes(), path, limits)
