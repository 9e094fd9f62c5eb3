"""Executing the report notebooks with papermill, many schools in parallel.

For one date the runner computes the findings once for every selected school
(:func:`reportkit.flags.load_findings`), saves them next to the outputs, then
executes ``school_daily.ipynb`` once per school and ``district_daily.ipynb``
once per district involved with papermill (kernels are subprocesses, so a thread
pool of ``jobs`` workers is enough), and renders each executed notebook to HTML
and PDF through :mod:`reportkit.render`. Each worker keeps a warm kernel for
several reports in turn, reset between them (:mod:`reportkit.kernels`).

A school's failure (a cell error, a timeout, a rendering error) is retried, then
recorded; it never stops the others. A failed notebook is kept with papermill's
error marker. Every output is written atomically, and ``manifest.json`` records
each job's status, seconds, output paths and error.

Jobs are plain picklable :class:`JobSpec` values run by :func:`run_job`, so an
executor other than the local thread pool (a Dask cluster) can run them too.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal

from reportkit.errors import ReportkitError

__all__ = [
    "FORMATS",
    "JobResult",
    "JobSpec",
    "RunResult",
    "find_notebook",
    "notebook_path",
    "output_dir",
    "plan_jobs",
    "run_job",
    "run_reports",
]

log = logging.getLogger("reportkit.runner")

FORMATS = ("html", "pdf")
NOTEBOOKS = {"school": "school_daily.ipynb", "district": "district_daily.ipynb"}


def notebook_path(kind: Literal["school", "district"]) -> Path:
    """The notebook for a kind of report (see :func:`find_notebook`)."""
    return find_notebook(NOTEBOOKS[kind])


def find_notebook(name: str) -> Path:
    """A notebook of reportkit's: in ``$REPORTKIT_NOTEBOOKS``, ``./notebooks``, the
    project's ``notebooks/`` (a source checkout), or the installed copy in
    ``<prefix>/share/reportkit/notebooks`` (a wheel), first found first."""
    folder = os.environ.get("REPORTKIT_NOTEBOOKS")
    candidates = [Path(folder)] if folder else []
    candidates += [Path.cwd() / "notebooks", Path(__file__).resolve().parents[2] / "notebooks"]
    candidates += [Path(sys.prefix) / "share" / "reportkit" / "notebooks"]
    for base in candidates:
        path = base / name
        if path.exists():
            return path.resolve()
    raise ReportkitError(
        f"notebook {name} not found in {', '.join(map(str, candidates))}; "
        "set REPORTKIT_NOTEBOOKS to the folder that holds it"
    )


def output_dir(outputs: Path, report_date: date, kind: str, target_id: str) -> Path:
    """``outputs/<date>/<school_id>`` for a school, ``outputs/<date>/district`` for a district."""
    from reportkit.config import SAFE_ID

    if not SAFE_ID.match(target_id):  # ids become path parts
        raise ReportkitError(f"unsafe id for a path: {target_id!r}")
    base = Path(outputs) / report_date.isoformat()
    return base / "district" if kind == "district" else base / target_id


@dataclass(frozen=True)
class JobSpec:
    """One notebook to run and render; picklable so any executor can run it."""

    kind: Literal["school", "district"]
    target_id: str
    report_date: str
    findings_path: str
    out_dir: str
    db: str
    params_dir: str
    lang: str = "zh-CN"
    formats: tuple[str, ...] = FORMATS
    retries: int = 1
    timeout: float = 300.0
    notebook: str = ""

    @property
    def stem(self) -> str:
        return "report" if self.kind == "school" else self.target_id


@dataclass
class JobResult:
    kind: str
    id: str
    status: Literal["ok", "failed"]
    seconds: float
    attempts: int
    outputs: dict[str, str] = field(default_factory=dict)
    error: dict[str, Any] | None = None


@dataclass
class RunResult:
    date: str
    manifest: Path
    jobs: list[JobResult]

    @property
    def failed(self) -> list[JobResult]:
        return [j for j in self.jobs if j.status != "ok"]

    @property
    def ok(self) -> bool:
        return not self.failed


# --- one job ------------------------------------------------------------------

_printer_lock = threading.Lock()
_printer: Any = None


def _shared_printer() -> Any:
    """One browser per process for every PDF of a batch."""
    global _printer
    with _printer_lock:
        if _printer is None:
            import atexit

            from reportkit.render import PdfPrinter

            _printer = PdfPrinter().start()
            atexit.register(close_printer)  # worker processes of a cluster close it at exit
        return _printer


def close_printer() -> None:
    global _printer
    with _printer_lock:
        if _printer is not None:
            _printer.close()
            _printer = None


def _execute(spec: JobSpec, out_ipynb: Path, kernel: Any = None) -> Any:
    """Run the notebook; the executed notebook is written atomically either way.

    With a :class:`reportkit.kernels.WarmKernel` the notebook runs on its kernel (reset
    first); without, papermill starts a kernel for this notebook alone.
    """
    import papermill as pm

    from reportkit.kernels import ENGINE, KERNEL_ARGS

    tmp = out_ipynb.with_name(f".{out_ipynb.stem}.{os.getpid()}.{threading.get_ident()}.tmp.ipynb")
    params = {
        "school_id" if spec.kind == "school" else "district_id": spec.target_id,
        "report_date": spec.report_date,
        "lang": spec.lang,
        "db": spec.db,
        "params_dir": spec.params_dir,
        "findings_path": spec.findings_path,
        "interactive": False,
    }
    options: dict[str, Any] = {}
    if kernel is not None:
        options["km"], options["kc"] = kernel.acquire()
    ok = False
    # no ``cwd=``: papermill implements it with a process-wide chdir, which threads
    # running other schools would see (and restore in the wrong order)
    try:
        nb = pm.execute_notebook(
            spec.notebook or str(notebook_path(spec.kind)),
            str(tmp),
            parameters=params,
            engine_name=ENGINE,
            kernel_name="python3",
            progress_bar=False,
            request_save_on_cell_execute=False,
            execution_timeout=spec.timeout,
            shutdown_kernel="immediate",
            extra_arguments=list(KERNEL_ARGS),
            partial_path=str(tmp),  # a timed-out notebook is kept too
            **options,
        )
        ok = True
        return nb
    finally:
        if kernel is not None:
            kernel.release(ok)  # a failed notebook's kernel is never reused
        if tmp.exists():
            os.replace(tmp, out_ipynb)


def _error_summary(exc: BaseException, executed: Path | None = None) -> dict[str, Any]:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return {
            "cell_index": exc.cell_index,
            "exec_count": exc.exec_count,
            "ename": exc.ename,
            "evalue": str(exc.evalue)[:500],
        }
    # a timeout or a dead kernel (nbclient's errors) stopped in a cell the kept notebook marks
    stopped = type(exc).__module__.startswith("nbclient")
    return {
        "cell_index": _failed_cell(executed) if stopped else None,
        "ename": type(exc).__name__,
        "evalue": str(exc)[:500],
    }


def _failed_cell(executed: Path | None) -> int | None:
    """The cell papermill marked failed in a kept notebook (a timeout names no cell)."""
    if executed is None or not executed.exists():
        return None
    try:
        cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return None
    for index, cell in enumerate(cells):
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "failed":
            return index
    return None


def run_job(spec: JobSpec, kernel: Any = None) -> JobResult:
    """Execute and render one notebook, retrying; never raises for a report's failure.

    ``kernel``: a :class:`reportkit.kernels.WarmKernel` owned by the calling thread,
    reused across jobs; ``None`` starts a kernel for this job alone.
    """
    from reportkit.render import render_html, write_atomic

    out_dir = Path(spec.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_ipynb = out_dir / f"{spec.stem}.ipynb"
    started = time.perf_counter()
    error: dict[str, Any] | None = None
    attempts = 0
    for attempt in range(1, spec.retries + 2):
        attempts = attempt
        outputs = {"ipynb": str(out_ipynb)}
        try:
            nb = _execute(spec, out_ipynb, kernel)
            if "html" in spec.formats or "pdf" in spec.formats:
                html = render_html(nb, lang=spec.lang)
                if "html" in spec.formats:
                    outputs["html"] = str(write_atomic(out_dir / f"{spec.stem}.html", html))
                if "pdf" in spec.formats:
                    pdf = _shared_printer().print_html(html, out_dir / f"{spec.stem}.pdf")
                    outputs["pdf"] = str(pdf)
            return JobResult(
                spec.kind,
                spec.target_id,
                "ok",
                round(time.perf_counter() - started, 3),
                attempts,
                outputs,
            )
        except Exception as exc:  # one school's failure never stops the batch
            error = _error_summary(exc, out_ipynb)
            log.warning(
                "%s %s attempt %d failed: %s: %s",
                spec.kind,
                spec.target_id,
                attempt,
                error["ename"],
                error["evalue"].splitlines()[0] if error["evalue"] else "",
            )
            # stale renderings of an earlier run must not pass for this one
            for ext in ("html", "pdf"):
                (out_dir / f"{spec.stem}.{ext}").unlink(missing_ok=True)
    return JobResult(
        spec.kind,
        spec.target_id,
        "failed",
        round(time.perf_counter() - started, 3),
        attempts,
        {"ipynb": str(out_ipynb)} if out_ipynb.exists() else {},
        error,
    )


# --- a batch ------------------------------------------------------------------


def plan_jobs(
    settings: Any,
    report_date: date,
    school_ids: Sequence[str] | None = None,
    district_ids: Sequence[str] | None = None,
    *,
    lang: str = "zh-CN",
    formats: Sequence[str] = FORMATS,
    retries: int = 1,
    timeout: float = 300.0,
) -> list[JobSpec]:
    """Compute the findings once for all selected schools and plan one job per report."""
    from reportkit import flags, store
    from reportkit.followups import latest_followups

    config = settings.schools()
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ReportkitError(f"unknown format {unknown[0]!r}; known: {', '.join(FORMATS)}")
    selected = _select(config, school_ids, district_ids)
    engine = store.connect(settings.db)
    store.sync_schools(engine, config)
    districts = list(dict.fromkeys(config.school(s).district for s in selected))
    # a district's roll-up needs every school of the district, not just the selected ones
    covered = [s.id for d in districts for s in config.schools_in(d)]
    findings = flags.load_findings(engine, config, settings.rules(), report_date, covered)
    # each flagged person's latest follow-up, shown beside them in the report
    findings = replace(findings, followups=latest_followups(engine, covered, report_date))
    base = Path(settings.outputs) / report_date.isoformat()
    base.mkdir(parents=True, exist_ok=True)
    findings_path = findings.save(base / "findings.pkl")
    common = dict(
        report_date=report_date.isoformat(),
        findings_path=str(Path(findings_path).resolve()),
        db=settings.db,
        params_dir=str(Path(settings.params).resolve()),
        lang=lang,
        formats=tuple(formats),
        retries=retries,
        timeout=timeout,
    )
    outputs = Path(settings.outputs).resolve()
    specs = [
        JobSpec(
            kind="school",
            target_id=s,
            out_dir=str(output_dir(outputs, report_date, "school", s)),
            **common,
        )
        for s in selected
    ]
    specs += [
        JobSpec(
            kind="district",
            target_id=d,
            out_dir=str(output_dir(outputs, report_date, "district", d)),
            **common,
        )
        for d in districts
    ]
    return specs


def _select(
    config: Any, school_ids: Sequence[str] | None, district_ids: Sequence[str] | None
) -> list[str]:
    if school_ids:
        for s in school_ids:
            config.school(s)
        selected = list(dict.fromkeys(school_ids))
    else:
        selected = [s.id for s in config.schools]
    if district_ids:
        for d in district_ids:
            config.district(d)
        selected = [s for s in selected if config.school(s).district in district_ids]
    return selected


Executor = Callable[[Sequence[JobSpec], Callable[[JobResult], None]], list[JobResult]]


DEFAULT_KERNEL_REUSE = 20


def thread_executor(jobs: int, kernel_reuse: int = DEFAULT_KERNEL_REUSE) -> Any:
    """The local executor: a :class:`reportkit.workers.ThreadExecutor`."""
    from reportkit.workers import ThreadExecutor

    return ThreadExecutor(jobs, kernel_reuse)


def run_reports(
    settings: Any,
    report_date: date,
    school_ids: Sequence[str] | None = None,
    district_ids: Sequence[str] | None = None,
    *,
    jobs: int = 2,
    lang: str = "zh-CN",
    formats: Sequence[str] = FORMATS,
    retries: int = 1,
    timeout: float = 300.0,
    executor: Executor | None = None,
    progress: bool | None = None,
    kernel_reuse: int = DEFAULT_KERNEL_REUSE,
) -> RunResult:
    """Run every selected school's report and the roll-up of each district involved.

    With the local thread pool, each of the ``jobs`` workers keeps a warm kernel for up
    to ``kernel_reuse`` reports in turn, reset between them (:mod:`reportkit.kernels`);
    ``kernel_reuse=1`` starts a fresh kernel per report. An ``executor`` of its own
    (a Dask cluster) starts a kernel per report.
    """
    settings.require_store(school_ids, district_ids)  # no store or no roster: never zeros
    local = thread_executor(jobs, kernel_reuse) if executor is None else None
    execute: Executor = executor or local  # type: ignore[assignment]
    started = time.time()
    try:
        if local is not None:
            local.prepare(lang, formats)  # kernels and Chromium start while findings compute
        specs = plan_jobs(
            settings,
            report_date,
            school_ids,
            district_ids,
            lang=lang,
            formats=formats,
            retries=retries,
            timeout=timeout,
        )
        with _Progress(len(specs), progress) as bar:
            results = execute(specs, bar.advance)
    finally:
        if local is not None:
            local.close()  # after an error in planning: stops the warm kernels
            close_printer()
    order = {(s.kind, s.target_id): i for i, s in enumerate(specs)}
    results.sort(key=lambda r: order.get((r.kind, r.id), len(order)))
    manifest = write_manifest(Path(settings.outputs), report_date, results, started, lang, formats)
    write_index(manifest, settings.schools(), lang)
    return RunResult(report_date.isoformat(), manifest, results)


def write_manifest(
    outputs: Path,
    report_date: date,
    results: Iterable[JobResult],
    started: float,
    lang: str,
    formats: Sequence[str],
) -> Path:
    """Merge this run's jobs into ``outputs/<date>/manifest.json`` (written atomically)."""
    from reportkit.render import write_atomic

    path = Path(outputs) / report_date.isoformat() / "manifest.json"
    jobs: dict[tuple[str, str], dict[str, Any]] = {}
    if path.exists():
        try:
            for job in json.loads(path.read_text(encoding="utf-8")).get("jobs", []):
                jobs[(job["kind"], job["id"])] = job
        except (ValueError, KeyError, TypeError):
            log.warning("%s is not a manifest; replacing it", path)
    run_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started))
    for r in results:
        jobs[(r.kind, r.id)] = {**asdict(r), "run_at": run_at}
    ordered = sorted(jobs.values(), key=lambda j: (j["kind"] != "school", j["id"]))
    manifest = {
        "date": report_date.isoformat(),
        "lang": lang,
        "formats": list(formats),
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "ok": sum(j["status"] == "ok" for j in ordered),
        "failed": sum(j["status"] != "ok" for j in ordered),
        "jobs": ordered,
    }
    return write_atomic(path, json.dumps(manifest, ensure_ascii=False, indent=2))


