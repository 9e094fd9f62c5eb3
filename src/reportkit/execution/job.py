"""One report job: execute a notebook with papermill, render it, record what it made.

:class:`JobSpec` is a plain picklable value (so any executor, a Dask cluster too,
can run it) and :func:`run_job` runs it: the notebook is executed on a warm
kernel (:mod:`reportkit.execution.kernels`) or a kernel of its own, the executed notebook
is written atomically through papermill's I/O (a ``reportkit-atomic://`` path),
and the HTML, the PDF and, when names are masked, ``report.masked.pdf`` are
written with :func:`reportkit.files.write_atomic`. The :class:`JobResult` says
what was written: each file's sha256, the HTML's hash (``content_hash``), the
hash of the findings the report says it shows, the times in the deployment's
zone. A failure is retried (a full disk is not) and never raised; the stale
renderings of an earlier run are removed, the failed notebook kept with
papermill's error marker. :mod:`reportkit.execution.batch` plans and runs the batch.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from reportkit.context import DEFAULT_KERNEL_REUSE, FORMATS
from reportkit.errors import ReportExecutionError
from reportkit.layout import notebook_path, report_file

__all__ = [
    "DEFAULT_KERNEL_REUSE",
    "FORMATS",
    "JobResult",
    "JobSpec",
    "close_printer",
    "failed_result",
    "run_job",
]

log = logging.getLogger(__name__)

NO_SPACE = ("ENOSPC", "EDQUOT")  # errno names of a full disk or quota


@dataclass(frozen=True)
class JobSpec:
    """One notebook to run and render; picklable so any executor can run it.

    ``findings_dir``: the run's findings files (:mod:`reportkit.findings.files`);
    ``findings_hash``: the hash of the findings the report should show;
    ``created``: the run's time (ISO), written into the PDF; ``masked``: also print
    ``report.masked.pdf`` with names masked; ``zone``: the deployment's time zone.
    """

    kind: Literal["school", "unit"]
    target_id: str
    report_date: str
    findings_dir: str
    out_dir: str
    db: str
    params_dir: str
    lang: str = "zh-CN"
    formats: tuple[str, ...] = FORMATS
    retries: int = 1
    timeout: float = 300.0
    notebook: str = ""
    run_id: str = ""
    findings_hash: str = ""
    created: str = ""
    masked: bool = False
    zone: str = ""
    # the report's version (1 until one is sent; N+1 when the data changed since
    # version N was sent) and the version sent before it, whose findings (in
    # ``previous_dir``, sent at ``previous_sent_at``, ISO local) the 更正说明 compares
    version: int = 1
    previous_version: int = 0
    previous_dir: str = ""
    previous_sent_at: str = ""

    def file(self, fmt: str) -> Path:
        """The job's ``fmt`` file (``ipynb``, ``html``, ``pdf``, ``pdf_masked``) in ``out_dir``."""
        return report_file(self.out_dir, self.kind, self.target_id, fmt)


@dataclass
class JobResult:
    kind: str
    id: str
    status: Literal["ok", "failed"]
    seconds: float
    attempts: int
    outputs: dict[str, str] = field(default_factory=dict)
    error: ReportExecutionError | None = None
    run_id: str = ""
    lang: str = ""
    findings_hash: str | None = None
    content_hash: str | None = None
    sha256: dict[str, str] = field(default_factory=dict)
    started_at: str | None = None
    ended_at: str | None = None
    version: int = 0  # the report's version (JobSpec.version); 0: not known
    previous_version: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.error, dict):  # an error as a manifest records it
            self.error = ReportExecutionError.from_json(self.error, self.id, kind=self.kind)

    @property
    def no_space(self) -> bool:
        """The job failed because the disk (or quota) is full."""
        return self.error is not None and self.error.errno in NO_SPACE


_printer_lock = threading.Lock()
_printer: Any = None


def _shared_printer() -> Any:
    """One browser per process for every PDF of a batch."""
    global _printer
    with _printer_lock:
        if _printer is None:
            import atexit

            from reportkit.reports import PdfPrinter

            _printer = PdfPrinter().start()
            atexit.register(close_printer)  # worker processes of a cluster close it at exit
        return _printer


def close_printer() -> None:
    global _printer
    with _printer_lock:
        if _printer is not None:
            _printer.close()
            _printer = None


ATOMIC_SCHEME = "reportkit-atomic://"


class _AtomicIO:
    """papermill's I/O for ``reportkit-atomic://<path>``: the executed notebook is
    written with :func:`reportkit.files.write_atomic`, so a failed write (a full
    disk) never leaves a cut-off ``.ipynb`` under the report's name."""

    @staticmethod
    def _path(path: str) -> str:
        return path[len(ATOMIC_SCHEME) :]

    @classmethod
    def read(cls, path: str) -> str:
        return Path(cls._path(path)).read_text(encoding="utf-8")

    @classmethod
    def write(cls, buf: str, path: str) -> None:
        from reportkit.files import write_atomic

        write_atomic(cls._path(path), buf)

    @classmethod
    def listdir(cls, path: str) -> list[str]:
        return os.listdir(cls._path(path))

    @classmethod
    def pretty_path(cls, path: str) -> str:
        return cls._path(path)


