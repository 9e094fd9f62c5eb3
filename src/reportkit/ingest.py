"""Ingestion: schools' rosters, health logs and gate registers into the store.

:func:`ingest_paths` reads each file (:mod:`reportkit.readers`), maps its headers
to canonical columns, normalises every value with vectorised pandas (each
distinct cell text is parsed once and the result broadcast), and writes the
store in one transaction per file. Bad input never disappears and never stops
the batch: a row that cannot be used goes to ``quarantine`` with its file, row
number, column, value and reason; a bad field is nulled and recorded in
``data_quality``; a file that cannot be read at all is reported with an error
while the other files are still ingested. Re-ingesting a file changes nothing;
a corrected row replaces the older one with the same key.

Decisions where the data contract is silent:

- an empty session means morning; an unknown session word keeps the row as
  morning with a ``bad_session`` finding (quarantining the row would lose it);
- an unknown absence reason becomes ``other`` with a ``bad_absence_reason``
  finding holding the text, so the text is not lost; an absence column holding
  a reason word (病假) means absent with that reason;
- several unknown symptom terms in one cell make one ``unknown_symptom``
  finding whose value joins them (findings are unique per row, column, reason);
- a log without a date column takes a single date written in its title rows or
  file name (``XX小学2020年2月10日晨检登记表``), else the file is refused;
- a log for a school that has no roster yet is refused (not quarantined) so
  it can be ingested again once the roster is in;
- ``column`` of quarantine and findings is the canonical column name; ``raw``
  keeps the original headers.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reportkit import store
from reportkit.config import Rules, SchoolsConfig
from reportkit.errors import IngestError
from reportkit.readers import (
    Kind,
    Table,
    clean_text,
    dates_in,
    expand_paths,
    is_time_only,
    kind_aliases,
    parse_date,
    parse_place,
    parse_symptoms,
    parse_temperature,
    parse_timestamps,
    parse_word,
    parse_yes_no,
    per_unique,
    read_table,
    read_table_bytes,
)
from reportkit.schema import (
    ABSENCE_WORDS,
    ENTRY_KIND_WORDS,
    IGNORED_HEADERS,
    ROLE_WORDS,
    SESSION_WORDS,
    STATUS_WORDS,
    AbsenceReason,
    EntryKind,
    Reason,
    Role,
    Session,
    Status,
    match_header,
    normalize_header,
    normalize_word,
)

__all__ = ["FileReport", "IngestReport", "Kind", "expand_paths", "ingest_paths", "read_table"]

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

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "encoding": self.encoding}
        out.update({name: getattr(self, name) for name in _COUNTS})
        if self.error is not None:
            out["error"] = self.error
        if self.already_ingested:
            out["already_ingested"] = True
        return out


@dataclass
class IngestReport:
    """What happened to every file of one :func:`ingest_paths` call."""

    kind: Kind
    files: list[FileReport] = field(default_factory=list)

    def _total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    @property
    def rows_read(self) -> int:
        return self._total("rows_read")

    @property
    def inserted(self) -> int:
        return self._total("inserted")

    @property
    def updated(self) -> int:
        return self._total("updated")

    @property
    def unchanged(self) -> int:
        return self._total("unchanged")

    @property
    def quarantined(self) -> int:
        return self._total("quarantined")

    @property
    def findings(self) -> int:
        return self._total("findings")

    @property
    def failed(self) -> list[FileReport]:
        """The files that could not be read at all."""
        return [f for f in self.files if f.error is not None]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "files": [f.to_json() for f in self.files]}
        out.update({name: self._total(name) for name in _COUNTS})
        return out


def ingest_paths(
    engine: Engine,
    paths: Sequence[Path],
    kind: Kind,
    config: SchoolsConfig,
    rules: Rules | None = None,
    school: str | None = None,
    *,
    force: bool = False,
) -> IngestReport:
    """Ingest files and folders of one kind; one transaction per file.

    ``school`` (an id or name) is the school of rows without a school column;
    without it, a folder named after a school id is. ``force`` re-ingests files
    already ingested (their earlier quarantine and findings are replaced).
    A file that cannot be read is reported in :attr:`FileReport.error`.
    """
    kind_aliases(kind)  # a programming error, not a bad file
    rules = rules or Rules()
    report = IngestReport(kind=kind)
    for path in expand_paths(paths):
        try:
            report.files.append(_ingest_file(engine, path, kind, config, rules, school, force))
        except IngestError as exc:
            report.files.append(FileReport(path=str(path), encoding=None, error=str(exc)))
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
) -> FileReport:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(path, f"cannot read file: {exc.strerror or exc}") from None
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
        table = read_table_bytes(data, path, kind)
        batch = _Batch(table, path, kind, config, rules, school)
        if kind == "roster":
            _prepare_roster(batch)
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
        report = FileReport(path=str(path), encoding=table.encoding, rows_read=len(table.frame))
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


_MESSAGES: dict[Reason, tuple[str, str]] = {
    Reason.MISSING_PERSON_ID: ("第{row}行没有学号", "row {row} has no person id"),
    Reason.MISSING_DATE: ("第{row}行没有日期", "row {row} has no date"),
    Reason.BAD_DATE: ("第{row}行日期无法识别：{value}", "row {row}: cannot read date {value}"),
    Reason.UNKNOWN_PERSON: (
        "第{row}行学号{value}不在花名册中",
        "row {row}: person id {value} is not on the school's roster",
    ),
    Reason.UNKNOWN_SCHOOL: ("第{row}行学校无法识别：{value}", "row {row}: unknown school {value}"),
    Reason.MISSING_SCHOOL: ("第{row}行没有学校", "row {row} has no school"),
    Reason.MISSING_NAME: ("第{row}行没有姓名", "row {row} has no name"),
    Reason.DUPLICATE_ROW: (
        "第{row}行与同一文件中较后的一行重复，已采用后者",
        "row {row} is repeated later in the file; the later row was kept",
    ),
    Reason.MISSING_ENTRY_TIME: ("第{row}行没有进校时间", "row {row} has no entry time"),
    Reason.BAD_ENTRY_TIME: (
        "第{row}行进校时间无法识别：{value}",
        "row {row}: cannot read entry time {value}",
    ),
    Reason.BAD_TEMPERATURE: (
        "第{row}行体温无法识别：{value}",
        "row {row}: cannot read temperature {value}",
    ),
    Reason.IMPOSSIBLE_TEMPERATURE: (
        "第{row}行体温不可能：{value}",
        "row {row}: impossible temperature {value}",
    ),
    Reason.FAHRENHEIT_CONVERTED: (
        "第{row}行体温{value}按华氏度换算为摄氏度",
        "row {row}: temperature {value} read as Fahrenheit and converted",
    ),
    Reason.UNKNOWN_SYMPTOM: (
        "第{row}行症状无法识别：{value}",
        "row {row}: unknown symptom {value}, kept as written",
    ),
    Reason.BAD_SESSION: (
        "第{row}行时段无法识别：{value}，按晨检处理",
        "row {row}: unknown session {value}, taken as morning",
    ),
    Reason.BAD_YES_NO: (
        "第{row}行{column}应为是/否：{value}，按否处理",
        "row {row}: {column} should be yes/no, got {value}; taken as no",
    ),
    Reason.BAD_TIMESTAMP: ("第{row}行时间无法识别：{value}", "row {row}: cannot read time {value}"),
    Reason.BAD_ROLE: (
        "第{row}行身份无法识别：{value}，按学生处理",
        "row {row}: unknown role {value}, taken as student",
    ),
    Reason.BAD_STATUS: (
        "第{row}行状态无法识别：{value}，按在校处理",
        "row {row}: unknown status {value}, taken as active",
    ),
    Reason.BAD_ABSENCE_REASON: (
        "第{row}行缺勤原因无法归类：{value}，按其他处理",
        "row {row}: absence reason {value} taken as other",
    ),
    Reason.NAME_MISMATCH: (
        "第{row}行姓名与花名册不符：{value}",
        "row {row}: name {value} differs from the roster",
    ),
    Reason.UNKNOWN_COLUMNS: ("未识别的列：{value}", "unknown columns: {value}"),
}


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
        unknown: list[str] = []
        aliases, _ = kind_aliases(kind)
        for header in table.frame.columns:
            canonical = match_header(header, aliases)
            if canonical is not None and canonical not in self.raw:
                self.raw[canonical] = table.frame[header]
            elif normalize_header(header) not in IGNORED_HEADERS:
                unknown.append(header)
        if unknown:  # once per file, on the header row
            self.findings.append(
                pd.DataFrame(
                    {
                        "row": [table.header_row],
                        "column": ["header"],
                        "value": ["、".join(unknown)],
                        "reason": [Reason.UNKNOWN_COLUMNS],
                    }
                )
            )
        self.default_school = _default_school(school, path, config)
        self.school_id = self._schools()

    def written(self, column: str) -> pd.Series:
        """A canonical column as written (all None when the file lacks it)."""
        if column in self.raw:
            return self.raw[column]
        return pd.Series(np.full(len(self.index), None, dtype=object), index=self.index)

    def get(self, column: str) -> pd.Series:
        """A canonical column's text, stripped; None for empty cells."""
        if column not in self._clean:
            self._clean[column] = clean_text(self.written(column))
        return self._clean[column]

    def parse(self, column: str, parse: Callable[[str | None], tuple], width: int) -> list:
        return per_unique(self.written(column), parse, width)

    def quarantine(self, mask: Any, reason: Reason, column: str, values: Any = None) -> None:
        """Quarantine the rows of ``mask`` not quarantined already (the first reason wins)."""
        new = np.asarray(mask, dtype=bool) & self.alive
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
        return pd.Series(resolved, index=self.index, dtype=object)

    def parse_dates(self) -> pd.Series:
        """ISO dates of the date column; a file without one takes the date of its title."""
        if "date" in self.raw:
            iso, bad = self.parse("date", parse_date, 2)
            bad = bad.astype(bool)
            self.quarantine(pd.isna(iso) & ~bad, Reason.MISSING_DATE, "date")
            self.quarantine(bad, Reason.BAD_DATE, "date", self.written("date"))
            self.dates = pd.Series(iso, index=self.index, dtype=object)
            return self.dates
        found = dates_in([*self.table.title, self.path.name])
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
        celsius, reason = self.parse(
            "temperature", lambda v: parse_temperature(v, valid, fahrenheit), 2
        )
        for code in (
            Reason.BAD_TEMPERATURE,
            Reason.IMPOSSIBLE_TEMPERATURE,
            Reason.FAHRENHEIT_CONVERTED,
        ):
            self.finding(reason == code, code, "temperature")
        return celsius.astype(float)

    def timestamps(self, column: str, values: pd.Series | None = None) -> pd.Series:
        """Naive local times of a column; unreadable ones are NaT with a finding."""
        values = self.written(column) if values is None else values
        stamps, bad = parse_timestamps(values, self.config.zone, self.school_id)
        self.finding(bad, Reason.BAD_TIMESTAMP, column)
        return stamps

    def yes_no(self, column: str) -> np.ndarray:
        yes, bad = self.parse(column, parse_yes_no, 2)
        self.finding(bad.astype(bool), Reason.BAD_YES_NO, column)
        return yes.astype(bool)

    def word(
        self, column: str, words: dict[str, str], default: str, reason: Reason | None
    ) -> np.ndarray:
        value, bad = self.parse(column, lambda v: parse_word(v, words, default), 2)
        if reason is not None:
            self.finding(bad.astype(bool), reason, column)
        return value

    def dedupe(self, rows: pd.DataFrame, keys: list[str], order: str | None = None) -> None:
        """Quarantine all but the last row of each key (by ``order``, then file order)."""
        alive = rows.loc[self.alive]
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
        context = pd.DataFrame(
            {
                "school_id": self.school_id.to_numpy(),
                "person_id": self.get("person_id").to_numpy(),
                "date": self.dates.to_numpy(),
            },
            index=self.index,
        )
        mask = ~self.alive
        quarantined = pd.DataFrame(
            {
                "row": self.index[mask],
                "column": self.q_column[mask],
                "value": self.q_value[mask],
                "reason": self.q_reason[mask],
            }
        ).join(context, on="row")
        raw = self.table.frame.loc[mask]
        quarantined["raw"] = [
            json.dumps(dict(zip(raw.columns, _nulls(r), strict=True)), ensure_ascii=False)
            for r in raw.itertuples(index=False)
        ]
        findings = pd.concat(
            [pd.DataFrame(columns=["row", "column", "value", "reason"]), *self.findings],
            ignore_index=True,
        )
        header = (findings["row"] == self.table.header_row).to_numpy()
        on_kept = findings["row"].isin(self.index[self.alive]).to_numpy()
        findings = findings[on_kept | header].join(context, on="row")
        header = (findings["row"] == self.table.header_row).to_numpy()
        if header.any():  # a file-level finding is shown with the file's latest day
            schools = context["school_id"].dropna().unique()
            dates = context["date"].dropna()
            findings.loc[header, "school_id"] = schools[0] if len(schools) == 1 else None
            findings.loc[header, "date"] = dates.max() if len(dates) else None
        return quarantined, findings


