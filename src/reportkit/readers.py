"""Reading the files schools send: encodings, delimiters, sheets, headers, cell values.

A school's export is a CSV (UTF-8, UTF-8 with BOM, GBK or GB18030; comma, tab or
semicolon), an XLSX or a legacy XLS, often with a merged title row or a
"填表人" line above the header. :func:`read_table` finds the header among the
first rows by the aliases of :mod:`reportkit.schema` and returns every cell as
text, indexed by the row number a spreadsheet shows, so that quarantined rows
can be found again in the file. The ``parse_*`` functions read one cell each
(a date, a temperature, a symptom list ...) and return what it means and
whether it was bad; :func:`per_unique` runs them once per distinct cell text
and broadcasts the results, which keeps :mod:`reportkit.ingest` vectorised.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import charset_normalizer
import numpy as np
import pandas as pd

from reportkit.errors import IngestError, RefusedFileError
from reportkit.schema import (
    NO_SYMPTOM_WORDS,
    NO_WORDS,
    SURVEY_PLACEHOLDERS,
    SYMPTOM_SEPARATORS,
    YES_WORDS,
    normalize_word,
)
from reportkit.sheets import (
    HEADER_SCAN_ROWS,
    XLS_MAGIC,
    XLSX_MAGIC,
    Kind,
    SheetReader,
    find_header,
    kind_aliases,
    limit_text,
)

if TYPE_CHECKING:
    from reportkit.config import IngestLimits

__all__ = [
    "HEADER_SCAN_ROWS",
    "TABLE_SUFFIXES",
    "Kind",
    "Table",
    "as_categorical",
    "categorical",
    "clean",
    "dates_in",
    "detect_encoding",
    "expand_paths",
    "find_header",
    "is_time_only",
    "kind_aliases",
    "parse_date",
    "parse_place",
    "parse_symptoms",
    "parse_temperature",
    "parse_timestamp",
    "parse_timestamps",
    "parse_unique",
    "parse_word",
    "parse_yes_no",
    "per_unique",
    "read_bytes",
    "read_table",
    "read_table_bytes",
]

TABLE_SUFFIXES = frozenset({".csv", ".txt", ".xlsx", ".xlsm", ".xls"})
_DELIMITERS = (",", "\t", ";")


@dataclass
class Table:
    """One file read as text: original headers, every cell a str or NaN."""

    frame: pd.DataFrame  # index: the 1-based row number a spreadsheet shows
    encoding: str | None  # None for Excel
    header_row: int  # 1-based
    sha256: str
    sheet: str | None = None
    title: list[str] = field(default_factory=list)  # text of the rows above the header
    # lines below the header that the file's encoding cannot decode: (line number, text
    # decoded with replacement characters); their cells are not in ``frame``
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    # the 0-based column of the file each column of ``frame`` comes from (0 is A)
    positions: list[int] = field(default_factory=list)


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Files as given, and the table files under folders (recursive, sorted).

    In folders, ``~$`` lock files of Excel/WPS and hidden files or folders are
    skipped. A path that does not exist is kept, so that reading it fails with
    a message naming it.
    """
    out: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            out.append(path)
            continue
        found = []
        for file in path.rglob("*"):
            rel = file.relative_to(path).parts
            if (
                file.is_file()
                and file.suffix.lower() in TABLE_SUFFIXES
                and not file.name.startswith("~$")
                and not any(part.startswith(".") for part in rel)
            ):
                found.append(file)
        out.extend(sorted(found))
    return list(dict.fromkeys(out))


