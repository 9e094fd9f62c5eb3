"""The rules: what counts as fever, symptomatic, suspected, a key person, a cluster …

One named function per definition, each with its source as ``params/rules.yaml``
states it (every number comes from :class:`reportkit.config.Rules`; W is
``window_days``). They work on the arrays of :mod:`reportkit.findings.matrices`
(one row per check-in, one row per person, or person x day matrices) and
:mod:`reportkit.findings.compute` calls them in order; nothing else decides a
flag.

* **population** — health flags consider the check-ins of people on the school's
  roster, whatever their status (rows of people not on it are counted as
  ``unrostered`` and otherwise ignored, except for the submission); only
  :func:`is_expected` people are expected, and only their check-ins count as
  reported.
* **fever** :func:`has_fever` · **symptomatic** :func:`is_symptomatic` ·
  **suspected** :func:`is_suspected` · **key person** :func:`is_key_person`,
  :func:`monitoring_day`, :func:`monitoring_end` · the level a person is listed
  at :func:`listed_level` (all four through :func:`levels`).
* **coverage** :func:`is_missing`, :func:`days_missing`, :func:`is_unreachable`,
  :func:`missing_sessions`, :func:`coverage` · **illness absence**
  :func:`unexplained_illness_absence` · **clusters** :func:`cluster_eligible`,
  :func:`cluster_members` · **zero report** :func:`is_zero_report`.
* the school-level parts of a day: **submission** :func:`submission_frame`, the
  **gate register** :func:`entries_frames`, and the ingestion findings shown as
  they were recorded, :func:`data_quality_frame`.
* **trend** — the W days ending on the day, each computed with its own window;
  the roster is today's (it has no history).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from reportkit.config import ClusterRule, Rules
from reportkit.findings.matrices import (
    CheckIns,
    Roster,
    blank,
    first_true,
    rolling_any,
    trailing_false,
)
from reportkit.findings.model import DQ_COLUMNS, ENTRY_DETAIL, ENTRY_FLAGS, ENTRY_KINDS
from reportkit.schema import FlagLevel

if TYPE_CHECKING:
    from reportkit.config import SchoolsConfig

__all__ = [
    "FEVER_TOLERANCE",
    "Levels",
    "cluster_eligible",
    "cluster_members",
    "coverage",
    "data_quality_frame",
    "days_missing",
    "entries_frames",
    "fever_by_temperature",
    "has_fever",
    "is_expected",
    "is_exposed",
    "is_key_person",
    "is_missing",
    "is_suspected",
    "is_symptomatic",
    "is_unreachable",
    "is_zero_report",
    "levels",
    "listed_level",
    "missing_sessions",
    "monitoring_day",
    "monitoring_end",
    "submission_frame",
    "unexplained_illness_absence",
]

# 37.3 stored as 37.29999… is still fever
FEVER_TOLERANCE = 1e-6

# the counts that must all be 0 for a zero report
_QUIET = ["missing", "fever", "symptomatic", "suspected", "key_persons", "clusters"]


# -- who is expected ------------------------------------------------------------------


def is_expected(status: np.ndarray) -> np.ndarray:
    """**Expected** to report: active on the roster, the default status; people on
    leave or who left are not. Source: DESIGN's roster contract ("only active people
    are expected to report")."""
    return ~pd.Series(status, dtype=object).isin(["on_leave", "left"]).to_numpy()


# -- fever, symptomatic, suspected, key person ------------------------------------------


def fever_by_temperature(temperature: Any, fever_celsius: float) -> Any:
    """**Fever** by a reading: at or above ``fever_celsius`` (37.3 °C), within
    :data:`FEVER_TOLERANCE`. Works on arrays and Series alike.

    Source: national school epidemic prevention guidance, 2020 (体温≥37.3℃);
    ``fever_celsius`` in params/rules.yaml.
    """
    return temperature >= fever_celsius - FEVER_TOLERANCE


def has_fever(rows: CheckIns, rules: Rules) -> np.ndarray:
    """**Fever**, per check-in row: a reading at or above ``fever_celsius``, *or* the
    symptom code ``fever`` (发热/发烧) reported. A person has fever on a day when one
    of that day's rows has (so the day's highest reading decides).

    Source: national school epidemic prevention guidance, 2020 (体温≥37.3℃); a
    reported symptom "fever"/发热 also counts (params/rules.yaml, ``fever_celsius``).
    """
    by_code = rows.per_set(["fever" in s for s in rows.symptom_sets])
    return fever_by_temperature(rows.temperature, rules.fever_celsius) | by_code


