"""Execution: report jobs on warm kernels, the batch, its manifest, local and Dask.

The next stages use what this package names; its modules are its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reportkit._lazy import attach

if TYPE_CHECKING:  # the names, for type checkers; they load on first use
    from reportkit.execution.batch import Executor as Executor
    from reportkit.execution.batch import RunResult as RunResult
    from reportkit.execution.batch import new_run_id as new_run_id
    from reportkit.execution.batch import plan_jobs as plan_jobs
    from reportkit.execution.batch import rendered_units as rendered_units
    from reportkit.execution.batch import run_reports as run_reports
    from reportkit.execution.batch import select_units as select_units
    from reportkit.execution.batch import unit_waves as unit_waves
    from reportkit.execution.batch import write_index as write_index
    from reportkit.execution.cluster import dask_executor as dask_executor
    from reportkit.execution.job import FORMATS as FORMATS
    from reportkit.execution.job import JobResult as JobResult
    from reportkit.execution.job import JobSpec as JobSpec
    from reportkit.execution.job import close_printer as close_printer
    from reportkit.execution.job import run_job as run_job
    from reportkit.execution.kernels import KernelError as KernelError
    from reportkit.execution.kernels import WarmKernel as WarmKernel
    from reportkit.execution.manifest import Manifest as Manifest
    from reportkit.execution.manifest import read_manifest as read_manifest
    from reportkit.execution.progress import Progress as Progress
    from reportkit.execution.progress import announce as announce
    from reportkit.execution.workers import ThreadExecutor as ThreadExecutor

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "Executor": "batch",
        "FORMATS": "job",
        "JobResult": "job",
        "JobSpec": "job",
        "KernelError": "kernels",
        "Manifest": "manifest",
        "Progress": "progress",
        "RunResult": "batch",
        "ThreadExecutor": "workers",
        "WarmKernel": "kernels",
        "announce": "progress",
        "close_printer": "job",
        "dask_executor": "cluster",
        "new_run_id": "batch",
        "plan_jobs": "batch",
        "read_manifest": "manifest",
        "rendered_units": "batch",
        "run_job": "job",
        "run_reports": "batch",
        "select_units": "batch",
        "unit_waves": "batch",
        "write_index": "batch",
    },
)
