"""A province-sized district: ingest a day, compute every finding, render throughput;
and every level's roll-up of a 10,000-school province.

Builds ``reportkit demo --scale`` with about 2,000 schools (``--scale 91``: 91
counties of 22 schools, ~740,000 people) and two days of check-ins, then times:

* ingesting the rosters (once) and one day of health logs;
* computing all findings for the day, every school;
* rendering (HTML + PDF) a sample of schools with ``--jobs 2`` on the local
  thread pool, and on a 2-worker ``distributed.LocalCluster``, in schools per
  minute; and from that, the workers a province of 10,000 schools needs to
  render everything in the 30 minutes between 16:30 and 17:00.

The province (``--only units`` runs just this part): 1 province, 10 cities, 100
counties, 1,000 towns and 10,000 schools (in each town 2 central schools with 3
village schools each, and 2 schools more), one day's per-school figures drawn at
random. Timed: every level's roll-up computed at once (the province, cities,
counties, towns and the 2,000 central schools), then the roll-ups with recipients
(the province, cities and counties: 111) rendered, HTML and PDF, bottom-up, by the
runner's own jobs on 2 warm kernels; towns and central schools have no recipients
here, so they are not rendered (``run --unit`` would). The 10,000 school reports
are not part of it.

With ``--only cost`` (``--scale N [--db URL] [--workers 4]``): the per-school cost
of a report (core-seconds of every process, HTML + PDF) in a district of N counties
with 14 days of check-ins, against a county of 22 schools, printed last as
``per-school cost at N schools / at 20 schools: X.XX``; ``--district DIR``: the
district ``--only findings --root DIR`` built (and ingested through the demo date);
``--every``: the afternoon's whole run at both sizes (every school and roll-up)
instead of 20 schools and the roll-ups above them.

With ``--only findings`` (``--scale N [--db URL] [--root DIR --reuse]``): the district
of N counties with 14 days of check-ins (13 ingested, untimed); then, each in a
process of its own and timed with its peak memory: the afternoon before (every
finding of the day before, with no digests in the store yet: each school-day's
digest is built from its check-ins), and the afternoon itself (the demo date's files
ingested by ``reportkit daily``'s path, then every finding computed twice, the days
before read from their digests): the part of the afternoon that runs once, before
the reports.

Prints figures; never asserts on time.

    .venv/bin/python benchmarks/bench_scale.py [--scale 91] [--sample 24] [--root DIR]
    .venv/bin/python benchmarks/bench_scale.py --only units [--schools 10000]
    .venv/bin/python benchmarks/bench_scale.py --only cost --scale 9 [--db URL] [--workers 4]
    .venv/bin/python benchmarks/bench_scale.py --only cost --district DIR --every
    .venv/bin/python benchmarks/bench_scale.py --only findings --scale 91 [--db URL]
    .venv/bin/python benchmarks/bench_scale.py --only findings --root DIR --reuse \
        --db URL --copy-store   # the district DIR holds, in PostgreSQL
"""

from __future__ import annotations

import argparse
import math
import resource
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _cpu import CoreClock