def detect_encoding(data: bytes, name: object = "<bytes>") -> str:
    """The text encoding of a CSV's bytes: utf-8(-sig), gbk, gb18030, utf-16 or a guess.

    Strict decoding decides the common cases. Bytes that no single encoding decodes
    whole but one of them decodes line by line (a file pasted together from a UTF-8
    and a GBK export) get that encoding (see :func:`_line_encoding`); the lines it
    cannot decode are quarantined by :func:`read_table_bytes`. ``charset_normalizer``
    is asked only about anything else. Binary content raises :class:`IngestError`.
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text" export
    binary = b"\x00" in data[:8192]  # NUL bytes mean binary content, even if they decode
    for encoding in ("utf-8", "gbk", "gb18030"):
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if binary:
            break
        return encoding
    if not binary and (by_line := _line_encoding(data)) is not None:
        return by_line
    best = charset_normalizer.from_bytes(data[: 1 << 20]).best()
    if best is None or (binary and not best.encoding.startswith("utf_16")):
        raise RefusedFileError(name, "not a table: binary content, neither text nor a spreadsheet")
    return best.encoding


def _line_encoding(data: bytes) -> str | None:
    """The encoding of text whose lines are in UTF-8 and GBK (or GB18030), or None.

    A line of GBK text is almost never valid UTF-8, while UTF-8 text often decodes as
    (garbled) GBK: so a line valid in UTF-8 counts for UTF-8, and one valid only in a
    legacy encoding for it; the one with the most lines wins, if it decodes at least
    half of the lines that are not plain ASCII."""
    counts = {"utf-8": 0, "gbk": 0, "gb18030": 0}
    lines = 0
    for line in data.split(b"\n"):
        if line.isascii():
            continue
        lines += 1
        for encoding in counts:
            try:
                line.decode(encoding)
            except UnicodeDecodeError:
                continue
            counts[encoding] += 1
            break  # UTF-8 first; GBK before its superset GB18030
    best = max(counts, key=counts.__getitem__)  # the first of equals: UTF-8, then GBK
    if best == "gbk":
        counts["gbk"] += counts.pop("gb18030")  # lines GBK decodes, GB18030 does too
    return best if lines and counts[best] * 2 >= lines else None


def _without_bad_lines(
    data: bytes, encoding: str, after: int
) -> tuple[bytes, list[tuple[int, str]]]:
    """``data`` with the lines below line ``after`` (0-based) that ``encoding`` cannot
    decode made empty, and those lines: (1-based number, text with replacements)."""
    lines = data.split(b"\n")
    bad: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if line.isascii():
            continue
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            lines[i] = b""
            if i > after:
                text = line.rstrip(b"\r").decode(encoding, errors="replace")
                bad.append((i + 1, text[:200]))
    return b"\n".join(lines), bad


def read_table(
    path: Path,
    kind: Kind | None = None,
    *,
    limits: IngestLimits | None = None,
    sheets: SheetReader | None = None,
) -> tuple[pd.DataFrame, str | None, int]:
    """All cells as str (NaN for empty), the detected encoding (None for Excel), and the
    1-based file row number of the header.

    The frame's columns are the file's headers (made unique); its index is the
    row number a spreadsheet shows for each data row. ``kind`` narrows header
    detection to that kind's aliases (default: any kind's). Columns are object
    columns, or categoricals of the same values (object categories) for large
    UTF-8 CSV files (see :func:`_parse_csv_arrow`). A file past ``limits`` (default
    :class:`~reportkit.config.IngestLimits`) raises :class:`RefusedFileError`;
    spreadsheets are parsed by ``sheets`` (default: a reader for this file alone).
    """
    path = Path(path)
    limits = limits or _default_limits()
    data = read_bytes(path, limits)
    table = read_table_bytes(data, path, kind, limits=limits, sheets=sheets)
    return table.frame, table.encoding, table.header_row


def read_bytes(path: Path, limits: IngestLimits) -> bytes:
    """A file's bytes, unless it is larger than ``limits.max_file_mb``."""
    try:
        size = path.stat().st_size
        if size > limits.max_file_mb * (1 << 20):
            raise RefusedFileError(
                path,
                f"the file is {size / (1 << 20):,.0f} MB; "
                + limit_text("max_file_mb", limits.max_file_mb),
                limit="max_file_mb",
            )
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(path, f"cannot read file: {exc.strerror or exc}") from None


