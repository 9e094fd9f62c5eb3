"""Running the report jobs on a Dask distributed cluster.

``reportkit run --dask tcp://HOST:8786`` hands each :class:`~reportkit.execution.JobSpec`
to the cluster instead of the local thread pool. Workers need reportkit installed,
the store reachable by its URL (PostgreSQL: a SQLite file is local to one
machine) and the outputs folder shared; each worker process keeps one Chromium
for its PDFs, and each worker thread a warm kernel for up to ``kernel_reuse``
reports in turn, reset between them (:mod:`reportkit.execution.kernels`; a kernel whose
parent process dies exits with it). Failure isolation is the runner's own
(:func:`run_job` never raises for a report's failure); a worker that dies
mid-batch is Dask's business: the scheduler re-runs its tasks on the workers
that remain, so no school is lost.

Nothing of Dask is imported unless this module is used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from reportkit.context import DEFAULT_KERNEL_REUSE
from reportkit.execution.job import JobResult, JobSpec, failed_result, run_job

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["dask_executor", "run_job_warm"]

_local = threading.local()


def run_job_warm(spec: JobSpec, kernel_reuse: int = DEFAULT_KERNEL_REUSE) -> JobResult:
    """:func:`~reportkit.execution.run_job` on this worker thread's warm kernel."""
    from reportkit.execution.kernels import WarmKernel

    kernel = getattr(_local, "kernel", None)
    if kernel is None or kernel.max_uses != kernel_reuse:
        if kernel is not None:
            kernel.close()
        kernel = _local.kernel = WarmKernel(max_uses=kernel_reuse)
    return run_job(spec, kernel)


def dask_executor(
    address: str | Client, *, allowed_failures: int = 3, kernel_reuse: int = DEFAULT_KERNEL_REUSE
) -> Callable[..., list[JobResult]]:
    """An executor for :func:`reportkit.execution.run_reports` on the cluster at ``address``.

    ``address`` is a scheduler address or an existing ``distributed.Client``.
    ``kernel_reuse=1`` gives each report a kernel of its own.
    """

    def execute(specs: Sequence[JobSpec], done: Callable[[JobResult], None]) -> list[JobResult]:
        from distributed import Client, as_completed

        own = not hasattr(address, "submit")  # an address (or a cluster object) of its own
        client: Client = Client(address) if own else address  # type: ignore[assignment]
        results: list[JobResult] = []
        try:
            # a task whose worker died is re-run elsewhere by the scheduler, up to its
            # ``distributed.scheduler.allowed-failures`` (3 by default)
            futures = [
                client.submit(
                    run_job_warm,
                    spec,
                    kernel_reuse,
                    key=f"report-{spec.kind}-{spec.target_id}-{spec.report_date}",
                    pure=False,
                )
                for spec in specs
            ]
            by_key = {f.key: s for f, s in zip(futures, specs, strict=True)}
            for future in as_completed(futures):
                try:
                    result = future.result()
                except Exception as exc:  # the task itself was lost (KilledWorker …)
                    result = failed_result(by_key[future.key], type(exc).__name__, str(exc))
                results.append(result)
                done(result)
        finally:
            if own:
                client.close()
        return results

    return execute
