"""Where reportkit's files are: every path it writes, and where it finds its notebooks.

This module owns the names below; every other module asks it for a path rather than
joining one. An id (a school's, a unit's, a view's) is checked against
:data:`reportkit.config.SAFE_ID` before it becomes a part of a path, and a date is a
real date, so nothing read from ``schools.yaml`` or a command line can point a path
outside its folder.

::

    <outputs>/
      .daily.lock  .daily.json          the afternoon job's lock, and who holds it
      cron.log                          where the cron entry of ``reportkit schedule`` logs
      <date>/                           one day (YYYY-MM-DD): DayOutputs
        <school_id>/report.ipynb|html|pdf, report.masked.pdf
        <school_id>/v<N>/                 version N as first sent, never changed after
                                          (its files, findings <id>.arrow, version.json)
        units/<unit_id>.ipynb|html|pdf|xlsx  every roll-up (a unit, a central school) and its form
        units/<unit_id>/v<N>/             a roll-up's version N as first sent
        findings/<school_id>.arrow, findings/unit_<unit_id>.arrow
        manifest.json  index.html  daily.log  .deliver.lock
        mail/<kind>_<id>_<recipient>.eml  the messages of a dry run
        exports/<view>-<scope>-<HHMMSS>[-<n>].xlsx
    <inbox>/<date>/<school_id>/…        the schools' files of a day
    <archive>/<date>/…                  what was ingested, as it sat in the inbox
    <archive>/../rejected/<date>/…      what was refused, with <name>.reason.txt beside it

Notebooks are found in ``$REPORTKIT_NOTEBOOKS``, ``./notebooks``, the project's
``notebooks/`` (a source checkout) or ``<prefix>/share/reportkit/notebooks`` (a
wheel); templates ship inside the package (``reportkit/templates``).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from reportkit.config import SAFE_ID
from reportkit.errors import ReportkitError

__all__ = [
    "NOTEBOOKS",
    "REPORT_FORMATS",
    "TEMPLATES",
    "DayOutputs",
    "archive_dir",
    "cron_log",
    "daily_lock",
    "day_outputs",
    "find_notebook",
    "form_file",
    "inbox_dir",
    "lock_note",
    "mail_file",
    "notebook_path",
    "output_dir",
    "reason_file",
    "rejected_dir",
    "report_file",
    "safe_id",
    "school_findings_file",
    "unit_findings_file",
    "version_note",
]

PathLike = str | os.PathLike[str]
ReportKind = Literal["school", "unit"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
NOTEBOOKS: dict[str, str] = {"school": "school_daily.ipynb", "unit": "unit_daily.ipynb"}
# the files of one report, by the key the manifest records them under
REPORT_FORMATS: dict[str, str] = {
    "ipynb": ".ipynb",
    "html": ".html",
    "pdf": ".pdf",
    "pdf_masked": ".masked.pdf",
}


def safe_id(value: object) -> str:
    """``value`` as a path part: letters, digits, ``-`` and ``_`` (``SAFE_ID``); else
    :class:`~reportkit.errors.ReportkitError`."""
    # fullmatch, not match: SAFE_ID's "$" would let a trailing newline through
    if not isinstance(value, str) or not SAFE_ID.fullmatch(value):
        raise ReportkitError(f"unsafe id for a path: {value!r}")
    return str(value)


def _day(report_date: date | str) -> str:
    try:
        day = report_date if isinstance(report_date, date) else date.fromisoformat(report_date)
    except (TypeError, ValueError):
        raise ReportkitError(f"not a date for a path: {report_date!r}") from None
    return day.isoformat()


# --- <outputs>/<date>/ ---------------------------------------------------------------


@dataclass(frozen=True)
class DayOutputs:
    """The files of one date under ``<outputs>/<date>/`` (see :func:`day_outputs`)."""

    folder: Path

    def report_dir(self, kind: ReportKind | str, target_id: str) -> Path:
        """``<date>/<school_id>`` for a school, ``<date>/units`` for a unit's roll-up."""
        ident = safe_id(target_id)
        if kind == "unit":
            return self.folder / "units"
        if kind == "school":
            return self.folder / ident
        raise ReportkitError(f"unknown kind of report: {kind!r}")

    def report_file(self, kind: ReportKind | str, target_id: str, fmt: str) -> Path:
        """One file of a report: ``<school_id>/report.html``, ``units/<id>.pdf`` …"""
        return report_file(self.report_dir(kind, target_id), kind, target_id, fmt)

    def version_dir(self, kind: ReportKind | str, target_id: str, version: int) -> Path:
        """``<school_id>/v<N>`` or ``units/<unit_id>/v<N>``: version ``N`` of a report
        as it was first sent, with the findings it was rendered from."""
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ReportkitError(f"not a report version: {version!r}")
        folder = self.report_dir(kind, target_id)
        if kind == "unit":
            folder = folder / safe_id(target_id)
        return folder / f"v{version}"

    def form(self, unit_id: str) -> Path:
        """``units/<unit_id>.xlsx``: the unit's upward form, filled."""
        return form_file(self.report_dir("unit", unit_id), unit_id)

    @property
    def findings(self) -> Path:
        """``<date>/findings``: the findings files the reports of the day show."""
        return self.folder / "findings"

    @property
    def manifest(self) -> Path:
        return self.folder / "manifest.json"

    @property
    def index(self) -> Path:
        return self.folder / "index.html"

    @property
    def daily_log(self) -> Path:
        return self.folder / "daily.log"

    @property
    def delivery_lock(self) -> Path:
        """Held while the day's messages are sent (one sender at a time)."""
        return self.folder / ".deliver.lock"

    @property
    def mail(self) -> Path:
        """Where a dry run writes its ``.eml`` files."""
        return self.folder / "mail"

    @property
    def exports(self) -> Path:
        return self.folder / "exports"

    def export_file(self, view: str, scope: str, stamp: str, n: int = 1) -> Path:
        """``exports/<view>-<scope>-<HHMMSS>.xlsx``; the ``n``-th of the same second
        gets ``-<n>``."""
        if not stamp.isdigit():
            raise ReportkitError(f"not a time stamp for a file name: {stamp!r}")
        name = f"{safe_id(view)}-{safe_id(scope)}-{stamp}"
        return self.exports / (f"{name}.xlsx" if n <= 1 else f"{name}-{int(n)}.xlsx")