def _default_limits() -> IngestLimits:
    from reportkit.config import IngestLimits

    return IngestLimits()


def read_table_bytes(
    data: bytes,
    name: object,
    kind: Kind | None = None,
    sha256: str | None = None,
    *,
    limits: IngestLimits | None = None,
    sheets: SheetReader | None = None,
) -> Table:
    """:func:`read_table` on bytes already read; ``name`` is used in messages."""
    aliases, required = kind_aliases(kind)
    limits = limits or _default_limits()
    sha256 = sha256 or hashlib.sha256(data).hexdigest()
    if not data[:65536].strip() and not data.strip():
        raise RefusedFileError(name, "empty file")
    if len(data) > limits.max_file_mb * (1 << 20):
        raise RefusedFileError(
            name,
            f"the file is {len(data) / (1 << 20):,.0f} MB; "
            + limit_text("max_file_mb", limits.max_file_mb),
            limit="max_file_mb",
        )
    if data.startswith((XLSX_MAGIC, XLS_MAGIC)):
        if sheets is not None:
            return _read_excel(data, name, kind, sha256, sheets)
        with SheetReader(limits) as reader:
            return _read_excel(data, name, kind, sha256, reader)
    return _read_csv(data, name, aliases, required, sha256, limits)


def _no_header(name: object, aliases: dict[str, str], required: frozenset[str]) -> IngestError:
    examples = sorted({a for a, c in aliases.items() if c in required and not a.isascii()})[:4]
    return RefusedFileError(
        name,
        f"not a table of this kind: no header row in the first {HEADER_SCAN_ROWS} rows "
        f"naming at least two known columns, one of them {'/'.join(sorted(required))} "
        f"(e.g. {', '.join(examples)})",
    )


def _read_csv(
    data: bytes,
    name: object,
    aliases: dict[str, str],
    required: frozenset[str],
    sha256: str,
    limits: IngestLimits,
) -> Table:
    # the first MiB decides; a file whose later bytes disagree is read again
    sample = data if len(data) <= 1 << 20 else data[: data.rfind(b"\n", 0, 1 << 20) + 1]
    encoding = detect_encoding(sample or data, name)
    head = data[: 1 << 16].decode(encoding, errors="ignore").replace("\r\n", "\n")
    lines = head.split("\n")[:HEADER_SCAN_ROWS]
    best: tuple[int, int, str] | None = None  # (matched, -index, delimiter)
    for delimiter in _DELIMITERS:
        found = find_header(list(csv.reader(lines, delimiter=delimiter)), aliases, required)
        if found and (best is None or (found[1], -found[0]) > best[:2]):
            best = (found[1], -found[0], delimiter)
    if best is None:
        raise _no_header(name, aliases, required)
    index, delimiter = -best[1], best[2]
    title = [line.replace(delimiter, " ").strip() for line in lines[:index]]
    width = len(next(csv.reader(lines[index : index + 1], delimiter=delimiter)))
    if width > limits.max_columns:
        raise _too_wide(name, width, limits)
    newlines, longest = _line_stats(data) if len(data) > limits.max_cell_chars else (0, 0)
    nrows = limits.max_rows + 1 if newlines > limits.max_rows + index + 1 else None
    bad_lines: list[tuple[int, str]] = []
    try:
        try:
            grid = _parse_csv(data, encoding, delimiter, index, width, nrows)
        except UnicodeDecodeError:
            encoding = detect_encoding(data, name)
            if encoding not in ("utf-8", "gbk", "gb18030"):
                grid = _parse_csv(data, encoding, delimiter, index, width, nrows)
            else:  # some lines are not in the file's encoding: read the others
                data, bad_lines = _without_bad_lines(data, encoding, index)
                grid = _parse_csv(data, encoding, delimiter, index, width, nrows)
    except pd.errors.ParserError:  # rows wider than the header
        grid = _read_ragged_csv(data, encoding, delimiter, index, limits, name)
    except (UnicodeError, ValueError, pd.errors.EmptyDataError) as exc:
        raise RefusedFileError(name, f"not a table: {exc}") from None
    if len(grid) - 1 > limits.max_rows:
        raise RefusedFileError(
            name,
            f"more than {limits.max_rows:,} rows below the header; "
            + limit_text("max_rows", limits.max_rows),
            limit="max_rows",
        )
    if grid.shape[1] > limits.max_columns:
        raise _too_wide(name, grid.shape[1], limits)
    frame, positions = _frame_below_header(grid, index + 1)
    if longest > limits.max_cell_chars or encoding == "utf-16":
        _check_cells(frame, name, limits)
    table = Table(frame, _encoding_name(encoding), index + 1, sha256, None, title)
    table.bad_lines, table.positions = bad_lines, positions
    return table