def _register_io() -> None:
    from papermill.iorw import papermill_io

    if not any(scheme == ATOMIC_SCHEME for scheme, _ in papermill_io._handlers):
        papermill_io.register(ATOMIC_SCHEME, _AtomicIO)


def _execute(spec: JobSpec, out_ipynb: Path, kernel: Any = None) -> Any:
    """Run the notebook; the executed notebook is written atomically either way.

    With a :class:`reportkit.execution.WarmKernel` the notebook runs on its kernel (reset
    first); without, papermill starts a kernel for this notebook alone.
    """
    import papermill as pm

    from reportkit.execution.kernels import ENGINE, KERNEL_ARGS

    _register_io()
    target = f"{ATOMIC_SCHEME}{out_ipynb}"
    params: dict[str, Any] = {
        "school_id" if spec.kind == "school" else "unit_id": spec.target_id,
        "report_date": spec.report_date,
        "lang": spec.lang,
        "db": spec.db,
        "params_dir": spec.params_dir,
        "findings_dir": spec.findings_dir,
        "run_id": spec.run_id or None,
        "interactive": False,
    }
    if spec.previous_version:  # a later version: what changed since the one sent
        params["version"] = spec.version
        params["previous_dir"] = spec.previous_dir
        params["previous_sent_at"] = spec.previous_sent_at
    if spec.kind == "school":
        params["mask_names"] = spec.masked
    options: dict[str, Any] = {}
    if kernel is not None:
        options["km"], options["kc"] = kernel.acquire()
    ok = False
    # no ``cwd=``: papermill implements it with a process-wide chdir, which threads
    # running other schools would see (and restore in the wrong order)
    try:
        nb = pm.execute_notebook(
            spec.notebook or str(notebook_path(spec.kind)),
            target,
            parameters=params,
            engine_name=ENGINE,
            kernel_name="python3",
            progress_bar=False,
            request_save_on_cell_execute=False,
            execution_timeout=spec.timeout,
            shutdown_kernel="immediate",
            extra_arguments=list(KERNEL_ARGS),
            partial_path=target,  # a timed-out notebook is kept too
            **options,
        )
        ok = True
        return nb
    finally:
        if kernel is not None:
            kernel.release(ok)  # a failed notebook's kernel is never reused


def _execution_error(
    exc: BaseException, spec: JobSpec, executed: Path | None = None
) -> ReportExecutionError:
    """The :class:`ReportExecutionError` a failed attempt of ``spec`` ends with."""
    from papermill.exceptions import PapermillExecutionError

    def error(cell_index: int | None, ename: str, evalue: str, **kw: Any) -> ReportExecutionError:
        return ReportExecutionError(
            spec.target_id, spec.report_date, cell_index, ename, evalue[:500], kind=spec.kind, **kw
        )

    if isinstance(exc, PapermillExecutionError):
        return error(exc.cell_index, exc.ename, str(exc.evalue), exec_count=exc.exec_count)
    if isinstance(exc, OSError) and exc.errno is not None:
        where = f" ({exc.filename})" if exc.filename else ""
        return error(
            None,
            type(exc).__name__,
            f"{exc.strerror or exc}{where}",
            errno=errno.errorcode.get(exc.errno, str(exc.errno)),
        )
    # a timeout or a dead kernel (nbclient's errors) stopped in a cell the kept notebook marks
    stopped = type(exc).__module__.startswith("nbclient")
    return error(_failed_cell(executed) if stopped else None, type(exc).__name__, str(exc))


def failed_result(spec: JobSpec, ename: str, evalue: str) -> JobResult:
    """A job that did not run (the batch stopped, its worker was lost): failed, no cell."""
    error = ReportExecutionError(
        spec.target_id, spec.report_date, None, ename, evalue[:500], kind=spec.kind
    )
    return JobResult(
        spec.kind, spec.target_id, "failed", 0.0, 0, {}, error, run_id=spec.run_id, lang=spec.lang
    )


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


def _identity(nb: Any) -> dict[str, Any]:
    """What the report says it shows (kind, id, findings hash), from its title's output."""
    from reportkit.reports import IDENTITY_MIME

    for cell in nb.cells:
        for out in cell.get("outputs", ()):
            data = out.get("data") or {}
            if IDENTITY_MIME in data and isinstance(data[IDENTITY_MIME], dict):
                return dict(data[IDENTITY_MIME])
    return {}


