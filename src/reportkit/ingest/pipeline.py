"""Ingestion: schools' rosters, health logs and gate registers into the store.

:func:`ingest_paths` reads each file (:mod:`reportkit.ingest.readers`), maps its headers
to canonical columns, normalises every value with vectorised pandas (each
distinct cell text is parsed once and the result broadcast) and writes the
store in one transaction per file (:mod:`reportkit.ingest.write`). Bad input never
disappears and never stops the batch: a row that cannot be used goes to
``quarantine`` with its file, row number, column, value and reason; a bad field
is nulled and recorded in ``data_quality``; a file that cannot be read at all
is reported with an error while the other files are still ingested.
Re-ingesting a file (same content and kind) changes nothing and is not parsed
again; a corrected row replaces the older one with the same key.

Decisions where the data contract is silent:

- an empty session means morning; an unknown session word keeps the row as
  morning with a ``bad_session`` finding (quarantining the row would lose it);
- an unknown absence reason becomes ``other`` with a ``bad_absence_reason``
  finding holding the text; an absence cell holding a reason word (病假) means
  absent for that reason, and a reason with an empty absence cell means absent;
- several unknown symptom terms in one cell make one ``unknown_symptom``
  finding whose value joins them (findings are unique per row, column, reason);
- a time of day alone (``15:42``) takes the row's date; person ids typed in
  full width (``００１``) are read as ASCII;
- a log without a date column takes the one date written in its title rows or
  file name (``XX小学2020年2月10日晨检登记表``), else the file is refused;
- a log for a school without a roster is refused, not quarantined, so that it
  can be ingested once the roster is in; ``force=True`` re-ingests a file (after
  a roster correction, say), replacing its earlier quarantine and findings;
- ``column`` of quarantine and findings is the canonical column name; ``raw``
  keeps the original headers; a file-level finding (unknown columns) is on the
  header row and dated with the file's latest date.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reportkit import schema, store
from reportkit.config import Rules, SchoolsConfig
from reportkit.errors import IngestError, RefusedFileError
from reportkit.ingest import cells, readers
from reportkit.ingest.readers import Table
from reportkit.ingest.routing import Skipped, route_paths
from reportkit.ingest.sheets import Kind, SheetReader, column_letters
from reportkit.ingest.write import query_frame, write_issues, write_rows
from reportkit.schema import Reason, normalize_word

__all__ = [
    "FileReport",
    "IngestReport",
    "ingest_paths",
]

log = logging.getLogger(__name__)

_COUNTS = ("rows_read", "inserted", "updated", "unchanged", "quarantined", "findings")


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

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "kind": self.kind, "encoding": self.encoding}
        out.update({name: getattr(self, name) for name in _COUNTS})
        if self.error is not None:
            out["error"] = self.error
            out["refused"] = self.refused
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
            totals = out.setdefault(str(f.kind), {"files": 0, **dict.fromkeys(_COUNTS, 0)})
            totals["files"] += 1
            for name in _COUNTS:
                totals[name] += getattr(f, name)
        return out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "files": [f.to_json() for f in self.files]}
        out.update({name: getattr(self, name) for name in _COUNTS})
        out["skipped"] = [
            {"path": str(s.path), "reason": s.reason, "kind": s.kind} for s in self.skipped
        ]
        if self.kind is None:
            out["by_kind"] = self.by_kind()
        return out


def ingest_paths(
    engine: Engine,
    paths: Sequence[Path],
    kind: Kind | None,
    config: SchoolsConfig,
    rules: Rules | None = None,
    school: str | None = None,
    *,
    force: bool = False,
    on_file: Callable[[FileReport], None] | None = None,
    sheets: SheetReader | None = None,
) -> IngestReport:
    """Ingest files and folders; one transaction per file.

    ``kind`` None routes each file by its name, rosters first (see
    :func:`reportkit.ingest.route_paths`); with a kind, files of folders whose
    names say another kind are skipped (:attr:`IngestReport.skipped`). The
    school of a file is ``school`` (an id or name), else a folder named after a
    school id; rows naming another school are quarantined (``wrong_school``).
    Only a file with neither takes each row's school from its school column.
    ``force`` re-ingests files already ingested (their earlier quarantine and
    findings are replaced). A file that cannot be read is reported in
    :attr:`FileReport.error`; ``on_file`` is called with each file's report as
    soon as its transaction ended. Spreadsheets are read under ``rules.limits``
    by one child process for the whole call (see :mod:`reportkit.ingest.sheets`), or by
    ``sheets``, kept by the caller over several calls.
    """
    if kind is not None:
        readers.kind_aliases(kind)  # a programming error, not a bad file
    rules = rules or Rules()
    report = IngestReport(kind=kind)
    routed, skipped = route_paths(paths, kind)
    report.skipped = skipped
    with contextlib.nullcontext(sheets) if sheets else SheetReader(rules.limits) as reader:
        for item in routed:
            try:
                done = _ingest_file(
                    engine, item.path, item.kind, config, rules, school, force, reader
                )
            except IngestError as exc:
                done = FileReport(
                    path=str(item.path),
                    encoding=None,
                    error=str(exc),
                    refused=isinstance(exc, RefusedFileError),
                )
            except (sa.exc.SQLAlchemyError, MemoryError, KeyboardInterrupt):
                raise  # the store, or this process: not one file's doing
            except Exception as exc:  # a file no check foresaw must not stop the others
                log.exception("ingest %s: unexpected error", item.path)
                why = f"unexpected error reading the file: {type(exc).__name__}: {exc}"
                done = FileReport(path=str(item.path), encoding=None, error=f"{item.path}: {why}")
            done.kind = item.kind
            report.files.append(done)
            if on_file is not None:
                on_file(done)
    return report


# --- one file ----------------------------------------------------------------------


def _ingest_file(
    engine: Engine,
    path: Path,
    kind: Kind,
    config: SchoolsConfig,
    rules: Rules,
    school: str | None,
    force: bool,
    sheets: SheetReader,
) -> FileReport:
    data = readers.read_bytes(path, rules.limits)
    sha256 = hashlib.sha256(data).hexdigest()
    with engine.begin() as conn:
        prior = conn.execute(
            sa.select(store.ingestions).where(
                store.ingestions.c.kind == kind, store.ingestions.c.sha256 == sha256
            )
        ).first()
        if prior is not None and not force:
            return FileReport(
                path=str(path),
                encoding=prior.encoding,
                rows_read=prior.rows_read,
                unchanged=prior.rows_read - prior.quarantined,
                quarantined=prior.quarantined,
                findings=prior.findings,
                already_ingested=True,
            )
        table = readers.read_table_bytes(
            data, path, kind, sha256, limits=rules.limits, sheets=sheets
        )
        del data  # the frame holds what is needed
        _check_kind(table, kind, path)
        batch = _Batch(table, path, kind, config, rules, school)
        if kind == "roster":
            _prepare_roster(batch, conn)
        elif kind == "logs":
            _prepare_logs(batch, conn)
        else:
            _prepare_entries(batch)
        if prior is not None:
            for issues in (store.quarantine, store.data_quality):
                conn.execute(
                    sa.delete(issues).where(issues.c.sha256 == sha256, issues.c.kind == kind)
                )
            conn.execute(sa.delete(store.ingestions).where(store.ingestions.c.id == prior.id))
        report = FileReport(
            path=str(path),
            encoding=table.encoding,
            rows_read=len(table.frame) + len(table.bad_lines),
        )
        _write(conn, batch, report)
        schools = batch.rows["school_id"].unique().tolist() if len(batch.rows) else []
        conn.execute(
            sa.insert(store.ingestions).values(
                kind=kind,
                sha256=sha256,
                path=str(path),
                encoding=table.encoding,
                school_id=schools[0] if len(schools) == 1 else batch.default_school,
                created_at=store.utcnow(),
                **{name: getattr(report, name) for name in _COUNTS},
            )
        )
    return report


class _Batch:
    """One file's rows on their way to the store: values, quarantine and findings."""

    def __init__(
        self,
        table: Table,
        path: Path,
        kind: Kind,
        config: SchoolsConfig,
        rules: Rules,
        school: str | None,
    ) -> None:
        self.table, self.path, self.kind = table, path, kind
        self.config, self.rules = config, rules
        self.index = table.frame.index
        n = len(self.index)
        self.alive = np.ones(n, dtype=bool)
        self.q_reason = np.full(n, None, dtype=object)
        self.q_column = np.full(n, None, dtype=object)
        self.q_value = np.full(n, None, dtype=object)
        self.findings: list[pd.DataFrame] = []
        self.dates = pd.Series(np.full(n, None, dtype=object), index=self.index)
        self.rows = pd.DataFrame()  # what goes into the kind's table, set by _prepare_*
        self.raw: dict[str, pd.Series] = {}  # canonical -> the column as written
        self._clean: dict[str, pd.Series] = {}
        self._parsed: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # column's latest parse
        unknown: list[str] = []
        first: dict[str, str] = {}  # canonical -> the header it was read from
        aliases, _ = readers.kind_aliases(kind)
        for header in table.frame.columns:
            canonical = schema.match_header(self._as_written(header), aliases)
            if canonical is None:
                if schema.normalize_header(header) not in schema.IGNORED_HEADERS:
                    unknown.append(header)
            elif canonical in self.raw:
                self._duplicate(canonical, first[canonical], header)
            else:
                self.raw[canonical] = table.frame[header]
                first[canonical] = header
        if unknown:  # once per file, on the header row
            self.header_finding(Reason.UNKNOWN_COLUMNS, "header", "、".join(unknown))
        self.default_school = _default_school(school, path, config)
        self.school_id = self._schools()

    def header_finding(self, reason: Reason, column: str, value: str) -> None:
        """A finding about the whole file, recorded on its header row."""
        frame = {"row": [self.table.header_row], "column": [column], "value": [value]}
        self.findings.append(pd.DataFrame({**frame, "reason": [reason]}))

    def _duplicate(self, canonical: str, kept: str, other: str) -> None:
        """A second header for a column already read (two 体温): a file-level finding
        naming both, and one on each row whose two cells differ. The first column's
        cell is used; where it is empty, the second's. Two columns that differ on most
        of 20 rows or more hold different things (a pupil's and a parent's name): one
        finding on the header says so, rather than one on every row."""
        frame = self.table.frame
        named = "、".join(self._header_name(h) for h in (kept, other))
        self.header_finding(Reason.DUPLICATE_COLUMN, canonical, named)
        ones, twos = frame[kept].astype(object), frame[other].astype(object)
        (one,) = cells.per_unique(ones, lambda v: (v and normalize_word(v),), 1)
        (two,) = cells.per_unique(twos, lambda v: (v and normalize_word(v),), 1)
        empty, filled = pd.isna(one), pd.notna(two)
        differ = ~empty & filled & (one != two)
        both = int((~empty & filled).sum())
        if both >= 20 and differ.sum() * 2 > both:
            value = f"{named}: {int(differ.sum())}/{both}"
            self.header_finding(Reason.CONFLICTING_VALUES, canonical, value)
        elif differ.any():
            shown = ones.fillna("").astype(str) + " | " + twos.fillna("").astype(str)
            self.finding(differ, Reason.CONFLICTING_VALUES, canonical, shown)
        if (empty & filled).any():
            self.raw[canonical] = ones.where(~(empty & filled), twos)

    def _as_written(self, header: str) -> str:
        """A column's header as written: the reader made a repeated one unique (体温.1)."""
        columns = list(self.table.frame.columns)
        base, dot, number = header.rpartition(".")
        if dot and number.isdigit() and base in columns[: columns.index(header)]:
            return base
        return header

    def _header_name(self, header: str) -> str:
        """A header as written, with the column letter a spreadsheet shows: ``体温 (E)``."""
        position = list(self.table.frame.columns).index(header)
        written = self._as_written(header)
        if position < len(self.table.positions):
            return f"{written} ({column_letters(self.table.positions[position] + 1)})"
        return written

    def written(self, column: str) -> pd.Series:
        """A canonical column as written (all None when the file lacks it)."""
        if column in self.raw:
            return self.raw[column]
        return pd.Series(np.full(len(self.index), None, dtype=object), index=self.index)

    def get(self, column: str) -> pd.Series:
        """A canonical column's text, stripped; None for empty cells. Ids typed in full
        width (００１) are read as ASCII, on rosters and logs alike."""
        if column not in self._clean:
            if column == "person_id":
                (ids,) = self.parse(column, lambda v: (v and unicodedata.normalize("NFKC", v),), 1)
                self._clean[column] = pd.Series(ids, index=self.index, dtype=object)
            else:
                (text,) = self.parse(column, lambda v: (v,), 1)
                self._clean[column] = pd.Series(text, index=self.index, dtype=object)
        return self._clean[column]

    def parse(self, column: str, parse: Callable[[str | None], tuple], width: int) -> list:
        """``parse`` of each distinct cell of a column (see :func:`cells.per_unique`)."""
        codes, table = cells.parse_unique(self.written(column), parse, width)
        self._parsed[column] = codes, table
        items = []
        for results in table.T:  # flags as bool arrays, the rest as object arrays
            if all(type(value) is bool for value in results):
                results = results.astype(bool)
            items.append(results[codes])
        return items

    def missing(self, column: str, item: int = 0) -> np.ndarray:
        """Where item ``item`` of the column's latest :meth:`parse` is None (found on its
        distinct results, not on every row)."""
        codes, table = self._parsed[column]
        return pd.isna(table[:, item])[codes]

    def equals(self, column: str, item: int, value: Any) -> np.ndarray:
        """Where item ``item`` of the column's latest :meth:`parse` is ``value`` (compared
        on its distinct results, not on every row)."""
        codes, table = self._parsed[column]
        return (table[:, item] == value)[codes]  # code -1, an empty cell: the last row

    def categorical(self, column: str, item: int = 0) -> pd.Categorical:
        """Item ``item`` of the column's latest :meth:`parse` as a categorical, for rows
        (see :func:`_frame`), without hashing every row's value again."""
        codes, table = self._parsed[column]
        return cells.categorical(codes, table[:, item])

    def quarantine(self, mask: Any, reason: Reason, column: str, values: Any = None) -> None:
        """Quarantine the rows of ``mask`` not quarantined already (the first reason wins)."""
        new = np.asarray(mask, dtype=bool) & self.alive
        if not new.any():
            return
        self.alive &= ~new
        self.q_reason[new] = reason
        self.q_column[new] = column
        if values is not None:
            self.q_value[new] = np.asarray(values, dtype=object)[new]

    def finding(self, mask: Any, reason: Reason, column: str, values: Any = None) -> None:
        """Record a finding on each row of ``mask``; the value defaults to the cell as written."""
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            values = self.written(column) if values is None else values
            self.findings.append(
                pd.DataFrame(
                    {
                        "row": self.index[mask],
                        "column": column,
                        "value": np.asarray(values, dtype=object)[mask],
                        "reason": reason,
                    }
                )
            )

    def _schools(self) -> pd.Series:
        if "school_id" not in self.raw:
            if self.default_school is None:
                raise IngestError(
                    self.path,
                    "cannot tell which school: no school column, no --school, "
                    "and no folder named after a school id",
                )
            return pd.Series(self.default_school, index=self.index, dtype=object)
        resolve = self.config.resolve_school
        resolved, empty = self.parse(
            "school_id",
            lambda v: (self.default_school, True) if v is None else (resolve(v), False),
            2,
        )
        unknown = pd.isna(resolved)
        self.quarantine(unknown & empty.astype(bool), Reason.MISSING_SCHOOL, "school_id")
        self.quarantine(unknown, Reason.UNKNOWN_SCHOOL, "school_id", self.written("school_id"))
        if self.default_school is None:  # a district's export: each row names its school
            return pd.Series(resolved, index=self.index, dtype=object)
        # a school's own file: a row naming another school is never written (it would
        # overwrite that school's data), and every issue of the file is this school's
        other = ~unknown & (resolved != self.default_school)
        self.quarantine(other, Reason.WRONG_SCHOOL, "school_id", self.written("school_id"))
        return pd.Series(self.default_school, index=self.index, dtype=object)

    def parse_dates(self) -> pd.Series:
        """ISO dates of the date column; a file without one takes the date of its title."""
        if "date" in self.raw:
            iso, bad = self.parse("date", cells.parse_date, 2)
            bad = bad.astype(bool)
            self.quarantine(self.missing("date") & ~bad, Reason.MISSING_DATE, "date")
            self.quarantine(bad, Reason.BAD_DATE, "date", self.written("date"))
            self.dates = pd.Series(iso, index=self.index, dtype=object)
            return self.dates
        found = cells.dates_in([*self.table.title, self.path.name])
        if len(found) != 1:
            raise IngestError(
                self.path,
                "no date column (日期), and no single date with a year in the title rows "
                "or the file name",
            )
        self.dates = pd.Series(found.pop(), index=self.index, dtype=object)
        return self.dates

    def temperature(self) -> np.ndarray:
        valid, fahrenheit = self.rules.valid_celsius, self.rules.fahrenheit_range
        celsius, _ = self.parse(
            "temperature", lambda v: cells.parse_temperature(v, valid, fahrenheit), 2
        )
        for code in (
            Reason.BAD_TEMPERATURE,
            Reason.IMPOSSIBLE_TEMPERATURE,
            Reason.FAHRENHEIT_CONVERTED,
        ):
            self.finding(self.equals("temperature", 1, code), code, "temperature")
        return celsius.astype(float)

    def timestamps(self, column: str, day: pd.Series | None = None) -> pd.Series:
        """Naive local times of a column (a time of day takes ``day``); unreadable
        ones are NaT with a finding."""
        stamps, bad = cells.parse_timestamps(
            self.written(column), self.config.zone, self.school_id, day
        )
        self.finding(bad, Reason.BAD_TIMESTAMP, column)
        return stamps

    def yes_no(self, column: str) -> np.ndarray:
        yes, bad = self.parse(column, cells.parse_yes_no, 2)
        self.finding(bad.astype(bool), Reason.BAD_YES_NO, column)
        return yes.astype(bool)

    def word(
        self, column: str, words: dict[str, str], default: str, reason: Reason | None
    ) -> np.ndarray:
        value, bad = self.parse(column, lambda v: cells.parse_word(v, words, default), 2)
        if reason is not None:
            self.finding(bad.astype(bool), reason, column)
        return value

    def dedupe(self, rows: pd.DataFrame, keys: list[str], order: str | None = None) -> None:
        """Quarantine all but the last row of each key (by ``order``, then file order)."""
        alive = rows if self.alive.all() else rows.loc[self.alive]
        repeated = alive[alive.duplicated(keys, keep=False)]
        if repeated.empty:
            return
        if order is not None:
            repeated = repeated.sort_values(order, kind="stable", na_position="first")
        losers = repeated.index[repeated.duplicated(keys, keep="last")]
        column = "person_id" if "person_id" in keys else "entered_at"
        self.quarantine(self.index.isin(losers), Reason.DUPLICATE_ROW, column, self.written(column))

    def issue_frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(quarantined rows, findings of kept rows), with school, person and date."""
        context = {
            "school_id": self.school_id.to_numpy(),
            "person_id": self.get("person_id").to_numpy(),
            "date": self.dates.to_numpy(),
        }
        at = np.flatnonzero(~self.alive)
        quarantined = pd.DataFrame(
            {
                "row": self.index[at],
                "column": self.q_column[at],
                "value": self.q_value[at],
                "reason": self.q_reason[at],
                **{name: values[at] for name, values in context.items()},
            }
        )
        raw = self.table.frame.iloc[at]
        quarantined["raw"] = [
            json.dumps(dict(zip(raw.columns, _nulls(r), strict=True)), ensure_ascii=False)
            for r in raw.itertuples(index=False)
        ]
        # file-level issues are shown with the file's school (if one) and latest day
        schools = pd.unique(context["school_id"][pd.notna(context["school_id"])])
        dates = context["date"][pd.notna(context["date"])]
        file_school = schools[0] if len(schools) == 1 else self.default_school
        file_date = dates.max() if len(dates) else None
        if self.table.bad_lines:
            lines = self.table.bad_lines
            bad = pd.DataFrame(
                {
                    "row": [number for number, _ in lines],
                    "column": "line",
                    "value": [text for _, text in lines],
                    "reason": Reason.BAD_ENCODING,
                    "school_id": file_school,
                    "person_id": None,
                    "date": file_date,
                    "raw": [json.dumps({"line": text}, ensure_ascii=False) for _, text in lines],
                }
            )
            quarantined = pd.concat([quarantined, bad], ignore_index=True)
        columns = ["row", "column", "value", "reason"]
        if not self.findings:
            return quarantined, pd.DataFrame(columns=[*columns, *context], dtype=object)
        findings = pd.concat(self.findings, ignore_index=True)[columns]
        pos = self.index.get_indexer(findings["row"])  # -1: the header row
        header = (findings["row"] == self.table.header_row).to_numpy()
        on_kept = (pos >= 0) & self.alive[pos]
        keep = on_kept | header
        findings, pos, header = findings[keep], pos[keep], header[keep]
        for name, values in context.items():  # None where the row is the header
            findings[name] = np.append(values.astype(object), None)[pos]
        if header.any():
            findings.loc[header, "school_id"] = file_school
            findings.loc[header, "date"] = file_date
        return quarantined, findings


def _frame(index: pd.Index, columns: dict[str, Any]) -> pd.DataFrame:
    """A frame of columns; text columns are categoricals of their distinct values (as
    object, not pandas' str dtype), so that the duplicate check, the row hash and the
    writers work on integer codes rather than hashing the text again."""
    data = {}
    for name, values in columns.items():
        array = values
        if not isinstance(values, pd.Categorical):
            array = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
            if array.dtype.kind == "O":
                array = cells.as_categorical(array)
        data[name] = pd.Series(array, index=index, copy=False)
    return pd.DataFrame(data, index=index)


def _nulls(values: Sequence[Any]) -> list[Any]:
    return [None if not isinstance(v, str) and pd.isna(v) else v for v in values]


def _default_school(school: str | None, path: Path, config: SchoolsConfig) -> str | None:
    """The school of rows without a school column: ``--school``, else a folder's name."""
    if school is not None:
        resolved = config.resolve_school(school)
        if resolved is None:
            raise IngestError(path, "--school is not a school of schools.yaml", value=school)
        return resolved
    for part in reversed(path.parent.parts):
        if part in config.by_id:
            return part
    return None


# --- the three kinds -----------------------------------------------------------------

# columns only a health log has, and only a roster has (ids, names, schools are shared)
_LOG_ONLY = frozenset(schema.LOG_ALIASES.values()) - {"person_id", "name", "school_id"}
_ROSTER_ONLY = frozenset({"role", "grade", "class"})


def _check_kind(table: Table, kind: Kind, path: Path) -> None:
    """Refuse a health log given as a roster and a roster given as a health log, naming
    the command that fits: a roster ingest of a log would blank every grade and class."""
    if kind == "entries":
        return
    found: dict[str, list[str]] = {"roster": [], "logs": []}
    for header in table.frame.columns:
        if schema.match_header(header, schema.LOG_ALIASES) in _LOG_ONLY:
            found["logs"].append(header)
        if schema.match_header(header, schema.ROSTER_ALIASES) in _ROSTER_ONLY:
            found["roster"].append(header)
    other: Kind = "logs" if kind == "roster" else "roster"
    if found[other] and not found[kind]:
        what = {"roster": "a roster", "logs": "a health log"}
        missing = "role, grade or class" if kind == "roster" else "date, temperature or symptom"
        raise RefusedFileError(
            path,
            f"looks like {what[other]}, not {what[kind]}: it has columns "
            f"{'、'.join(found[other])} and no {missing} column; "
            f"ingest it with `reportkit ingest {other} {path}`",
        )


def _prepare_roster(batch: _Batch, conn: sa.Connection) -> None:
    """A roster file states what it has columns for: a column it lacks keeps the stored
    value of people already on the roster (new people get the default)."""
    person_id = batch.get("person_id")
    batch.quarantine(person_id.isna(), Reason.MISSING_PERSON_ID, "person_id")
    values: dict[str, Any] = {
        "name": batch.get("name").to_numpy(),
        "role": batch.word("role", schema.ROLE_WORDS, schema.Role.STUDENT, Reason.BAD_ROLE),
        "grade": batch.get("grade").to_numpy(),
        "class": batch.get("class").to_numpy(),
        "status": batch.word(
            "status", schema.STATUS_WORDS, schema.Status.ACTIVE, Reason.BAD_STATUS
        ),
    }
    absent = [column for column in values if column not in batch.raw]
    if absent:
        stored = _stored_people(conn, batch.school_id, person_id, absent)
        for column in absent:
            found = stored["_found"].to_numpy()
            values[column] = np.where(found, stored[column].to_numpy(), values[column])
    batch.quarantine(pd.isna(values["name"]), Reason.MISSING_NAME, "name")
    rows = _frame(batch.index, {"school_id": batch.school_id, "person_id": person_id, **values})
    batch.dedupe(rows, ["school_id", "person_id"])
    batch.rows = rows if batch.alive.all() else rows.loc[batch.alive]


def _stored_people(
    conn: sa.Connection, schools: pd.Series, person_id: pd.Series, columns: list[str]
) -> pd.DataFrame:
    """The stored ``columns`` of each row's person, and ``_found`` (on the roster)."""
    ids = [s for s in pd.unique(schools) if isinstance(s, str)]
    people = store.people
    stored = query_frame(
        conn.execute(
            sa.select(
                people.c.school_id, people.c.person_id, *(people.c[c] for c in columns)
            ).where(people.c.school_id.in_(ids))
        ),
        ["school_id", "person_id", *columns],
    )
    stored["_found"] = True
    keys = pd.DataFrame(
        {"school_id": schools.to_numpy(dtype=object), "person_id": person_id.to_numpy(dtype=object)}
    )
    merged = keys.merge(stored, how="left", on=["school_id", "person_id"], validate="many_to_one")
    merged["_found"] = merged["_found"].astype(object).fillna(False).astype(bool)
    return merged


def _prepare_logs(batch: _Batch, conn: sa.Connection) -> None:
    batch.get("person_id")
    batch.quarantine(batch.missing("person_id"), Reason.MISSING_PERSON_ID, "person_id")
    dates = batch.parse_dates()
    # the parses whose values go into rows as they are, as categoricals (see _frame)
    batch.get("name")
    batch.word("session", schema.SESSION_WORDS, schema.Session.MORNING, Reason.BAD_SESSION)
    terms = _terms(batch.rules)
    *_, unknown = batch.parse("symptoms", lambda v: cells.parse_symptoms(v, terms), 3)
    batch.finding(~batch.missing("symptoms", 2), Reason.UNKNOWN_SYMPTOM, "symptoms", unknown)
    absent, reason_hint = _absences(batch)
    key_area, _ = batch.parse("key_area_14d", cells.parse_place, 2)
    rows = _frame(
        batch.index,
        {
            "school_id": (
                batch.categorical("school_id")
                if "school_id" in batch.raw and batch.default_school is None
                else batch.school_id
            ),
            "person_id": batch.categorical("person_id"),
            "date": batch.categorical("date") if "date" in batch.raw else dates,
            "session": batch.categorical("session"),
            "name": batch.categorical("name"),
            "temperature": batch.temperature(),
            "symptoms": batch.categorical("symptoms", 0),
            "symptoms_other": batch.categorical("symptoms", 1),
            "absent": absent,
            "absence_reason": reason_hint,
            "key_area": key_area.astype(bool),
            "key_area_place": batch.categorical("key_area_14d", 1),
            "contact": batch.yes_no("contact_14d"),
            "reported_at": batch.timestamps("reported_at", dates),
        },
    )
    _check_roster(batch, conn, rows)
    batch.dedupe(rows, ["school_id", "person_id", "date", "session"], order="reported_at")
    batch.rows = rows if batch.alive.all() else rows.loc[batch.alive]


def _terms(rules: Rules) -> dict[str, str]:
    return {normalize_word(term): code for term, code in rules.symptom_terms().items()}


def _absences(batch: _Batch) -> tuple[np.ndarray, np.ndarray]:
    """(absent, reason): an absence cell may hold a reason word (病假); a reason implies absent."""

    def absent(text: str | None) -> tuple[bool, bool, str | None, bool]:
        """(absent, bad, reason written in the cell, the cell is empty)"""
        reason = None if text is None else schema.ABSENCE_WORDS.get(normalize_word(text))
        if reason is not None:
            return True, False, str(reason), False
        return (*cells.parse_yes_no(text), None, text is None)

    def reason(text: str | None) -> tuple[str | None, bool]:
        if text is None:
            return None, False
        return cells.parse_word(text, schema.ABSENCE_WORDS, schema.AbsenceReason.OTHER)

    is_absent, bad, hint, blank = batch.parse("absent", absent, 4)
    no_hint = batch.missing("absent", 2)
    batch.finding(bad.astype(bool), Reason.BAD_YES_NO, "absent")
    why, why_bad = batch.parse("absence_reason", reason, 2)
    batch.finding(why_bad.astype(bool), Reason.BAD_ABSENCE_REASON, "absence_reason")
    no_why = batch.missing("absence_reason")
    why = np.where(no_why, hint, why)
    is_absent = is_absent.astype(bool) | (blank.astype(bool) & ~(no_why & no_hint))
    return is_absent, why


def _check_roster(batch: _Batch, conn: sa.Connection, rows: pd.DataFrame) -> None:
    """Quarantine people not on their school's roster; note names that differ from it."""
    schools = [s for s in pd.unique(rows["school_id"][batch.alive]) if isinstance(s, str)]
    if not schools:
        return
    people = query_frame(
        conn.execute(
            sa.select(
                store.people.c.school_id, store.people.c.person_id, store.people.c.name
            ).where(store.people.c.school_id.in_(schools))
        ),
        ["school_id", "person_id", "name"],
    )
    missing = sorted(set(schools) - set(people["school_id"]))
    if missing:
        raise IngestError(
            batch.path, f"no roster for school {', '.join(missing)}: ingest the roster first"
        )
    on_roster = np.zeros(len(rows), dtype=bool)
    mismatch = np.zeros(len(rows), dtype=bool)
    school_of, person, name = rows["school_id"].cat, rows["person_id"].cat, rows["name"].cat
    school_codes, person_codes = school_of.codes.to_numpy(), person.codes.to_numpy()
    for school, roster in people.groupby("school_id"):
        at_school = np.flatnonzero(school_codes == school_of.categories.get_loc(school))
        # each distinct id looked up once; code -1 (no id) takes the appended -1
        pos = np.append(pd.Index(roster["person_id"]).get_indexer(person.categories), -1)
        pos = pos[person_codes[at_school]]
        found = pos >= 0
        on_roster[at_school] = found
        # names as written against the roster's, on codes (-1: not a name written);
        # those that differ compared again without spaces and full-width forms
        at, pos = at_school[found], pos[found]
        listed = roster["name"].to_numpy()
        listed_code = name.categories.get_indexer(listed)
        written = name.codes.to_numpy()[at]
        differs = (written >= 0) & pd.notna(listed)[pos] & (written != listed_code[pos])
        for i in np.flatnonzero(differs):
            as_written = name.categories[written[i]]
            mismatch[at[i]] = normalize_word(as_written) != normalize_word(listed[pos[i]])
    batch.quarantine(~on_roster, Reason.UNKNOWN_PERSON, "person_id", batch.written("person_id"))
    batch.finding(mismatch, Reason.NAME_MISMATCH, "name")


def _prepare_entries(batch: _Batch) -> None:
    # the day of entry times written as a time of day: a date column, else the title's
    (day,) = batch.parse("date", lambda v: (cells.parse_date(v)[0],), 1)
    if "date" not in batch.raw:
        found = cells.dates_in([*batch.table.title, batch.path.name])
        day[:] = found.pop() if len(found) == 1 else None
    day = pd.Series(day, index=batch.index, dtype=object)
    written = batch.written("entered_at")
    batch.quarantine(batch.get("entered_at").isna(), Reason.MISSING_ENTRY_TIME, "entered_at")
    stamps, bad = cells.parse_timestamps(written, batch.config.zone, batch.school_id, day)
    batch.quarantine(bad, Reason.BAD_ENTRY_TIME, "entered_at", written)
    name = batch.get("name")
    batch.quarantine(name.isna(), Reason.MISSING_NAME, "name")
    batch.dates = pd.Series(
        np.datetime_as_string(stamps.to_numpy(), unit="D"), index=batch.index, dtype=object
    )
    batch.dates[stamps.isna()] = None
    phone = batch.get("phone")
    (id_number,) = batch.parse(
        "id_number", lambda v: (None if v is None else normalize_word(v).upper(),), 1
    )
    (contact,) = cells.per_unique(phone, lambda v: (re.sub(r"\D", "", v or ""),), 1)
    contact = np.where(contact == "", np.where(pd.isna(id_number), "", id_number), contact)
    (who,) = cells.per_unique(name, lambda v: (normalize_word(v),), 1)
    stamp_text = np.datetime_as_string(stamps.to_numpy(), unit="s")
    keys = batch.school_id.fillna("").to_numpy() + "|" + stamp_text + "|" + who + "|" + contact
    entry_id = [hashlib.sha1(k.encode()).hexdigest()[:16] for k in keys]
    rows = _frame(
        batch.index,
        {
            "entry_id": entry_id,
            "school_id": batch.school_id,
            "date": batch.dates,
            "entered_at": stamps,
            "name": name,
            "kind": batch.word("kind", schema.ENTRY_KIND_WORDS, schema.EntryKind.OTHER, None),
            "phone": phone,
            "id_number": id_number,
            "purpose": batch.get("purpose"),
            "temperature": batch.temperature(),
            "approved_by": batch.get("approved_by"),
            "left_at": batch.timestamps("left_at", batch.dates),
        },
    )
    batch.dedupe(rows, ["entry_id"])
    batch.rows = rows if batch.alive.all() else rows.loc[batch.alive]


# --- writing ---------------------------------------------------------------------------

_TARGETS: dict[str, tuple[sa.Table, list[str]]] = {
    "roster": (store.people, ["school_id", "person_id"]),
    "logs": (store.checkins, ["school_id", "person_id", "date", "session"]),
    "entries": (store.entries, ["entry_id"]),
}


def _write(conn: sa.Connection, batch: _Batch, report: FileReport) -> None:
    table, keys = _TARGETS[batch.kind]
    constants = {"source_file": str(batch.path), "updated_at": store.utcnow()}
    status = write_rows(conn, table, keys, batch.rows, constants)
    report.inserted = int((status == "inserted").sum())
    report.updated = int((status == "updated").sum())
    report.unchanged = int((status == "unchanged").sum())
    quarantined, findings = batch.issue_frames()
    report.quarantined = len(quarantined)
    report.findings = len(findings)
    write_issues(
        conn,
        quarantined,
        findings,
        sha256=batch.table.sha256,
        file=str(batch.path),
        kind=batch.kind,
    )