def _too_wide(name: object, width: int, limits: IngestLimits) -> RefusedFileError:
    return RefusedFileError(
        name,
        f"rows of {width:,} columns; " + limit_text("max_columns", limits.max_columns),
        limit="max_columns",
    )


def _line_stats(data: bytes) -> tuple[int, int]:
    """(line breaks, bytes in the longest line) of text, in chunks (about 30 ms for 80 MB).
    No cell holds more characters than its line has bytes (in UTF-8, GBK, GB18030)."""
    breaks = longest = 0
    previous = -1
    step = 1 << 22
    for start in range(0, len(data), step):
        chunk = np.frombuffer(data, np.uint8, count=min(step, len(data) - start), offset=start)
        at = np.flatnonzero(chunk == 10)
        if len(at):
            longest = max(longest, int(at[0]) + start - previous - 1)
            if len(at) > 1:
                longest = max(longest, int(np.diff(at).max()) - 1)
            previous = int(at[-1]) + start
            breaks += len(at)
    return breaks, max(longest, len(data) - previous - 1)


def _check_cells(frame: pd.DataFrame, name: object, limits: IngestLimits) -> None:
    """Refuse a table with a cell longer than ``limits.max_cell_chars``."""
    for column in frame.columns:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            lengths = pd.Series(values.cat.categories, dtype=object).str.len()
            if not (lengths > limits.max_cell_chars).any():
                continue
        lengths = values.astype(object).str.len()
        over = lengths > limits.max_cell_chars
        if over.any():
            row = over.idxmax()
            raise RefusedFileError(
                name,
                f"row {row}, column {column!r}: a cell of {int(lengths[row]):,} characters; "
                + limit_text("max_cell_chars", limits.max_cell_chars),
                limit="max_cell_chars",
            )


def _parse_csv(
    data: bytes, encoding: str, delimiter: str, skip: int, width: int, nrows: int | None = None
) -> pd.DataFrame:
    """The cells from line ``skip`` on (the header row, ``width`` cells wide, first), as
    text, NaN for empty; at most ``nrows`` rows below the header, if given.

    A large UTF-8 file is read by pyarrow when it can (see :func:`_parse_csv_arrow`);
    anything else, and a file pyarrow refuses, by pandas' C parser."""
    if encoding in ("utf-8", "utf-8-sig") and len(data) >= _ARROW_MIN_BYTES and nrows is None:
        grid = _parse_csv_arrow(data, delimiter, skip, width)
        if grid is not None:
            return grid
    return pd.read_csv(
        io.BytesIO(data),
        sep=delimiter,
        header=None,
        skiprows=skip,
        nrows=None if nrows is None else nrows + 1,
        dtype=object,
        keep_default_na=False,
        na_values=[""],
        skip_blank_lines=False,
        encoding=encoding,
        engine="c",
    )


# Below this size pandas reads a file faster: pyarrow's threads and the categoricals
# cost a few milliseconds a file (3-8 ms more for a school's 700 rows), more than it
# saves per row (at 1,000,000 rows it saves 0.5-1.2 s of 6-7 s, measured A/B).
_ARROW_MIN_BYTES = 8 << 20


