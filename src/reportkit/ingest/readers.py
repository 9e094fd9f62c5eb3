"""Reading the files schools send: encodings, delimiters, sheets, headers, under limits.

A school's export is a CSV (UTF-8, UTF-8 with BOM, GBK or GB18030; comma, tab or
semicolon), an XLSX or a legacy XLS, often with a merged title row or a
"填表人" line above the header. :func:`read_table` finds the header among the
first rows by the aliases of :mod:`reportkit.schema` and returns every cell as
text, indexed by the row number a spreadsheet shows, so that quarantined rows
can be found again in the file. A file past :class:`~reportkit.config.IngestLimits`
(size, rows, columns, cell length) is refused; spreadsheets are checked and read
by :mod:`reportkit.ingest.sheets`. Lines a CSV's encoding cannot decode are set aside
(:attr:`Table.bad_lines`) and the rest read. The cell parsers live in
:mod:`reportkit.ingest.cells` and are importable from here too.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import charset_normalizer
import numpy as np
import pandas as pd

from reportkit.errors import IngestError
from reportkit.i18n import ingest_error
from reportkit.ingest.routing import TABLE_SUFFIXES
from reportkit.ingest.sheets import (
    HEADER_SCAN_ROWS,
    XLS_MAGIC,
    XLSX_MAGIC,
    Kind,
    SheetReader,
    find_header,
    kind_aliases,
)

if TYPE_CHECKING:
    from reportkit.config import IngestLimits

__all__ = [
    "Table",
    "detect_encoding",
    "expand_paths",
    "read_bytes",
    "read_table",
    "read_table_bytes",
]

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

    Strict decoding decides the common cases. Text pasted together from exports in
    UTF-8 and in GBK (or GB18030) gets the encoding of most of its lines (see
    :func:`_line_evidence`); :func:`read_table_bytes` then quarantines the other
    lines. ``charset_normalizer`` is asked only about anything else. Binary content
    raises :class:`IngestError`.
    """
    return _detect(data, name)[0]


