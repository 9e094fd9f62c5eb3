"""Findings on disk, one non-executable file per school, and their content hash.

**Files.** :func:`save_findings` writes ``<folder>/<school_id>.arrow`` for every
school of a :class:`~reportkit.findings.Findings`: that school's frames only, so a
school's report kernel reads its own people and nothing else, at a cost that does
not grow with the district. :func:`save_unit` writes
``<folder>/unit_<id>.arrow``: a unit roll-up's counts, no person row (the
names are :mod:`reportkit.layout`'s).
Nothing in them is executable: a file is an Arrow IPC file of one row per frame
(the frame's name and its own Arrow IPC stream), and the schema's metadata holds
a JSON header (:data:`FORMAT`, :data:`SCHEMA_VERSION`, the kind and id, the date,
the run id, the content hash, the rules). :func:`load_findings_files` and
:func:`load_unit` return ``None``, with a logged warning, for a file that is
missing, unreadable, of another version, of another date or whose content does not
hash to its header's hash: the caller then computes the findings from the store.

**Hashes.**

:func:`findings_hash` is a sha256 over a canonical JSON of every frame of one
school's :class:`~reportkit.findings.Findings` slice (and the attached follow-ups):
equal findings give equal hashes, whatever the dtypes they went through (a tuple
and a list, a numpy and a Python scalar, NaN and None, a date and its ISO text
are the same value here). :func:`rollup_hash` does the same for a district
roll-up. A report records the hash of the findings it shows; delivery sends a
report only when the findings it sends from hash the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import weakref
from collections.abc import Hashable, Sequence
from dataclasses import fields
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from reportkit.layout import school_findings_file, unit_findings_file

if TYPE_CHECKING:
    from reportkit.findings.model import Findings
    from reportkit.findings.tree import UnitRollup

__all__ = [
    "FORMAT",
    "SCHEMA_VERSION",
    "canonical",
    "findings_hash",
    "findings_hashes",
    "frame_records",
    "load_district",
    "load_findings_files",
    "load_unit",
    "read_header",
    "rollup_hash",
    "save_district",
    "save_findings",
    "save_unit",
    "verified_hash",
]

log = logging.getLogger(__name__)

HASH_VERSION = 1
# frames a caller attaches (None when not): a file without them is still whole
_ATTACHED = ("followups", "corrections", "flag_corrections")
FORMAT = "reportkit-findings"
SCHEMA_VERSION = 1
_META_KEY = b"reportkit"
# findings loaded from files -> the hashes checked on loading (not recomputed for the title)
_VERIFIED: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


def canonical(value: Any) -> Any:
    """``value`` as plain JSON data, the same for every spelling of the same value."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return None
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if isinstance(value, str):
        return value
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple | np.ndarray | pd.Series):
        return [canonical(v) for v in value]
    if hasattr(value, "item"):
        return canonical(value.item())
    return str(value)


def frame_records(frame: pd.DataFrame) -> list[list[Any]]:
    """A frame as its sorted column names, then its rows in order, every cell canonical."""
    names = [str(c) for c in frame.columns]
    order = sorted(range(len(names)), key=names.__getitem__)
    rows: list[list[Any]] = [[names[i] for i in order]]
    if len(frame):
        values = frame.to_numpy(dtype=object)
        if order != list(range(len(names))):
            values = values[:, order]
        # texts and whole numbers are their own canonical form (most cells): no call
        rows.extend(
            [v if type(v) is str or type(v) is int else canonical(v) for v in row]
            for row in values.tolist()
        )
    return rows


def _digest(payload: Any) -> str:
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def findings_hash(findings: Findings, school_id: str) -> str:
    """sha256 of everything ``findings`` hold about ``school_id`` (a report's content)."""
    # a school's own findings (a saved file's) need no slicing: they are only read here
    part = findings if _only(findings, school_id) else findings.for_school(school_id)
    return _school_digest(part)


def _school_digest(part: Any) -> str:
    """The hash of findings that hold one school only."""
    payload: dict[str, Any] = {"v": HASH_VERSION, "date": part.date.isoformat()}
    for f in fields(part):
        value = getattr(part, f.name)
        if isinstance(value, pd.DataFrame):
            payload[f.name] = frame_records(value)  # the index is not part of it
    return _digest(payload)