def _parse_csv_arrow(data: bytes, delimiter: str, skip: int, width: int) -> pd.DataFrame | None:
    """:func:`_parse_csv` of a UTF-8 file by pyarrow's CSV reader (in threads), each column
    a categorical of its distinct texts (kept as object, not pandas' str dtype), so that
    each distinct text becomes a Python str once. None where pyarrow would read the file
    otherwise than pandas: rows narrower or wider than the header, a header of another
    width than ``width``, bytes that are not UTF-8. As in pandas, a blank line is a row
    of empty cells (row numbers stay the file's), and quoted cells may hold the
    delimiter and line breaks."""
    import pyarrow as pa
    from pyarrow import csv as pa_csv

    source = pa.py_buffer(data)
    if data.startswith(codecs.BOM_UTF8):
        source = source.slice(len(codecs.BOM_UTF8))
    text = pa.dictionary(pa.int32(), pa.string())  # each distinct text once per block
    try:
        table = pa_csv.read_csv(
            source,
            read_options=pa_csv.ReadOptions(skip_rows=skip, autogenerate_column_names=True),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={f"f{i}": text for i in range(width)},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_columns != width or any(c.type != text for c in table.columns):
        return None
    columns = {}
    for i, column in enumerate(table.unify_dictionaries().columns):
        encoded = column.combine_chunks()
        codes = encoded.indices.fill_null(-1).to_numpy()
        categories = pd.Index(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=object)
        columns[i] = pd.Categorical.from_codes(codes, categories=categories, validate=False)
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))


def _read_ragged_csv(
    data: bytes,
    encoding: str,
    delimiter: str,
    skip: int,
    limits: IngestLimits,
    name: object,
) -> pd.DataFrame:
    """The cells of a file with rows wider than its header; a row wider than
    ``limits.max_columns`` refuses the file before it is kept."""
    text = data.decode(encoding, errors="replace")
    rows = []
    for i, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter)):
        if len(row) > limits.max_columns:
            raise _too_wide(name, len(row), limits)
        if i >= skip:
            rows.append(row)
    width = max(map(len, rows), default=0)
    grid = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=object)
    return grid.replace("", np.nan)


def _encoding_name(encoding: str) -> str:
    return {"utf_8": "utf-8", "utf_16": "utf-16"}.get(encoding, encoding)


def _read_excel(
    data: bytes, name: object, kind: Kind | None, sha256: str, sheets: SheetReader
) -> Table:
    """A workbook's table, read by ``sheets`` (under its limits, in its child process)."""
    found = sheets.read(data, name, kind)
    if found is None:
        raise _no_header(name, *kind_aliases(kind))
    grid = pd.DataFrame(
        {j: column[found.header_index :] for j, column in enumerate(found.columns)}, dtype=object
    )
    frame, positions = _frame_below_header(grid, found.header_index + 1)
    table = Table(frame, None, found.header_index + 1, sha256, found.sheet, found.title)
    table.positions = positions
    return table


def _frame_below_header(grid: pd.DataFrame, header_row: int) -> tuple[pd.DataFrame, list[int]]:
    """Header row -> column names (unique), rows below -> data indexed by row number;
    and the position in ``grid`` of each column kept."""
    header = [grid.iat[0, i] for i in range(grid.shape[1])]  # not a row: mixed dtypes
    body = grid.iloc[1:]
    body.index = pd.RangeIndex(header_row + 1, header_row + 1 + len(body))
    keep = []
    names: list[str] = []
    seen: dict[str, int] = {}
    for pos, cell in enumerate(header):
        text = str(cell).strip() if isinstance(cell, str) else ""
        if not text:
            if body.iloc[:, pos].isna().all():
                continue  # an empty column beside the table
            text = f"Unnamed: {pos}"
        count = seen.get(text, 0)
        seen[text] = count + 1
        names.append(text if count == 0 else f"{text}.{count}")
        keep.append(pos)
    frame = body.iloc[:, keep]
    if any(dtype.kind != "O" for dtype in frame.dtypes):
        frame = frame.astype(object)
    frame.columns = names
    if frame.empty or len(keep) == 0:
        return frame, keep
    # blank rows (between blocks, at the end): only rows with an empty first cell can be
    maybe = np.flatnonzero(pd.isna(frame.iloc[:, 0].to_numpy()))
    blank = maybe[frame.iloc[maybe].isna().all(axis=1).to_numpy()]
    return (frame.drop(index=frame.index[blank]) if len(blank) else frame), keep