def is_symptomatic(rows: CheckIns, fever: np.ndarray, rules: Rules) -> np.ndarray:
    """**Symptomatic**, per check-in row: fever, or a ``respiratory_symptoms`` code
    (cough, shortness of breath, sore throat by default).

    Source: 2020 guidance, fever and respiratory symptoms (发热、咳嗽、咽痛、气促/胸闷等
    呼吸道症状); ``respiratory_symptoms`` in params/rules.yaml.
    """
    respiratory = set(rules.respiratory_symptoms)
    return fever | rows.per_set([bool(respiratory.intersection(s)) for s in rows.symptom_sets])


def is_exposed(rows: CheckIns) -> np.ndarray:
    """An **exposure**, per check-in row: a stay in a key area or a contact with a
    confirmed or suspected case declared (14天内旅居史/接触史)."""
    return rows.key_area | rows.contact


def is_suspected(symptomatic: np.ndarray, exposed_in_window: np.ndarray) -> np.ndarray:
    """**Suspected**, per person and day: symptomatic, and an exposure declared on any
    check-in of the W days ending on that day.

    Source: 2020 guidance, 14-day history (14天内旅居史/接触史); ``window_days``.
    """
    return symptomatic & exposed_in_window


def monitoring_day(first: np.ndarray, window_days: int) -> np.ndarray:
    """A key person's **monitoring day** n on the report date: day 1 is the first
    check-in in the window that declared the exposure (``first``: its day within the
    window's W days, 0 for the window's first day).

    Source: 2020 guidance, 14-day medical observation (14天医学观察); shown as day n of
    ``monitoring_days`` with its end date.
    """
    return window_days - first


def monitoring_end(exposure_date: date, rules: Rules) -> date:
    """The last day of a key person's monitoring: ``monitoring_days`` days counted from
    the first declaration (day 1). Source: as :func:`monitoring_day`."""
    return exposure_date + timedelta(days=rules.monitoring_days - 1)


def is_key_person(
    exposed_today: np.ndarray,
    symptomatic_today: np.ndarray,
    day_n: np.ndarray,
    rules: Rules,
) -> np.ndarray:
    """**Key person**: an exposure in the window, not symptomatic on the report date,
    listed while monitoring day n <= ``monitoring_days``.

    Source: 2020 guidance: key-area stays and contacts are traced person by person
    and kept under 14-day medical observation (14天医学观察); ``monitoring_days``.
    """
    return exposed_today & ~symptomatic_today & (day_n <= rules.monitoring_days)


def listed_level(
    suspected_today: np.ndarray, symptomatic_today: np.ndarray, key_person: np.ndarray
) -> np.ndarray:
    """The level a person is listed at on the report date, as a :class:`FlagLevel`
    rank (0: not listed): the highest only, suspected > symptomatic > key person
    (``fever`` is a list of its own, of everyone with fever)."""
    return np.where(
        suspected_today,
        FlagLevel.SUSPECTED.rank,
        np.where(
            symptomatic_today,
            FlagLevel.SYMPTOMATIC.rank,
            np.where(key_person, FlagLevel.KEY_PERSON.rank, 0),
        ),
    )


@dataclass(frozen=True)
class Levels:
    """The exposure rules applied: ``suspected`` (person x day), and per person on the
    report date its ``rank`` (:func:`listed_level`), ``exposed_today`` (an exposure in
    the window), ``monitoring_day`` and ``first_offset`` (the day of the span its
    monitoring counts from)."""

    suspected: np.ndarray
    rank: np.ndarray
    exposed_today: np.ndarray
    monitoring_day: np.ndarray
    first_offset: np.ndarray