def _sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def _now(spec: JobSpec) -> str:
    zone = ZoneInfo(spec.zone) if spec.zone else None
    return datetime.now(zone).astimezone(zone).isoformat(timespec="seconds")


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _render(spec: JobSpec, nb: Any) -> tuple[dict[str, str], dict[str, str], str]:
    """Write the job's HTML and PDFs; (outputs, sha256 of each, content hash)."""
    from reportkit.errors import RenderError
    from reportkit.files import write_atomic
    from reportkit.reports import render_html

    masking = spec.masked and spec.kind == "school" and "pdf" in spec.formats
    if masking and not _identity(nb).get("names_masked"):  # never a masked PDF with names
        raise RenderError(
            f"{spec.notebook or 'the school notebook'} gave no masked rendering of its "
            "sections (SchoolReport.open(..., mask_names=mask_names)); no masked PDF"
        )

    outputs: dict[str, str] = {}
    sha: dict[str, str] = {}
    html = render_html(nb, lang=spec.lang)
    content_hash = _sha256(html)
    if "html" in spec.formats:
        outputs["html"] = str(write_atomic(spec.file("html"), html))
        sha["html"] = content_hash
    if "pdf" in spec.formats:
        created = datetime.fromisoformat(spec.created) if spec.created else None
        printer = _shared_printer()
        pdf = printer.pdf_bytes(html, created=created, name=spec.file("pdf"))
        outputs["pdf"] = str(write_atomic(spec.file("pdf"), pdf))
        sha["pdf"] = _sha256(pdf)
        if spec.masked and spec.kind == "school":
            masked_html = render_html(nb, lang=spec.lang, masked=True)
            name = spec.file("pdf_masked")
            masked = printer.pdf_bytes(masked_html, created=created, name=name)
            outputs["pdf_masked"] = str(write_atomic(name, masked))
            sha["pdf_masked"] = _sha256(masked)
    return outputs, sha, content_hash


def run_job(spec: JobSpec, kernel: Any = None) -> JobResult:
    """Execute and render one notebook, retrying; never raises for a report's failure.

    ``kernel``: a :class:`reportkit.execution.WarmKernel` owned by the calling thread,
    reused across jobs; ``None`` starts a kernel for this job alone. A full disk is
    not retried.
    """
    from reportkit.files import ensure_dir

    out_dir = Path(spec.out_dir)
    out_ipynb = spec.file("ipynb")
    started = time.perf_counter()
    started_at = _now(spec)
    error: ReportExecutionError | None = None
    attempts = 0
    old_notebook = _inode(out_ipynb)  # an earlier run's, until this run writes its own

    def result(status: Literal["ok", "failed"], **kw: Any) -> JobResult:
        return JobResult(
            spec.kind,
            spec.target_id,
            status,
            round(time.perf_counter() - started, 3),
            attempts,
            run_id=spec.run_id,
            lang=spec.lang,
            started_at=started_at,
            ended_at=_now(spec),
            version=spec.version,
            previous_version=spec.previous_version,
            **kw,
        )

    for attempt in range(1, spec.retries + 2):
        attempts = attempt
        try:
            ensure_dir(out_dir)
            nb = _execute(spec, out_ipynb, kernel)
            shown = _identity(nb).get("findings_hash") or spec.findings_hash or None
            if spec.findings_hash and shown != spec.findings_hash:
                log.warning(
                    "%s %s shows findings that differ from the run's (read again from the store)",
                    spec.kind,
                    spec.target_id,
                )
            outputs: dict[str, str] = {"ipynb": str(out_ipynb)}
            sha: dict[str, str] = {}
            content_hash = None
            if "html" in spec.formats or "pdf" in spec.formats:
                rendered, sha, content_hash = _render(spec, nb)
                outputs.update(rendered)
            for stale in {"html", "pdf", "pdf_masked"} - set(outputs):
                spec.file(stale).unlink(missing_ok=True)
            return result(
                "ok",
                outputs=outputs,
                findings_hash=shown,
                content_hash=content_hash,
                sha256=sha,
            )
        except (Exception, asyncio.CancelledError) as exc:  # never stops the batch
            if old_notebook is not None and _inode(out_ipynb) == old_notebook:
                _remove(out_ipynb)  # this run could not write its own notebook
            error = _execution_error(exc, spec, out_ipynb)
            log.warning(
                "%s %s attempt %d failed: %s: %s",
                spec.kind,
                spec.target_id,
                attempt,
                error.ename,
                error.evalue.splitlines()[0] if error.evalue else "",
            )
            # stale renderings of an earlier run must not pass for this one
            for ext in ("html", "pdf", "pdf_masked"):
                _remove(spec.file(ext))
            if error.errno in NO_SPACE:
                break  # a full disk is not a reason to try again
    return result(
        "failed",
        outputs={"ipynb": str(out_ipynb)} if out_ipynb.exists() else {},
        error=error,
        findings_hash=spec.findings_hash or None,
    )


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.error("cannot remove the stale %s: %s", path, exc)