def _frame(index: pd.Index, columns: dict[str, Any]) -> pd.DataFrame:
    """A frame of columns; text stays object dtype (pandas would infer its str dtype)."""
    data = {}
    for name, values in columns.items():
        array = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
        data[name] = pd.Series(array, index=index, dtype=array.dtype, copy=False)
    return pd.DataFrame(data, index=index)


def _records(result: sa.CursorResult, columns: list[str]) -> pd.DataFrame:
    rows = [tuple(r) for r in result]
    return pd.DataFrame(
        {c: np.array([r[i] for r in rows], dtype=object) for i, c in enumerate(columns)},
        dtype=object,
    )


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


def _prepare_roster(batch: _Batch) -> None:
    person_id, name = batch.get("person_id"), batch.get("name")
    batch.quarantine(person_id.isna(), Reason.MISSING_PERSON_ID, "person_id")
    batch.quarantine(name.isna(), Reason.MISSING_NAME, "name")
    rows = _frame(
        batch.index,
        {
            "school_id": batch.school_id,
            "person_id": person_id,
            "name": name,
            "role": batch.word("role", ROLE_WORDS, Role.STUDENT, Reason.BAD_ROLE),
            "grade": batch.get("grade"),
            "class": batch.get("class"),
            "status": batch.word("status", STATUS_WORDS, Status.ACTIVE, Reason.BAD_STATUS),
        },
    )
    batch.dedupe(rows, ["school_id", "person_id"])
    batch.rows = rows if batch.alive.all() else rows.loc[batch.alive]


