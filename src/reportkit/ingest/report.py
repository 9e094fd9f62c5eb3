"""What an ingestion did: one :class:`FileReport` per file, one :class:`IngestReport` per call.

Counts per file (rows read, inserted, updated, unchanged, quarantined, findings),
the error of a file that could not be read, and the files of folders skipped by
routing; as JSON for ``reportkit ingest --json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reportkit.i18n import ingest_reason
from reportkit.ingest.routing import Skipped
from reportkit.ingest.sheets import Kind

__all__ = ["COUNTS", "FileReport", "IngestReport"]

COUNTS = ("rows_read", "inserted", "updated", "unchanged", "quarantined", "findings")


@dataclass
class FileReport:
    """What happened to one file."""

    path: str
    encoding: str | None
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    findings: int = 0
    error: str | None = None  # set when the file could not be read at all
    already_ingested: bool = False
    kind: Kind | None = None
    # the file was refused for what it holds (a limit, unreadable, the wrong kind):
    # reading it again fails the same way (see RefusedFileError)
    refused: bool = False
    # the error's reason as the ingest_<key> text of the catalog and what fills it in
    error_key: str | None = None
    error_params: dict[str, str] = field(default_factory=dict)

    def error_text(self, lang: str) -> str | None:
        """:attr:`error` in ``lang``: the file, then why (English when it has no key)."""
        if self.error is None or self.error_key is None:
            return self.error
        return f"{self.path}: {self.reason(lang)}"

    def reason(self, lang: str = "en") -> str:
        """Why the file could not be read, without its name, in ``lang``."""
        if self.error_key is None:
            return str(self.error).removeprefix(f"{self.path}: ")
        return ingest_reason(self.error_key, lang, self.error_params)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "kind": self.kind, "encoding": self.encoding}
        out.update({name: getattr(self, name) for name in COUNTS})
        if self.error is not None:
            out["error"] = self.error
            out["refused"] = self.refused
            if self.error_key is not None:
                out["reason_key"] = self.error_key
        if self.already_ingested:
            out["already_ingested"] = True
        return out


def _total(name: str) -> property:
    def total(self: IngestReport) -> int:
        return sum(getattr(f, name) for f in self.files)

    total.__doc__ = f"{name.replace('_', ' ').capitalize()}: the sum over all files."
    return property(total)


@dataclass
class IngestReport:
    """What happened to every file of one :func:`ingest_paths` call."""

    kind: Kind | None  # None: each file's kind from its name
    files: list[FileReport] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)  # files of folders not read, why

    rows_read = _total("rows_read")
    inserted = _total("inserted")
    updated = _total("updated")
    unchanged = _total("unchanged")
    quarantined = _total("quarantined")
    findings = _total("findings")

    @property
    def failed(self) -> list[FileReport]:
        """The files that could not be read at all."""
        return [f for f in self.files if f.error is not None]

    def by_kind(self) -> dict[str, dict[str, int]]:
        """Files and counts of each kind ingested (or tried), in routing order."""
        out: dict[str, dict[str, int]] = {}
        for f in self.files:
            totals = out.setdefault(str(f.kind), {"files": 0, **dict.fromkeys(COUNTS, 0)})
            totals["files"] += 1
            for name in COUNTS:
                totals[name] += getattr(f, name)
        return out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "files": [f.to_json() for f in self.files]}
        out.update({name: getattr(self, name) for name in COUNTS})
        out["skipped"] = [
            {"path": str(s.path), "reason": s.reason, "kind": s.kind, "reason_key": s.key}
            for s in self.skipped
        ]
        if self.kind is None:
            out["by_kind"] = self.by_kind()
        return out
