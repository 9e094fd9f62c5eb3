"""The deterministic demo county.

::

    plan     the county: schools, their formats, names, rosters, schools.yaml
    events   the events injected on the demo date, and each school's days with them
    files    the writers: CSV in each school's encoding, XLSX, a benchmark's big log
    build    build_demo: plan, events and files written, then ingested

The next stages use what this package names; its modules are its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reportkit._lazy import attach

if TYPE_CHECKING:  # the names, for type checkers; they load on first use
    from reportkit.demo.build import DemoResult as DemoResult
    from reportkit.demo.build import build_demo as build_demo
    from reportkit.demo.files import write_log_csv as write_log_csv
    from reportkit.demo.plan import DEMO_DATE as DEMO_DATE
    from reportkit.demo.plan import GENERATED_MARKER as GENERATED_MARKER

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "DEMO_DATE": "plan",
        "DemoResult": "build",
        "GENERATED_MARKER": "plan",
        "build_demo": "build",
        "write_log_csv": "files",
    },
)
