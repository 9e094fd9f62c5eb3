"""The findings of one report date: the typed result of :mod:`reportkit.findings.compute`.

This module owns :class:`Findings` (frames per school: coverage, people who
need attention, clusters, trend …; slicing per school, JSON; saved per school
by :mod:`reportkit.findings.files`, never pickled) and :class:`DistrictRollup`
(a district's counts school by school, never a person). Nothing here computes a
rule; :func:`reportkit.findings.compute_findings` builds a :class:`Findings`
(the rules are :mod:`reportkit.findings.rules`), and :mod:`reportkit.findings.summary`
prints one for ``reportkit flags``.

Counting conventions, the same in every frame: ``fever`` counts everyone with
fever; ``symptomatic``, ``suspected`` and ``key_persons`` count people at that
level only (highest level wins: suspected > symptomatic > key person), so
``symptomatic + suspected`` is everyone symptomatic. ``coverage`` and the
reporting rates are percentages (0-100; NaN when nothing is expected).

Frames of :class:`Findings` (people frames start with ``PERSON_COLUMNS`` =
school_id, person_id, name, role, grade, class; person ids are strings):

* ``schools`` (one row per school, :data:`SCHOOL_COLUMNS`): school_id, name,
  district_id, town, expected, reported, coverage, absent, missing,
  missing_sessions (person-sessions), unreachable, illness_absence,
  illness_absence_unexplained, fever, symptomatic, suspected, key_persons,
  clusters, data_quality, submission ("on_time"|"late"|"missing"),
  last_received (ISO local time or None), minutes_late (0 unless late),
  deadline (ISO, with the school's UTC offset), zero_report, rows (check-in
  rows of the day), unrostered (rows of people not on the roster),
  entries_total, entries_fever, entries_unapproved, entries_no_temperature,
  entries_still_inside
* ``missing``: PERSON_COLUMNS + days_missing; ``unreachable``: + days;
  ``missing_sessions``: + session (one row per person and session)
* ``attention``: PERSON_COLUMNS + level (a :class:`~reportkit.schema.FlagLevel`
  value: "suspected"|"symptomatic"|"key_person"), reasons (tuple of codes: "fever", symptom codes, "key_area",
  "contact"), reason_zh, reason_en, temperature (the day's highest, NaN if
  none), symptoms ("cough,fever"), key_area, contact (bool), key_area_place,
  exposure_date, monitoring_day (Int64), monitoring_ends (the last three for
  exposed people, else None/NA); suspected first, then symptomatic, then key
  persons, per school
* ``fever``: PERSON_COLUMNS + temperature, fever_by ("temperature"|"symptom"),
  symptoms, level
* ``clusters``: school_id, grade, class, class_label ("三年级 2班"), rule, days,
  min_cases, count, person_ids (tuple, sorted), names (tuple, same order)
* ``illness_absence``: PERSON_COLUMNS + temperature, symptoms, symptoms_other,
  unexplained: absent for illness with no symptom recorded, the cause to be
  followed up (so symptoms are "" and unexplained is True on every row);
  ``schools.illness_absence`` counts every illness absence,
  ``illness_absence_unexplained`` these rows
* ``data_quality``: :data:`DQ_COLUMNS` (school_id, person_id, date, file, row,
  column, value, reason, message, quarantined), as recorded at ingestion
* ``trend``: school_id, date, expected, reported, fever, symptomatic, suspected
* ``per_class``: school_id, grade, class, expected, reported, missing, absent,
  fever, symptomatic, suspected, key_persons, head_teacher (the class's 班主任 when a
  roster named one, else None)
* ``entries`` (one row per school): school_id, total, fever, unapproved,
  no_temperature, still_inside, staff, visitor, delivery, other
* ``entry_flags`` (one row per entry and flag): entry_id, school_id, flag
  ("fever"|"unapproved"|"no_temperature"|"still_inside"), entered_at, left_at,
  name, kind, phone, purpose, temperature, approved_by (no ID numbers; mask
  the phone before showing it)
* ``corrections`` and ``flag_corrections`` (None unless loaded from a store):
  the values of the date corrected after their first receipt, and the flags such
  corrections removed (columns in :mod:`reportkit.findings.corrections`)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from reportkit.findings.tree import ROLLUP_COLUMNS, UnitRollup, _clean, unit_rollups
from reportkit.schema import FlagLevel

if TYPE_CHECKING:
    from reportkit.config import Rules, SchoolsConfig

DistrictRollup = UnitRollup  # the name of a unit's roll-up before units

__all__ = [
    "DQ_COLUMNS",
    "ENTRY_DETAIL",
    "ENTRY_FLAGS",
    "ENTRY_KINDS",
    "PERSON_COLUMNS",
    "ROLLUP_COLUMNS",
    "SCHOOL_COLUMNS",
    "DistrictRollup",
    "Findings",
]

PERSON_COLUMNS = ["school_id", "person_id", "name", "role", "grade", "class"]
SCHOOL_COLUMNS = [
    *("school_id", "name", "district_id", "town", "expected", "reported", "coverage"),
    *("absent", "missing", "missing_sessions", "unreachable", "illness_absence"),
    *("illness_absence_unexplained", "fever", "symptomatic", "suspected", "key_persons"),
    *("clusters", "data_quality", "submission", "last_received", "minutes_late", "deadline"),
    *("zero_report", "rows", "unrostered", "entries_total", "entries_fever"),
    *("entries_unapproved", "entries_no_temperature", "entries_still_inside"),
]
DQ_COLUMNS = [
    *("school_id", "person_id", "date", "file", "row", "column", "value", "reason"),
    *("message", "quarantined"),
]
ENTRY_FLAGS = ("fever", "unapproved", "no_temperature", "still_inside")
ENTRY_KINDS = ("staff", "visitor", "delivery", "other")
ENTRY_DETAIL = [
    *("entry_id", "school_id", "flag", "entered_at", "left_at", "name", "kind", "phone"),
    *("purpose", "temperature", "approved_by"),
]

_SESSION_ORDER = {"morning": 0, "noon": 1, "evening": 2}


def _rows(frame: pd.DataFrame) -> Iterator[Any]:
    """A frame's rows as named tuples (whose cells the type checker cannot know)."""
    return frame.itertuples()


