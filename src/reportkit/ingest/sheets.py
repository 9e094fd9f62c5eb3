"""Spreadsheets (XLSX, XLS) read under limits, by a native reader in a child process.

A workbook is checked before anything parses it (:func:`check_workbook`). An XLSX
is a zip: the number of its members, their uncompressed sizes and compression
ratios, the size of its shared strings, each sheet's declared dimension and every
cell and row reference in its XML (one scan for references past the row and
column limits: about 1 ms for a school's 700 rows) are checked against
:class:`~reportkit.config.IngestLimits`. Only then does python-calamine parse
it, in a child process whose address space is limited (``RLIMIT_AS``) and which
is given a time limit: an allocation failure, which aborts a process from Rust
where no ``except`` reaches, ends the child and never the caller, and the file
is refused with a message naming it and the limit. A legacy XLS, whose format
caps a sheet at 65,536 x 256 cells, goes to the child unchecked.

One child serves every spreadsheet of an ingestion (:class:`SheetReader`): it is
started for the first one and again after it died. A request is a JSON line and
the file's bytes; an answer is a JSON line and the cells as text in JSON (lists
of str or null, one per column): nothing executable crosses the process
boundary. JSON rather than Arrow IPC keeps pyarrow out of the child: it starts in
about 0.1 s instead of 0.4 s, and the cells become Python strings in the parent
either way.

Header detection (:func:`find_header`, by the aliases of :mod:`reportkit.schema`)
lives here, so that the child finds the sheet holding the table without pandas.
"""

from __future__ import annotations

import io
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from reportkit.errors import IngestError, RefusedFileError
from reportkit.i18n import ingest_error, ingest_reason
from reportkit.schema import ENTRY_ALIASES, LOG_ALIASES, ROSTER_ALIASES, match_header

if TYPE_CHECKING:
    from reportkit.config import IngestLimits

__all__ = [
    "HEADER_SCAN_ROWS",
    "Kind",
    "SheetReader",
    "SheetTable",
    "check_workbook",
    "column_letters",
    "find_header",
    "kind_aliases",
    "limit_text",
]

Kind = Literal["roster", "logs", "entries"]

HEADER_SCAN_ROWS = 10
XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# a header must name one of these, or it is some other table
_REQUIRED: dict[str, frozenset[str]] = {
    "roster": frozenset({"person_id"}),
    "logs": frozenset({"person_id"}),
    "entries": frozenset({"entered_at", "name"}),
}
_MB = 1 << 20


def kind_aliases(kind: Kind | None) -> tuple[dict[str, str], frozenset[str]]:
    """The header aliases of a kind and the columns one of which a header must have."""
    if kind is None:
        return {**ENTRY_ALIASES, **ROSTER_ALIASES, **LOG_ALIASES}, frozenset(
            {"person_id", "entered_at"}
        )
    table = {"roster": ROSTER_ALIASES, "logs": LOG_ALIASES, "entries": ENTRY_ALIASES}
    if kind not in table:
        raise ValueError(f"kind must be roster, logs or entries, not {kind!r}")
    return table[kind], _REQUIRED[kind]


def find_header(
    rows: Sequence[Sequence[object]], aliases: dict[str, str], required: frozenset[str]
) -> tuple[int, int] | None:
    """(index, matched columns) of the first of the first rows that looks like a header.

    A header row has at least two cells naming known columns, one of them a
    ``required`` one (the person id; for gate registers the entry time or name).
    """
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        matched = {match_header(c, aliases) for c in row if isinstance(c, str) and c.strip()}
        matched.discard(None)
        if len(matched) >= 2 and matched & required:
            return i, len(matched)
    return None


def limit_text(name: str, value: float) -> str:
    """How a message names a limit: its value and where it is set."""
    shown = f"{value:,}" if isinstance(value, int) else f"{value:,g}"
    return ingest_reason("limit", "en", {"limit_name": name, "limit_value": shown})


