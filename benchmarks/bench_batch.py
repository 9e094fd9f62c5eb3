"""Per-school cost of the daily reports against the floor and the naive way.

On the demo county, for N schools (default 20), HTML and PDF, ``--jobs 2``:

* reportkit: ``runner.run_reports`` (findings once, papermill in a thread pool,
  one reused HTML exporter, one Chromium for every PDF);
* the floor: starting a bare kernel and importing pandas and matplotlib in it,
  two kernels at once, once per school;
* the naive way a user would do it by hand, one school after another: the
  ``papermill`` CLI, then ``jupyter nbconvert --to html --no-input``, then a
  Chromium ``--print-to-pdf`` (measured on ``--naive`` schools, default 3).

Prints seconds per school and the ratios; never asserts on time.

    .venv/bin/python benchmarks/bench_batch.py [--schools 20] [--naive 3] [--root DIR] [--masked]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reportkit.config import Settings
from reportkit.demo import DEMO_DATE, build_demo
from reportkit.execution import run_reports
from reportkit.layout import notebook_path

BIN = Path(sys.executable).parent


def floor(n: int, jobs: int) -> float:
    from jupyter_client.manager import start_new_kernel

    def one(_: int) -> None:
        km, kc = start_new_kernel(kernel_name="python3")
        try:
            reply = kc.execute_interactive("import pandas, matplotlib.pyplot", timeout=60)
            assert reply["content"]["status"] == "ok"
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, range(n)))
    return (time.perf_counter() - started) / n


def naive(settings: Settings, schools: list[str], work: Path) -> float:
    notebook = notebook_path("school")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    started = time.perf_counter()
    for school in schools:
        out = work / f"{school}.ipynb"
        subprocess.run(
            [BIN / "papermill", notebook, out, "-p", "school_id", school, "-p", "report_date",
             DEMO_DATE.isoformat(), "-p", "db", settings.db, "-p", "params_dir", str(settings.params),
             "-p", "interactive", "False", "--no-progress-bar"],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [BIN / "jupyter", "nbconvert", "--to", "html", "--no-input", out],
            check=True,
            capture_output=True,
        )
        profile = tempfile.mkdtemp(prefix="chromium-")
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--print-to-pdf={work / (school + '.pdf')}",
             (work / f"{school}.html").as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        shutil.rmtree(profile, ignore_errors=True)
    return (time.perf_counter() - started) / len(schools)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=20)
    parser.add_argument("--naive", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--root", type=Path, help="an existing demo folder (default: build one)")
    parser.add_argument(
        "--masked",
        action="store_true",
        help="also time a run with mask_names: true (a masked PDF per school)",
    )
    args = parser.parse_args()

    root = args.root or Path(tempfile.mkdtemp(prefix="bench-batch-"))
    db = f"sqlite:///{root / 'reportkit.db'}"
    if not (root / "reportkit.db").exists():
        print("building the demo county ...", flush=True)
        build_demo(root, root / "params", db)
    settings = Settings.resolve(db, root / "params", root / "outputs")
    schools = [s.id for s in settings.schools().schools][: args.schools]

    started = time.perf_counter()
    result = run_reports(settings, DEMO_DATE, schools, jobs=args.jobs, progress=False)
    ours_total = time.perf_counter() - started
    school_jobs = [j for j in result.jobs if j.kind == "school"]
    ours = ours_total / len(school_jobs)
    failed = len(result.failed)

    masked_s = None
    if args.masked:
        params = root / "params-masked"
        shutil.rmtree(params, ignore_errors=True)
        shutil.copytree(root / "params", params)
        (params / "delivery.yaml").write_text("mask_names: true\n", encoding="utf-8")
        masked_settings = Settings.resolve(db, params, root / "outputs-masked")
        started = time.perf_counter()
        run_reports(masked_settings, DEMO_DATE, schools, jobs=args.jobs, progress=False)
        masked_s = (time.perf_counter() - started) / len(school_jobs)

    floor_s = floor(len(schools), args.jobs)
    work = root / "naive"
    work.mkdir(exist_ok=True)
    naive_s = naive(settings, schools[: args.naive], work)

    print(
        f"schools: {len(school_jobs)} (+ the district roll-up), jobs {args.jobs}, HTML and PDF, {os.cpu_count()} CPUs"
    )
    print(f"reportkit     {ours:6.2f} s per school  ({ours_total:.1f} s in all, {failed} failed)")
    if masked_s is not None:
        print(
            f"masked        {masked_s:6.2f} s per school  (the same with mask_names: true, "
            f"a masked PDF more: +{masked_s - ours:.2f} s)"
        )
    print(
        f"floor         {floor_s:6.2f} s per school  (bare kernel + import pandas, matplotlib; {args.jobs} at once)"
    )
    print(
        f"naive         {naive_s:6.2f} s per school  (papermill CLI + nbconvert CLI + chromium, {args.naive} schools)"
    )
    print(f"speed-up over naive: {naive_s / ours:.1f}x   cost over floor: {ours / floor_s:.2f}x")


if __name__ == "__main__":
    main()
