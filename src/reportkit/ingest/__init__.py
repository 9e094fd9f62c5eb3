"""Ingestion: the files schools send, read under limits, into the store.

The next stages use what this package names; its modules are its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reportkit._lazy import attach

if TYPE_CHECKING:  # the names, for type checkers; they load on first use
    from reportkit.ingest.pipeline import ingest_paths as ingest_paths
    from reportkit.ingest.readers import expand_paths as expand_paths
    from reportkit.ingest.readers import read_table as read_table
    from reportkit.ingest.report import FileReport as FileReport
    from reportkit.ingest.report import IngestReport as IngestReport
    from reportkit.ingest.routing import KINDS as KINDS
    from reportkit.ingest.routing import Routed as Routed
    from reportkit.ingest.routing import Skipped as Skipped
    from reportkit.ingest.routing import classify_file as classify_file
    from reportkit.ingest.routing import route_paths as route_paths
    from reportkit.ingest.sheets import Kind as Kind
    from reportkit.ingest.sheets import SheetReader as SheetReader
    from reportkit.ingest.write import record_rejection as record_rejection
    from reportkit.ingest.write import write_issues as write_issues

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "FileReport": "report",
        "IngestReport": "report",
        "KINDS": "routing",
        "Kind": "sheets",
        "Routed": "routing",
        "SheetReader": "sheets",
        "Skipped": "routing",
        "classify_file": "routing",
        "expand_paths": "readers",
        "ingest_paths": "pipeline",
        "read_table": "readers",
        "record_rejection": "write",
        "route_paths": "routing",
        "write_issues": "write",
    },
)