def _prepare_logs(batch: _Batch, conn: sa.Connection) -> None:
    person_id = batch.get("person_id")
    batch.quarantine(person_id.isna(), Reason.MISSING_PERSON_ID, "person_id")
    dates = batch.parse_dates()
    session = batch.word("session", SESSION_WORDS, Session.MORNING, Reason.BAD_SESSION)
    terms = _terms(batch.rules)
    symptoms, other, unknown = batch.parse("symptoms", lambda v: parse_symptoms(v, terms), 3)
    batch.finding(pd.notna(unknown), Reason.UNKNOWN_SYMPTOM, "symptoms", unknown)
    absent, reason_hint = _absences(batch)
    key_area, place = batch.parse("key_area_14d", parse_place, 2)
    rows = _frame(
        batch.index,
        {
            "school_id": batch.school_id,
            "person_id": person_id,
            "date": dates,
            "session": session,
            "name": batch.get("name"),
            "temperature": batch.temperature(),
            "symptoms": symptoms,
            "symptoms_other": other,
            "absent": absent,
            "absence_reason": reason_hint,
            "key_area": key_area.astype(bool),
            "key_area_place": place,
            "contact": batch.yes_no("contact_14d"),
            "reported_at": batch.timestamps("reported_at"),
        },
    )
    _check_roster(batch, conn, rows)
    batch.dedupe(rows, ["school_id", "person_id", "date", "session"], order="reported_at")
    batch.rows = rows if batch.alive.all() else rows.loc[batch.alive]


