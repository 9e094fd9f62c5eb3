"""Which files of a folder are rosters, health logs or gate registers, and in what order.

One routing for ``reportkit ingest`` and the afternoon job: a file's kind comes
from its name (``名册`` a roster, ``门卫`` a gate register, anything else a health
log), as schools name their exports. Files are ingested rosters first, then logs,
then gate registers, so that a day's new pupils are on the roster before their
check-ins are read. A file named on the command line is read as the kind asked
for; a file found in a folder whose name says another kind is skipped, and so is
anything in a folder that is not a table, each with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reportkit.i18n import ingest_reason
from reportkit.ingest.sheets import Kind

__all__ = ["KINDS", "Routed", "Skipped", "classify_file", "route_paths"]

KINDS: tuple[Kind, ...] = ("roster", "logs", "entries")
ROSTER_WORDS = ("名册", "花名册", "roster")
ENTRY_WORDS = ("门卫", "进校登记", "入校登记", "来访登记", "entries", "entry")
TABLE_SUFFIXES = frozenset({".csv", ".txt", ".xlsx", ".xlsm", ".xls"})


def classify_file(path: Path) -> Kind:
    """``roster``, ``entries`` or ``logs``, from the file's name."""
    name = Path(path).name.lower()
    if any(w in name for w in ROSTER_WORDS):
        return "roster"
    if any(w in name for w in ENTRY_WORDS):
        return "entries"
    return "logs"


@dataclass(frozen=True)
class Routed:
    path: Path
    kind: Kind


@dataclass(frozen=True)
class Skipped:
    """A file of a folder not read, and why: ``reason`` in English, ``key`` and
    ``params`` its ``ingest_<key>`` text (:meth:`text` in a language)."""

    path: Path
    reason: str
    kind: Kind | None = None  # the kind its name says, when that is why it was skipped
    key: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def because(cls, file: Path, key: str, kind: Kind | None = None, **params: str) -> Skipped:
        """``file`` skipped for the ``ingest_<key>`` reason filled in with ``params``."""
        return cls(file, ingest_reason(key, "en", params), kind, key, params)

    def text(self, lang: str) -> str:
        """Why it was skipped, in ``lang``."""
        return self.reason if self.key is None else ingest_reason(self.key, lang, self.params)


def route_paths(
    paths: Sequence[Path], kind: Kind | None = None
) -> tuple[list[Routed], list[Skipped]]:
    """The files to ingest with their kind (rosters, then logs, then gate registers; in
    the order found within a kind), and the files skipped with the reason.

    A path that is a file is read as ``kind`` (by its name when ``kind`` is None);
    a path that does not exist is kept, so that reading it fails with a message
    naming it. Folders are searched recursively (sorted); hidden files and folders
    are passed over silently.
    """
    routed: list[Routed] = []
    skipped: list[Skipped] = []
    for path in map(Path, paths):
        if not path.is_dir():
            routed.append(Routed(path, kind or classify_file(path)))
            continue
        for file in sorted(path.rglob("*")):
            rel = file.relative_to(path).parts
            if not file.is_file() or any(part.startswith(".") for part in rel):
                continue
            if file.name.startswith("~$"):
                skipped.append(Skipped.because(file, "skip_lock_file"))
            elif file.suffix.lower() not in TABLE_SUFFIXES:
                suffixes = ", ".join(sorted(TABLE_SUFFIXES))
                skipped.append(Skipped.because(file, "skip_not_table", suffixes=suffixes))
            elif kind is not None and (found := classify_file(file)) != kind:
                skipped.append(Skipped.because(file, f"skip_{found}", found, path=str(file)))
            else:
                routed.append(Routed(file, kind or classify_file(file)))
    unique = list(dict.fromkeys(routed))
    unique.sort(key=lambda r: KINDS.index(r.kind))  # stable: the order found within a kind
    return unique, skipped