from reportkit import ingest, store
from reportkit.config import Settings
from reportkit.demo import DEMO_DATE, build_demo
from reportkit.execution import run_reports
from reportkit.findings import load_findings


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def province(n_schools: int) -> tuple[dict, list[str]]:
    """schools.yaml of a province of ``n_schools`` schools; the ids of its schools."""
    per_town = 10
    towns = max(1, n_schools // per_town)
    counties = max(1, towns // 10)
    cities = max(1, counties // 10)
    mail = [{"name": "值班室", "email": "duty@example.org"}]
    units = [
        {"id": "p01", "name": "示范省", "level": "省", "deadline": "19:00", "recipients": mail}
    ]
    units += [
        {"id": f"c{c:03d}", "name": f"第{c}市", "level": "市", "parent": "p01", "recipients": mail}
        for c in range(cities)
    ]
    units += [
        {"id": f"d{d:04d}", "name": f"第{d}县", "level": "县", "parent": f"c{d % cities:03d}",
         "recipients": mail}
        for d in range(counties)
    ]  # fmt: skip
    units += [
        {"id": f"t{t:05d}", "name": f"第{t}镇", "level": "镇", "parent": f"d{t % counties:04d}"}
        for t in range(towns)
    ]
    schools, ids = [], []
    for t in range(towns):
        for k in range(per_town):
            sid = f"s{t * per_town + k:06d}"
            central = f"s{t * per_town + (0 if k < 4 else 4):06d}"
            parent = f"t{t:05d}" if k in (0, 4, 8, 9) else central
            schools.append({"id": sid, "name": f"第{t}镇{k}校", "parent": parent})
            ids.append(sid)
    return {"timezone": "Asia/Shanghai", "units": units, "schools": schools}, ids


def bench_units(root: Path, n_schools: int, jobs: int) -> None:
    """Every level's roll-up of a province: computed, then rendered (see the docstring)."""
    import numpy as np
    import pandas as pd
    import yaml

    from reportkit.config import SchoolsConfig
    from reportkit.context import FORMATS
    from reportkit.execution import JobSpec, ThreadExecutor, close_printer, unit_waves
    from reportkit.findings import ROLLUP_COLUMNS, rollup_hash, save_unit
    from reportkit.findings.tree import unit_rollups
    from reportkit.layout import day_outputs

    body, ids = province(n_schools)
    params = root / "params"
    params.mkdir(parents=True, exist_ok=True)
    (params / "schools.yaml").write_text(
        yaml.safe_dump(body, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    t0 = time.perf_counter()
    config = SchoolsConfig.model_validate(body)
    parse_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    n = len(ids)
    counts = [c for c in ROLLUP_COLUMNS[7:] if c != "coverage"]
    frame = pd.DataFrame({c: rng.integers(0, 5, n) for c in counts})
    frame["expected"] = rng.integers(50, 1500, n)
    frame["reported"] = frame["expected"] - frame["missing"]
    frame["coverage"] = frame["reported"] / frame["expected"] * 100
    frame["school_id"] = ids
    frame["name"] = [s["name"] for s in body["schools"]]
    frame["town"] = ""
    frame["submission"] = rng.choice(["on_time", "late", "missing"], n, p=[0.9, 0.07, 0.03])
    frame["last_received"] = None
    frame["minutes_late"] = np.where(frame["submission"] == "late", 12, 0)
    frame["zero_report"] = False
    frame = frame[ROLLUP_COLUMNS]
    days = [DEMO_DATE - timedelta(days=13 - j) for j in range(14)]
    trend = pd.DataFrame(
        {
            "school_id": np.repeat(ids, 14),
            "date": np.tile(np.array(days, dtype=object), n),
            "expected": np.repeat(frame["expected"].to_numpy(), 14),
            "reported": np.repeat(frame["reported"].to_numpy(), 14),
            **{c: rng.integers(0, 2, n * 14) for c in ("fever", "symptomatic", "suspected")},
        }
    )

    t0 = time.perf_counter()
    rollups = unit_rollups(frame, trend, DEMO_DATE, config)
    compute_s = time.perf_counter() - t0
    levels: dict[str, int] = {}
    for u in rollups:
        level = config.unit(u).level
        levels[level] = levels.get(level, 0) + 1

    due = [u for u in config.rollup_ids if config.unit(u).recipients]
    day = day_outputs(root / "outputs", DEMO_DATE)
    folder = day.findings
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for u in due:
        save_unit(rollups[u], folder, "bench")
    save_s = time.perf_counter() - t0

    common = dict(
        report_date=DEMO_DATE.isoformat(),
        findings_dir=str(folder),
        db=f"sqlite:///{root / 'none.db'}",
        params_dir=str(params),
        formats=tuple(FORMATS),
        retries=0,
        run_id="bench",
    )
    executor = ThreadExecutor(jobs)
    clock, t0 = CoreClock().start(), time.perf_counter()
    executor.prepare("zh-CN", FORMATS)
    results = []
    try:
        for wave in unit_waves(config, due):
            specs = [
                JobSpec(
                    kind="unit",
                    target_id=u,
                    out_dir=str(day.report_dir("unit", u)),
                    findings_hash=rollup_hash(rollups[u]),
                    **common,  # type: ignore[arg-type]
                )
                for u in wave
            ]
            results += executor.wave(specs, lambda result: None)
    finally:
        executor.close()
        close_printer()
    render_s = time.perf_counter() - t0
    render_cpu = clock.stop()
    failed = [r for r in results if r.status != "ok"]
    shown = ", ".join(f"{k} {v}" for k, v in levels.items())
    print(f"province: {n:,} schools, {len(rollups):,} roll-ups ({shown})")
    print(f"parse the tree      {parse_s:7.1f} s")
    print(f"every roll-up       {compute_s:7.1f} s  (all levels, counts of every child)")
    print(f"save {len(due)} roll-ups   {save_s:7.1f} s")
    print(
        f"render {len(due)} roll-ups {render_s:7.1f} s  (HTML + PDF, -j{jobs}, bottom-up; "
        f"{len(failed)} failed; kernels and Chromium started inside)"
    )
    print(
        f"               {render_cpu:7.1f} core-s  ({render_cpu / len(due):.2f} a roll-up, kernels "
        f"and Chromium included; on {jobs} idle cores about {render_cpu / jobs:.0f} s)"
    )
    print(f"every level, computed and rendered: {compute_s + save_s + render_s:.1f} s")


def render_cost(
    root: Path,
    scale: int,
    sample: int | None,
    jobs: int,
    db: str | None,
    workers: int,
    reuse: bool = False,
) -> tuple[int, int, float, float]:
    """A district of ``scale`` counties with 14 days of check-ins (its calendar has a
    holiday) ingested through the real path; then ``sample`` of its schools rendered
    (HTML + PDF) twice, the second time measured, with the roll-ups above them; or, with
    no ``sample``, the afternoon's run: every school and roll-up, after a run of one
    school. (schools in the district, reports measured, core-seconds, wall seconds). ``db``: a store URL of its own
    (PostgreSQL), else SQLite; ``workers``: render on a ``LocalCluster`` of that many
    single-threaded workers instead of the local pool; ``reuse``: the district built in
    ``root`` before, every day ingested (``--only findings`` leaves one so)."""
    url = db or f"sqlite:///{root / 'reportkit.db'}"
    if not (reuse and (root / "params").exists()):
        build_demo(root, root / "params", url, scale=scale, days=14)
    settings = Settings.resolve(url, root / "params", root / "outputs")
    every = [s.id for s in settings.schools().schools]
    schools = every[:sample] if sample else None  # None: every school and roll-up

    def render(schools: list[str] | None = schools) -> int:
        if not workers:
            return len(run_reports(settings, DEMO_DATE, schools, jobs=jobs, progress=False).jobs)
        from distributed import Client, LocalCluster

        from reportkit.execution import dask_executor

        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            client.run(lambda: None)
            run = run_reports(
                settings, DEMO_DATE, schools, executor=dask_executor(client), progress=False
            )
            return len(run.jobs)

    # the findings files, the fonts, the kernels' imports: warm (an afternoon: one school)
    render(schools if sample else every[:1])
    clock, started = CoreClock().start(), time.perf_counter()
    reports = render()
    core, wall = clock.stop(), time.perf_counter() - started
    return len(every), reports, core, wall


def bench_cost(
    root: Path,
    scale: int,
    jobs: int,
    db: str | None,
    workers: int,
    district: Path | None,
    every: bool = False,
) -> None:
    """The per-school cost of a report in a district of ``scale`` counties against a
    county of 22 schools: the same 20 schools' reports (and the roll-ups above them) in
    both, or with ``every``, the whole afternoon's run of each (every school and
    roll-up). ``district``: a district built before (``--only findings --root``)."""
    sample = None if every else 20
    n, big_n, big_core, big_wall = render_cost(
        district or root / "district", scale, sample, jobs, db, workers, reuse=district is not None
    )
    _, small_n, small_core, small_wall = render_cost(
        root / "county", 1, sample, jobs, None, workers
    )
    where = f"{'PostgreSQL' if db else 'SQLite'}, " + (
        f"LocalCluster of {workers} single-threaded workers" if workers else f"--jobs {jobs}"
    )
    what = "every school and roll-up" if every else "20 schools and the roll-ups above them"
    print(f"14 days of check-ins, a holiday in the calendar; {where}; {what}")
    for label, reports, core, wall in (
        ("at 22 schools   ", small_n, small_core, small_wall),
        (f"at {n:,} schools", big_n, big_core, big_wall),
    ):
        print(
            f"{label} {reports:5,} reports in {wall:7.1f} s, {core:8.1f} core-s: "
            f"{core / reports:5.2f} core-s, {wall / reports:5.2f} s wall per report"
        )
    ratio = (big_core / big_n) / (small_core / small_n)
    print(f"per-school cost at {n} schools / at 20 schools: {ratio:.2f}")


def bench_findings(root: Path, scale: int, db: str | None, reuse: bool, copy: bool) -> None:
    """The once-an-afternoon part at ``scale`` counties over 14 days (see the docstring).
    ``copy``: fill the PostgreSQL store ``db`` from the SQLite store ``root`` holds
    (:func:`copy_store`)."""
    import json
    import subprocess
    import sys

    url = db or f"sqlite:///{root / 'reportkit.db'}"
    started = time.perf_counter()
    day_before = DEMO_DATE - timedelta(days=1)
    built = None
    if copy:
        if not (db and reuse):
            raise SystemExit("--copy-store needs --db (PostgreSQL) and --reuse")
        copied = copy_store(root / "reportkit.db", db, DEMO_DATE)
        print(
            f"copied the SQLite store's 13 days into PostgreSQL ({copied:,} check-ins) "
            f"in {time.perf_counter() - started:.0f} s"
        )
    if not (reuse and (root / "params").exists()):
        result = build_demo(
            root, root / "params", url, scale=scale, days=14, ingest_through=day_before
        )
        built = time.perf_counter() - started
        print(
            f"{result.schools:,} schools, {result.people:,} people, 14 days of check-ins "
            f"({'PostgreSQL' if db else 'SQLite'}); 13 days written and ingested in {built:.0f} s"
        )

    def child(phase: str) -> dict:
        args = ["--only", "findings-child", "--root", str(root), "--db", url, "--phase", phase]
        out = subprocess.run(
            [sys.executable, __file__, *args], check=True, capture_output=True, text=True
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    if reuse:  # the day's files ingested for real, as on the afternoon itself
        forget_day(url, DEMO_DATE)
    first = child("first")
    day = child("day")
    print(
        f"the afternoon before, no digests yet: all findings {first['findings_s'][0]:6.1f} s "
        f"({first['checkins']:,} check-ins in its window; peak {first['peak_mb']:,.0f} MB)"
    )
    print(
        f"ingest the day   {day['ingest_s']:6.1f} s  ({day['rows']:,} rows in "
        f"{day['files']:,} files, {day['rows'] / max(day['ingest_s'], 1e-9):,.0f} rows/s)"
    )
    print(
        f"all findings     {day['findings_s'][0]:6.1f} s, then {day['findings_s'][1]:.1f} s "
        f"({day['schools']:,} schools, {day['checkins']:,} check-ins in the window, "
        f"{day['kept']:,} school-days read from digests)"
    )
    print(f"peak memory of that process: {day['peak_mb']:,.0f} MB")


def copy_store(source: Path, url: str, before: date) -> int:
    """Fill the empty PostgreSQL store ``url`` with the SQLite store ``source`` as it was
    before ``before``: every table but the digests, dated rows before it, the files
    ingested before it (so that ``before``'s files are ingested for real). Through
    ``COPY``; the triggers run as for any write. A benchmark's shortcut: ingesting 13
    days of 2,000 schools into PostgreSQL through the files takes about half an hour,
    and the rows are the same. The check-ins copied."""
    import sqlite3

    engine = store.connect(url)
    lite = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    copied = 0
    with engine.begin() as conn:
        driver: Any = conn.connection.driver_connection
        with driver.cursor() as cursor:
            for table in store.metadata.sorted_tables:
                if table is store.checkin_digests:
                    continue
                names = [c.name for c in table.columns]
                where, args = "", []
                if "date" in table.c:
                    where, args = " WHERE date < ?", [before.isoformat()]
                elif table is store.ingestions:
                    where, args = " WHERE path NOT LIKE ?", [f"%{before.isoformat()}%"]
                quoted = ", ".join(f'"{n}"' for n in names)
                rows = lite.execute(f"SELECT {quoted} FROM {table.name}{where}", args)
                booleans = [
                    i for i, c in enumerate(table.columns) if isinstance(c.type, sa.Boolean)
                ]
                with cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:
                    while chunk := rows.fetchmany(100_000):
                        for row in chunk:
                            if booleans:
                                row = list(row)
                                for i in booleans:
                                    row[i] = None if row[i] is None else bool(row[i])
                            copy.write_row(row)
                        if table is store.checkins:
                            copied += len(chunk)
                if "id" in table.c and isinstance(table.c.id.type, sa.Integer):
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"coalesce(max(id), 0) + 1, false) FROM {table.name}"
                    )
    lite.close()
    engine.dispose()
    return copied


def forget_day(url: str, day: date) -> int:
    """Delete ``day``'s dated rows and the record of its files from the store, so that a
    district used again ingests that day's files for real. The check-ins deleted."""
    engine = store.connect(url)
    deleted = 0
    with engine.begin() as conn:
        # what ingesting the day's files writes (the audit log and revisions are kept)
        for table in (store.checkins, store.entries, store.data_quality, store.quarantine):
            result = conn.execute(sa.delete(table).where(table.c.date == day))
            deleted += result.rowcount if table is store.checkins else 0
        files = store.ingestions
        conn.execute(sa.delete(files).where(files.c.path.like(f"%{day.isoformat()}%")))
    engine.dispose()
    return deleted


def findings_child(root: Path, url: str, phase: str) -> None:
    import json

    settings = Settings.resolve(url, root / "params", root / "outputs")
    config, rules = settings.schools(), settings.rules()
    engine = store.connect(url)
    ingest_s, rows, files = 0.0, 0, 0
    day_of = DEMO_DATE
    if phase == "first":
        day_of = DEMO_DATE - timedelta(days=1)
        with engine.begin() as conn:
            conn.execute(sa.delete(store.checkin_digests))
    else:
        inbox = root / "data" / "inbox" / DEMO_DATE.isoformat()
        started = time.perf_counter()
        report = ingest.ingest_paths(engine, [inbox], None, config, rules)
        ingest_s = time.perf_counter() - started
        rows = report.by_kind().get("logs", {}).get("rows_read", 0)
        files = len(report.files)
    seconds = []
    for _ in range(1 if phase == "first" else 2):
        started = time.perf_counter()
        findings = load_findings(engine, config, rules, day_of)
        seconds.append(time.perf_counter() - started)
    window = store.checkins.c.date.between(day_of - timedelta(days=13), day_of)
    digests = store.checkin_digests
    with engine.connect() as conn:
        checkins = conn.execute(sa.select(sa.func.count()).where(window)).scalar_one()
        kept = conn.execute(
            sa.select(sa.func.count())
            .select_from(digests)
            .where(digests.c.date < day_of, digests.c.payload.is_not(None))
        ).scalar_one()
    print(
        json.dumps(
            {
                "ingest_s": ingest_s,
                "rows": rows,
                "files": files,
                "findings_s": seconds,
                "schools": len(findings.schools),
                "checkins": checkins,
                "kept": kept,
                "peak_mb": rss_mb(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=91)
    parser.add_argument(
        "--sample", type=int, default=24, help="schools rendered for the throughput"
    )
    parser.add_argument("--root", type=Path)
    parser.add_argument(
        "--only", choices=["all", "units", "cost", "findings", "findings-child"], default="all"
    )
    parser.add_argument("--db", help="cost: a PostgreSQL URL for the large district's store")
    parser.add_argument("--workers", type=int, default=0, help="cost: a LocalCluster of N")
    parser.add_argument("--schools", type=int, default=10_000, help="the province's schools")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--phase", choices=["first", "day"], default="day")
    parser.add_argument(
        "--district", type=Path, help="cost: a district built by --only findings --root DIR"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="findings: the district built in --root before"
    )
    parser.add_argument(
        "--every",
        action="store_true",
        help="cost: the whole afternoon's run (every school and roll-up) at both sizes",
    )
    parser.add_argument(
        "--copy-store",
        action="store_true",
        help="findings: fill the PostgreSQL --db from the SQLite store --root holds",
    )
    args = parser.parse_args()

    root = args.root or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    if args.only == "cost":
        bench_cost(root, args.scale, args.jobs, args.db, args.workers, args.district, args.every)
        return
    if args.only == "findings":
        bench_findings(root, args.scale, args.db, args.reuse, args.copy_store)
        return
    if args.only == "findings-child":
        findings_child(root, args.db, args.phase)
        return
    bench_units(root / "province", args.schools, args.jobs)
    if args.only == "units":
        return
    db = f"sqlite:///{root / 'reportkit.db'}"
    params = root / "params"
    t0 = time.perf_counter()
    result = build_demo(root, params, db, scale=args.scale, days=2, ingest=False)
    print(
        f"wrote {result.schools} schools, {result.people} people, {result.rows} rows in {time.perf_counter() - t0:.0f} s"
    )

    settings = Settings.resolve(db, params, root / "outputs")
    config = settings.schools()
    rules = settings.rules()
    engine = store.connect(db)
    store.sync_schools(engine, config)
    inbox = root / "data" / "inbox"

    t0 = time.perf_counter()
    roster = ingest.ingest_paths(engine, [inbox / "roster"], "roster", config, rules)
    roster_s = time.perf_counter() - t0
    day_dir = inbox / DEMO_DATE.isoformat()
    prev_dir = inbox / (DEMO_DATE - timedelta(days=1)).isoformat()
    logs = [p for p in day_dir.rglob("*.*") if "门卫" not in p.name]
    ingest.ingest_paths(
        engine, [p for p in prev_dir.rglob("*.*") if "门卫" not in p.name], "logs", config, rules
    )
    t0 = time.perf_counter()
    day = ingest.ingest_paths(engine, logs, "logs", config, rules)
    day_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    findings = load_findings(engine, config, rules, DEMO_DATE)
    findings_s = time.perf_counter() - t0

    sample = [s.id for s in config.schools[: args.sample]]
    t0 = time.perf_counter()
    local = run_reports(settings, DEMO_DATE, sample, jobs=2, progress=False)
    local_rate = len(sample) / ((time.perf_counter() - t0) / 60)

    from distributed import Client, LocalCluster

    from reportkit.execution import dask_executor

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: None)
        t0 = time.perf_counter()
        dask = run_reports(
            settings, DEMO_DATE, sample, executor=dask_executor(client), progress=False
        )
        dask_rate = len(sample) / ((time.perf_counter() - t0) / 60)

    print(
        f"schools {len(config.schools)}, people {result.people}, one day's log rows {day.rows_read}"
    )
    print(f"ingest rosters     {roster_s:7.1f} s  ({roster.rows_read / roster_s:,.0f} rows/s)")
    print(
        f"ingest one day     {day_s:7.1f} s  ({day.rows_read / day_s:,.0f} rows/s, {len(logs)} files)"
    )
    print(
        f"all findings       {findings_s:7.1f} s  ({len(findings.schools)} schools, load + compute)"
    )
    print(f"render local  -j2  {local_rate:7.1f} schools/min  ({len(local.failed)} failed)")
    print(
        f"render dask 2 wkr  {dask_rate:7.1f} schools/min  ({len(dask.failed)} failed; {dask_rate / 2:.1f} per worker)"
    )
    per_worker = dask_rate / 2
    workers = math.ceil(10_000 / (30 * per_worker))
    print(f"a province of 10,000 schools in 30 minutes needs about {workers} single-core workers")
    print(f"peak memory {rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