def day_outputs(outputs: PathLike, report_date: date | str) -> DayOutputs:
    """The outputs of ``report_date`` under ``outputs``."""
    return DayOutputs(Path(outputs) / _day(report_date))


def output_dir(
    outputs: PathLike, report_date: date | str, kind: ReportKind | str, target_id: str
) -> Path:
    """``outputs/<date>/<school_id>`` for a school, ``outputs/<date>/units`` for a unit."""
    return day_outputs(outputs, report_date).report_dir(kind, target_id)


def report_file(folder: PathLike, kind: ReportKind | str, target_id: str, fmt: str) -> Path:
    """A report's ``fmt`` file (a key of :data:`REPORT_FORMATS`) in its ``folder``:
    ``report.<ext>`` for a school, ``<unit_id>.<ext>`` for a unit."""
    if fmt not in REPORT_FORMATS:
        raise ReportkitError(f"unknown report file {fmt!r}; known: {', '.join(REPORT_FORMATS)}")
    stem = "report" if kind == "school" else safe_id(target_id)
    return Path(folder) / f"{stem}{REPORT_FORMATS[fmt]}"


def school_findings_file(folder: PathLike, school_id: str) -> Path:
    """``<folder>/<school_id>.arrow``: the findings one school's report shows."""
    return Path(folder) / f"{safe_id(school_id)}.arrow"


def unit_findings_file(folder: PathLike, unit_id: str) -> Path:
    """``<folder>/unit_<unit_id>.arrow``: a unit roll-up's counts."""
    return Path(folder) / f"unit_{safe_id(unit_id)}.arrow"


def version_note(folder: PathLike) -> Path:
    """``<folder>/version.json``: what a version folder holds (number, hashes, run)."""
    return Path(folder) / "version.json"


def form_file(folder: PathLike, unit_id: str) -> Path:
    """``<folder>/<unit_id>.xlsx``: a unit's filled upward form in its ``units`` folder."""
    return Path(folder) / f"{safe_id(unit_id)}.xlsx"


def mail_file(folder: PathLike, kind: str, target_id: str, recipient: str) -> Path:
    """``<folder>/<kind>_<id>_<recipient>.eml``: one message of a dry run, the address
    written with letters, digits, ``.``, ``-`` and ``_`` only (``@`` as ``_at_``)."""
    rcpt = re.sub(r"[^A-Za-z0-9._-]+", "_", recipient.replace("@", "_at_"))
    return Path(folder) / f"{safe_id(kind)}_{safe_id(target_id)}_{rcpt}.eml"


# --- <outputs>/ -----------------------------------------------------------------------


def daily_lock(outputs: PathLike) -> Path:
    """``<outputs>/.daily.lock``: one afternoon run at a time, whatever its date."""
    return Path(outputs) / ".daily.lock"


def lock_note(lock: PathLike) -> Path:
    """The note of who holds ``lock`` since when (``.daily.lock`` -> ``.daily.json``)."""
    return Path(lock).with_suffix(".json")


def cron_log(outputs: PathLike) -> Path:
    return Path(outputs) / "cron.log"


# --- data/ ----------------------------------------------------------------------------


def inbox_dir(inbox: PathLike, report_date: date | str) -> Path:
    """``<inbox>/<date>``: the files the schools sent for the day."""
    return Path(inbox) / _day(report_date)


def archive_dir(archive: PathLike, report_date: date | str) -> Path:
    """``<archive>/<date>``: the day's files once they are in the store."""
    return Path(archive) / _day(report_date)


def rejected_dir(
    archive: PathLike, report_date: date | str, rejected: PathLike | None = None
) -> Path:
    """``<rejected>/<date>``, by default ``rejected/`` beside the archive."""
    base = Path(rejected) if rejected else Path(archive).parent / "rejected"
    return base / _day(report_date)


def reason_file(rejected_file: PathLike) -> Path:
    """``<name>.reason.txt`` beside a rejected file."""
    path = Path(rejected_file)
    return path.with_name(f"{path.name}.reason.txt")


# --- notebooks ------------------------------------------------------------------------


def notebook_path(kind: ReportKind) -> Path:
    """The notebook for a kind of report (see :func:`find_notebook`)."""
    return find_notebook(NOTEBOOKS[kind])


def find_notebook(name: str) -> Path:
    """A notebook of reportkit's: in ``$REPORTKIT_NOTEBOOKS``, ``./notebooks``, the
    project's ``notebooks/`` (a source checkout), or the installed copy in
    ``<prefix>/share/reportkit/notebooks`` (a wheel), first found first."""
    folder = os.environ.get("REPORTKIT_NOTEBOOKS")
    candidates = [Path(folder)] if folder else []
    candidates += [Path.cwd() / "notebooks", Path(__file__).resolve().parents[2] / "notebooks"]
    candidates += [Path(sys.prefix) / "share" / "reportkit" / "notebooks"]
    for base in candidates:
        path = base / name
        if path.exists():
            return path.resolve()
    raise ReportkitError(
        f"notebook {name} not found in {', '.join(map(str, candidates))}; "
        "set REPORTKIT_NOTEBOOKS to the folder that holds it"
    )
