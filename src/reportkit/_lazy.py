"""Lazy public names for reportkit's packages (PEP 562).

A package's ``__init__`` names what the next stage may use without importing it:
the module that holds a name is imported when the name is first looked up, so
importing one small module of a package (a kernel importing the report sections,
say) never pulls in the package's heavy ones (nbconvert, Chromium's driver, Dask).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

__all__ = ["attach"]


def attach(
    package: str, homes: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package`` whose names live in ``homes``
    (name -> module, relative to the package)."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{home}"), name)
        globals_of = import_module(package).__dict__
        globals_of[name] = value  # looked up once
        return value

    def __dir__() -> list[str]:
        return sorted(homes)

    return __getattr__, __dir__, sorted(homes)