def levels(symptomatic: np.ndarray, exposed: np.ndarray, rules: Rules) -> Levels:
    """Suspected per day, and each person's level on the last day of the matrices
    (``symptomatic`` and ``exposed``: person x day of the span)."""
    span, w = symptomatic.shape[1], rules.window_days
    exposed_window = rolling_any(exposed, w)
    suspected = is_suspected(symptomatic, exposed_window)
    first = first_true(exposed[:, span - w :])
    day_n = monitoring_day(first, w)
    exposed_today = exposed_window[:, -1]
    symptomatic_today = symptomatic[:, -1]
    key_person = is_key_person(exposed_today, symptomatic_today, day_n, rules)
    return Levels(
        suspected=suspected,
        rank=listed_level(suspected[:, -1], symptomatic_today, key_person),
        exposed_today=exposed_today,
        monitoring_day=day_n,
        first_offset=span - w + first,
    )


# -- coverage ---------------------------------------------------------------------------


def is_missing(expected: np.ndarray, reported_today: np.ndarray) -> np.ndarray:
    """**Missing**: expected, and no check-in on the report date.

    Source: "full coverage, nobody missed" (全覆盖、无遗漏) of the originating document.
    """
    return expected & ~reported_today


def days_missing(
    reported: np.ndarray, rules: Rules, reporting: np.ndarray | None = None
) -> np.ndarray:
    """**Days missing**: the run of consecutive reporting days without a check-in ending
    on the report date, capped at W (days without any data count as missing).

    ``reporting`` (people x days, from the calendar): a non-reporting day (a holiday, a
    weekend) neither counts in the run nor ends it."""
    w = rules.window_days
    if reporting is None or reporting.all():
        return trailing_false(reported, w)
    out = np.zeros(len(reported), dtype=np.int64)
    # a calendar pattern per person as one integer key (rows of bits), then one sort of
    # keys: a sort of whole rows cost most of the findings of a province
    packed = np.packbits(reporting, axis=1)
    width = -(-packed.shape[1] // 8) * 8
    keys = np.zeros((len(packed), width), dtype=np.uint8)
    keys[:, : packed.shape[1]] = packed
    words = keys.view(np.uint64)  # people x (width / 8)
    _, first, which = np.unique(
        words.view([("", np.uint64)] * words.shape[1]).reshape(-1),
        return_index=True,
        return_inverse=True,
    )
    for k, row in enumerate(first.tolist()):
        rows = np.flatnonzero(which.reshape(-1) == k)
        cols = np.flatnonzero(reporting[row])
        if not len(cols) or not len(rows):
            continue
        part = reported[np.ix_(rows, cols)]
        out[rows] = trailing_false(part, min(w, len(cols)))
    return out


def is_unreachable(missing: np.ndarray, run: np.ndarray, rules: Rules) -> np.ndarray:
    """**Unreachable**: missing on ``unreachable_days`` or more consecutive days ending on
    the report date; must be contacted.

    Source: "full coverage, nobody missed" (全覆盖、无遗漏) of the originating document;
    2 is reportkit's default (``unreachable_days``).
    """
    return missing & (run >= rules.unreachable_days)


def missing_sessions(
    reported_today: np.ndarray,
    absent: np.ndarray,
    sessions: np.ndarray,
    present: np.ndarray,
) -> np.ndarray:
    """**Missing sessions** (person x session): a reported, not absent, expected person
    without a check-in for one of the school's ``sessions`` (晨午检: each session checks
    everyone present)."""
    return (reported_today & ~absent)[:, None] & sessions & ~present


def coverage(reported: Any, expected: Any) -> np.ndarray:
    """**Coverage**: reported / expected, in percent; NaN when nobody is expected."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(expected > 0, reported / expected * 100, np.nan)


def unexplained_illness_absence(
    absent_ill: np.ndarray, any_symptom: np.ndarray, tmax: np.ndarray, rules: Rules
) -> np.ndarray:
    """**Illness absence** whose cause must be followed up: absent for illness on the
    report date, with no symptom code, no other symptom text and no fever recorded.

    Source: illness-absence registration and tracking (因病缺课登记追踪), the national
    school practice the domain brief's rules draw on.
    """
    return absent_ill & ~any_symptom & ~fever_by_temperature(tmax, rules.fever_celsius)


# -- clusters -----------------------------------------------------------------------------


def cluster_eligible(roster: Roster) -> np.ndarray:
    """Who a **cluster** counts: students with a class (a staff "class" is a
    department); a class is school + grade + class."""
    return roster.student & ~blank(roster.klass)


def cluster_members(
    symptomatic: np.ndarray,
    class_code: np.ndarray,
    n_classes: int,
    eligible: np.ndarray,
    rule: ClusterRule,
) -> np.ndarray:
    """The people of the classes where one **cluster** rule fires: at least
    ``min_cases`` distinct eligible students symptomatic within ``days`` consecutive
    days ending on the report date.

    Source (params/rules.yaml ``clusters``): ``same_day`` 3 in one class on one day and
    ``three_days`` 5 within 3 days, school infectious-disease reporting rules, 2006
    (学校和托幼机构传染病疫情报告工作规范（试行）); ``clustered_illness`` 2 within 14 days
    (聚集性病例), 2020 school epidemic prevention guidance.
    """
    span = symptomatic.shape[1]
    days = min(rule.days, span)
    ill = symptomatic[:, span - days :].any(axis=1) & eligible
    counts = np.bincount(class_code[ill], minlength=n_classes)
    alert = np.append(counts >= rule.min_cases, False)  # code -1 -> False
    return ill & alert[class_code]


# -- the school's day ------------------------------------------------------------------------


def is_zero_report(schools: pd.DataFrame) -> pd.Series:
    """**Zero report**: the school submitted, and has no missing person, fever,
    symptomatic, suspected, key person, cluster or unexplained illness absence.

    Source: the zero-report habit (零报告) of the domain brief: a school with nothing
    abnormal still submits, and its report says so.
    """
    return (
        ~schools["submission"].isin(["missing", "closed"])
        & (schools[_QUIET].sum(axis=1) == 0)
        & (schools["illness_absence_unexplained"] == 0)
    )


def _rank(frame: pd.DataFrame, school_ids: Sequence[str]) -> pd.Series:
    return frame["school_id"].map({s: i for i, s in enumerate(school_ids)})


def submission_frame(
    row_school: np.ndarray,
    rostered: np.ndarray,
    reported_at: pd.Series,
    config: SchoolsConfig,
    school_ids: Sequence[str],
    report_date: date,
    closed: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per school: rows, unrostered, submission, last_received, minutes_late, deadline.

    **Submission**, from every check-in row of the school on the day: ``on_time`` if
    the latest ``reported_at`` (local wall-clock time) is at or before the school's
    deadline, ``late`` otherwise (``minutes_late`` rounded up; 0 when not late),
    ``missing`` with no row, ``closed`` on a day the school's calendar does not report
    (``closed``: one flag per school; nobody is expected then). Rows without ``reported_at`` count as submitted and
    never make a school late. ``deadline`` is the aware ISO time in the school's zone.

    Source: the originating document's daily 16:30 report (schools.yaml ``deadline``).

    ``row_school`` (position in ``school_ids``), ``rostered`` and ``reported_at``
    (naive local time) describe every check-in row of the report date.
    """
    n = len(school_ids)
    rows = np.bincount(row_school, minlength=n)
    unrostered = np.bincount(row_school[~rostered], minlength=n)
    last = reported_at.groupby(row_school).max() if len(row_school) else pd.Series()
    out = []
    for i, sid in enumerate(school_ids):
        school = config.school(sid)
        deadline = datetime.combine(report_date, school.deadline_time())
        received = last.get(i, pd.NaT)
        status, minutes = ("on_time" if rows[i] else "missing"), 0
        if closed is not None and closed[i]:
            status = "closed"
        elif rows[i] and pd.notna(received) and received > deadline:
            status = "late"
            minutes = -int((deadline - received) // pd.Timedelta(minutes=1))  # rounded up
        out.append(
            {
                "rows": int(rows[i]),
                "unrostered": int(unrostered[i]),
                "submission": status,
                "last_received": received.isoformat() if pd.notna(received) else None,
                "minutes_late": minutes,
                "deadline": deadline.replace(tzinfo=config.zone(sid)).isoformat(),
            }
        )
    cols = ["rows", "unrostered", "submission", "last_received", "minutes_late", "deadline"]
    return pd.DataFrame(out, columns=cols)


def data_quality_frame(
    data_quality: pd.DataFrame | None, school_ids: Sequence[str], report_date: date
) -> pd.DataFrame:
    """The ingestion findings of the report date for the schools, in file and row order
    (shown as recorded: no rule is applied to them here)."""
    if data_quality is None or data_quality.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DQ_COLUMNS})
    frame = data_quality.reindex(columns=DQ_COLUMNS)
    days = pd.to_datetime(frame["date"], errors="coerce").dt.date
    keep = (days == report_date).to_numpy() & frame["school_id"].isin(set(school_ids)).to_numpy()
    frame = frame.loc[keep]
    frame = frame.assign(
        quarantined=frame["quarantined"].astype(object).fillna(False).astype(bool),
        _s=_rank(frame, school_ids),
    )
    frame = frame.sort_values(["_s", "file", "row"], kind="stable", na_position="last")
    return frame.drop(columns="_s").reset_index(drop=True)


