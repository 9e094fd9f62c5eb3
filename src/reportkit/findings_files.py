"""The identity of findings: a content hash of what a report shows.

:func:`findings_hash` is a sha256 over a canonical JSON of every frame of one
school's :class:`~reportkit.rollup.Findings` slice (and the attached follow-ups):
equal findings give equal hashes, whatever the dtypes they went through (a tuple
and a list, a numpy and a Python scalar, NaN and None, a date and its ISO text
are the same value here). :func:`rollup_hash` does the same for a district
roll-up. A report records the hash of the findings it shows; delivery sends a
report only when the findings it sends from hash the same.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import fields
from datetime import date, datetime, time
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["canonical", "findings_hash", "frame_records", "rollup_hash"]

HASH_VERSION = 1


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
    columns = sorted(str(c) for c in frame.columns)
    rows: list[list[Any]] = [list(columns)]
    if len(frame):
        ordered = frame[columns] if list(frame.columns) != columns else frame
        rows.extend([canonical(v) for v in row] for row in ordered.itertuples(index=False))
    return rows


def _digest(payload: Any) -> str:
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def findings_hash(findings: Any, school_id: str) -> str:
    """sha256 of everything ``findings`` hold about ``school_id`` (a report's content)."""
    part = findings.for_school(school_id)
    payload: dict[str, Any] = {"v": HASH_VERSION, "date": part.date.isoformat()}
    for f in fields(part):
        value = getattr(part, f.name)
        if isinstance(value, pd.DataFrame):
            payload[f.name] = frame_records(value.reset_index(drop=True))
    return _digest(payload)


def rollup_hash(rollup: Any) -> str:
    """sha256 of a district roll-up's figures, school rows and trend (counts only)."""
    return _digest({"v": HASH_VERSION, "rollup": canonical(rollup.to_json())})