# --- cell values ---------------------------------------------------------------
# Each parser takes one distinct cell text (None when empty) and returns a tuple;
# :func:`per_unique` runs it once per distinct text and broadcasts the results.

# whitespace (also full-width) and the zero-width marks WeChat copies carry
_BLANKS = " \t\r\n\x0b\x0c\xa0\u3000\u200b\u200c\u200d\u2060\ufeff"


def clean(value: Any) -> str | None:
    """A cell stripped of spaces (also full-width) and zero-width marks; empty, or a survey
    tool's placeholder for an unanswered question (``(空)``), -> None."""
    if isinstance(value, str):
        text = value.strip(_BLANKS)
        return None if not text or text in SURVEY_PLACEHOLDERS else text
    return None if value is None or pd.isna(value) else str(value)


def per_unique(values: pd.Series, parse: Callable[[Any], tuple], width: int) -> list[np.ndarray]:
    """``parse`` applied to each distinct value once; one object array per tuple item.

    ``parse`` gets the value :func:`clean`-ed: stripped text, or None when empty.
    """
    codes, table = parse_unique(values, parse, width)
    picked = table[codes]
    return [picked[:, k] for k in range(width)]


def parse_unique(
    values: pd.Series, parse: Callable[[Any], tuple], width: int
) -> tuple[np.ndarray, np.ndarray]:
    """(codes, table): ``parse`` of each distinct value once, a row of ``table`` each;
    row ``i``'s results are ``table[codes[i]]`` (code -1, an empty cell: the last row)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    results = [parse(clean(v)) for v in uniques.tolist()]
    results.append(parse(None))  # code -1: missing
    table = np.empty((len(results), width), dtype=object)
    table[:] = results
    return codes, table


def as_categorical(values: np.ndarray) -> pd.Categorical:
    """``values`` as a categorical of their distinct non-null values, kept as object
    (pandas would infer its str dtype)."""
    codes, uniques = pd.factorize(values)
    categories = pd.Index(uniques, dtype=object)
    return pd.Categorical.from_codes(codes, categories=categories, validate=False)


def categorical(codes: np.ndarray, results: np.ndarray) -> pd.Categorical:
    """The column ``results[codes]`` as :func:`as_categorical` would give it, computed
    on the few ``results`` rather than on every row."""
    few = as_categorical(results)
    return pd.Categorical.from_codes(few.codes[codes], dtype=few.dtype, validate=False)


_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:(?:\s+|t)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")
_EXCEL_EPOCH = datetime(1899, 12, 30)
_TITLE_DATE = re.compile(
    r"(?<!\d)(?:(20\d{2})\s*[-/.年_]\s*(\d{1,2})\s*[-/.月_]\s*(\d{1,2})|(20\d{6}))(?!\d)"
)


def parse_date(text: str | None) -> tuple[str | None, bool]:
    """(ISO date, bad) of a date cell: 2020-02-10, 2020/2/10, 2020.2.10, 2020年2月10日,
    20200210, an Excel serial, or any of them followed by a time."""
    if text is None:
        return None, False
    s = _squash(text)
    m = _DATE.match(s) or _COMPACT_DATE.match(s)
    try:
        if m:
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat(), False
        if _SERIAL.match(s):
            day = _EXCEL_EPOCH + timedelta(days=float(s))
            if 1990 <= day.year <= 2100:
                return day.date().isoformat(), False
    except ValueError:
        pass
    return None, True


def dates_in(texts: Sequence[str]) -> set[str]:
    """ISO dates written anywhere in texts (titles, file names), with a year."""
    found = set()
    for text in texts:
        for m in _TITLE_DATE.finditer(unicodedata.normalize("NFKC", text)):
            y, mo, d = (m[4][:4], m[4][4:6], m[4][6:]) if m[4] else (m[1], m[2], m[3])
            try:
                found.add(date(int(y), int(mo), int(d)).isoformat())
            except ValueError:
                continue
    return found


def _squash(text: str) -> str:
    """NFKC, lower case, trimmed; inner spaces collapsed to one."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


