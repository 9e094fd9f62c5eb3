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
from dataclasses import dataclass
from pathlib import Path

from reportkit.ingest.sheets import Kind

__all__ = ["KINDS", "Routed", "Skipped", "classify_file", "route_paths"]

KINDS: tuple[Kind, ...] = ("roster", "logs", "entries")
ROSTER_WORDS = ("名册", "花名册", "roster")
ENTRY_WORDS = ("门卫", "进校登记", "入校登记", "来访登记", "entries", "entry")
TABLE_SUFFIXES = frozenset({".csv", ".txt", ".xlsx", ".xlsm", ".xls"})
_WHAT = {"roster": "a roster", "logs": "a health log", "entries": "a gate register"}


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
    path: Path
    reason: str
    kind: Kind | None = None  # the kind its name says, when that is why it was skipped


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
                skipped.append(Skipped(file, "an Excel/WPS lock file of an open workbook"))
            elif file.suffix.lower() not in TABLE_SUFFIXES:
                suffixes = ", ".join(sorted(TABLE_SUFFIXES))
                skipped.append(Skipped(file, f"not a table file ({suffixes})"))
            elif kind is not None and (found := classify_file(file)) != kind:
                why = f"{_WHAT[found]} by its name: read it with `reportkit ingest {found} {file}`"
                skipped.append(Skipped(file, why, found))
            else:
                routed.append(Routed(file, kind or classify_file(file)))
    unique = list(dict.fromkeys(routed))
    unique.sort(key=lambda r: KINDS.index(r.kind))  # stable: the order found within a kind
    return unique, skipped
