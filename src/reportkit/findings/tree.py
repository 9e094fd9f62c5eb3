"""Roll-ups over the org tree: every unit's day, child by child, counts only.

:func:`unit_rollups` computes the :class:`UnitRollup` of every roll-up target of
``schools.yaml`` (each unit, and each school with child schools) from one day's
per-school frame and trend, in one pass: each node's figures are the sums of its
subtree's schools, so a parent's counts are the sums of its children's at every
level. A school on a non-reporting day (``submission == "closed"``) is in no
denominator. A child unit's status is its own roll-up's (:func:`unit_status`: on
time when rendered by its deadline, late after it, missing when it is due and was
not rendered, ``none`` when it has no recipients and no roll-up of its own).

Rows are sorted for the reader: missing and late children first, then children
with anomalies by severity (suspected, symptomatic, fever, missing people), then
the rest in the file's order. No frame here holds a person.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from reportkit.config import SchoolsConfig
from reportkit.schema import CENTRAL_SCHOOL

__all__ = [
    "CHILD_COLUMNS",
    "ROLLUP_COLUMNS",
    "UNIT_FIGURES",
    "UnitRollup",
    "unit_rollups",
    "unit_status",
]

# The columns of a roll-up's rows frame (a child school or unit each): counts, no person.
ROLLUP_COLUMNS = [
    *("school_id", "name", "town", "submission", "last_received", "minutes_late"),
    *("zero_report", "expected", "reported", "coverage", "missing", "unreachable", "absent"),
    *("illness_absence", "illness_absence_unexplained", "fever", "symptomatic", "suspected"),
    *("key_persons", "clusters", "data_quality", "entries_total", "entries_fever"),
    *("entries_unapproved", "entries_no_temperature", "entries_still_inside"),
]
# what a row adds: a school or a unit, its level, and its subtree's schools
CHILD_COLUMNS = [
    *("kind", "level", "schools_expected", "schools_submitted", "schools_on_time"),
    *("schools_late", "schools_missing", "schools_closed"),
]
_TOTAL_COLUMNS = [c for c in ROLLUP_COLUMNS[7:] if c != "coverage"]
_TREND_COUNTS = ["expected", "reported", "fever", "symptomatic", "suspected"]
_SEVERITY = ("suspected", "symptomatic", "fever", "missing")
_SCHOOL_FLAGS = ["on_time", "late", "missing", "closed", "zero"]

# The figures of a roll-up an upward form may name (params/forms/*.yaml ``cells``).
UNIT_FIGURES = (
    *("unit_name", "unit_id", "level", "date", "deadline", "schools_expected"),
    *("schools_submitted", "schools_on_time", "schools_late", "schools_missing"),
    *("schools_closed", "zero_reports", "reporting_rate", "on_time_rate", "people_expected"),
    *("people_reported", "coverage", "missing", "absent", "fever", "symptomatic", "suspected"),
    *("key_persons", "clusters", "illness_absence", "illness_absence_unexplained"),
    *("unreachable", "late_units"),
)


def _pct(part: float, whole: float) -> float:
    return part / whole * 100.0 if whole else math.nan


def _clean(value: Any) -> Any:
    """A JSON-safe scalar: NaN/NA -> None, numpy scalars -> Python."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


