"""The deterministic demo county.

The next stages use what this package names; its modules are its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reportkit._lazy import attach

if TYPE_CHECKING:  # the names, for type checkers; they load on first use
    from reportkit.demo.build import (
        DEMO_DATE as DEMO_DATE,
    )
    from reportkit.demo.build import (
        GENERATED_MARKER as GENERATED_MARKER,
    )
    from reportkit.demo.build import (
        DemoResult as DemoResult,
    )
    from reportkit.demo.build import (
        build_demo as build_demo,
    )
    from reportkit.demo.build import (
        write_log_csv as write_log_csv,
    )

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "DEMO_DATE": "build",
        "DemoResult": "build",
        "GENERATED_MARKER": "build",
        "build_demo": "build",
        "write_log_csv": "build",
    },
)
