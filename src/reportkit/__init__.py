"""reportkit: daily epidemic reporting for school districts on Jupyter.

Ingest the day's health check-ins, flag who did not report and who needs
attention, render one report per school and a district roll-up, email them.
The pieces most callers need are importable from here; they load on first use
so that ``import reportkit`` stays instant.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "Findings",
    "ReportkitError",
    "Settings",
    "compute_findings",
    "ingest_paths",
    "load_findings",
    "run_reports",
]

_WHERE = {
    "Findings": "reportkit.findings.model",
    "ReportkitError": "reportkit.errors",
    "Settings": "reportkit.config",
    "compute_findings": "reportkit.findings.compute",
    "ingest_paths": "reportkit.ingest",
    "load_findings": "reportkit.findings.compute",
    "run_reports": "reportkit.execution.batch",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'reportkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