def _terms(rules: Rules) -> dict[str, str]:
    return {normalize_word(term): code for term, code in rules.symptom_terms().items()}


def _absences(batch: _Batch) -> tuple[np.ndarray, np.ndarray]:
    """(absent, reason): an absence cell may hold a reason word (病假); a reason implies absent."""

    def absent(text: str | None) -> tuple[bool, bool, str | None]:
        reason = None if text is None else ABSENCE_WORDS.get(normalize_word(text))
        if reason is not None:
            return True, False, str(reason)
        return (*parse_yes_no(text), None)

    def reason(text: str | None) -> tuple[str | None, bool]:
        if text is None:
            return None, False
        return parse_word(text, ABSENCE_WORDS, AbsenceReason.OTHER)

    is_absent, bad, hint = batch.parse("absent", absent, 3)
    batch.finding(bad.astype(bool), Reason.BAD_YES_NO, "absent")
    why, why_bad = batch.parse("absence_reason", reason, 2)
    batch.finding(why_bad.astype(bool), Reason.BAD_ABSENCE_REASON, "absence_reason")
    why = np.where(pd.isna(why), hint, why)
    is_absent = is_absent.astype(bool) | (batch.get("absent").isna().to_numpy() & pd.notna(why))
    return is_absent, why


def _check_roster(batch: _Batch, conn: sa.Connection, rows: pd.DataFrame) -> None:
    """Quarantine people not on their school's roster; note names that differ from it."""
    schools = [s for s in pd.unique(rows["school_id"][batch.alive]) if isinstance(s, str)]
    if not schools:
        return
    people = _records(
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
    roster_name = np.full(len(rows), None, dtype=object)
    on_roster = np.zeros(len(rows), dtype=bool)
    for school, roster in people.groupby("school_id"):
        at_school = (rows["school_id"] == school).to_numpy()
        pos = pd.Index(roster["person_id"]).get_indexer(rows["person_id"][at_school])
        on_roster[at_school] = pos >= 0
        roster_name[np.flatnonzero(at_school)[pos >= 0]] = roster["name"].to_numpy()[pos[pos >= 0]]
    batch.quarantine(~on_roster, Reason.UNKNOWN_PERSON, "person_id", rows["person_id"])
    (written,) = per_unique(rows["name"], lambda v: (None if v is None else normalize_word(v),), 1)
    (listed,) = per_unique(
        pd.Series(roster_name, dtype=object),
        lambda v: (None if v is None else normalize_word(v),),
        1,
    )
    differs = pd.notna(written) & pd.notna(listed) & (written != listed)
    batch.finding(differs, Reason.NAME_MISMATCH, "name", rows["name"])


def _prepare_entries(batch: _Batch) -> None:
    day = batch.parse_dates() if "date" in batch.raw else batch.dates
    written = batch.get("entered_at")
    batch.quarantine(written.isna(), Reason.MISSING_ENTRY_TIME, "entered_at")
    entered_at = _with_day(written, day)
    stamps, bad = parse_timestamps(entered_at, batch.config.zone, batch.school_id)
    batch.quarantine(bad, Reason.BAD_ENTRY_TIME, "entered_at", batch.written("entered_at"))
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
    (contact,) = per_unique(phone, lambda v: (re.sub(r"\D", "", v or ""),), 1)
    contact = np.where(contact == "", np.where(pd.isna(id_number), "", id_number), contact)
    (who,) = per_unique(name, lambda v: (normalize_word(v),), 1)
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
            "kind": batch.word("kind", ENTRY_KIND_WORDS, EntryKind.OTHER, None),
            "phone": phone,
            "id_number": id_number,
            "purpose": batch.get("purpose"),
            "temperature": batch.temperature(),
            "approved_by": batch.get("approved_by"),
            "left_at": batch.timestamps("left_at", _with_day(batch.get("left_at"), batch.dates)),
        },
    )
    batch.dedupe(rows, ["entry_id"])
    batch.rows = rows if batch.alive.all() else rows.loc[batch.alive]


