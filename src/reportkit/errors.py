"""The exceptions reportkit raises, rooted in one class.

::

    ReportkitError
    ├── ConfigError            a params/*.yaml file is missing or invalid (path, key, value)
    ├── IngestError            an input file cannot be read at all (path, row, column, value)
    │   └── RefusedFileError   ... because of what it holds: past a limit, unreadable, the wrong kind
    ├── StoreError             the database cannot be used (URL, reason)
    │   ├── StoreMissingError  there is no store at the URL
    │   │   └── RosterMissingError   nobody on the roster of a school (school ids)
    │   └── StoreLockedError   another process held the SQLite store's lock too long
    ├── ReportExecutionError   a notebook failed (school, date, cell, ename, evalue)
    ├── RenderError            HTML or PDF could not be produced
    ├── DeliveryError          a message could not be built or sent
    └── FollowupError          a follow-up that cannot be recorded (action, officer, person)

Findings about people (missing, fever, suspected) are data, never exceptions;
exceptions are for input the program cannot use.

Each class carries the exit code the ``reportkit`` command ends with when it is
raised (``exit_code``): 2 for usage and configuration errors (a bad params file,
a store or roster that is not there), 1 for everything else (something failed;
what could be done was done).
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DeliveryError",
    "FollowupError",
    "IngestError",
    "RefusedFileError",
    "RenderError",
    "ReportExecutionError",
    "ReportkitError",
    "RosterMissingError",
    "StoreError",
    "StoreLockedError",
    "StoreMissingError",
]


class ReportkitError(Exception):
    """Root of every error reportkit raises on purpose."""

    exit_code: int = 1


class ConfigError(ReportkitError):
    """A configuration file is missing or invalid."""

    exit_code = 2

    def __init__(self, path: object, key: str = "", value: object = None, reason: str = "") -> None:
        self.path = str(path)
        self.key = key
        self.value = value
        self.reason = reason
        where = f"{self.path}: {key}" if key else self.path
        shown = "" if value is None else f" (got {value!r})"
        super().__init__(f"{where}: {reason}{shown}")


class IngestError(ReportkitError):
    """An input file cannot be read at all; the message names the file."""

    def __init__(
        self,
        path: object,
        reason: str,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
    ) -> None:
        self.path = str(path)
        self.reason = reason
        self.row = row
        self.column = column
        self.value = value
        parts = [self.path]
        if row is not None:
            parts.append(f"row {row}")
        if column:
            parts.append(f"column {column!r}")
        shown = "" if value is None else f" (got {value!r})"
        super().__init__(f"{', '.join(parts)}: {reason}{shown}")


class RefusedFileError(IngestError):
    """A file refused for what it holds (past a limit, a reader that crashed or timed out
    on it, not a table, the wrong kind); reading it again would fail the same way, so the
    afternoon job moves it out of the inbox. ``limit`` names the limit passed, if one was."""

    def __init__(self, path: object, reason: str, *, limit: str | None = None) -> None:
        super().__init__(path, reason)
        self.limit = limit


class StoreError(ReportkitError):
    """The database cannot be opened or used."""


class StoreMissingError(StoreError):
    """No reportkit store at the URL (or no roster in it for a school): nothing to read."""

    exit_code = 2


class RosterMissingError(StoreMissingError):
    """Schools with nobody active on their roster in the store: a report would read zeros."""

    def __init__(self, school_ids: list[str], store: str) -> None:
        self.school_ids = list(school_ids)
        self.store = store
        listed = ", ".join(self.school_ids)
        super().__init__(
            f"no roster in the store {store} for {listed}: ingest it first "
            "(reportkit ingest roster FILE --school ID), or select the other schools with --school"
        )


class StoreLockedError(StoreError):
    """Another process held the SQLite store's write lock past every retry."""


class ReportExecutionError(ReportkitError):
    """A school's notebook failed while executing."""

    def __init__(
        self,
        school_id: str,
        date: str,
        cell_index: int | None = None,
        ename: str = "",
        evalue: str = "",
    ) -> None:
        self.school_id = school_id
        self.date = date
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        cell = "" if cell_index is None else f" in cell {cell_index}"
        super().__init__(f"{school_id} {date}: notebook failed{cell}: {ename}: {evalue}")


class RenderError(ReportkitError):
    """HTML or PDF output could not be produced."""


class DeliveryError(ReportkitError):
    """A message could not be built or sent."""


class FollowupError(ReportkitError, ValueError):
    """A follow-up that cannot be recorded (unknown action, no officer, no person)."""