# --- the check before parsing ----------------------------------------------------------


def check_workbook(data: bytes, name: object, limits: IngestLimits) -> None:
    """Refuse an XLSX whose zip or sheets exceed ``limits``, before it is parsed.

    Raises :class:`RefusedFileError` naming the file, what exceeds and the limit.
    An XLS (or anything not a zip) passes: the child process's limits hold for it.
    """
    if not data.startswith(XLSX_MAGIC):
        return
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ingest_error(name, "bad_workbook", detail=exc) from None
    with book:
        members = book.infolist()
        if len(members) > limits.max_zip_members:
            raise ingest_error(
                name,
                "zip_members",
                n=len(members),
                limit="max_zip_members",
                limit_value=limits.max_zip_members,
            )
        total = sum(m.file_size for m in members)
        if total > limits.max_unzipped_mb * _MB:
            raise ingest_error(
                name,
                "unzipped_size",
                mb=f"{total / _MB:,.0f}",
                limit="max_unzipped_mb",
                limit_value=limits.max_unzipped_mb,
            )
        for member in members:
            ratio = member.file_size / max(member.compress_size, 1)
            if member.file_size > _MB and ratio > limits.max_compression_ratio:
                raise ingest_error(
                    name,
                    "compression_ratio",
                    part=member.filename,
                    ratio=f"{ratio:,.0f}",
                    limit="max_compression_ratio",
                    limit_value=limits.max_compression_ratio,
                )
            if (
                member.filename.lower().endswith("sharedstrings.xml")
                and member.file_size > limits.max_shared_strings_mb * _MB
            ):
                raise ingest_error(
                    name,
                    "shared_strings",
                    mb=f"{member.file_size / _MB:,.0f}",
                    limit="max_shared_strings_mb",
                    limit_value=limits.max_shared_strings_mb,
                )
        for member in members:  # every XML part: a sheet may be stored under any name
            lowered = member.filename.lower()
            if lowered.endswith(("sharedstrings.xml", *_NOT_XML)):
                continue
            try:
                _check_sheet_xml(book, member, name, limits)
            except (
                zipfile.BadZipFile,
                zlib.error,
                EOFError,
                RuntimeError,
                NotImplementedError,
            ) as exc:
                # a bad CRC, a part longer than declared, encryption, an unknown method
                raise ingest_error(
                    name, "bad_workbook_part", part=member.filename, detail=exc
                ) from None


# parts that are not XML (images, XLSB records, VBA): not scanned for references
_NOT_XML = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".emf", ".wmf", ".bin")


_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=[\"']([A-Z]+)?(\d+)?(?::([A-Z]+)(\d+))?")
_CHUNK = 1 << 20


def _check_sheet_xml(
    book: zipfile.ZipFile, member: zipfile.ZipInfo, name: object, limits: IngestLimits
) -> None:
    """The declared dimension and every ``r="..."`` reference of one XML part, in chunks.

    A reference past the limits is found by one regular expression whose literal
    start (``r=``) the regex engine scans for quickly; a match counts only after
    white space, as an attribute."""
    max_row = limits.max_rows + HEADER_SCAN_ROWS  # the header may sit below a title
    pattern = _reference_pattern(max_row, limits.max_columns)
    tail = b""
    first = True
    with book.open(member) as part:
        while chunk := part.read(_CHUNK):
            text = tail + chunk
            if first:
                first = False
                dim = _DIMENSION.search(text, 0, 4096)
                if dim and dim[3]:
                    _check_extent(name, member, _column_number(dim[3]), int(dim[4]), limits, True)
            for found in pattern.finditer(text):
                if found.start() > 0 and text[found.start() - 1 : found.start()].isspace():
                    ref = found[0][3:].rstrip(b"\"'").decode("ascii")
                    letters = ref.rstrip("0123456789")
                    row = int(ref[len(letters) :] or 0)
                    col = _column_number(letters.encode()) if letters else 0
                    _check_extent(name, member, col, row, limits, False)
            tail = text[-32:]


