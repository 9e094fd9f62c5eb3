"""The exceptions reportkit raises, rooted in one class.

::

    ReportkitError                   exit 1 unless a class says otherwise
    ├── ConfigError              2   a params/*.yaml file is missing or invalid (path, key, value)
    ├── IngestError                  an input file cannot be read at all (path, row, column, value)
    │   └── RefusedFileError         ... because of what it holds: past a limit, unreadable, the wrong kind
    ├── StoreError                   the database cannot be used (URL, reason)
    │   ├── StoreMissingError    2   there is no store at the URL
    │   │   └── RosterMissingError   2   nobody on the roster of a school (school ids)
    │   └── StoreLockedError         another process held the SQLite store's lock too long
    ├── LockedError                  another afternoon run holds its lock (reportkit.daily)
    ├── KernelError                  a warm kernel could not be started or reset (also a
    │                                RuntimeError; reportkit.execution.kernels)
    ├── ReportExecutionError         a report's notebook failed (kind, school, date, cell, ename,
    │                                evalue): what a failed job carries (JobResult.error)
    ├── RenderError                  HTML or PDF could not be produced
    ├── DeliveryError                a message could not be built or sent
    │   ├── NotSendable              a report that must not go: stale, failed (reportkit.delivery.checks)
    │   ├── OutcomeUnknown           the server may have the message: never retried blindly
    │   │                            (reportkit.delivery.transport)
    │   └── SentLogError             the sent log cannot be read or written: nothing more goes
    │                                (reportkit.store.sentlog)
    ├── FollowupError                a follow-up that cannot be recorded (action, officer,
    │                                person; also a ValueError)
    └── UnknownLabelError            a label key or language the catalog lacks (also a KeyError
                                     and a ValueError; reportkit.i18n)

Findings about people (missing, fever, suspected) are data, never exceptions;
exceptions are for input the program cannot use.

Each class carries the exit code the ``reportkit`` command ends with when it is
raised (``exit_code``; the command maps nothing by hand): 2 for usage and
configuration errors (a bad params file, a store or roster that is not there), 1
for everything else (something failed; what could be done was done). The
classes that live beside the code raising them (marked above with their module)
derive from this tree all the same; ``tests/test_errors.py`` walks every module
to keep it so.
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
    """An input file cannot be read at all; the message names the file (in English).

    ``key`` and ``params``: the reason's ``ingest_<key>`` text of the label catalog and
    what fills it in, for showing the reason in a report's language
    (:func:`reportkit.i18n.ingest_reason`; raised through :func:`reportkit.i18n.ingest_error`).
    """

    def __init__(
        self,
        path: object,
        reason: str,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
        *,
        key: str | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        self.path = str(path)
        self.reason = reason
        self.row = row
        self.column = column
        self.value = value
        self.key = key
        self.params = dict(params or {})
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

    def __init__(
        self,
        path: object,
        reason: str,
        *,
        limit: str | None = None,
        key: str | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        super().__init__(path, reason, key=key, params=params)
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
    """A report's notebook failed, the way papermill's ``PapermillExecutionError`` says it:
    which report (``kind``, ``school_id`` — the district's id for a roll-up —, ``date``),
    the cell (``cell_index``, ``exec_count``; None when no cell is to blame), the error
    (``ename``, ``evalue``) and, for a failed write, its ``errno`` name (``ENOSPC``).

    A failed :class:`~reportkit.execution.JobResult` carries one as its ``error``; the
    batch records it and goes on. :meth:`to_json` is what the manifest and ``--json``
    show (only the keys that apply: ``exec_count`` for a cell error, ``errno`` for a
    failed write).
    """

    def __init__(
        self,
        school_id: str,
        date: str,
        cell_index: int | None = None,
        ename: str = "",
        evalue: str = "",
        *,
        kind: str = "school",
        exec_count: int | None = None,
        errno: str | None = None,
    ) -> None:
        self.kind = kind
        self.school_id = school_id
        self.date = date
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.exec_count = exec_count
        self.errno = errno
        cell = "" if cell_index is None else f" in cell {cell_index}"
        what = " ".join(filter(None, [kind, school_id, date]))
        error = f"{ename}: {evalue}" if evalue else ename
        super().__init__(f"{what}: report failed{cell}: {error}")

    def __reduce__(self) -> tuple[object, ...]:  # pickled to and from Dask workers
        args = (self.school_id, self.date, self.cell_index, self.ename, self.evalue)
        return (type(self), args, dict(self.__dict__))

    @property
    def target_id(self) -> str:
        """The school's or the district's id (``school_id`` names both)."""
        return self.school_id

    def to_json(self) -> dict[str, object]:
        """The error as the manifest records it."""
        out: dict[str, object] = {"cell_index": self.cell_index}
        if self.exec_count is not None:
            out["exec_count"] = self.exec_count
        out.update(ename=self.ename, evalue=self.evalue)
        if self.errno is not None:
            out["errno"] = self.errno
        return out

    @classmethod
    def from_json(
        cls, data: dict[str, object], school_id: str = "", date: str = "", *, kind: str = "school"
    ) -> ReportExecutionError:
        """The error back from its :meth:`to_json` (a manifest entry's ``error``)."""
        cell, count, errno = data.get("cell_index"), data.get("exec_count"), data.get("errno")
        return cls(
            school_id,
            date,
            cell if isinstance(cell, int) else None,
            str(data.get("ename") or ""),
            str(data.get("evalue") or ""),
            kind=kind,
            exec_count=count if isinstance(count, int) else None,
            errno=None if errno is None else str(errno),
        )


class RenderError(ReportkitError):
    """HTML or PDF output could not be produced."""


class DeliveryError(ReportkitError):
    """A message could not be built or sent."""


class FollowupError(ReportkitError, ValueError):
    """A follow-up that cannot be recorded (unknown action, no officer, no person)."""
