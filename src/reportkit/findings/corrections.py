"""Corrections: the check-in values of a date that changed after their first receipt.

A check-in replaced by a later file keeps its earlier versions in the store's
revisions (:mod:`reportkit.store.revisions`). :func:`compute_corrections` compares,
for each check-in of the report date with revisions, its first receipt (the oldest
revision) with what the store holds now, and gives two frames:

* ``corrections`` (:data:`CORRECTION_COLUMNS`), one row per value corrected:
  school_id, person_id, name (the roster's), date, session, column (a check-in
  column: temperature, symptoms, absent …), earlier and current (the values as text:
  a temperature ``"38.2"``, a yes/no ``"yes"``/``"no"``, symptom codes
  ``"cough,fever"``, ``""`` for none), received_at (when the first version was
  stored), corrected_at (when the current version was), both aware UTC, and the
  earlier version's source_file and source_row. A report marks such a value 已更正
  with the earlier one beside it.
* ``flag_corrections`` (:data:`FLAG_CORRECTION_COLUMNS`), one row per flag a
  correction removed (the first receipt had it, the current version has not):
  flag ``fever`` (temperature at or above ``rules.fever_celsius``, or the symptom),
  ``respiratory`` (a respiratory symptom of ``rules.respiratory_symptoms``),
  ``key_area`` or ``contact`` (the 14-day exposures), earlier and current as above
  (for ``fever``: the temperature, else the symptoms, or yes/no), the school's
  own time of the correction (reported_at of the current version, naive local,
  NaT when the file gave none) and corrected_at. A report lists these as
  corrections the school made.

Both are empty when nothing was corrected; the rule definitions are those of
:mod:`reportkit.findings.rules` (fever, respiratory symptoms, exposures).
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from reportkit.config import Rules

__all__ = [
    "CORRECTED_COLUMNS",
    "CORRECTION_COLUMNS",
    "FLAGS",
    "FLAG_CORRECTION_COLUMNS",
    "compute_corrections",
    "empty_corrections",
]

# the check-in columns whose corrections are shown (reported_at changes with every
# version and name is the roster's)
CORRECTED_COLUMNS = (
    "temperature",
    "symptoms",
    "symptoms_other",
    "absent",
    "absence_reason",
    "key_area",
    "key_area_place",
    "contact",
)
FLAGS = ("fever", "respiratory", "key_area", "contact")

_KEY = ["school_id", "person_id", "date", "session"]
CORRECTION_COLUMNS = [
    *_KEY[:2],
    "name",
    *_KEY[2:],
    "column",
    "earlier",
    "current",
    "received_at",
    "corrected_at",
    "source_file",
    "source_row",
]
FLAG_CORRECTION_COLUMNS = [
    *_KEY[:2],
    "name",
    *_KEY[2:],
    "flag",
    "earlier",
    "current",
    "reported_at",
    "corrected_at",
]


def empty_corrections() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(corrections, flag_corrections) with nothing in them."""
    return _frame([], CORRECTION_COLUMNS), _frame([], FLAG_CORRECTION_COLUMNS)


def compute_corrections(
    checkins: pd.DataFrame,
    revisions: pd.DataFrame,
    rules: Rules,
    report_date: date,
    people: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(corrections, flag_corrections) of ``report_date`` (see the module).

    ``checkins``: the store's check-ins (at least those of the date; columns of
    :data:`reportkit.store.CHECKIN_COLUMNS`); ``revisions``: the check-in revisions
    of the date (:func:`reportkit.store.load_revisions`); ``people``: the roster,
    for names (else the name as written).
    """
    if revisions.empty or checkins.empty:
        return empty_corrections()
    day = pd.Timestamp(report_date)
    codes, uniques = pd.factorize(checkins["date"].to_numpy(dtype=object))
    on_day = np.array([*(pd.Timestamp(u) == day for u in uniques), False], dtype=bool)
    current = checkins[on_day[codes]].copy()
    current["date"] = day.date()
    revisions = revisions.copy()
    revisions["date"] = [pd.Timestamp(d).date() for d in revisions["date"]]
    first = revisions.sort_values(["revised_at", "id"], kind="stable").drop_duplicates(
        _KEY, keep="first"
    )
    last = revisions.sort_values(["revised_at", "id"], kind="stable").drop_duplicates(
        _KEY, keep="last"
    )
    merged = first.merge(current, on=_KEY, how="inner", suffixes=("_was", ""))
    merged = merged.merge(
        last[[*_KEY, "revised_at"]].rename(columns={"revised_at": "corrected_at"}), on=_KEY
    )
    names = _names(people)
    rows: list[dict[str, Any]] = []
    flags: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = merged.sort_values(  # type: ignore[assignment]
        ["school_id", "person_id", "session"]
    ).to_dict("records")
    for r in records:
        key = {k: r[k] for k in _KEY}
        name = names.get((r["school_id"], r["person_id"])) or _text(r.get("name"))
        base = {**key, "name": name, "corrected_at": _utc(r["corrected_at"])}
        for column in CORRECTED_COLUMNS:
            was, now = _text(r[f"{column}_was"]), _text(r[column])
            if was != now:
                rows.append(
                    {
                        **base,
                        "column": column,
                        "earlier": was,
                        "current": now,
                        "received_at": _utc(r["updated_at"]),
                        "source_file": _text(r["source_file"]),
                        "source_row": r["source_row"],
                    }
                )
        for flag in FLAGS:
            had, has = _flagged(r, flag, rules, "_was"), _flagged(r, flag, rules, "")
            if had and not has:
                shown = "temperature" if flag == "fever" and _number(r["temperature_was"]) else None
                column = shown or {"fever": "symptoms", "respiratory": "symptoms"}.get(flag, flag)
                flags.append(
                    {
                        **base,
                        "flag": flag,
                        "earlier": _text(r[f"{column}_was"]),
                        "current": _text(r[column]),
                        "reported_at": r["reported_at"],
                    }
                )
    corrections = _frame(rows, CORRECTION_COLUMNS)
    corrections["source_row"] = corrections["source_row"].astype("Int64")
    return corrections, _frame(flags, FLAG_CORRECTION_COLUMNS)


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("received_at", "corrected_at"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    if "reported_at" in frame:
        frame["reported_at"] = pd.to_datetime(frame["reported_at"])
    for column in ("school_id", "person_id", "name", "session", "column", "flag"):
        if column in frame:
            frame[column] = frame[column].astype(object)
    for column in ("earlier", "current", "source_file"):
        if column in frame:
            frame[column] = frame[column].astype(object)
    return frame


def _names(people: pd.DataFrame | None) -> dict[tuple[str, str], str]:
    if people is None or people.empty:
        return {}
    return {
        (str(s), str(p)): str(n)
        for s, p, n in zip(people["school_id"], people["person_id"], people["name"], strict=True)
    }


def _flagged(row: dict[str, Any], flag: str, rules: Rules, suffix: str) -> bool:
    codes = set(filter(None, _text(row[f"symptoms{suffix}"]).split(",")))
    if flag == "fever":
        temperature = _number(row[f"temperature{suffix}"])
        return "fever" in codes or (temperature is not None and temperature >= rules.fever_celsius)
    if flag == "respiratory":
        return bool(codes & set(rules.respiratory_symptoms))
    return bool(_truth(row[f"{flag}{suffix}"]))


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _truth(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(value)


def _text(value: Any) -> str:
    """A value as the corrections show it: ``"38.2"``, ``"yes"``/``"no"``, ``""`` for none."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "yes" if value else "no"
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.1f}"
    return str(value)


def _utc(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