def _blank_text(series: pd.Series) -> pd.Series:
    return series.astype(object).fillna("").astype(str).str.strip() == ""


def entries_frames(
    entries: pd.DataFrame | None,
    config: SchoolsConfig,
    fever_celsius: float,
    school_ids: Sequence[str],
    report_date: date,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The **gate register** of the report date: a summary per school and the flagged
    entries.

    Flags: ``fever`` (:func:`fever_by_temperature`), ``unapproved`` (a visitor with no
    approver), ``no_temperature``, ``still_inside`` (left after the school's closing
    time, or never signed out having entered at or before closing; an entry after
    closing without a sign-out is not counted: night duty is not a lingering visitor).

    Source: the originating document: whoever must enter the campus registers by
    real name, has their temperature taken and is approved (要实名登记并接受体温检测,
    履行报批手续).
    """
    columns = ["total", *ENTRY_FLAGS, *ENTRY_KINDS]
    summary = pd.DataFrame(0, index=pd.Index(list(school_ids), name="school_id"), columns=columns)
    detail = pd.DataFrame({c: pd.Series(dtype=object) for c in ENTRY_DETAIL})
    if entries is None or entries.empty:
        return summary.reset_index(), detail
    frame = entries.reindex(columns=[c for c in ENTRY_DETAIL if c != "flag"] + ["date"])
    entered = pd.to_datetime(frame["entered_at"], errors="coerce")
    days = pd.to_datetime(frame["date"], errors="coerce").fillna(entered.dt.normalize()).dt.date
    keep = (days == report_date).to_numpy() & frame["school_id"].isin(set(school_ids)).to_numpy()
    frame, entered = frame.loc[keep].reset_index(drop=True), entered[keep].reset_index(drop=True)
    if frame.empty:
        return summary.reset_index(), detail
    left = pd.to_datetime(frame["left_at"], errors="coerce")
    closing = pd.to_datetime(
        frame["school_id"].map(
            {s: datetime.combine(report_date, config.school(s).closing()) for s in school_ids}
        )
    )
    temp = pd.to_numeric(frame["temperature"], errors="coerce")
    kind = frame["kind"].where(frame["kind"].isin(ENTRY_KINDS), "other")
    flags = pd.DataFrame(
        {
            "fever": fever_by_temperature(temp, fever_celsius),
            "unapproved": (kind == "visitor") & _blank_text(frame["approved_by"]),
            "no_temperature": temp.isna(),
            "still_inside": (left.isna() & (entered <= closing)) | (left > closing),
        }
    )
    by_school = frame["school_id"].to_numpy()
    summary["total"] = frame.groupby(by_school).size().reindex(list(school_ids), fill_value=0)
    counts = flags.groupby(by_school).sum()
    for col in ENTRY_FLAGS:
        summary[col] = counts[col].reindex(list(school_ids), fill_value=0)
    kinds = pd.crosstab(by_school, kind.to_numpy())
    for col in ENTRY_KINDS:
        if col in kinds:
            summary[col] = kinds[col].reindex(list(school_ids), fill_value=0)
    parts = [frame.loc[flags[f].to_numpy()].assign(flag=f) for f in ENTRY_FLAGS]
    detail = pd.concat(parts, ignore_index=True)
    detail = detail.assign(_s=_rank(detail, school_ids)).sort_values("_s", kind="stable")
    return summary.astype(np.int64).reset_index(), detail[ENTRY_DETAIL].reset_index(drop=True)