def _check_extent(
    name: object, member: zipfile.ZipInfo, col: int, row: int, limits: IngestLimits, declared: bool
) -> None:
    how = "declares" if declared else "refers"
    if col > limits.max_columns:
        raise ingest_error(
            name,
            f"part_{how}_column",
            part=member.filename,
            letters=column_letters(col),
            n=col,
            limit="max_columns",
            limit_value=limits.max_columns,
        )
    if row > limits.max_rows + HEADER_SCAN_ROWS:
        raise ingest_error(
            name,
            f"part_{how}_row",
            part=member.filename,
            n=row,
            limit="max_rows",
            limit_value=limits.max_rows,
        )


_patterns: dict[tuple[int, int], re.Pattern[bytes]] = {}


def _reference_pattern(max_row: int, max_columns: int) -> re.Pattern[bytes]:
    """``r="<letters><digits>"`` with the letters past ``max_columns`` or the number past
    ``max_row`` (a row element's ``r="<digits>"`` too; leading zeros are no disguise)."""
    key = (max_row, max_columns)
    if key not in _patterns:
        cols = _greater(column_letters(max_columns), "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        rows = _greater(str(max_row), "0123456789")
        _patterns[key] = re.compile(
            rf"""r=["'](?:(?:{cols})[0-9]|[A-Z]{{0,3}}0*(?:{rows})["'])""".encode()
        )
    return _patterns[key]


def _greater(limit: str, digits: str) -> str:
    """A regular expression for the words over ``digits`` greater than ``limit``: longer
    ones (no leading zero), or as long and greater at the first place they differ."""
    lead = digits[1:] if digits[0] == "0" else digits
    out = [f"[{lead[0]}-{lead[-1]}][{digits[0]}-{digits[-1]}]{{{len(limit)},}}"]
    for i, char in enumerate(limit):
        higher = digits[digits.index(char) + 1 :]
        if higher:
            rest = len(limit) - i - 1
            tail = f"[{digits[0]}-{digits[-1]}]{{{rest}}}" if rest else ""
            out.append(f"{re.escape(limit[:i])}[{higher[0]}-{higher[-1]}]{tail}")
    return "|".join(out)


def _column_number(letters: bytes) -> int:
    number = 0
    for char in letters:
        number = number * 26 + (char - 64)
    return number


def column_letters(number: int) -> str:
    """The letters of a 1-based column number, as a spreadsheet shows them (1: A)."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


# --- the parent's side ----------------------------------------------------------------


class SheetTable:
    """The table found in a workbook: every cell as text (None when empty), from A1."""

    def __init__(
        self, columns: list[list[str | None]], sheet: str, header_index: int, title: list[str]
    ) -> None:
        self.columns = columns  # one list per column, row 1 first
        self.sheet = sheet
        self.header_index = header_index  # 0-based row of the header
        self.title = title  # text of the rows above the header


class SheetReader:
    """Reads workbooks in one child process, started on first use and again after it died.

    Use as a context manager (or call :meth:`close`); :attr:`starts` counts the
    processes started. Not for use by two threads at once.
    """

    def __init__(self, limits: IngestLimits | None = None) -> None:
        if limits is None:
            from reportkit.config import IngestLimits

            limits = IngestLimits()
        self.limits = limits
        self.starts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self._buffer = bytearray()
        self._lock = threading.Lock()

    def __enter__(self) -> SheetReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the child process (it exits at the end of its input)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout:
                proc.stdout.close()
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None

    def read(self, data: bytes, name: object, kind: Kind | None) -> SheetTable | None:
        """The cells of the first sheet of ``data`` with a header of ``kind``; None when
        no sheet has one.

        Raises :class:`RefusedFileError` for a workbook past a limit, or one the
        reader cannot read, crashes on or times out on."""
        check_workbook(data, name, self.limits)
        with self._lock:
            header, payload = self._ask(data, name, kind)
        if not header["ok"] and header["reason"] == _NO_HEADER:
            return None
        if not header["ok"]:
            key, params = header.get("key"), header.get("params") or {}
            raise RefusedFileError(
                name, header["reason"], limit=header.get("limit"), key=key, params=params
            )
        columns = json.loads(payload)
        return SheetTable(columns, header["sheet"], header["header_index"], header["title"])

    def _ask(self, data: bytes, name: object, kind: Kind | None) -> tuple[dict, bytes]:
        limits = self.limits
        request = {
            "kind": kind,
            "size": len(data),
            "limits": {
                "max_rows": limits.max_rows,
                "max_columns": limits.max_columns,
                "max_cell_chars": limits.max_cell_chars,
            },
        }
        proc = self._start()
        errors_at = self._stderr.tell()
        deadline = time.monotonic() + limits.reader_timeout_seconds
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            proc.stdin.write(data)
            proc.stdin.flush()
            header = json.loads(self._line(deadline))
            payload = self._exactly(int(header.get("size", 0)), deadline)
        except TimeoutError:
            self._kill()
            raise ingest_error(
                name,
                "reader_timeout",
                seconds=f"{limits.reader_timeout_seconds:g}",
                limit="reader_timeout_seconds",
                limit_value=limits.reader_timeout_seconds,
            ) from None
        except (OSError, EOFError, ValueError):
            raise self._died(name, errors_at) from None
        return header, payload

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self.close()
        package_root = str(Path(__file__).resolve().parents[2])
        code = (
            f"import sys; sys.path.insert(0, {package_root!r}); "
            f"from reportkit.ingest.sheets import _serve; _serve({int(self.limits.reader_memory_mb)})"
        )
        env = {**os.environ, "RUST_BACKTRACE": "0"}
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the child
        self._proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            bufsize=0,
        )
        self._buffer.clear()
        self.starts += 1
        return self._proc

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
        self.close()

    def _died(self, name: object, errors_at: int) -> IngestError:
        proc = self._proc
        code = proc.wait() if proc is not None else None
        self._stderr.seek(errors_at)
        said = self._stderr.read(4096).decode("utf-8", "replace")
        self.close()
        memory = re.search(r"memory allocation of (\d+) bytes failed", said)
        if memory or "MemoryError" in said:
            asked = {"mb": f"{int(memory[1]) / _MB:,.0f}"} if memory else {}
            return ingest_error(
                name,
                "reader_memory_asked" if memory else "reader_memory",
                limit="reader_memory_mb",
                limit_value=self.limits.reader_memory_mb,
                fill=asked,
            )
        last = said.strip().splitlines()[-1:] or [""]
        if code is not None and code < 0:
            return ingest_error(name, "reader_signal", signal=-code, detail=last[0])
        return ingest_error(name, "reader_exit", code=code, detail=last[0])

    def _fill(self, deadline: float) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            raise EOFError
        self._buffer += chunk

    def _line(self, deadline: float) -> bytes:
        while (end := self._buffer.find(b"\n")) < 0:
            self._fill(deadline)
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line

    def _exactly(self, size: int, deadline: float) -> bytes:
        while len(self._buffer) < size:
            self._fill(deadline)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


# --- the child's side -----------------------------------------------------------------


def _serve(memory_mb: int) -> None:
    """The child's loop: read a request and a workbook from stdin, answer on stdout."""
    try:
        import resource

        limit = memory_mb * _MB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # pragma: no cover - not Linux
        pass
    source = sys.stdin.buffer
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, not into an answer
    while line := source.readline():
        request = json.loads(line)
        data = source.read(request["size"])
        try:
            header, payload = _read_book(data, request["kind"], request["limits"])
        except MemoryError:
            header, payload = _refusal("reader_memory_plain"), b""
            header["limit"] = "reader_memory_mb"
        except Exception as exc:  # calamine, zip and OLE errors of a broken workbook
            text = str(exc).strip() or type(exc).__name__
            header, payload = _refusal("bad_workbook", detail=text), b""
        header["size"] = len(payload)
        answer.write(json.dumps(header, ensure_ascii=False).encode() + b"\n")
        answer.write(payload)
        answer.flush()


def _refusal(
    key: str, limit: str | None = None, limits: dict | None = None, **params: object
) -> dict[str, Any]:
    """The child's answer for a workbook it refuses: the reason's key and params, and
    its English text (see :func:`reportkit.i18n.ingest_error`)."""
    value = limits[limit] if limit is not None and limits is not None else None
    refused = ingest_error("", key, limit=limit, limit_value=value, fill=params)
    return {
        "ok": False,
        "reason": refused.reason,
        "key": key,
        "params": refused.params,
        "limit": limit,
    }


def _read_book(data: bytes, kind: Kind | None, limits: dict[str, int]) -> tuple[dict, bytes]:
    from python_calamine import CalamineWorkbook, SheetTypeEnum

    aliases, required = kind_aliases(kind)
    book = CalamineWorkbook.from_object(io.BytesIO(data))
    names = [s.name for s in book.sheets_metadata if s.typ == SheetTypeEnum.WorkSheet]
    for sheet_name in names:
        sheet = book.get_sheet_by_name(sheet_name)
        end = sheet.end
        if end is None:
            continue
        rows, cols = end[0] + 1, end[1] + 1
        if cols > limits["max_columns"]:
            named = {"sheet": sheet_name, "sheet_repr": repr(sheet_name)}
            return _refusal("sheet_wide", "max_columns", limits, n=cols, **named), b""
        if rows > limits["max_rows"] + HEADER_SCAN_ROWS:
            named = {"sheet": sheet_name, "sheet_repr": repr(sheet_name)}
            return _refusal("sheet_reaches_row", "max_rows", limits, n=rows, **named), b""
        top = [
            [_text(v) for v in row]
            for row in sheet.to_python(skip_empty_area=False, nrows=HEADER_SCAN_ROWS)
        ]
        found = find_header(top, aliases, required)
        if found is None:
            continue
        index = found[0]
        grid = sheet.to_python(skip_empty_area=False)
        if len(grid) - index - 1 > limits["max_rows"]:
            named = {"sheet": sheet_name, "sheet_repr": repr(sheet_name)}
            below = len(grid) - index - 1
            return _refusal("sheet_rows_below", "max_rows", limits, n=below, **named), b""
        columns = [[_text(row[j]) for row in grid] for j in range(len(grid[0]) if grid else 0)]
        for j, column in enumerate(columns):
            longest = max(map(len, filter(None, column)), default=0)
            if longest > limits["max_cell_chars"]:
                at = next(i for i, v in enumerate(column) if v and len(v) == longest)
                cell = f"{column_letters(j + 1)}{at + 1}"
                named = {"sheet": sheet_name, "sheet_repr": repr(sheet_name), "cell": cell}
                return _refusal(
                    "sheet_cell_long", "max_cell_chars", limits, n=longest, **named
                ), b""
        title = [" ".join(c for c in row if c is not None).strip() for row in top[:index]]
        header = {"ok": True, "sheet": str(sheet_name), "header_index": index, "title": title}
        return header, json.dumps(columns, ensure_ascii=False).encode()
    return {"ok": False, "reason": _NO_HEADER, "limit": None}, b""


_NO_HEADER = "no header"


def _text(value: Any) -> str | None:
    """A cell as the text pandas' ``read_excel(dtype=str)`` gives it (None when empty):
    whole floats without ``.0``, dates as midnight datetimes."""
    kind = type(value)
    if kind is str:
        return value or None
    if kind is float:
        return str(int(value)) if value.is_integer() else str(value)
    if value is None:
        return None
    if kind is date:
        return str(datetime(value.year, value.month, value.day))
    return str(value)