def _ids(frame: pd.DataFrame) -> list[str]:
    return sorted(str(p) for p in frame["person_id"])


@dataclass(frozen=True, eq=False)  # frames: compare them, not the object
class Findings:
    """Everything the rules found for one date and a set of schools.

    Every frame has a ``school_id`` column; :meth:`for_school` slices them all.
    The columns are listed in this module's docstring.
    """

    date: date
    schools: pd.DataFrame
    missing: pd.DataFrame
    missing_sessions: pd.DataFrame
    unreachable: pd.DataFrame
    attention: pd.DataFrame
    fever: pd.DataFrame
    clusters: pd.DataFrame
    illness_absence: pd.DataFrame
    data_quality: pd.DataFrame
    trend: pd.DataFrame
    per_class: pd.DataFrame
    entries: pd.DataFrame
    entry_flags: pd.DataFrame
    rules: Rules | None = None
    # not computed here: a caller may attach the officer's follow-ups
    # (dataclasses.replace(findings, followups=frame)); sliced like the others
    followups: pd.DataFrame | None = None
    # the corrections of the date's check-ins (reportkit.findings.corrections), attached
    # by load_findings from the store's revisions; None when not loaded
    corrections: pd.DataFrame | None = None
    flag_corrections: pd.DataFrame | None = None

    # -- slicing -----------------------------------------------------------------

    @property
    def school_ids(self) -> list[str]:
        return [str(s) for s in self.schools["school_id"]]

    def with_frames(self, frames: Mapping[str, pd.DataFrame]) -> Findings:
        """The same findings with the frames ``frames`` (by field name) in place."""
        changes: dict[str, Any] = dict(frames)
        return replace(self, **changes)

    def for_school(self, school_id: str) -> Findings:
        """The findings of one school only (a slice, nothing recomputed)."""
        return self.for_schools([school_id])

    def for_schools(self, ids: str | Iterable[object]) -> Findings:
        """The findings of the schools ``ids`` only; an id not in the findings is an error."""
        wanted = [ids] if isinstance(ids, str) else [str(i) for i in ids]
        unknown = sorted(set(wanted) - set(self.school_ids))
        if unknown:
            raise ValueError(f"school {unknown[0]!r} is not in these findings")
        keep = set(wanted)
        sliced: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, pd.DataFrame) and "school_id" in value:
                mask = value["school_id"].isin(keep)
                sliced[f.name] = value.loc[mask].reset_index(drop=True)
        return replace(self, **sliced)

    def by_school(self) -> dict[str, Findings]:
        """Every school's findings, each as :meth:`for_school` gives it, the frames split
        in one pass (a district's messages then slice once, not once per school)."""
        return {
            sid: self.with_frames({k: v.reset_index(drop=True) for k, v in frames.items()})
            for sid, frames in self._parts().items()
        }

    # -- roll-ups over the tree ----------------------------------------------------------

    def units(
        self,
        config: SchoolsConfig,
        unit_ids: Sequence[str] | None = None,
        statuses: Mapping[str, tuple[str, int, str | None]] | None = None,
    ) -> dict[str, UnitRollup]:
        """The roll-ups of ``unit_ids`` (default every roll-up target of ``config``):
        counts, no names (:func:`reportkit.findings.tree.unit_rollups`)."""
        return unit_rollups(self.schools, self.trend, self.date, config, unit_ids, statuses)

    def unit(
        self,
        unit_id: str,
        config: SchoolsConfig,
        statuses: Mapping[str, tuple[str, int, str | None]] | None = None,
    ) -> UnitRollup:
        """The roll-up of one unit (or central school): counts, no names."""
        return self.units(config, [unit_id], statuses)[unit_id]

    def district(self, district_id: str, config: SchoolsConfig) -> UnitRollup:
        """The roll-up of ``district_id`` (a unit): :meth:`unit`."""
        return self.unit(district_id, config)

    # -- output ------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: per school, sorted lists of person ids (shape in the docs)."""
        return {
            "date": self.date.isoformat(),
            "schools": [_school_json(sid, part) for sid, part in self._parts().items()],
        }

    def _parts(self) -> dict[str, dict[str, pd.DataFrame]]:
        """school id -> frame name -> that school's rows (one groupby per frame)."""
        parts: dict[str, dict[str, pd.DataFrame]] = {sid: {} for sid in self.school_ids}
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, pd.DataFrame) or "school_id" not in value:
                continue
            groups = dict(iter(value.groupby("school_id", sort=False)))
            for sid, part in parts.items():
                part[f.name] = groups.get(sid, value.iloc[:0])
        return parts