def _with_day(times: pd.Series, day: pd.Series) -> pd.Series:
    """Times of day (``17:20``) given the row's date; other values as they are."""
    (time_only,) = per_unique(times, lambda v: (is_time_only(v),), 1)
    fill = time_only.astype(bool) & day.notna().to_numpy()
    if not fill.any():
        return times
    out = times.copy()
    out[fill] = day[fill] + " " + times[fill]
    return out


# --- writing ---------------------------------------------------------------------------

_TARGETS: dict[str, tuple[sa.Table, list[str]]] = {
    "roster": (store.people, ["school_id", "person_id"]),
    "logs": (store.checkins, ["school_id", "person_id", "date", "session"]),
    "entries": (store.entries, ["entry_id"]),
}


def _write(conn: sa.Connection, batch: _Batch, report: FileReport) -> None:
    table, keys = _TARGETS[batch.kind]
    rows = batch.rows
    rows["row_hash"] = _row_hash(rows)
    stored = _stored_hashes(conn, table, keys, rows)
    status = np.where(
        pd.isna(stored), "inserted", np.where(stored == rows["row_hash"], "unchanged", "updated")
    )
    report.inserted = int((status == "inserted").sum())
    report.updated = int((status == "updated").sum())
    report.unchanged = int((status == "unchanged").sum())
    changed = rows.loc[status != "unchanged"]
    if "source_row" in table.c:
        changed = changed.assign(source_row=changed.index)
    constants = {"source_file": str(batch.path), "updated_at": store.utcnow()}
    _upsert(conn, table, keys, changed, constants)
    quarantined, findings = batch.issue_frames()
    report.quarantined = len(quarantined)
    report.findings = len(findings)
    now = store.utcnow()
    for issues, frame in ((store.quarantine, quarantined), (store.data_quality, findings)):
        if frame.empty:
            continue
        frame = frame.assign(
            sha256=batch.table.sha256,
            file=str(batch.path),
            kind=batch.kind,
            created_at=now,
            value=[None if v is None or pd.isna(v) else str(v) for v in frame["value"]],
            date=[_iso_date(d) for d in frame["date"]],
        )
        frame["message"] = [_message(r) for r in frame.itertuples()]
        frame["row"] = frame["row"].astype(int)
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        store.insert_ignore(conn, issues, records)


