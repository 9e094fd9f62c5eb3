"""A province-sized district: ingest a day, compute every finding, render throughput.

Builds ``reportkit demo --scale`` with about 2,000 schools (``--scale 91``: 91
counties of 22 schools, ~740,000 people) and two days of check-ins, then times:

* ingesting the rosters (once) and one day of health logs;
* computing all findings for the day, every school;
* rendering (HTML + PDF) a sample of schools with ``--jobs 2`` on the local
  thread pool, and on a 2-worker ``distributed.LocalCluster``, in schools per
  minute; and from that, the workers a province of 10,000 schools needs to
  render everything in the 30 minutes between 16:30 and 17:00.

Prints figures; never asserts on time.

    .venv/bin/python benchmarks/bench_scale.py [--scale 91] [--sample 24] [--root DIR]
"""

from __future__ import annotations

import argparse
import math
import resource
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from reportkit import ingest, store
from reportkit.config import Settings
from reportkit.demo import DEMO_DATE, build_demo
from reportkit.execution import run_reports
from reportkit.findings import load_findings


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=91)
    parser.add_argument(
        "--sample", type=int, default=24, help="schools rendered for the throughput"
    )
    parser.add_argument("--root", type=Path)
    args = parser.parse_args()

    root = args.root or Path(tempfile.mkdtemp(prefix="bench-scale-"))
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