_TEMPERATURE = re.compile(r"^([+-]?\d+(?:[.,]\d+)?)(°c|°|度|摄氏度|c|°f|f)?$")


def parse_temperature(
    text: str | None, valid: tuple[float, float], fahrenheit: tuple[float, float]
) -> tuple[float, str | None]:
    """(°C or NaN, reason code of the finding or None) of a temperature cell."""
    if text is None:
        return np.nan, None
    m = _TEMPERATURE.match(normalize_word(text))
    if not m:
        return np.nan, "bad_temperature"
    value = float(m[1].replace(",", "."))
    reason = None
    if m[2] in ("°f", "f") or fahrenheit[0] <= value <= fahrenheit[1]:
        value = round((value - 32) * 5 / 9, 1)
        reason = "fahrenheit_converted"
    if not valid[0] <= value <= valid[1]:
        return np.nan, "impossible_temperature"
    return value, reason


_PUNCT = re.compile(r"[\s,，、;；:：.。!！()（）\[\]【】\-—/]+")


def parse_yes_no(text: str | None) -> tuple[bool, bool]:
    """(yes, bad) of a yes/no cell; a leading yes/no word decides ``是（武汉）``."""
    if text is None:
        return False, False
    word = normalize_word(text)
    if word in YES_WORDS:
        return True, False
    if word in NO_WORDS:
        return False, False
    first = next((t for t in _PUNCT.split(word) if t), "")
    if first in YES_WORDS:
        return True, False
    if first in NO_WORDS:
        return False, False
    return False, True


def parse_place(text: str | None) -> tuple[bool, str | None]:
    """(been to a key area, the place) of a 14-day travel cell: 否 / 是 / 是，武汉 / 湖北武汉.

    Any text that is not a no-word counts as yes: a place written is an exposure.
    """
    if text is None:
        return False, None
    yes, bad = parse_yes_no(text)
    if not yes and not bad:
        return False, None
    place = _LEADING_YES.sub("", text.strip()).rstrip(_PUNCT_CHARS)
    return True, place or None


_PUNCT_CHARS = " \t\u3000,，、;；:：.。!！()（）[]【】-—/"
_LEADING_YES = re.compile(r"^(?:是|有|到过)?[\s,，、;；:：.。!！()（）\[\]【】\-—/]*")


def parse_symptoms(text: str | None, terms: dict[str, str]) -> tuple[str, str, str | None]:
    """(codes sorted and comma-joined, unknown terms as written joined by 、, finding value)."""
    if text is None:
        return "", "", None
    codes: set[str] = set()
    other: list[str] = []
    for token in SYMPTOM_SEPARATORS.split(text):
        word = normalize_word(token)
        if word in NO_SYMPTOM_WORDS:
            continue
        code = terms.get(word)
        if code is None:
            other.append(token.strip())
        else:
            codes.add(code)
    joined = "、".join(dict.fromkeys(other))
    return ",".join(sorted(codes)), joined, joined or None


def parse_word(text: str | None, words: dict[str, str], default: str) -> tuple[str, bool]:
    """(vocabulary value, bad) of an enumerated cell; empty and unknown give ``default``."""
    if text is None:
        return default, False
    value = words.get(normalize_word(text))
    return (default, True) if value is None else (str(value), False)