@dataclass(frozen=True, eq=False)  # frames: compare them, not the object
class UnitRollup:
    """A unit's day, child by child: counts and rates, never a person.

    ``schools`` holds one row per child (a school, a central school's subtree, a
    unit's subtree) with :data:`ROLLUP_COLUMNS` and :data:`CHILD_COLUMNS`
    (``school_id`` is the child's id); a central school's own roll-up lists itself
    first (its own counts), then its village schools. ``totals`` sums the counts and
    adds ``schools_expected/submitted/on_time/late/missing/closed`` and
    ``zero_reports``; ``trend`` is the unit's days (``date, expected, reported,
    fever, symptomatic, suspected, schools_reported``). Rates are percentages:
    DHIS2's reporting rate (schools submitted / expected) and reporting rate on time;
    a closed school is in neither.
    """

    date: date
    district_id: str
    name: str
    deadline: str
    schools: pd.DataFrame
    totals: dict[str, int]
    trend: pd.DataFrame
    schools_expected: int
    schools_submitted: int
    schools_on_time: int
    schools_missing: int
    reporting_rate: float
    reporting_rate_on_time: float
    expected: int
    reported: int
    coverage: float
    level: str = ""
    late_units: list[str] = field(default_factory=list)

    @property
    def unit_id(self) -> str:
        return self.district_id

    @property
    def children(self) -> pd.DataFrame:
        return self.schools

    def ordered(self) -> pd.DataFrame:
        """The rows for the reader: missing and late children first, then those with
        anomalies by severity (suspected, symptomatic, fever, missing people), then the
        rest in the file's order; a central school's own row stays first."""
        frame = self.schools
        if frame.empty:
            return frame
        records: list[dict[str, Any]] = frame.to_dict("records")  # type: ignore[assignment]
        own = 1 if records[0]["school_id"] == self.unit_id else 0
        rest = sorted(
            range(own, len(records)),
            key=lambda i: (
                _rank(records[i]),
                *(-int(_clean(records[i][c]) or 0) for c in _SEVERITY),
                i,
            ),
        )
        return frame.iloc[[*range(own), *rest]].reset_index(drop=True)

    def figures(self) -> dict[str, Any]:
        """Every figure of :data:`UNIT_FIGURES` by name (what a form's cells name)."""
        t = self.totals
        return {
            "unit_name": self.name,
            "unit_id": self.unit_id,
            "level": self.level,
            "date": self.date.isoformat(),
            "deadline": self.deadline,
            "schools_expected": self.schools_expected,
            "schools_submitted": self.schools_submitted,
            "schools_on_time": self.schools_on_time,
            "schools_late": self.schools_submitted - self.schools_on_time,
            "schools_missing": self.schools_missing,
            "schools_closed": t.get("schools_closed", 0),
            "zero_reports": t.get("zero_reports", 0),
            "reporting_rate": _round(self.reporting_rate),
            "on_time_rate": _round(self.reporting_rate_on_time),
            "people_expected": self.expected,
            "people_reported": self.reported,
            "coverage": _round(self.coverage),
            **{k: t.get(k, 0) for k in ("missing", "absent", "fever", "symptomatic")},
            **{k: t.get(k, 0) for k in ("suspected", "key_persons", "clusters")},
            **{k: t.get(k, 0) for k in ("illness_absence", "illness_absence_unexplained")},
            "unreachable": t.get("unreachable", 0),
            "late_units": "、".join(self.late_units),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "district_id": self.district_id,
            "reporting_rate": _clean(self.reporting_rate),
            "reporting_rate_on_time": _clean(self.reporting_rate_on_time),
            "coverage": _clean(self.coverage),
            "totals": dict(self.totals),
            "schools": [
                {k: _clean(v) for k, v in rec.items()}
                for rec in self.schools.to_dict(orient="records")
            ],
            "trend": [
                {k: (v.isoformat() if isinstance(v, date) else _clean(v)) for k, v in rec.items()}
                for rec in self.trend.to_dict(orient="records")
            ],
            "late_units": list(self.late_units),
        }


def _round(value: float) -> float | None:
    return None if value != value else round(value, 1)