def write_index(manifest_path: Path, config: Any, lang: str = "zh-CN") -> Path:
    """``outputs/<date>/index.html``: every report of the day with its status and links."""
    import html

    from reportkit.i18n import t
    from reportkit.render import write_atomic

    base = manifest_path.parent
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    rows = []
    for job in manifest["jobs"]:
        if job["kind"] == "school" and job["id"] in config.by_id:
            name = config.by_id[job["id"]].name
        elif job["kind"] == "district" and job["id"] in config.districts_by_id:
            name = config.districts_by_id[job["id"]].name
        else:
            name = job["id"]
        links = " ".join(
            f'<a href="{html.escape(Path(path).relative_to(base.resolve()).as_posix())}">{fmt.upper()}</a>'
            for fmt, path in job["outputs"].items()
            if fmt in FORMATS and Path(path).resolve().is_relative_to(base.resolve())
        )
        status = (
            "✓"
            if job["status"] == "ok"
            else f"✗ {html.escape(str((job.get('error') or {}).get('ename', '')))}"
        )
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{status}</td><td>{links}</td></tr>")
    title = f"{t('daily_report', lang)} {manifest['date']}"
    page = (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>body{{font-family:'Noto Sans CJK SC',sans-serif;"
        "max-width:50em;margin:1em auto;padding:0 1em}td{padding:.2em .8em;border-bottom:1px solid #ddd}"
        f"</style></head><body><h1>{html.escape(title)}</h1><table>{''.join(rows)}</table></body></html>"
    )
    return write_atomic(base / "index.html", page)


class _Progress:
    """A rich progress bar on a terminal, plain log lines otherwise."""

    def __init__(self, total: int, enabled: bool | None) -> None:
        self.total = total
        self.count = 0
        self.tty = sys.stderr.isatty() if enabled is None else enabled
        self._bar: Any = None
        self._lock = threading.Lock()

    def __enter__(self) -> _Progress:
        if self.tty:
            from rich.progress import Progress

            self._bar = Progress(transient=False)
            self._bar.start()
            self._task = self._bar.add_task("reports", total=self.total)
        return self

    def advance(self, result: JobResult) -> None:
        with self._lock:
            self.count += 1
            log.info("%s %s %s %.1fs", result.kind, result.id, result.status, result.seconds)
            if self._bar is not None:
                self._bar.update(self._task, advance=1, description=f"{result.kind} {result.id}")
            else:
                msg = (
                    ""
                    if result.status == "ok"
                    else f" {result.error and result.error.get('ename')}"
                )
                print(
                    f"[{self.count}/{self.total}] {result.kind} {result.id} {result.status}"
                    f" {result.seconds:.1f}s{msg}",
                    file=sys.stderr,
                    flush=True,
                )

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
