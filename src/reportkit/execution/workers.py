"""The local executor: worker threads, each with a warm kernel.

:func:`reportkit.execution.run_reports` uses it unless it is given another executor
(a Dask cluster, :mod:`reportkit.execution.cluster`). The workers start before the jobs are
known, so kernels, imports and Chromium start while the findings are computed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from reportkit.context import DEFAULT_KERNEL_REUSE, FORMATS
from reportkit.execution.job import (
    JobResult,
    JobSpec,
    _shared_printer,
    failed_result,
    run_job,
)

__all__ = ["WARM_UP_CODE", "ThreadExecutor"]

log = logging.getLogger(__name__)


class ThreadExecutor:
    """``jobs`` worker threads, each with a warm kernel used for up to ``kernel_reuse``
    reports in turn (see :mod:`reportkit.execution.kernels`); ``kernel_reuse=1``: a fresh kernel
    per report.

    :meth:`prepare` starts the workers before the jobs are known: each starts its
    kernel and imports what the reports need, and Chromium starts, while the caller
    computes the findings. Calling the executor hands it the jobs and waits for them;
    the workers then shut their kernels down (each in its own thread) and end.
    """

    def __init__(self, jobs: int, kernel_reuse: int = DEFAULT_KERNEL_REUSE) -> None:
        self.jobs = max(1, jobs)
        self.kernel_reuse = kernel_reuse
        # called as each report starts (the runner's manifest); once set, ``stop``
        # (a full disk) makes the workers record the reports left as not run
        self.on_start: Callable[[JobSpec], None] | None = None
        self.stop: threading.Event = threading.Event()
        self._queue: Any = None
        self._threads: list[threading.Thread] = []
        self._results: list[JobResult] = []
        self._done: Callable[[JobResult], None] = lambda result: None
        self._lock = threading.Lock()

    def prepare(self, lang: str = "zh-CN", formats: Sequence[str] = FORMATS) -> ThreadExecutor:
        """Start the workers and warm them up (idempotent)."""
        import queue

        if self._threads:
            return self
        self._results = []  # one batch per start
        self._queue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(
                target=self._work, args=(lang, tuple(formats)), name=f"report-{i}", daemon=True
            )
            for i in range(self.jobs)
        ]
        for thread in self._threads:
            thread.start()
        if "pdf" in formats:
            threading.Thread(target=_start_printer_quietly, name="report-pdf", daemon=True).start()
        return self

    def __call__(
        self, specs: Sequence[JobSpec], done: Callable[[JobResult], None]
    ) -> list[JobResult]:
        self.prepare(specs[0].lang if specs else "zh-CN", specs[0].formats if specs else ())
        self._done = done
        for spec in specs:
            self._queue.put(spec)
        results = self.close()
        # a worker thread that died (it should not) leaves its reports recorded, not lost
        ran = {(r.kind, r.id) for r in results}
        for spec in specs:
            if (spec.kind, spec.target_id) not in ran:
                result = failed_result(spec, "WorkerError", "no worker was left to run this report")
                results.append(result)
                done(result)
        return results

    def wave(self, specs: Sequence[JobSpec], done: Callable[[JobResult], None]) -> list[JobResult]:
        """Run ``specs`` and wait for them, keeping the workers and their warm kernels
        for the next wave (the roll-ups of the next level up); :meth:`close` ends them."""
        if not specs:
            return []
        self.prepare(specs[0].lang, specs[0].formats)
        finished = threading.Semaphore(0)
        with self._lock:
            start = len(self._results)

        def on_done(result: JobResult) -> None:
            try:
                done(result)
            finally:
                finished.release()

        self._done = on_done
        for spec in specs:
            self._queue.put(spec)
        waiting = len(specs)
        while waiting:
            if finished.acquire(timeout=1.0):
                waiting -= 1
            elif not any(t.is_alive() for t in self._threads):
                break  # every worker died: what is left is recorded below
        with self._lock:
            results = self._results[start:]
        ran = {(r.kind, r.id) for r in results}
        for spec in specs:
            if (spec.kind, spec.target_id) not in ran:
                result = failed_result(spec, "WorkerError", "no worker was left to run this report")
                results.append(result)
                done(result)
        return results

    def close(self) -> list[JobResult]:
        """Let the workers finish what they hold, stop them, and return the results."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []
        return self._results

    def _work(self, lang: str, formats: tuple[str, ...]) -> None:
        from reportkit.execution.kernels import WarmKernel

        try:
            with WarmKernel(max_uses=self.kernel_reuse) as kernel:  # shut down in this thread
                _warm_up(kernel, lang, formats)
                self._serve(kernel)
        except BaseException:  # logged: the reports it did not run are recorded as failed
            log.exception("report worker %s stopped", threading.current_thread().name)
            raise

    def _serve(self, kernel: Any) -> None:
        while (spec := self._queue.get()) is not None:
            if self.stop.is_set():
                result = _not_run(spec)
            else:
                self._started(spec)
                result = run_job(spec, kernel)
            with self._lock:
                self._results.append(result)
                try:
                    self._done(result)
                except Exception:  # a progress display must not stop the batch
                    log.exception("reporting %s %s failed", spec.kind, spec.target_id)

    def _started(self, spec: JobSpec) -> None:
        if self.on_start is None:
            return
        try:
            self.on_start(spec)
        except Exception:  # recording the start must not stop the report
            log.exception("recording the start of %s %s failed", spec.kind, spec.target_id)


def _not_run(spec: JobSpec) -> JobResult:
    """A report the batch did not start because it stopped (a full disk)."""
    return failed_result(spec, "NotRun", "not run: the batch stopped (no space left on the disk)")


WARM_UP_CODE = """import reportkit.reports.sections as __rk_report, reportkit.findings.compute as __rk_flags
import reportkit.findings.files as __rk_files, pyarrow.ipc as __rk_ipc
__rk_report.warm_up()
del __rk_report, __rk_flags, __rk_files, __rk_ipc
"""


def _warm_up(kernel: Any, lang: str, formats: tuple[str, ...]) -> None:
    """Start the kernel and import what reports use; build this thread's HTML exporter.

    Failures are only logged: the first job then starts its kernel itself and reports
    any error as its own.
    """
    import asyncio

    try:
        kernel.warm(WARM_UP_CODE)
        if "html" in formats or "pdf" in formats:
            from reportkit.reports import html_exporter

            html_exporter(lang)
    except (Exception, asyncio.CancelledError) as exc:
        log.warning("warming up a report kernel failed: %s", exc)


def _start_printer_quietly() -> None:
    try:
        _shared_printer()
    except Exception as exc:  # the first PDF job reports it
        log.warning("starting Chromium failed: %s", exc)
