"""One file's rows on their way to the store: values, quarantine and findings.

A :class:`Batch` holds the table a reader made of one file, maps its headers to
canonical columns (a second header for a column, an unknown header: findings on
the header row), tells each row's school, and gives the per-kind preparation
(:mod:`reportkit.ingest.kinds`) its vocabulary: each column's cells parsed once
per distinct text (:mod:`reportkit.ingest.cells`), rows quarantined with the
first reason that hits them, findings recorded on kept rows. :meth:`Batch.issue_frames`
hands both to the writer with each row's school, person and date.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reportkit import schema
from reportkit.config import Rules, SchoolsConfig
from reportkit.i18n import ingest_error
from reportkit.ingest import cells, readers
from reportkit.ingest.readers import Table
from reportkit.ingest.sheets import Kind, column_letters
from reportkit.schema import Reason, normalize_word

__all__ = [
    "ROW_STRIDE",
    "Batch",
    "combine_tables",
    "default_school",
    "file_day",
    "plain_columns",
    "rows_frame",
]

# rows of files read as one (combine_tables): the index is file number * ROW_STRIDE + row
ROW_STRIDE = 1 << 32

# headers of phone numbers: kept in a gate register (its contact column), dropped from
# the quarantined rows of rosters and health logs
_PHONE_HEADER = re.compile(r"电话|手机|联系方式|phone|mobile|tel", re.IGNORECASE)


class Batch:
    """One file's rows on their way to the store: values, quarantine and findings."""

    def __init__(
        self,
        table: Table,
        path: Path,
        kind: Kind,
        config: SchoolsConfig,
        rules: Rules,
        school: str | None,
        *,
        row_schools: np.ndarray | None = None,
        title_day: str | None = None,
    ) -> None:
        self.table, self.path, self.kind = table, path, kind
        # the rows of several schools' files read as one (see combine_tables): each
        # row's school is its file's, known before the batch (no school column), and
        # the date their titles and names give is the same (``title_day``)
        self._row_schools = row_schools
        self.title_day = title_day if row_schools is not None else file_day(table, path)
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
        # a roster's head teachers per class, when it has the column (see kinds.py)
        self.class_teachers: pd.DataFrame | None = None
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
        self.default_school = (
            None if row_schools is not None else default_school(school, path, config)
        )
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
        (see :func:`rows_frame`), without hashing every row's value again."""
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
        if self._row_schools is not None:
            if "school_id" in self.raw:
                raise ValueError("files read as one must not have a school column")
            return pd.Series(self._row_schools, index=self.index, dtype=object)
        if "school_id" not in self.raw:
            if self.default_school is None:
                raise ingest_error(self.path, "no_school", refused=False)
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
        if self.title_day is None:
            raise ingest_error(self.path, "no_date", refused=False)
        self.dates = pd.Series(self.title_day, index=self.index, dtype=object)
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
        if self.kind != "entries":  # a roster's 班主任电话: no phone number is ever stored
            raw = raw[[c for c in raw.columns if not _PHONE_HEADER.search(str(c))]]
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
        pos = self.index.get_indexer(pd.Index(findings["row"]))  # -1: the header row
        header = (findings["row"] == self.table.header_row).to_numpy()
        on_kept = (pos >= 0) & self.alive[pos]
        keep = on_kept | header
        findings, pos, header = findings[keep], pos[keep], header[keep]
        for name, values in context.items():  # None where the row is the header
            findings[name] = np.append(values.astype(object), np.array([None], dtype=object))[pos]
        if header.any():
            findings.loc[header, "school_id"] = file_school
            findings.loc[header, "date"] = file_date
        return quarantined, findings


@functools.lru_cache(maxsize=256)
def plain_columns(columns: tuple[str, ...], kind: Kind) -> frozenset[str] | None:
    """The canonical columns of headers that map one to one (each known or ignored,
    none twice), else None: such files need no finding on their header row, so that
    several of them can be prepared as one (:func:`combine_tables`)."""
    aliases, _ = readers.kind_aliases(kind)
    seen: set[str] = set()
    for header in columns:
        canonical = schema.match_header(header, aliases)
        if canonical is None:
            if schema.normalize_header(header) in schema.IGNORED_HEADERS:
                continue
            return None
        if canonical in seen:
            return None
        seen.add(canonical)
    return frozenset(seen)


def file_day(table: Table, path: Path) -> str | None:
    """The one date (ISO) a file's title rows and name give, else None: the day of a
    gate register's times written without one."""
    found = cells.dates_in([*table.title, path.name])
    return found.pop() if len(found) == 1 else None


def combine_tables(tables: Sequence[Table]) -> Table:
    """Tables of the same headers as one: row ``r`` of the ``n``-th is labelled
    ``n * ROW_STRIDE + r``. For files read as one batch (one school each, no lines
    the encoding could not decode): their findings and quarantine are split back by
    label (``label // ROW_STRIDE``, ``label % ROW_STRIDE``)."""
    first = tables[0]
    frames = []
    for number, table in enumerate(tables):
        if list(table.frame.columns) != list(first.frame.columns) or table.bad_lines:
            raise ValueError("only tables of the same headers, every line read, combine")
        labels = table.frame.index.to_numpy(dtype=np.int64) + number * ROW_STRIDE
        frames.append(table.frame.set_axis(pd.Index(labels)))
    return Table(
        frame=pd.concat(frames) if len(frames) > 1 else frames[0],
        encoding=first.encoding,
        header_row=first.header_row,
        sha256="",
        positions=list(first.positions),
    )


def rows_frame(index: pd.Index, columns: dict[str, Any]) -> pd.DataFrame:
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


def default_school(school: str | None, path: Path, config: SchoolsConfig) -> str | None:
    """The school of rows without a school column: ``--school``, else a folder's name."""
    if school is not None:
        resolved = config.resolve_school(school)
        if resolved is None:
            raise ingest_error(path, "unknown_school_option", refused=False, value=school)
        return resolved
    for part in reversed(path.parent.parts):
        if part in config.by_id:
            return part
    return None