def _detect(data: bytes, name: object) -> tuple[str, bool]:
    """(encoding, whether its lines must be decoded one by one) of text bytes."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", False
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", False  # Excel's "Unicode text" export
    binary = b"\x00" in data[:8192]  # NUL bytes mean binary content, even if they decode
    if not binary:
        # UTF-8 text with Chinese in it practically never decodes as GBK (not one of
        # 5,000 demo log lines does), so a file that does decode whole is in one
        for encoding in ("utf-8", "gbk", "gb18030"):
            if _decodes(data, encoding):
                return encoding, False
        lines, utf8, gbk, gb18030 = _line_evidence(data)
        legacy = gbk + gb18030  # lines valid in a legacy encoding and not in UTF-8
        if max(utf8, legacy) * 2 >= lines > 0:  # pasted from two exports, or a few bad lines
            return ("utf-8" if utf8 >= legacy else "gb18030" if gb18030 else "gbk"), True
    best = charset_normalizer.from_bytes(data[: 1 << 20]).best()
    if best is None or (binary and not best.encoding.startswith("utf_16")):
        raise ingest_error(name, "binary")
    return best.encoding, False


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _line_evidence(data: bytes) -> tuple[int, int, int, int]:
    """(lines not plain ASCII, of them valid UTF-8, valid GBK only, valid GB18030 only).

    A line of GBK text is almost never valid UTF-8, while UTF-8 text often decodes
    as (garbled) GBK: so a line valid in UTF-8 counts as UTF-8, and only one that is
    not counts for a legacy encoding."""
    counts = {"utf-8": 0, "gbk": 0, "gb18030": 0}
    lines = 0
    for line in data.split(b"\n"):
        if line.isascii():
            continue
        lines += 1
        for encoding in counts:  # UTF-8 first; GBK before its superset GB18030
            if _decodes(line, encoding):
                counts[encoding] += 1
                break
    return lines, counts["utf-8"], counts["gbk"], counts["gb18030"]


def _without_bad_lines(
    data: bytes, encoding: str, after: int
) -> tuple[bytes, list[tuple[int, str]]]:
    """``data`` with the lines below line ``after`` (0-based) that are not in ``encoding``
    made empty, and those lines: (1-based number, their text). A line ``encoding``
    cannot decode is not in it; in a GBK file, neither is a line valid in UTF-8 (it
    would read as garbled GBK)."""
    legacy = encoding != "utf-8"
    lines = data.split(b"\n")
    bad: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if line.isascii():
            continue
        in_utf8 = _decodes(line, "utf-8")
        if (legacy and not in_utf8 and _decodes(line, encoding)) or (not legacy and in_utf8):
            continue
        lines[i] = b""
        if i > after:
            text = line.rstrip(b"\r").decode("utf-8" if in_utf8 else encoding, errors="replace")
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
            raise ingest_error(
                path,
                "file_too_big",
                mb=f"{size / (1 << 20):,.0f}",
                limit="max_file_mb",
                limit_value=limits.max_file_mb,
            )
        return path.read_bytes()
    except OSError as exc:
        raise ingest_error(path, "cannot_read", refused=False, detail=exc.strerror or exc) from None


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
        raise ingest_error(name, "empty_file")
    if len(data) > limits.max_file_mb * (1 << 20):
        raise ingest_error(
            name,
            "file_too_big",
            mb=f"{len(data) / (1 << 20):,.0f}",
            limit="max_file_mb",
            limit_value=limits.max_file_mb,
        )
    if data.startswith((XLSX_MAGIC, XLS_MAGIC)):
        if sheets is not None:
            return _read_excel(data, name, kind, sha256, sheets)
        with SheetReader(limits) as reader:
            return _read_excel(data, name, kind, sha256, reader)
    return _read_csv(data, name, aliases, required, sha256, limits)


def _no_header(name: object, aliases: dict[str, str], required: frozenset[str]) -> IngestError:
    examples = sorted({a for a, c in aliases.items() if c in required and not a.isascii()})[:4]
    return ingest_error(
        name,
        "no_header",
        rows=HEADER_SCAN_ROWS,
        required="/".join(sorted(required)),
        examples="、".join(examples),
        examples_en=", ".join(examples),
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
    encoding, by_line = _detect(sample or data, name)
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
    if by_line:  # some lines are not in the file's encoding: read the others
        data, bad_lines = _without_bad_lines(data, encoding, index)
    try:
        try:
            grid = _parse_csv(data, encoding, delimiter, index, width, nrows)
        except UnicodeDecodeError:  # the first MiB said otherwise than the rest
            encoding, by_line = _detect(data, name)
            if by_line:
                data, bad_lines = _without_bad_lines(data, encoding, index)
            grid = _parse_csv(data, encoding, delimiter, index, width, nrows)
    except pd.errors.ParserError:  # rows wider than the header
        grid = _read_ragged_csv(data, encoding, delimiter, index, limits, name)
    except (UnicodeError, ValueError, pd.errors.EmptyDataError) as exc:
        raise ingest_error(name, "not_a_table", detail=exc) from None
    if len(grid) - 1 > limits.max_rows:
        raise ingest_error(
            name,
            "too_many_rows",
            max=limits.max_rows,
            limit="max_rows",
            limit_value=limits.max_rows,
        )
    if grid.shape[1] > limits.max_columns:
        raise _too_wide(name, grid.shape[1], limits)
    frame, positions = _frame_below_header(grid, index + 1)
    if longest > limits.max_cell_chars or encoding == "utf-16":
        _check_cells(frame, name, limits)
    table = Table(frame, _encoding_name(encoding), index + 1, sha256, None, title)
    table.bad_lines, table.positions = bad_lines, positions
    return table


def _too_wide(name: object, width: int, limits: IngestLimits) -> IngestError:
    return ingest_error(
        name, "too_many_columns", width=width, limit="max_columns", limit_value=limits.max_columns
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
            at = int(over.to_numpy().argmax())  # the first cell over the limit
            raise ingest_error(
                name,
                "cell_too_long",
                row=str(over.index[at]),
                column=column,
                column_repr=repr(column),
                n=int(lengths.iloc[at]),
                limit="max_cell_chars",
                limit_value=limits.max_cell_chars,
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
    start = found.header_index
    grid = pd.DataFrame(  # NaN for empty, as in a CSV's frame
        {
            j: [np.nan if v is None else v for v in col[start:]]
            for j, col in enumerate(found.columns)
        },
        dtype=object,
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