_TS_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M")
_TIMESTAMP = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*[t\s]?\s*"
    r"(\d{1,2})\s*[:时点]\s*(\d{1,2})\s*(?:[:分]\s*(\d{1,2})(\.\d+)?\s*秒?)?\s*分?$"
)
_TIME_ONLY = re.compile(r"^\d{1,2}:\d{2}(?::\d{2})?$")


def parse_timestamp(text: str | None) -> tuple[datetime | None, bool, bool]:
    """(naive datetime, has a UTC offset so the datetime is UTC, bad) of a timestamp cell."""
    if text is None:
        return None, False, False
    s = _squash(text)
    if not s:
        return None, False, False
    m = _TIMESTAMP.match(s)
    try:
        if m:
            second = int(m[6] or 0)
            micro = round(float(m[7]) * 1e6) if m[7] else 0
            return (
                datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), second, micro),
                False,
                False,
            )
        if _SERIAL.match(s):
            stamp = _EXCEL_EPOCH + timedelta(days=float(s))
            return (
                stamp.replace(microsecond=0) + timedelta(seconds=round(stamp.microsecond / 1e6)),
                False,
                False,
            )
        if "t" in s or ":" in s:
            stamp = datetime.fromisoformat(s.upper())
            if stamp.tzinfo is not None:
                return stamp.astimezone(UTC).replace(tzinfo=None), True, False
            return stamp, False, False
    except ValueError:
        pass
    return None, False, True


def is_time_only(text: str | None) -> bool:
    return text is not None and bool(_TIME_ONLY.match(text))


def parse_timestamps(
    values: pd.Series,
    zone_of: Callable[[str | None], tzinfo],
    schools: pd.Series,
    day: pd.Series | None = None,
) -> tuple[pd.Series, np.ndarray]:
    """(naive local datetime64 column, bad mask) of a timestamp column.

    The common export formats go through pandas' vectorised parser; the rest
    (Chinese dates, Excel serials, ISO with an offset) once per distinct value.
    Times with an offset are converted to the school's zone; a time of day
    alone (``17:20``) takes the row's ``day`` (ISO dates), if given.
    """
    # the common formats: vectorised, on each distinct text once
    codes, uniques = pd.factorize(values)
    texts = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
    known = np.full(len(texts) + 1, np.datetime64("NaT"), dtype="datetime64[us]")  # -1: NaT
    left = np.ones(len(texts), dtype=bool)
    for fmt in _TS_FORMATS:
        if not left.any():
            break
        parsed = pd.to_datetime(texts[left], format=fmt, errors="coerce")
        ok = parsed.notna().to_numpy()
        known[np.flatnonzero(left)[ok]] = parsed[ok].to_numpy()
        left[np.flatnonzero(left)[ok]] = False
    out = pd.Series(known[codes], index=values.index)
    todo = np.append(left, False)[codes]  # the rest, row by row (a time takes its day)
    bad = np.zeros(len(values), dtype=bool)
    if todo.any():
        rest = values[todo]
        if day is not None:
            (time_only,) = per_unique(rest, lambda v: (is_time_only(v),), 1)
            placed = rest.index[time_only.astype(bool) & day[rest.index].notna().to_numpy()]
            if len(placed):
                rest = rest.astype(object)
                rest[placed] = day[placed] + " " + rest[placed]
        stamps, is_utc, is_bad = per_unique(rest, parse_timestamp, 3)
        local = pd.to_datetime(pd.Series(stamps, index=rest.index, dtype=object)).astype(
            "datetime64[us]"
        )
        is_utc = is_utc.astype(bool)
        if is_utc.any():
            row_schools = schools[rest.index].to_numpy()
            for school in pd.unique(row_schools[is_utc]):
                rows = rest.index[is_utc & (row_schools == school)]
                zone = zone_of(None if pd.isna(school) else school)
                local[rows] = (
                    local[rows].dt.tz_localize("UTC").dt.tz_convert(zone).dt.tz_localize(None)
                )
        out[rest.index] = local
        bad[np.flatnonzero(todo)] = is_bad.astype(bool)
    return out, bad