def _only(findings: Findings, school_id: str) -> bool:
    for f in fields(findings):
        value = getattr(findings, f.name)
        if isinstance(value, pd.DataFrame) and "school_id" in value:
            ids = value["school_id"]
            if len(ids) and not (ids == school_id).all():
                return False
    return findings.school_ids == [school_id]


def rollup_hash(rollup: UnitRollup) -> str:
    """sha256 of a district roll-up's figures, school rows and trend (counts only)."""
    return _digest({"v": HASH_VERSION, "rollup": canonical(rollup.to_json())})


# -- files ---------------------------------------------------------------------------


def _arrow_table(frame: pd.DataFrame) -> tuple[Any, dict[str, list[str]]]:
    """A frame as an Arrow table; how to restore what Arrow cannot hold as is."""
    import pyarrow as pa

    frame = frame.reset_index(drop=True)
    objects = [c for c in frame.columns if frame[c].dtype == object]
    tuples = [str(c) for c in objects if any(isinstance(v, tuple) for v in frame[c])]
    as_json: list[str] = []
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        frame = frame.copy()
        for name in objects:
            try:
                pa.array(frame[name], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                # mixed values in one column (a number and a text): kept as canonical JSON
                as_json.append(str(name))
                frame[name] = [json.dumps(canonical(v), ensure_ascii=False) for v in frame[name]]
        table = pa.Table.from_pandas(frame, preserve_index=False)
    return table, {"tuples": tuples, "json": as_json}


def _stream_bytes(table: Any) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _frame_from(data: bytes, restore: dict[str, list[str]]) -> pd.DataFrame:
    import pyarrow as pa

    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    frame = table.to_pandas(date_as_object=True)
    for name in restore.get("json", []):
        frame[name] = [json.loads(v) if v is not None else None for v in frame[name]]
    for name in restore.get("tuples", []):
        frame[name] = pd.Series(
            [tuple(v) if v is not None else () for v in frame[name]], dtype=object
        )
    return frame


def _write(
    path: Path, header: dict[str, Any], frames: dict[str, tuple[bytes, dict[str, list[str]]]]
) -> Path:
    """``frames``: name -> (Arrow IPC stream, how to restore it)."""
    import pyarrow as pa

    from reportkit.files import write_atomic

    restore = {name: how for name, (_, how) in frames.items()}
    header = {"format": FORMAT, "version": SCHEMA_VERSION, **header, "restore": restore}
    text = json.dumps(header, ensure_ascii=False, sort_keys=True, allow_nan=False)
    table = pa.table(
        {
            "frame": pa.array(list(frames), pa.string()),
            "data": pa.array([blob for blob, _ in frames.values()], pa.large_binary()),
        }
    ).replace_schema_metadata({_META_KEY: text.encode("utf-8")})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return write_atomic(path, sink.getvalue().to_pybytes())


def _blobs(frames: dict[str, pd.DataFrame]) -> dict[str, tuple[bytes, dict[str, list[str]]]]:
    out = {}
    for name, frame in frames.items():
        table, how = _arrow_table(frame)
        out[name] = (_stream_bytes(table), how)
    return out


def read_header(path: Path | str) -> dict[str, Any]:
    """The JSON header of a findings file (raises ``OSError``/``ValueError`` if unreadable)."""
    import pyarrow as pa

    try:
        with pa.memory_map(str(path)) as source:
            schema = pa.ipc.open_file(source).schema
    except pa.ArrowInvalid as exc:
        raise ValueError(f"not an Arrow file: {exc}") from exc
    return _header(schema)


def _header(schema: Any) -> dict[str, Any]:
    raw = (schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise ValueError("no reportkit header")
    header = json.loads(raw.decode("utf-8"))
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError("not a reportkit findings file")
    if header.get("version") != SCHEMA_VERSION:
        raise ValueError(
            f"schema version {header.get('version')!r}, this reportkit reads {SCHEMA_VERSION}"
        )
    return header


def _read(path: Path, kind: str, ident: str) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    import pyarrow as pa

    try:
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_file(source)
            header = _header(reader.schema)
            if header.get("kind") != kind or header.get("id") != ident:
                raise ValueError(
                    f"holds {header.get('kind')} {header.get('id')!r}, not {kind} {ident!r}"
                )
            table = reader.read_all()
        names = table.column("frame").to_pylist()
        blobs = table.column("data").to_pylist()
        restore = header.get("restore", {})
        frames = {n: _frame_from(b, restore.get(n, {})) for n, b in zip(names, blobs, strict=True)}
    except pa.ArrowInvalid as exc:
        raise ValueError(f"not an Arrow file or unreadable frames: {exc}") from exc
    except (pa.ArrowException, KeyError, TypeError) as exc:
        raise ValueError(f"unreadable frames: {exc}") from exc
    return header, frames


def _summary(schools: pd.DataFrame) -> dict[str, Any]:
    if schools.empty:
        return {}
    row = schools.iloc[0]
    return {
        "submission": canonical(row.get("submission")),
        "minutes_late": canonical(row.get("minutes_late")),
        "rows": canonical(row.get("rows")),
    }


def findings_hashes(findings: Findings) -> dict[str, str]:
    """:func:`findings_hash` of every school of ``findings`` (one slicing pass)."""
    return {
        school_id: _school_digest(findings.with_frames(frames))
        for school_id, frames in findings._parts().items()
    }


def save_findings(
    findings: Findings, folder: Path | str, run_id: str, *, hashes: dict[str, str] | None = None
) -> dict[str, str]:
    """Write one file per school of ``findings`` into ``folder``; school id -> its
    :func:`findings_hash` (``hashes``: already computed, by :func:`findings_hashes`).

    Each file holds that school's rows of every frame (and of the attached
    follow-ups), the rules and the hash of what it holds. Each frame is converted
    to Arrow once and sliced per school.
    """
    import numpy as np
    import pyarrow as pa

    from reportkit.files import ensure_dir

    ensure_dir(folder)
    rules = findings.rules.model_dump(mode="json") if findings.rules is not None else None
    parts = findings._parts()
    tables: dict[str, tuple[Any, dict[str, list[str]], dict[Hashable, Any]]] = {}
    for f in fields(findings):
        value = getattr(findings, f.name)
        if isinstance(value, pd.DataFrame) and "school_id" in value:
            frame = value.reset_index(drop=True)
            table, how = _arrow_table(frame)
            tables[f.name] = (table, how, frame.groupby("school_id", sort=False).indices)
    hashes = dict(hashes or {})
    for school_id, frames in parts.items():
        if school_id not in hashes:
            hashes[school_id] = _school_digest(findings.with_frames(frames))
        header = {
            "kind": "school",
            "id": school_id,
            "date": findings.date.isoformat(),
            "run_id": run_id,
            "hash": hashes[school_id],
            "rules": rules,
            "followups": findings.followups is not None,
            "summary": _summary(frames["schools"]),
        }
        blobs = {}
        for name, (table, how, groups) in tables.items():
            rows = groups.get(school_id, np.zeros(0, dtype=np.int64))
            blobs[name] = (_stream_bytes(table.take(pa.array(rows, pa.int64()))), how)
        _write(school_findings_file(folder, school_id), header, blobs)
    return hashes


def _load_school(path: Path, school_id: str, day: date | None) -> tuple[dict, dict]:
    header, frames = _read(path, "school", school_id)
    if day is not None and header.get("date") != day.isoformat():
        raise ValueError(f"of {header.get('date')}, not {day.isoformat()}")
    return header, frames


def load_findings_files(
    folder: Path | str, school_ids: Sequence[str], report_date: date | None = None
) -> Any:
    """The findings of ``school_ids`` from their files in ``folder``, in that order, or
    ``None`` (with a warning) when one is missing, unreadable, of another schema
    version or date, or does not hash to its recorded hash: compute them from the
    store then. The result hashes (:func:`findings_hash`) as the saved findings did.
    """
    from reportkit.config import Rules
    from reportkit.findings.model import Findings

    ids = [school_ids] if isinstance(school_ids, str) else list(dict.fromkeys(school_ids))
    if not ids:
        return None
    parts, headers = [], []
    for school_id in ids:
        path = school_findings_file(folder, school_id)
        try:
            header, frames = _load_school(path, school_id, report_date)
        except FileNotFoundError:
            log.warning("no findings file %s; computing the findings from the store", path)
            return None
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            log.warning("findings file %s not used (%s); computing them from the store", path, exc)
            return None
        parts.append(frames)
        headers.append(header)
    dates = {h["date"] for h in headers}
    if len(dates) != 1:
        log.warning("findings files in %s are of several dates; computing them again", folder)
        return None
    names = [f.name for f in fields(Findings) if f.name not in ("date", "rules", *_ATTACHED)]
    combined: dict[str, Any] = {}
    for name in [*names, *_ATTACHED]:
        pieces = [p[name] for p in parts if name in p]
        if name in _ATTACHED and len(pieces) < len(parts):
            combined[name] = None
            continue
        if len(pieces) != len(parts):
            log.warning("findings files in %s lack the frame %s; computing again", folder, name)
            return None
        filled = [p for p in pieces if len(p)] or pieces[:1]
        combined[name] = (
            filled[0] if len(filled) == 1 else pd.concat(filled, ignore_index=True)
        ).reset_index(drop=True)
    rules = headers[0].get("rules")
    findings = Findings(
        date=date.fromisoformat(dates.pop()),
        rules=Rules.model_validate(rules) if rules is not None else None,
        **combined,
    )
    for school_id, header in zip(ids, headers, strict=True):
        if findings_hash(findings, school_id) != header.get("hash"):
            log.warning(
                "findings file %s does not hash to its recorded hash; computing them again",
                school_findings_file(folder, school_id),
            )
            return None
    _VERIFIED[findings] = {h["id"]: h["hash"] for h in headers}
    return findings


def verified_hash(findings: Findings, school_id: str) -> str | None:
    """The :func:`findings_hash` of ``school_id`` checked when ``findings`` were loaded
    by :func:`load_findings_files` (``None`` for findings made otherwise)."""
    return _VERIFIED.get(findings, {}).get(school_id)


_ROLLUP_SCALARS = (
    *("district_id", "name", "deadline", "totals", "schools_expected", "schools_submitted"),
    *("schools_on_time", "schools_missing", "reporting_rate", "reporting_rate_on_time"),
    *("expected", "reported", "coverage", "level", "late_units"),
)


def save_unit(rollup: UnitRollup, folder: Path | str, run_id: str) -> Path:
    """Write a unit's roll-up (counts only) to ``<folder>/unit_<id>.arrow``."""
    header = {
        "kind": "unit",
        "id": rollup.unit_id,
        "date": rollup.date.isoformat(),
        "run_id": run_id,
        "hash": rollup_hash(rollup),
        "rollup": {k: canonical(getattr(rollup, k)) for k in _ROLLUP_SCALARS},
    }
    frames = {"schools": rollup.schools, "trend": rollup.trend}
    return _write(unit_findings_file(folder, rollup.unit_id), header, _blobs(frames))


def load_unit(folder: Path | str, unit_id: str, report_date: date | None = None) -> Any:
    """The roll-up saved by :func:`save_unit`, or ``None`` (with a warning)."""
    from reportkit.findings.tree import UnitRollup

    path = unit_findings_file(folder, unit_id)
    try:
        header, frames = _read(path, "unit", unit_id)
        if report_date is not None and header.get("date") != report_date.isoformat():
            raise ValueError(f"of {header.get('date')}, not {report_date.isoformat()}")
        scalars = dict(header["rollup"])
        for key in ("reporting_rate", "reporting_rate_on_time", "coverage"):
            scalars[key] = math.nan if scalars[key] is None else float(scalars[key])
        rollup = UnitRollup(
            date=date.fromisoformat(header["date"]),
            # writable copies: a chart may work on the columns in place
            schools=frames["schools"].copy(),
            trend=frames["trend"].copy(),
            **scalars,
        )
    except FileNotFoundError:
        log.warning("no roll-up file %s; computing it from the store", path)
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("roll-up file %s not used (%s); computing it from the store", path, exc)
        return None
    if rollup_hash(rollup) != header.get("hash"):
        log.warning("roll-up file %s does not hash to its recorded hash; computing again", path)
        return None
    return rollup


# the names before units
save_district = save_unit
load_district = load_unit