def _iso_date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


def _message(issue: Any) -> str:
    zh, en = _MESSAGES[Reason(issue.reason)]
    value = "" if issue.value is None else issue.value
    fields = {"row": issue.row, "value": value, "column": issue.column}
    return f"{zh.format(**fields)} / {en.format(**fields)}"


def _row_hash(rows: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash (16 hex digits) of a row's canonical values.

    Equal hashes mean nothing changed. Each column is hashed by pandas' SipHash
    with a fixed key (vectorised, the same in every process) and the columns
    are combined in order.
    """
    if rows.empty:
        return np.array([], dtype=object)
    hashed = np.zeros(len(rows), dtype=np.uint64)
    for column in rows.columns:  # boost::hash_combine, as pandas combines columns
        part = pd.util.hash_array(_hashable(rows[column]), hash_key=_HASH_KEY, categorize=True)
        hashed ^= (
            part
            + np.uint64(0x9E3779B97F4A7C15)
            + (hashed << np.uint64(6))
            + (hashed >> np.uint64(2))
        )
    octets = hashed.astype(">u8").view(np.uint8).reshape(-1, 8)
    digits = np.empty((len(hashed), 16), dtype=np.uint8)
    digits[:, 0::2] = _HEX[octets >> 4]
    digits[:, 1::2] = _HEX[octets & 15]
    return digits.view("S16").ravel().astype("U16").astype(object)


_HASH_KEY = "reportkit.row.v1"  # 16 characters, as SipHash needs
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hashable(values: pd.Series) -> np.ndarray:
    """A column in a form whose hash does not depend on dtype details or None vs NaN."""
    array = values.to_numpy()
    if array.dtype.kind == "M":
        return array.astype("datetime64[us]").view("i8")
    if array.dtype.kind in "bfi":
        return array
    return array.astype(object)  # strings; missing values hash alike (categorized)


def _stored_hashes(
    conn: sa.Connection, table: sa.Table, keys: list[str], rows: pd.DataFrame
) -> np.ndarray:
    """The stored row_hash of each row's key (None for new keys), read in one query."""
    if rows.empty:
        return np.array([], dtype=object)
    stmt = sa.select(*(table.c[k] for k in keys), table.c.row_hash).where(
        table.c.school_id.in_(rows["school_id"].unique().tolist())
    )
    if "date" in table.c:
        stmt = stmt.where(
            table.c.date.between(
                date.fromisoformat(rows["date"].min()), date.fromisoformat(rows["date"].max())
            )
        )
    stored = _records(conn.execute(stmt), [*keys, "stored"])
    if stored.empty:
        return np.full(len(rows), None, dtype=object)
    if "date" in stored:
        stored["date"] = stored["date"].map(lambda d: d.isoformat())
    merged = rows[keys].merge(stored, how="left", on=keys, validate="one_to_one")
    return merged["stored"].to_numpy(dtype=object)


def _upsert(
    conn: sa.Connection,
    table: sa.Table,
    keys: list[str],
    rows: pd.DataFrame,
    constants: dict[str, Any],
) -> None:
    """Insert or replace rows by key; a raw ``executemany`` on SQLite, for speed."""
    if rows.empty:
        return
    sqlite = conn.dialect.name == "sqlite"
    names = [*rows.columns, *constants]
    order = slice(None)
    if sqlite:  # in key order: the primary key index is appended to, not scattered over
        order = np.lexsort([pd.factorize(rows[k], sort=True)[0] for k in reversed(keys)])
        constants = {c: _sqlite_datetime(v) for c, v in constants.items()}
    columns: list[Any] = [_db_values(rows[c], c, sqlite)[order] for c in rows.columns]
    columns += [itertools.repeat(value, len(rows)) for value in constants.values()]
    if not sqlite:
        records = [dict(zip(names, r, strict=True)) for r in zip(*columns, strict=True)]
        store.upsert(conn, table, records)
        return
    quoted = {c: f'"{c}"' for c in names}
    sql = (
        f'INSERT INTO "{table.name}" ({", ".join(quoted.values())}) '
        f"VALUES ({', '.join('?' * len(quoted))}) "
        f"ON CONFLICT ({', '.join(quoted[k] for k in keys)}) DO UPDATE SET "
        + ", ".join(f"{q} = excluded.{q}" for c, q in quoted.items() if c not in keys)
    )
    # the driver's own cursor, inside this transaction: takes the rows as an iterator
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.executemany(sql, zip(*columns, strict=True))
    finally:
        cursor.close()


def _sqlite_datetime(value: Any) -> Any:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value


def _db_values(values: pd.Series, column: str, sqlite: bool) -> np.ndarray:
    """A column as the DBAPI wants it: SQLAlchemy's SQLite text formats, or Python objects."""
    array = values.to_numpy()
    if array.dtype.kind == "M":
        if sqlite:  # the text SQLAlchemy's SQLite DateTime writes and reads
            text = np.datetime_as_string(array.astype("datetime64[us]"), unit="us")
            text.view(np.uint32).reshape(len(text), -1)[:, 10] = ord(" ")  # the 'T'
            out = text.astype(object)
        else:
            out = array.astype("datetime64[us]").astype(object)
        out[pd.isna(array)] = None
        return out
    if column == "date" and not sqlite:
        return per_unique(values, lambda v: (_iso_date(v),), 1)[0]
    if array.dtype.kind == "f":
        out = array.astype(object)
        out[np.isnan(array)] = None
        return out
    if array.dtype.kind in "bi":
        return array.astype(object)  # Python bool and int, not numpy scalars
    out = array.astype(object)
    out[pd.isna(out)] = None
    return out