def _school_json(sid: str, f: dict[str, pd.DataFrame]) -> dict[str, Any]:
    row = f["schools"].to_dict("records")[0]
    att = f["attention"]
    key = att[att["level"] == FlagLevel.KEY_PERSON].sort_values("person_id")
    ms = f["missing_sessions"]
    ms = ms.assign(_o=ms["session"].map(_SESSION_ORDER)).sort_values(["person_id", "_o"])
    clusters = sorted(
        (
            {"class": c.class_label, "rule": c.rule, "people": sorted(c.person_ids)}
            for c in _rows(f["clusters"])
        ),
        key=lambda c: (c["class"], c["rule"]),
    )
    ef = f["entry_flags"]
    return {
        "school_id": sid,
        "expected": int(row["expected"]),
        "reported": int(row["reported"]),
        "submission": {
            "status": row["submission"],
            "last_received": _clean(row["last_received"]),
            "minutes_late": int(row["minutes_late"]),
        },
        "zero_report": bool(row["zero_report"]),
        "missing": _ids(f["missing"]),
        "missing_sessions": [
            {"person_id": str(r.person_id), "session": r.session} for r in _rows(ms)
        ],
        "unreachable": [
            {"person_id": str(r.person_id), "days": int(r.days)}
            for r in _rows(f["unreachable"].sort_values("person_id"))
        ],
        "fever": _ids(f["fever"]),
        "symptomatic": _ids(att[att["level"] == FlagLevel.SYMPTOMATIC]),
        "suspected": _ids(att[att["level"] == FlagLevel.SUSPECTED]),
        "key_persons": [
            {
                "person_id": str(r.person_id),
                "day": int(r.monitoring_day),
                "ends": r.monitoring_ends.isoformat(),
            }
            for r in _rows(key)
        ],
        "clusters": clusters,
        "illness_absence_unexplained": _ids(f["illness_absence"]),
        "data_quality": [
            {
                "person_id": _clean(r.person_id),
                "column": _clean(r.column),
                "value": _clean(r.value),
                "reason": _clean(r.reason),
            }
            for r in _rows(f["data_quality"])
        ],
        "entries": {
            "total": int(f["entries"]["total"].sum()),
            **{
                flag: sorted(str(e) for e in ef.loc[ef["flag"] == flag, "entry_id"])
                for flag in ("fever", "unapproved", "no_temperature")
            },
        },
    }