def unit_status(
    config: SchoolsConfig, unit_id: str, report_date: date, rendered_at: str | None
) -> tuple[str, int, str | None]:
    """A unit's own roll-up: ``(status, minutes_late, rendered_at)``.

    ``on_time`` when it was rendered (``rendered_at``, ISO with offset, from the day's
    manifest) by the unit's deadline on the report date, ``late`` after it, ``missing``
    when it has recipients (it is due) and was not rendered, ``none`` when it has no
    roll-up of its own to send.
    """
    unit = config.unit(unit_id)
    if rendered_at is None:
        return ("missing" if unit.recipients else "none"), 0, None
    at = datetime.fromisoformat(rendered_at)
    zone = config.zone()
    deadline = datetime.combine(report_date, unit.deadline_time(), tzinfo=zone)
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone)
    if at <= deadline:
        return "on_time", 0, rendered_at
    return "late", -int((deadline - at).total_seconds() // 60), rendered_at


class _Sums:
    """Each node's subtree sums, memoised bottom-up."""

    def __init__(
        self,
        config: SchoolsConfig,
        pos: dict[str, int],
        counts: np.ndarray,
        flags: np.ndarray,
        trend: np.ndarray,
        reported_days: np.ndarray,
    ) -> None:
        self.config, self.pos = config, pos
        self.counts, self.flags, self.trend, self.reported_days = (
            counts,
            flags,
            trend,
            reported_days,
        )
        self.memo: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def own(self, school_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        i = self.pos.get(school_id)
        if i is None:
            raise ValueError(f"school {school_id!r} is not in these findings")
        return self.counts[i], self.flags[i], self.trend[i], self.reported_days[i]

    def of(self, node: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if node in self.memo:
            return self.memo[node]
        parts = [self.own(node)] if node in self.config.by_id else []
        parts += [self.of(child) for child in self.config.children[node]]
        if parts:
            total = tuple(np.sum([p[k] for p in parts], axis=0) for k in range(4))
        else:
            total = (
                np.zeros_like(self.counts[0]) if len(self.counts) else np.zeros(0, np.int64),
                np.zeros(len(_SCHOOL_FLAGS), np.int64),
                np.zeros(self.trend.shape[1:], np.int64),
                np.zeros(self.reported_days.shape[1:], np.int64),
            )
        self.memo[node] = total
        return self.memo[node]


def unit_rollups(
    schools: pd.DataFrame,
    trend: pd.DataFrame,
    report_date: date,
    config: SchoolsConfig,
    unit_ids: Sequence[str] | None = None,
    statuses: Mapping[str, tuple[str, int, str | None]] | None = None,
) -> dict[str, UnitRollup]:
    """The roll-ups of ``unit_ids`` (default: every roll-up target) from a day's
    ``schools`` frame and ``trend`` (:class:`~reportkit.findings.Findings`'), which must
    hold every school under them. ``statuses``: each child unit's
    :func:`unit_status` (default ``none``)."""
    targets = list(config.rollup_ids if unit_ids is None else dict.fromkeys(unit_ids))
    for target in targets:
        config.unit(target)  # unknown: ConfigError
    statuses = statuses or {}
    ids = [str(s) for s in schools["school_id"]]
    pos = {s: i for i, s in enumerate(ids)}
    counts = schools[_TOTAL_COLUMNS].fillna(0).to_numpy(dtype=np.int64)
    sub = schools["submission"].to_numpy()
    flags = np.stack(
        [
            sub == "on_time",
            sub == "late",
            sub == "missing",
            sub == "closed",
            schools["zero_report"].to_numpy(dtype=bool),
        ],
        axis=1,
    ).astype(np.int64)
    dates = sorted(set(trend["date"])) if len(trend) else []
    w = len(dates)
    cube = np.zeros((len(ids), w, len(_TREND_COUNTS)), dtype=np.int64)
    if w:
        rows = trend["school_id"].map(pos)
        keep = rows.notna().to_numpy()
        day_pos = {d: j for j, d in enumerate(dates)}
        r = rows[keep].to_numpy(dtype=np.int64)
        c = trend.loc[keep, "date"].map(day_pos).to_numpy(dtype=np.int64)
        cube[r, c] = trend.loc[keep, _TREND_COUNTS].to_numpy(dtype=np.int64)
    reported_days = (cube[:, :, 1] > 0).astype(np.int64)
    sums = _Sums(config, pos, counts, flags, cube, reported_days)
    records: list[dict[str, Any]] = schools[ROLLUP_COLUMNS].to_dict("records")  # type: ignore[assignment]
    frame_rows = dict(zip(ids, records, strict=True))
    parts = [
        _rollup(config, target, report_date, sums, frame_rows, statuses, dates)
        for target in targets
    ]
    every_row = [r for records, _, _ in parts for r in records]
    rows_frame = pd.DataFrame(every_row, columns=[*ROLLUP_COLUMNS, *CHILD_COLUMNS])
    trend_columns = [*_TREND_COUNTS, "schools_reported"]
    w = len(dates)
    stacked = (
        np.concatenate([d for _, d, _ in parts])
        if parts
        else np.zeros((0, len(trend_columns)), np.int64)
    )
    trend_frame = pd.DataFrame(stacked.reshape(-1, len(trend_columns)), columns=trend_columns)
    trend_frame.insert(0, "date", np.tile(np.array(dates, dtype=object), len(parts)))
    out = {}
    start = 0
    for k, (target, (records, _, figures)) in enumerate(zip(targets, parts, strict=True)):
        children = rows_frame.iloc[start : start + len(records)].reset_index(drop=True)
        days = trend_frame.iloc[k * w : (k + 1) * w].reset_index(drop=True)
        start += len(records)
        out[target] = UnitRollup(schools=children, trend=days, **figures)
    return out


def _school_row(row: Mapping[str, Any], level: str) -> dict[str, Any]:
    rec = dict(row)
    closed = rec["submission"] == "closed"
    rec.update(
        kind="school",
        level=level,
        schools_expected=0 if closed else 1,
        schools_submitted=int(rec["submission"] in ("on_time", "late")),
        schools_on_time=int(rec["submission"] == "on_time"),
        schools_late=int(rec["submission"] == "late"),
        schools_missing=int(rec["submission"] == "missing"),
        schools_closed=int(closed),
    )
    return rec


def _subtree_row(
    node: str,
    name: str,
    kind: str,
    level: str,
    sums: tuple[np.ndarray, ...],
    status: tuple[str, int, str | None],
    town: str = "",
) -> dict[str, Any]:
    counts, flags = sums[0], sums[1]
    rec: dict[str, Any] = {
        "school_id": node,
        "name": name,
        "town": town,
        "submission": status[0],
        "last_received": status[2],
        "minutes_late": int(status[1]),
    }
    values = dict(zip(_TOTAL_COLUMNS, (int(v) for v in counts), strict=True))
    on_time, late, missing, closed, zero = (int(v) for v in flags)
    expected = on_time + late + missing
    rec["zero_report"] = bool(expected and zero == expected)
    rec.update(values)
    rec["coverage"] = _pct(values["reported"], values["expected"])
    rec.update(
        kind=kind,
        level=level,
        schools_expected=expected,
        schools_submitted=on_time + late,
        schools_on_time=on_time,
        schools_late=late,
        schools_missing=missing,
        schools_closed=closed,
    )
    return rec


def _rank(rec: Mapping[str, Any]) -> int:
    status = rec["submission"]
    if status == "missing":
        return 0
    if status == "late":
        return 1
    if rec["kind"] == "unit" and status == "none":
        return 0 if rec["schools_missing"] else 1 if rec["schools_late"] else 2
    return 2


def _rollup(
    config: SchoolsConfig,
    target: str,
    report_date: date,
    sums: _Sums,
    frame_rows: Mapping[str, Mapping[str, Any]],
    statuses: Mapping[str, tuple[str, int, str | None]],
    dates: list[Any],
) -> tuple[list[dict[str, Any]], np.ndarray, dict[str, Any]]:
    """A target's rows, its trend (days x counts) and its figures; the frames are made
    for every target at once by :func:`unit_rollups` (one frame per target is slow)."""
    unit = config.unit(target)
    records: list[dict[str, Any]] = []
    if target in config.by_id:  # a central school: itself first, its own counts
        records.append(_school_row(_row(frame_rows, target), CENTRAL_SCHOOL))
        sums.own(target)
    for child in config.children[target]:
        if child in config.by_id:
            school = config.by_id[child]
            if config.children[child]:
                records.append(
                    _subtree_row(
                        child,
                        school.name,
                        "school",
                        CENTRAL_SCHOOL,
                        sums.of(child),
                        _own_status(_row(frame_rows, child)),
                        school.town,
                    )
                )
            else:
                sums.own(child)
                records.append(_school_row(_row(frame_rows, child), school.kind))
        else:
            sub = config.unit(child)
            status = statuses.get(child, ("none", 0, None))
            records.append(_subtree_row(child, sub.name, "unit", sub.level, sums.of(child), status))
    counts, flags, cube, reported_days = sums.of(target)
    on_time, late, missing, closed, zero = (int(v) for v in flags)
    n = on_time + late + missing
    submitted = on_time + late
    totals = dict(zip(_TOTAL_COLUMNS, (int(v) for v in counts), strict=True))
    totals.update(
        schools_expected=n,
        schools_submitted=submitted,
        schools_on_time=on_time,
        schools_late=late,
        schools_missing=missing,
        schools_closed=closed,
        zero_reports=zero,
    )
    daily = np.column_stack([cube, reported_days]).astype(np.int64, copy=False)
    late_units = [
        str(r["name"]) for r in records if r["kind"] == "unit" and r["submission"] == "late"
    ]
    return (
        records,
        daily,
        dict(
            date=report_date,
            district_id=target,
            name=unit.name,
            deadline=unit.deadline,
            totals=totals,
            schools_expected=n,
            schools_submitted=submitted,
            schools_on_time=on_time,
            schools_missing=missing,
            reporting_rate=_pct(submitted, n),
            reporting_rate_on_time=_pct(on_time, n),
            expected=totals["expected"],
            reported=totals["reported"],
            coverage=_pct(totals["reported"], totals["expected"]),
            level=unit.level,
            late_units=late_units,
        ),
    )


def _row(rows: Mapping[str, Mapping[str, Any]], school_id: str) -> Mapping[str, Any]:
    try:
        return rows[school_id]
    except KeyError:
        raise ValueError(f"school {school_id!r} is not in these findings") from None


def _own_status(row: Mapping[str, Any]) -> tuple[str, int, str | None]:
    last = row["last_received"]
    return str(row["submission"]), int(row["minutes_late"] or 0), None if last is None else last
