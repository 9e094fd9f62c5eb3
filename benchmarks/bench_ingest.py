"""Ingestion speed: a district's two weeks of health logs into a fresh SQLite file.

Generates a roster (people = rows / 28) and a health-log CSV of ``--rows`` rows
(14 days x 2 sessions, Chinese headers, realistic values with a few ℃ suffixes,
symptom lists, Fahrenheit readings and unknown terms), then measures, each in
a subprocess of its own so that peak memories are separate:

- ``ours``: the roster ingested (timed on its own), then ``ingest_paths`` of the
  log with all validation;
- ``plain``: ``pandas.read_csv(path)`` + ``DataFrame.to_sql(...)`` of the same
  file, the floor any loader is compared with.

Prints rows/s, seconds and peak RSS of both and their ratio; never asserts.

Then, with ``--revisions`` (default on), what keeping revisions and the audit log costs,
in one process, alternately with them and with both switched off (the same code with
``record_revisions`` and the ingestion's audit rows replaced by no-ops), each on a
fresh store: the log's new rows (no prior version), the same file again (already
ingested), the same file forced (every row unchanged), and a corrected file (every row
with a prior version, its temperature changed: every row revised).

Then, with ``--small-files N`` (default 91 counties: 2,002 schools), a day's small files:
the demo's district of N counties of 22 schools (each school's own export, in the
formats and encodings the demo writes: CSV in UTF-8 and GBK, XLSX, headers in each
school's own words), its rosters ingested first (untimed), then the day's 2,002 files
ingested by ``ingest_paths`` against the plain load of the same files (each read by
pandas in its known encoding, or ``read_excel``, and appended by ``to_sql``), each in a
process of its own: rows/s of both, and the overhead a file costs beyond the plain
load, in milliseconds.

Then, with ``--files`` (default on), the costs of reading files under limits:

- ``checks``: a school's day as an XLSX (700 rows, 11 columns) read by one reader
  process with and without the check before parsing, alternately in the same run
  (ms per file and the ratio), and the CSV checks on the same rows;
- ``workbooks``: 200 such workbooks read by pandas in this process (the reading
  before limits), by one reader process for all, and by a new process for each;
- ``bombs``: each hostile workbook (a cell at XFD1048576, a 300 MB shared string,
  1,048,576 blank rows) refused, each in a process of its own: seconds and peak
  memory (the reader process, when one is started, is held to
  ``limits.reader_memory_mb`` of address space).

    python benchmarks/bench_ingest.py            # 1,000,000 rows, then the files
    python benchmarks/bench_ingest.py --rows 50000 --no-files
    python benchmarks/bench_ingest.py --only small-files --small-files 9
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DAYS = 14
SESSIONS = ("晨检", "午检")
HEADERS = [
    "学号",
    "姓名",
    "日期",
    "时段",
    "体温",
    "症状",
    "是否缺勤",
    "缺勤原因",
    "14天内是否到过重点地区",
    "是否接触确诊或疑似病例",
    "填报时间",
]
SCHOOLS = {
    "districts": [{"id": "d01", "name": "示范区"}],
    "schools": [{"id": "s001", "name": "示范区联合学校", "district": "d01"}],
}


def generate(folder: Path, rows: int, seed: int = 20200210) -> tuple[Path, Path, int]:
    """(roster.csv, logs.csv, people) in ``folder``; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    people = -(-rows // (DAYS * len(SESSIONS)))
    ids = np.char.add("2020", np.char.zfill(np.arange(1, people + 1).astype(str), 6))
    surnames = np.array(list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"))
    given = np.array(list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红"))
    names = np.char.add(
        np.char.add(
            surnames[rng.integers(0, len(surnames), people)],
            given[rng.integers(0, len(given), people)],
        ),
        np.where(rng.random(people) < 0.6, given[rng.integers(0, len(given), people)], ""),
    )
    roster = pd.DataFrame(
        {
            "学号": ids,
            "姓名": names,
            "身份": np.where(rng.random(people) < 0.08, "教职工", "学生"),
            "年级": (rng.integers(1, 7, people)).astype(str),
            "班级": np.char.zfill(rng.integers(1, 12, people).astype(str), 2),
            "状态": np.where(rng.random(people) < 0.01, "休学", "在校"),
        }
    )
    roster_path = folder / "roster.csv"
    roster.to_csv(roster_path, index=False)

    slot = np.arange(rows)
    person = slot % people
    day = (slot // people) // len(SESSIONS) % DAYS
    session = (slot // people) % len(SESSIONS)
    dates = (np.datetime64("2020-02-10") + day.astype("timedelta64[D]")).astype(str)
    temperature = np.round(rng.normal(36.5, 0.3, rows), 1).astype(str)
    suffix = rng.random(rows)
    temperature = np.where(suffix < 0.10, np.char.add(temperature, "℃"), temperature)
    temperature = np.where(
        (suffix > 0.10) & (suffix < 0.12), np.char.add(temperature, "度"), temperature
    )
    temperature = np.where(suffix > 0.9995, "98.6", temperature)  # a Fahrenheit thermometer
    symptom_pool = np.array(
        ["咳嗽", "咳嗽、发热", "流涕,头痛", "乏力 腹泻", "咽痛；发烧", "头晕", "鼻塞", "肚子疼"]
    )
    symptom = np.where(
        rng.random(rows) < 0.03, symptom_pool[rng.integers(0, len(symptom_pool), rows)], "无"
    )
    absent = rng.random(rows) < 0.02
    reason = np.where(absent, np.where(rng.random(rows) < 0.6, "病假", "事假"), "")
    key_area = np.where(rng.random(rows) < 0.005, "是，武汉", "否")
    contact = np.where(rng.random(rows) < 0.002, "是", "否")
    start = np.where(session == 0, 6 * 3600 + 1800, 12 * 3600)
    seconds = start + rng.integers(0, 4 * 3600, rows)
    reported = (
        np.datetime64("2020-02-10T00:00:00")
        + day.astype("timedelta64[D]")
        + seconds.astype("timedelta64[s]")
    )
    logs = pd.DataFrame(
        {
            "学号": ids[person],
            "姓名": names[person],
            "日期": dates,
            "时段": np.array(SESSIONS)[session],
            "体温": temperature,
            "症状": symptom,
            "是否缺勤": np.where(absent, "是", "否"),
            "缺勤原因": reason,
            "14天内是否到过重点地区": key_area,
            "是否接触确诊或疑似病例": contact,
            "填报时间": np.datetime_as_string(reported, unit="s"),
        }
    )
    logs["填报时间"] = logs["填报时间"].str.replace("T", " ", regex=False)
    logs_path = folder / "logs.csv"
    logs.to_csv(logs_path, index=False)
    return roster_path, logs_path, people


def _peak_mb() -> float:
    """Peak resident memory of this process in MB.

    ``ru_maxrss`` (KiB on Linux); Linux carries it over ``exec`` from the parent,
    which is why the parent stays small and even generating the data runs in a
    child of its own.
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_ours(roster: Path, logs: Path, db: Path) -> dict[str, float]:
    from reportkit import store
    from reportkit.config import IngestLimits, Rules, SchoolsConfig
    from reportkit.ingest import ingest_paths

    config = SchoolsConfig.model_validate(SCHOOLS)
    rows = sum(1 for _ in logs.open("rb"))
    # a district's two weeks in one file: more rows than a school's file may have
    rules = Rules(limits=IngestLimits(max_rows=max(rows, 200_000)))
    engine = store.connect(f"sqlite:///{db}")
    t0 = time.perf_counter()
    roster_report = ingest_paths(engine, [roster], "roster", config, rules, school="s001")
    t1, c1 = time.perf_counter(), time.process_time()
    report = ingest_paths(engine, [logs], "logs", config, rules, school="s001")
    t2, c2 = time.perf_counter(), time.process_time()
    ingest_paths(engine, [logs], "logs", config, rules, school="s001")
    t3 = time.perf_counter()
    return {
        "roster_seconds": t1 - t0,
        "roster_rows": roster_report.inserted,
        "seconds": t2 - t1,
        "cpu_seconds": c2 - c1,
        "report": report.to_json(),
        "again_seconds": t3 - t2,
        "peak_mb": _peak_mb(),
    }


def measure_plain(logs: Path, db: Path) -> dict[str, float]:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{db}")
    t0, c0 = time.perf_counter(), time.process_time()
    frame = pd.read_csv(logs)
    frame.to_sql("logs", engine, index=False)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": len(frame), "peak_mb": _peak_mb()}


# --- a day's small files -----------------------------------------------------------------


def generate_small_files(folder: Path, counties: int) -> dict[str, Any]:
    """The demo district of ``counties`` counties, two days of files, not ingested."""
    from reportkit.demo import build_demo

    result = build_demo(
        folder,
        folder / "params",
        f"sqlite:///{folder / 'unused.db'}",
        scale=counties,
        days=2,
        ingest=False,
    )
    return {"schools": result.schools, "people": result.people}


def _day_files(folder: Path) -> list[Path]:
    from reportkit.demo import DEMO_DATE

    day = folder / "data" / "inbox" / DEMO_DATE.isoformat()
    return sorted(p for p in day.rglob("*.*") if "门卫" not in p.name)


def measure_small_ours(folder: Path, db: Path, read_workers: int | None) -> dict[str, Any]:
    from reportkit import store
    from reportkit.config import Settings
    from reportkit.ingest import ingest_paths
    from reportkit.ingest.ahead import read_workers as read_ahead_workers

    url = f"sqlite:///{db}"
    settings = Settings.resolve(url, folder / "params", folder / "outputs")
    config, rules = settings.schools(), settings.rules()
    limits = rules.limits.model_copy(update={"read_workers": read_workers})
    rules = rules.model_copy(update={"limits": limits})
    engine = store.connect(url)
    store.sync_schools(engine, config)
    t0 = time.perf_counter()
    roster = ingest_paths(engine, [folder / "data" / "inbox" / "roster"], "roster", config, rules)
    roster_s = time.perf_counter() - t0
    files = _day_files(folder)
    t1, c1, k1 = time.perf_counter(), time.process_time(), _children_cpu()
    report = ingest_paths(engine, files, "logs", config, rules)
    seconds, cpu = time.perf_counter() - t1, time.process_time() - c1
    cpu += _children_cpu() - k1  # the reading workers and the spreadsheet reader
    return {
        "roster_seconds": roster_s,
        "roster_rows": roster.rows_read,
        "files": len(files),
        "rows": report.rows_read,
        "failed": len(report.failed),
        "quarantined": sum(f.quarantined for f in report.files),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_mb": _peak_mb(),
        "read_workers": read_ahead_workers(rules.limits, len(files)),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_small_plain(folder: Path, db: Path) -> dict[str, Any]:
    """Each file read by pandas in the encoding it was written in (known here; a loader
    of unknown files must find it) and appended by ``to_sql``, in one transaction."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{db}")
    files = _day_files(folder)
    rows = 0
    t0, c0 = time.perf_counter(), time.process_time()
    with engine.begin() as conn:
        for path in files:
            if path.suffix in (".xlsx", ".xls"):
                frame = pd.read_excel(path, dtype=object, engine="openpyxl")
            else:
                try:
                    frame = pd.read_csv(path, dtype=object, encoding="utf-8-sig")
                except UnicodeDecodeError:
                    frame = pd.read_csv(path, dtype=object, encoding="gb18030")
            frame.columns = [f"c{i}" for i in range(frame.shape[1])]
            # a table per width: the exports' headers differ, and padding costs more
            frame.to_sql(f"logs{frame.shape[1]}", conn, index=False, if_exists="append")
            rows += len(frame)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": rows, "files": len(files)}


def small_files_figures(folder: Path, counties: int) -> None:
    made = _child("--measure", "generate-small", "--folder", str(folder), "--rows", str(counties))
    small = ("--measure", "small-ours", "--folder", str(folder))
    ours = _child(*small, "--db", str(folder / "o.db"))
    here = _child(*small, "--db", str(folder / "h.db"), "--read-workers", "0")
    plain = _child(
        "--measure", "small-plain", "--folder", str(folder), "--db", str(folder / "p.db")
    )
    n = ours["files"]
    print(
        f"a day's small files: {made['schools']:,} schools, {n:,} files, {ours['rows']:,} rows "
        f"(rosters: {ours['roster_rows']:,} people in {ours['roster_seconds']:.1f} s, "
        f"{ours['roster_rows'] / ours['roster_seconds']:,.0f} rows/s, not below)"
    )
    for label, run in (
        ("ours, read ahead", ours),
        ("ours, read here ", here),
        ("plain           ", plain),
    ):
        print(
            f"  {label}: {run['seconds']:6.2f} s = {run['rows'] / run['seconds']:,.0f} rows/s, "
            f"{1000 * run['seconds'] / n:.1f} ms a file (CPU {run['cpu_seconds']:.2f} s)"
        )
    print(
        f"  ours: {ours['failed']} files failed, {ours['quarantined']:,} rows quarantined; "
        f"plain: no validation, no revisions, no audit"
    )
    over = 1000 * (ours["seconds"] - plain["seconds"]) / n
    print(
        f"  overhead beyond the plain load: {over:.1f} ms a file; "
        f"ratio {ours['seconds'] / plain['seconds']:.2f}x the plain load's time; "
        f"reading ahead (limits.read_workers, {ours['read_workers']}) / reading here: "
        f"{ours['seconds'] / here['seconds']:.2f}"
    )


# --- reading files under limits ----------------------------------------------------------


def school_workbook(rows: int = 700) -> bytes:
    """A school's day as its exporter writes it: a title row, a header, ``rows`` rows."""
    import io

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["XX小学2020年2月10日晨午检登记表"])
    sheet.append(HEADERS)
    for i in range(rows):
        temperature = 36.5 + (i % 7) / 10
        stamp = f"2020-02-10 07:{i % 60:02d}:00"
        row = [f"2020{i:06d}", "张三丽", "2020-02-10", "晨检", temperature, "无", "否"]
        sheet.append([*row, "", "否", "否", stamp])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def measure_checks(repeats: int = 200) -> dict[str, float]:
    from reportkit.config import IngestLimits
    from reportkit.ingest import SheetReader, readers
    from reportkit.ingest.sheets import check_workbook

    data = school_workbook()
    limits = IngestLimits()
    checked, unchecked, check_only = [], [], []
    with SheetReader(limits) as reader:
        reader.read(data, "warm-up", "logs")
        for _ in range(repeats):  # alternately, so that both see the same machine
            t0 = time.perf_counter()
            reader.read(data, "school.xlsx", "logs")  # the check, then the reader
            t1 = time.perf_counter()
            json.loads(reader._ask(data, "school.xlsx", "logs")[1])  # the reader alone
            t2 = time.perf_counter()
            check_workbook(data, "school.xlsx", limits)
            t3 = time.perf_counter()
            checked.append(t1 - t0)
            unchecked.append(t2 - t1)
            check_only.append(t3 - t2)
    csv_text = (
        ",".join(HEADERS)
        + "\n"
        + "".join(
            f"2020{i:06d},张三丽,2020-02-10,晨检,36.5,无,否,,否,否,2020-02-10 07:40:00\n"
            for i in range(700)
        )
    )
    csv_data = csv_text.encode("gbk")
    csv_read, csv_check = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        readers.read_table_bytes(csv_data, "school.csv", "logs")
        t1 = time.perf_counter()
        readers._line_stats(csv_data)
        csv_read.append(t1 - t0)
        csv_check.append(time.perf_counter() - t1)
    return {  # medians: a busy machine's outliers say nothing about the code
        "bytes": len(data),
        "checked_ms": _median_ms(checked),
        "unchecked_ms": _median_ms(unchecked),
        "check_ms": _median_ms(check_only),
        "csv_read_ms": _median_ms(csv_read),
        "csv_check_ms": _median_ms(csv_check),
    }


def _median_ms(seconds: list[float]) -> float:
    return sorted(seconds)[len(seconds) // 2] * 1000


def measure_workbooks(files: int = 200) -> dict[str, float]:
    import io

    import pandas as pd

    from reportkit.ingest import SheetReader, readers

    data = school_workbook()
    options = {"header": None, "dtype": str, "keep_default_na": False, "na_values": [""]}
    pd.read_excel(io.BytesIO(data), engine="calamine", **options)  # warm-up
    t0 = time.perf_counter()
    for _ in range(files):  # before limits: pandas and calamine in this process, twice
        with pd.ExcelFile(io.BytesIO(data), engine="calamine") as book:
            pd.read_excel(book, sheet_name=0, nrows=10, **options)
            pd.read_excel(book, sheet_name=0, **options)
    in_process = time.perf_counter() - t0
    t0 = time.perf_counter()
    with SheetReader() as reader:
        for _ in range(files):
            readers.read_table_bytes(data, "school.xlsx", "logs", sheets=reader)
    one_reader = time.perf_counter() - t0
    fresh_files = max(1, files // 10)
    t0 = time.perf_counter()
    for _ in range(fresh_files):
        with SheetReader() as reader:
            readers.read_table_bytes(data, "school.xlsx", "logs", sheets=reader)
    fresh = time.perf_counter() - t0
    return {
        "files": files,
        "in_process_ms": in_process / files * 1000,
        "one_reader_ms": one_reader / files * 1000,
        "fresh_reader_ms": fresh / fresh_files * 1000,
    }


def write_bombs(folder: Path) -> dict[str, str]:
    """The three hostile workbooks of tests/ingest/test_hostile_files.py, written to ``folder``."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.factories import blank_rows, corner_cell, giant_string

    return {
        "corner cell XFD1048576": str(corner_cell(folder / "corner.xlsx")),
        "300 MB shared string": str(giant_string(folder / "giant.xlsx")),
        "1,048,576 blank rows": str(blank_rows(folder / "blank.xlsx")),
    }


def measure_bomb(path: Path, raised: bool = False) -> dict[str, float]:
    """One bomb refused; ``raised``: with the row and column limits raised past it, so
    that only the reader process's memory limit stands in its way."""
    from reportkit.config import IngestLimits
    from reportkit.errors import RefusedFileError
    from reportkit.ingest import readers

    limits = IngestLimits(max_rows=2_000_000, max_columns=20_000) if raised else IngestLimits()
    before = _peak_mb()
    t0 = time.perf_counter()
    try:
        readers.read_table(path, "logs", limits=limits)
        refused = ""
    except RefusedFileError as exc:
        refused = exc.reason
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "peak_mb": _peak_mb(),
        "peak_before_mb": before,
        "bytes": path.stat().st_size,
        "refused": refused,
    }


def files_figures(folder: Path) -> None:
    checks = _child("--measure", "checks")
    print(
        f"check before parsing, a school's XLSX ({checks['bytes'] / 1024:.0f} KB, 700 rows), "
        f"medians of 200: {checks['check_ms']:.2f} ms a file; read with it "
        f"{checks['checked_ms']:.1f} ms, "
        f"without {checks['unchecked_ms']:.1f} ms "
        f"(ratio {checks['checked_ms'] / checks['unchecked_ms']:.2f}, "
        f"+{checks['checked_ms'] - checks['unchecked_ms']:.2f} ms)"
    )
    print(
        f"the CSV checks on the same 700 rows (GBK): {checks['csv_check_ms']:.3f} ms of a "
        f"{checks['csv_read_ms']:.1f} ms read"
    )
    books = _child("--measure", "workbooks")
    print(
        f"{books['files']} such workbooks: {books['in_process_ms']:.1f} ms a file by pandas in "
        f"this process (before limits), {books['one_reader_ms']:.1f} ms by one reader process "
        f"for all, {books['fresh_reader_ms']:.1f} ms with a new reader process for each"
    )
    bombs = _child("--measure", "bombs", "--folder", str(folder))
    corner = bombs["corner cell XFD1048576"]
    bombs["corner cell, row and column limits raised past it"] = corner
    for label, path in bombs.items():
        how = "bomb-raised" if "raised" in label else "bomb"
        run = _child("--measure", how, "--folder", path)
        print(
            f"bomb {label} ({run['bytes'] / 1024:,.0f} KB): refused in {run['seconds']:.3f} s, "
            f"peak {run['peak_mb']:,.0f} MB ({run['peak_before_mb']:,.0f} MB before reading); "
            f"{run['refused']}"
        )


# --- revisions and the audit log ---------------------------------------------------------


def corrected_copy(logs: Path) -> Path:
    """``logs`` with every temperature changed (a corrected file: every row replaced)."""
    frame = pd.read_csv(logs, dtype=str, keep_default_na=False)
    frame["体温"] = "37.0"
    path = logs.with_name("logs-corrected.csv")
    frame.to_csv(path, index=False)
    return path


def measure_revisions(roster: Path, logs: Path, folder: Path, repeats: int = 2) -> dict:
    """Seconds per step, with and without revisions and audit, alternately (medians)."""
    import pandas as pd

    from reportkit import store
    from reportkit.config import IngestLimits, Rules, SchoolsConfig
    from reportkit.ingest import ingest_paths, pipeline

    config = SchoolsConfig.model_validate(SCHOOLS)
    rows = sum(1 for _ in logs.open("rb"))
    rules = Rules(limits=IngestLimits(max_rows=max(rows, 200_000)))
    corrected = corrected_copy(logs)
    real = (store.record_revisions, pipeline.audit_rows)

    def switch(on: bool) -> None:
        if on:
            store.record_revisions, pipeline.audit_rows = real
        else:
            store.record_revisions = lambda *a, **k: pd.DataFrame(columns=["id"])
            pipeline.audit_rows = lambda *a, **k: []

    times: dict[str, dict[str, list[float]]] = {"with": {}, "without": {}}
    cpu: dict[str, dict[str, list[float]]] = {"with": {}, "without": {}}
    revised = 0
    for i in range(repeats):
        for label in ("with", "without") if i % 2 == 0 else ("without", "with"):
            switch(label == "with")
            engine = store.connect(f"sqlite:///{folder / f'rev-{label}-{i}.db'}")
            ingest_paths(engine, [roster], "roster", config, rules, school="s001")
            steps = [
                ("new rows", logs, False),
                ("same file", logs, False),
                ("same file forced", logs, True),
                ("corrected file", corrected, False),
            ]
            for step, path, force in steps:
                # the already-ingested file takes milliseconds: timed 20 times
                for _ in range(20 if step == "same file" else 1):
                    t0, c0 = time.perf_counter(), time.process_time()
                    report = ingest_paths(
                        engine, [path], "logs", config, rules, school="s001", force=force
                    )
                    times[label].setdefault(step, []).append(time.perf_counter() - t0)
                    cpu[label].setdefault(step, []).append(time.process_time() - c0)
                if label == "with" and step == "corrected file":
                    revised = report.updated
            engine.dispose()
    switch(True)
    median = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    return {
        "rows": rows - 1,
        "revised": revised,
        "steps": {
            step: {label: median(times[label][step]) for label in times} for step in times["with"]
        },
        "cpu": {step: {label: median(cpu[label][step]) for label in cpu} for step in cpu["with"]},
    }


def revisions_figures(roster: Path, logs: Path, folder: Path) -> None:
    run = _child(
        "--measure",
        "revisions",
        "--roster",
        str(roster),
        "--logs",
        str(logs),
        "--folder",
        str(folder),
    )
    print(
        f"revisions and audit log, {run['rows']:,} log rows on SQLite, medians of 2 "
        "(the already-ingested file: of 40), alternately with and without them in one "
        "process:"
    )
    for step, t in run["steps"].items():
        c = run["cpu"][step]
        ratio = t["with"] / t["without"] if t["without"] else float("nan")
        cpu_ratio = c["with"] / c["without"] if c["without"] else float("nan")
        print(
            f"  {step:<17} with {t['with']:7.3f} s, without {t['without']:7.3f} s "
            f"(ratio {ratio:.3f}; CPU {c['with']:.3f} s / {c['without']:.3f} s, "
            f"ratio {cpu_ratio:.3f})"
        )
    print(f"  (the corrected file revised {run['revised']:,} rows)")


def _child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--files",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure the checks, workbooks and bombs (default: yes)",
    )
    parser.add_argument(
        "--revisions",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure revisions and the audit log (default: yes)",
    )
    parser.add_argument(
        "--measure",
        choices=[
            "revisions",
            "ours",
            "plain",
            "generate",
            "checks",
            "workbooks",
            "bombs",
            "bomb",
            "bomb-raised",
            "generate-small",
            "small-ours",
            "small-plain",
        ],
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--small-files",
        type=int,
        default=91,
        metavar="COUNTIES",
        help="a day's files of a district of this many counties (0: not measured)",
    )
    parser.add_argument("--only", choices=["small-files"], help="just this part")
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--roster", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--logs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--read-workers", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure == "generate-small":
        print(json.dumps(generate_small_files(args.folder, args.rows)))
        return
    if args.measure == "small-ours":
        print(json.dumps(measure_small_ours(args.folder, args.db, args.read_workers)))
        return
    if args.measure == "small-plain":
        print(json.dumps(measure_small_plain(args.folder, args.db)))
        return
    if args.only == "small-files":
        with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
            small_files_figures(Path(tmp), args.small_files)
        return
    if args.measure == "ours":
        print(json.dumps(measure_ours(args.roster, args.logs, args.db)))
        return
    if args.measure == "revisions":
        print(json.dumps(measure_revisions(args.roster, args.logs, args.folder)))
        return
    if args.measure == "plain":
        print(json.dumps(measure_plain(args.logs, args.db)))
        return
    if args.measure == "generate":
        roster, logs, people = generate(args.folder, args.rows)
        print(json.dumps({"roster": str(roster), "logs": str(logs), "people": people}))
        return
    if args.measure in ("checks", "workbooks"):
        print(json.dumps(globals()[f"measure_{args.measure}"]()))
        return
    if args.measure == "bombs":
        print(json.dumps(write_bombs(args.folder)))
        return
    if args.measure in ("bomb", "bomb-raised"):
        print(json.dumps(measure_bomb(args.folder, raised=args.measure == "bomb-raised")))
        return

    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        made = _child("--measure", "generate", "--rows", str(args.rows), "--folder", tmp)
        roster, logs, people = Path(made["roster"]), Path(made["logs"]), made["people"]
        size = logs.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} log rows ({size:.0f} MB) for {people:,} people "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        paths = ["--roster", str(roster), "--logs", str(logs)]
        ours = _child("--measure", "ours", *paths, "--db", str(folder / "ours.db"))
        plain = _child("--measure", "plain", *paths, "--db", str(folder / "plain.db"))
        if args.small_files:
            small = folder / "small"
            small.mkdir()
            small_files_figures(small, args.small_files)
        if args.revisions:
            revisions_figures(roster, logs, folder)
        if args.files:
            bombs = folder / "bombs"
            bombs.mkdir()
            files_figures(bombs)
    report = ours["report"]
    rows = report["rows_read"]
    print(
        f"roster: {ours['roster_rows']:,} people in {ours['roster_seconds']:.2f} s "
        f"(not in the figures below)"
    )
    for label, run, n in (("ours ", ours, rows), ("plain", plain, plain["rows"])):
        print(
            f"{label}: {n:,} rows in {run['seconds']:.2f} s = {n / run['seconds']:,.0f} rows/s "
            f"(CPU {run['cpu_seconds']:.2f} s = {n / run['cpu_seconds']:,.0f} rows/s), "
            f"peak {run['peak_mb']:,.0f} MB"
        )
    print(
        f"       ours: inserted {report['inserted']:,}, quarantined {report['quarantined']:,}, "
        f"findings {report['findings']:,}; plain: pandas.read_csv + DataFrame.to_sql, "
        "no validation"
    )
    print(
        f"ratio: ours takes {ours['seconds'] / plain['seconds']:.2f}x the plain load's time "
        f"({ours['cpu_seconds'] / plain['cpu_seconds']:.2f}x its CPU time)"
    )
    print(f"re-ingesting the same file: {ours['again_seconds']:.2f} s (already ingested)")
    print(
        f"this machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
        f"a pure-Python loop of 10M additions takes {_python_loop_seconds():.2f} s "
        "(for comparing rows/s across machines)"
    )


def _python_loop_seconds() -> float:
    t0 = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
