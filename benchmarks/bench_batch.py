"""Per-school cost of the daily reports against an in-process floor and the naive way.

On the demo county, for N schools (default 20), HTML and PDF, ``--jobs 2``:

* reportkit: ``run_reports`` (findings once, warm kernels in a thread pool, one
  reused HTML exporter, one Chromium for every PDF);
* the floor: the same reports (the schools and the roll-ups above them), their
  notebooks' cells evaluated in this process, no kernel - the same findings files,
  the same section code and templates, IPython's own display formatter, the same
  nbconvert exporter and the same Chromium - one report after another. It is what a
  report costs without papermill and a kernel;
* the old floor, for comparison: a bare kernel started and pandas imported in it,
  two at once, once per school;
* the naive way a user would do it by hand, one school after another: the
  ``papermill`` CLI, then ``jupyter nbconvert --to html --no-input``, then a
  Chromium ``--print-to-pdf`` (measured on ``--naive`` schools, default 3).

Costs are core-seconds (CPU time of this process and of every process it started:
kernels, Chromium; ``_cpu.CoreClock``), per report, and wall seconds. Two ratios of
core-seconds a report, reportkit's against the floor's:

* the whole run: everything each side spent, its start included (reportkit starts
  ``--jobs`` kernels and computes the findings; the floor starts nothing, its imports
  were made before);
* steady state: what one report more costs, as in an afternoon of thousands of
  reports - in a district of ``--steady-scale`` counties (default 3, 66 schools), the
  difference between a run of all its schools and a run of its first ``--schools``
  (each side the same reports), over the reports between them; reportkit's also
  carries a kernel's start (measured here) every ``DEFAULT_KERNEL_REUSE`` reports,
  when a warm kernel is replaced. Its findings cover more schools too, which the
  floor, reading them, does not compute.

Each figure is the least of ``--repeat`` runs, taken in turn. Prints them; never
asserts on time.

    .venv/bin/python benchmarks/bench_batch.py [--schools 20] [--naive 3] [--repeat 3] \
        [--steady-scale 3] [--root DIR] [--masked]
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

from _cpu import CoreClock

from reportkit.config import Settings
from reportkit.context import DEFAULT_KERNEL_REUSE
from reportkit.demo import DEMO_DATE, build_demo
from reportkit.execution import RunResult, run_reports
from reportkit.execution.kernels import KERNEL_ARGS
from reportkit.layout import day_outputs, notebook_path

BIN = Path(sys.executable).parent


def in_process(settings: Settings, reports: list[tuple[str, str]], findings_dir: Path) -> None:
    """Each report (``(kind, id)``: a school or a roll-up) without a kernel: the
    notebook's cells evaluated here, their values formatted by IPython as a kernel
    would, then the same HTML and PDF path."""
    import ast

    import nbformat
    from IPython.core.formatters import DisplayFormatter
    from nbformat.v4 import new_output

    from reportkit.reports import PdfPrinter, render_html

    templates = {k: nbformat.read(notebook_path(k), as_version=4) for k in ("school", "unit")}
    formatter = DisplayFormatter()
    out = settings.outputs / "floor"
    out.mkdir(parents=True, exist_ok=True)
    with PdfPrinter() as printer:
        for kind, target in reports:
            nb = nbformat.from_dict(templates[kind])
            ns: dict = {}
            for count, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
                if count == 0:  # the parameters, as papermill would set them
                    exec(cell.source, ns)
                    ns.update(
                        {"school_id" if kind == "school" else "unit_id": target},
                        report_date=DEMO_DATE.isoformat(), db=settings.db,
                        params_dir=str(settings.params), findings_dir=str(findings_dir),
                        interactive=False,
                    )  # fmt: skip
                    continue
                tree = ast.parse(cell.source)
                last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
                body = tree.body[:-1] if last is not None else tree.body
                exec(compile(ast.Module(body, []), "<cell>", "exec"), ns)
                cell.outputs = []
                if last is not None:
                    value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), ns)
                    if value is not None:
                        data, metadata = formatter.format(value)
                        cell.outputs = [
                            new_output(
                                "execute_result", data, metadata=metadata,
                                execution_count=count + 1,
                            )
                        ]  # fmt: skip
                cell.execution_count = count + 1
            html = render_html(nb, lang="zh-CN")
            (out / f"{kind}-{target}.html").write_text(html, encoding="utf-8")
            (out / f"{kind}-{target}.pdf").write_bytes(printer.pdf_bytes(html))


def kernel_start() -> float:
    """Core-seconds of starting one warm kernel and warming it up (its imports)."""
    from reportkit.execution import WarmKernel
    from reportkit.execution.workers import WARM_UP_CODE

    clock = CoreClock().start()
    with WarmKernel() as kernel:
        kernel.warm(WARM_UP_CODE)
        return clock.stop()


def old_floor(n: int, jobs: int) -> float:
    from jupyter_client.manager import start_new_kernel

    def one(_: int) -> None:
        km, kc = start_new_kernel(kernel_name="python3", extra_arguments=list(KERNEL_ARGS))
        try:
            reply = kc.execute_interactive("import pandas", timeout=60)
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
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the least counts")
    parser.add_argument(
        "--steady-scale", type=int, default=3, help="counties of the steady-state district"
    )
    parser.add_argument("--root", type=Path, help="an existing demo folder (default: build one)")
    parser.add_argument(
        "--masked",
        action="store_true",
        help="also time a run with mask_names: true (a masked PDF per school)",
    )
    args = parser.parse_args()

    root = args.root or Path(tempfile.mkdtemp(prefix="bench-batch-"))

    def county(where: Path, scale: int = 1) -> Settings:
        db = f"sqlite:///{where / 'reportkit.db'}"
        if not (where / "reportkit.db").exists():
            print(
                f"building a demo district of {scale} count{'y' if scale == 1 else 'ies'} ...",
                flush=True,
            )
            build_demo(where, where / "params", db, scale=scale)
        return Settings.resolve(db, where / "params", where / "outputs")

    settings = county(root)
    steady_scale = max(2, args.steady_scale)
    big = county(root / f"steady-{steady_scale}", steady_scale)
    schools = [s.id for s in settings.schools().schools][: args.schools]
    all_big = [s.id for s in big.schools().schools]

    def ours_run(where: Settings, ids: list[str]) -> tuple[float, float, RunResult]:
        clock, started = CoreClock().start(), time.perf_counter()
        result = run_reports(where, DEMO_DATE, ids, jobs=args.jobs, progress=False)
        return time.perf_counter() - started, clock.stop(), result

    def floor_run(where: Settings, result: RunResult) -> tuple[float, float]:
        findings = day_outputs(where.outputs, DEMO_DATE).findings
        clock, started = CoreClock().start(), time.perf_counter()
        in_process(where, [(j.kind, j.id) for j in result.jobs], findings)
        return time.perf_counter() - started, clock.stop()

    # reportkit: a first run also writes the findings files the floor reads
    run_reports(settings, DEMO_DATE, schools, jobs=args.jobs, progress=False)
    run_reports(big, DEMO_DATE, all_big, jobs=args.jobs, progress=False)
    # each figure the least of --repeat runs, taken in turn (what another process on
    # the machine added is noise, not cost); steady state: the reports between the
    # first --schools of the larger district and all of it
    runs: dict[str, list[tuple[float, float]]] = {
        "ours": [],
        "floor": [],
        "big": [],
        "big floor": [],
        "small": [],
        "small floor": [],
    }
    for _ in range(max(1, args.repeat)):
        ours_total, ours_cpu, result = ours_run(settings, schools)
        runs["ours"].append((ours_total, ours_cpu))
        runs["floor"].append(floor_run(settings, result))
        wall, cpu, whole = ours_run(big, all_big)
        runs["big"].append((wall, cpu))
        runs["big floor"].append(floor_run(big, whole))
        wall, cpu, small = ours_run(big, all_big[: args.schools])
        runs["small"].append((wall, cpu))
        runs["small floor"].append(floor_run(big, small))
    least = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in runs.items()}
    school_jobs = [j for j in result.jobs if j.kind == "school"]
    n_reports = len(result.jobs)  # the schools and the roll-ups above them
    ours_total, ours_cpu = least["ours"]
    ours, ours_core = ours_total / len(school_jobs), ours_cpu / n_reports
    failed = len(result.failed) + len(whole.failed) + len(small.failed)
    floor_wall, floor_core = (x / n_reports for x in least["floor"])

    between = len(whole.jobs) - len(small.jobs)
    start_cpu = kernel_start()
    ours_steady = (least["big"][1] - least["small"][1]) / between + start_cpu / DEFAULT_KERNEL_REUSE
    floor_steady = (least["big floor"][1] - least["small floor"][1]) / between

    masked_s = None
    if args.masked:
        params = root / "params-masked"
        shutil.rmtree(params, ignore_errors=True)
        shutil.copytree(root / "params", params)
        (params / "delivery.yaml").write_text("mask_names: true\n", encoding="utf-8")
        masked_settings = Settings.resolve(settings.db, params, root / "outputs-masked")
        started = time.perf_counter()
        run_reports(masked_settings, DEMO_DATE, schools, jobs=args.jobs, progress=False)
        masked_s = (time.perf_counter() - started) / len(school_jobs)

    old_floor_s = old_floor(len(schools), args.jobs)
    work = root / "naive"
    work.mkdir(exist_ok=True)
    naive_s = naive(settings, schools[: args.naive], work) if args.naive else None

    print(
        f"schools: {len(school_jobs)} (+ {n_reports - len(school_jobs)} roll-ups), "
        f"jobs {args.jobs}, HTML and PDF, {os.cpu_count()} CPUs"
    )
    print(
        f"reportkit     {ours:6.2f} s per school wall, {ours_core:5.2f} core-s per report "
        f"({ours_total:.1f} s in all, {failed} failed)"
    )
    print(
        f"floor         {floor_wall:6.2f} s per report wall, {floor_core:5.2f} core-s per report "
        "(the same reports in process, no kernel: the same sections, templates, exporter "
        "and Chromium)"
    )
    if masked_s is not None:
        print(
            f"masked        {masked_s:6.2f} s per school  (the same with mask_names: true, "
            f"a masked PDF more: +{masked_s - ours:.2f} s)"
        )
    print(
        f"old floor     {old_floor_s:6.2f} s per school  (bare kernel + import pandas; {args.jobs} at once)"
    )
    if naive_s is not None:
        print(
            f"naive         {naive_s:6.2f} s per school  (papermill CLI + nbconvert CLI + chromium, {args.naive} schools)"
        )
        print(f"speed-up over naive: {naive_s / ours:.1f}x")
    print(
        f"steady state  {ours_steady:5.2f} core-s per report, floor {floor_steady:5.2f} "
        f"(the {between} reports of {len(whole.jobs)} in {steady_scale} counties beyond a "
        f"run of {len(small.jobs)}; a kernel's start, "
        f"{start_cpu:.2f} core-s, every {DEFAULT_KERNEL_REUSE} reports)"
    )
    print(
        f"core-seconds per report, whole run, reportkit / in-process floor: {ours_core / floor_core:.2f}"
    )
    print(
        "core-seconds per report, steady state, reportkit / in-process floor: "
        f"{ours_steady / floor_steady:.2f}"
    )


if __name__ == "__main__":
    main()
