"""The flag engine: from roster, check-ins and gate register to a day's findings.

:func:`compute_findings` takes the frames of :mod:`reportkit.store` and returns
a :class:`~reportkit.findings.Findings` for one report date and a set of schools;
:func:`load_findings` loads the frames first. The work is vectorised: each
check-in row is mapped to a roster position and a day, and the rules run on
boolean person x day matrices (numpy), so a district's million check-ins take
about half a second on one core.

This module only puts the parts together, in order: the layout is
:mod:`reportkit.findings.matrices`, every definition (fever, symptomatic,
suspected, key person, missing, unreachable, clusters, illness absence,
submission, gate register, zero report) is a named function of
:mod:`reportkit.findings.rules`, the attention and fever lists with their
sentences are :mod:`reportkit.findings.attention`. The frames and their columns
are listed in :mod:`reportkit.findings.model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from reportkit.config import Rules, SchoolsConfig
from reportkit.findings.attention import attention_frames
from reportkit.findings.matrices import SESSIONS, CheckIns, Roster, as_date, group_sums
from reportkit.findings.model import ENTRY_FLAGS, SCHOOL_COLUMNS, Findings
from reportkit.findings.rules import (
    FEVER_TOLERANCE,
    Levels,
    cluster_eligible,
    cluster_members,
    coverage,
    data_quality_frame,
    days_missing,
    entries_frames,
    has_fever,
    is_expected,
    is_exposed,
    is_missing,
    is_symptomatic,
    is_unreachable,
    is_zero_report,
    levels,
    missing_sessions,
    submission_frame,
    unexplained_illness_absence,
)
from reportkit.schema import FlagLevel

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = [
    "PreparedDay",
    "compute_findings",
    "load_findings",
    "prepare_day",
    "reporting_days",
    "span_days",
]

_CLUSTER_COLUMNS = [
    *("school_id", "grade", "class", "class_label", "rule", "days", "min_cases", "count"),
    *("person_ids", "names"),
]


def span_days(rules: Rules) -> int:
    """Days of check-ins the rules look at, ending on the report date.

    The trend's first day needs its own exposure window: 2 x window - 1 days
    (longer if a cluster rule spans more).
    """
    cluster_days = [r.days for r in rules.clusters.values() if r.enabled]
    return max(2 * rules.window_days - 1, *cluster_days, 1)


def _select(config: SchoolsConfig, school_ids: Sequence[str] | None) -> list[str]:
    if school_ids is None:
        return [s.id for s in config.schools]
    ids = [school_ids] if isinstance(school_ids, str) else list(dict.fromkeys(school_ids))
    for sid in ids:
        config.school(sid)  # unknown id: ConfigError naming it
    return ids


# -- the lists and tables of a day -----------------------------------------------------


def _clusters(
    symptomatic: np.ndarray, roster: Roster, rules: Rules, school_ids: list[str]
) -> pd.DataFrame:
    """One row per class and cluster rule that fires (:func:`rules.cluster_members`)."""
    eligible = cluster_eligible(roster)
    grade, klass = roster.grade_text(), roster.class_text()
    code, n_classes = roster.class_codes(eligible)
    out = []
    for name, rule in rules.clusters.items():
        if not rule.enabled or n_classes == 0:
            continue
        members = np.flatnonzero(cluster_members(symptomatic, code, n_classes, eligible, rule))
        if not len(members):
            continue
        members = members[np.argsort(code[members], kind="stable")]
        cuts = np.flatnonzero(np.diff(code[members])) + 1
        for group in np.split(members, cuts):
            pids = roster.person_id[group]
            order = np.argsort(pids.astype(str), kind="stable")
            first = group[0]
            out.append(
                {
                    "school_id": school_ids[roster.school[first]],
                    "grade": roster.grade[first],
                    "class": roster.klass[first],
                    "class_label": f"{grade[first]} {klass[first]}".strip(),
                    "rule": name,
                    "days": rule.days,
                    "min_cases": rule.min_cases,
                    "count": len(group),
                    "person_ids": tuple(str(x) for x in pids[order]),
                    "names": tuple(str(x) for x in roster.name[group][order]),
                }
            )
    frame = pd.DataFrame(out, columns=_CLUSTER_COLUMNS)
    if not frame.empty:
        rank = {s: i for i, s in enumerate(school_ids)}
        frame = frame.sort_values(
            ["school_id", "class_label", "rule"],
            key=lambda c: c.map(rank) if c.name == "school_id" else c,
        ).reset_index(drop=True)
    return frame


def _per_class(
    roster: Roster, counts: dict[str, np.ndarray], class_teachers: pd.DataFrame | None
) -> pd.DataFrame:
    """Counts per class, and the class's head teacher when a roster named one (None
    when not)."""
    frame = pd.DataFrame(
        {
            "school_id": roster.school_id,
            "grade": roster.grade_text(),
            "class": roster.class_text(),
            **{k: v.astype(np.int64) for k, v in counts.items()},
        }
    )
    keys = ["school_id", "grade", "class"]
    grouped = frame.groupby(keys, sort=False).sum().reset_index()
    teachers = pd.DataFrame(columns=[*keys, "head_teacher"], dtype=object)
    if class_teachers is not None and not class_teachers.empty:
        teachers = class_teachers[[*keys, "head_teacher"]].astype(object)
        teachers = teachers.fillna({"grade": "", "class": ""}).drop_duplicates(keys)
    merged = grouped.astype({k: object for k in keys}).merge(
        teachers, how="left", on=keys, validate="one_to_one"
    )
    head = merged["head_teacher"].astype(object)
    merged["head_teacher"] = head.where(head.notna() & (head != ""), None)
    return merged


def _trend(
    matrices: dict[str, np.ndarray],
    expected: np.ndarray,
    roster: Roster,
    lv: Levels,
    rules: Rules,
    school_ids: list[str],
    report_date: date,
    open_days: np.ndarray,
) -> pd.DataFrame:
    """The W days ending on the report date, per school, each with its own window;
    nobody is expected on a school's non-reporting day (``open_days``: school x day)."""
    w = rules.window_days
    span = matrices["reported"].shape[1]
    cols = slice(span - w, span)
    suspected = lv.suspected[:, cols]
    opened = open_days[:, cols]
    parts = {
        "reported": matrices["reported"][:, cols] & expected[:, None] & opened[roster.school],
        "fever": matrices["fever"][:, cols],
        "symptomatic": matrices["symptomatic"][:, cols] & ~suspected,
        "suspected": suspected,
    }
    sums = {k: group_sums(v, roster.bounds) for k, v in parts.items()}
    expected_sums = group_sums(expected, roster.bounds)
    n = len(school_ids)
    dates = [report_date - timedelta(days=w - 1 - j) for j in range(w)]
    return pd.DataFrame(
        {
            "school_id": np.repeat(np.array(school_ids, dtype=object), w),
            "date": np.tile(np.array(dates, dtype=object), n),
            "expected": (expected_sums[:, None] * opened).reshape(-1),
            **{k: v.reshape(-1) for k, v in sums.items()},
        }
    )


def reporting_days(
    config: SchoolsConfig, school_ids: Sequence[str], start: date, days: int
) -> np.ndarray:
    """School x day: whether each school reports on each of ``days`` days from ``start``
    (its calendar, inherited down the tree; one evaluation per distinct calendar)."""
    dates = [start + timedelta(days=j) for j in range(days)]
    rows: dict[int, np.ndarray] = {}
    out = np.ones((len(school_ids), days), dtype=bool)
    for i, sid in enumerate(school_ids):
        cal = config.calendar_of(sid)
        if cal.every_day and not cal.open:
            continue
        key = id(cal)
        if key not in rows:
            rows[key] = np.array([cal.reports_on(d) for d in dates], dtype=bool)
        out[i] = rows[key]
    return out


# -- entry points ----------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedDay:
    """The roster and check-in arrays of a date and its schools: what the rules read and
    no rule's threshold changes (built once, then any fever threshold is applied to it)."""

    report_date: date
    ids: tuple[str, ...]
    window_days: int
    span: int
    roster: Roster
    day: CheckIns


def prepare_day(
    people: pd.DataFrame,
    checkins: pd.DataFrame,
    config: SchoolsConfig,
    rules: Rules,
    report_date: date | str,
    school_ids: Sequence[str] | None = None,
    *,
    roster: Roster | None = None,
    reported: np.ndarray | None = None,
) -> PreparedDay:
    """The arrays :func:`compute_findings` builds first, for several calls on one date
    (the console's fever threshold): pass it as ``prepared``. ``roster``: the
    :class:`Roster` of ``people`` and the schools, when built already; ``reported``:
    who reported besides the rows of ``checkins`` (:class:`CheckIns`)."""
    report_date = as_date(report_date)
    ids = _select(config, school_ids)
    span = span_days(rules)
    start = report_date - timedelta(days=span - 1)
    roster = Roster(people, ids) if roster is None else roster
    zones = [config.zone(sid) for sid in ids]
    day = CheckIns(checkins, roster, ids, start, span, rules.window_days, zones, reported)
    return PreparedDay(report_date, tuple(ids), rules.window_days, span, roster, day)


def compute_findings(
    people: pd.DataFrame,
    checkins: pd.DataFrame,
    data_quality: pd.DataFrame | None,
    config: SchoolsConfig,
    rules: Rules,
    report_date: date | str,
    school_ids: Sequence[str] | None = None,
    entries: pd.DataFrame | None = None,
    *,
    prepared: PreparedDay | None = None,
    class_teachers: pd.DataFrame | None = None,
) -> Findings:
    """Apply the rules to the frames for ``report_date`` and the selected schools.

    Pure: the frames are not changed. ``checkins`` should hold the
    :func:`span_days` days ending on the report date (fewer days work; the
    earlier trend days then see shorter exposure windows). ``school_ids``
    defaults to every school of ``config``; an unknown id is a ConfigError.
    ``prepared``: the :func:`prepare_day` arrays of the same frames, date and schools
    (built here when not given, or when they are of another date, schools or window).
    ``class_teachers`` (school_id, grade, class, head_teacher): the head teachers the
    rosters named, shown beside their class (``per_class.head_teacher``).
    """
    report_date = as_date(report_date)
    ids = _select(config, school_ids)
    wanted = (report_date, tuple(ids), rules.window_days, span_days(rules))
    if prepared is None or (
        (prepared.report_date, prepared.ids, prepared.window_days, prepared.span) != wanted
    ):
        prepared = prepare_day(people, checkins, config, rules, report_date, ids)
    span = prepared.span
    start = report_date - timedelta(days=span - 1)
    roster, day = prepared.roster, prepared.day

    # person x day of the span
    fever_rows = has_fever(day, rules)
    matrices = {
        "reported": day.matrix(),
        "fever": day.matrix(fever_rows),
        "symptomatic": day.matrix(is_symptomatic(day, fever_rows, rules)),
    }
    lv = levels(matrices["symptomatic"], day.matrix(is_exposed(day)), rules)
    level = lv.rank

    # per person, on the report date; nobody is expected on a non-reporting day
    open_days = reporting_days(config, ids, start, span)
    closed_today = ~open_days[:, -1]
    active = is_expected(roster.status) & open_days[roster.school, -1]
    reported_today = matrices["reported"][:, -1] & active
    missing = is_missing(active, matrices["reported"][:, -1])
    run = days_missing(matrices["reported"], rules, open_days[roster.school])
    unreachable = is_unreachable(missing, run, rules)
    absent = day.absent & active
    illness = day.absent_ill & active
    unexplained = unexplained_illness_absence(illness, day.any_symptom, day.tmax, rules)
    sessions = np.array(
        [[s in config.school(sid).sessions for s in SESSIONS] for sid in ids], dtype=bool
    ).reshape(len(ids), len(SESSIONS))
    need = missing_sessions(reported_today, absent, sessions[roster.school], day.present)
    ms_person, ms_session = np.nonzero(need)

    fever_today = matrices["fever"][:, -1]
    attention, fever = attention_frames(day, roster, rules, lv, fever_today, start)
    clusters = _clusters(matrices["symptomatic"], roster, rules, ids)
    dq = data_quality_frame(data_quality, ids, report_date)
    entry_summary, entry_flags = entries_frames(
        entries, config, rules.fever_celsius, ids, report_date
    )

    counts = {
        "expected": active,
        "reported": reported_today,
        "missing": missing,
        "absent": absent,
        "fever": fever_today,
        "symptomatic": level == FlagLevel.SYMPTOMATIC.rank,
        "suspected": level == FlagLevel.SUSPECTED.rank,
        "key_persons": level == FlagLevel.KEY_PERSON.rank,
    }
    per_class = _per_class(roster, counts, class_teachers)
    person_counts = {
        **{k: group_sums(v, roster.bounds) for k, v in counts.items()},
        "missing_sessions": group_sums(need.sum(axis=1), roster.bounds),
        "unreachable": group_sums(unreachable, roster.bounds),
        "illness_absence": group_sums(illness, roster.bounds),
        "illness_absence_unexplained": group_sums(unexplained, roster.bounds),
    }
    schools = pd.DataFrame(
        {
            "school_id": ids,
            "name": [config.school(s).name for s in ids],
            "district_id": [config.school(s).district for s in ids],
            "town": [config.school(s).town for s in ids],
            **person_counts,
            "clusters": clusters["school_id"].value_counts().reindex(ids, fill_value=0).to_numpy(),
            "data_quality": dq["school_id"].value_counts().reindex(ids, fill_value=0).to_numpy(),
        }
    )
    schools.insert(6, "coverage", coverage(schools["reported"], schools["expected"]))
    submission = submission_frame(
        day.row_school, day.row_rostered, day.reported_at, config, ids, report_date, closed_today
    )
    schools = pd.concat([schools, submission], axis=1)
    schools["zero_report"] = is_zero_report(schools)
    for col in ["total", *ENTRY_FLAGS]:
        schools[f"entries_{col}"] = entry_summary[col].to_numpy()
    schools = schools[SCHOOL_COLUMNS]

    return Findings(
        date=report_date,
        schools=schools,
        missing=roster.frame(np.flatnonzero(missing), days_missing=run[missing]),
        missing_sessions=roster.frame(
            ms_person, session=np.array(SESSIONS, dtype=object)[ms_session]
        ),
        unreachable=roster.frame(np.flatnonzero(unreachable), days=run[unreachable]),
        attention=attention,
        fever=fever,
        clusters=clusters,
        illness_absence=roster.frame(
            np.flatnonzero(unexplained),
            temperature=day.tmax[unexplained],
            # empty by definition; kept so callers can show them like other lists
            symptoms=np.full(int(unexplained.sum()), "", dtype=object),
            symptoms_other=np.full(int(unexplained.sum()), "", dtype=object),
            unexplained=np.ones(int(unexplained.sum()), dtype=bool),
        ),
        data_quality=dq,
        trend=_trend(
            matrices, is_expected(roster.status), roster, lv, rules, ids, report_date, open_days
        ),
        per_class=per_class,
        entries=entry_summary,
        entry_flags=entry_flags,
        rules=rules,
    )


# what the findings read of the days before the report date (see CheckIns): the flags'
# inputs over the window; names, sessions, absences and times are read of the date only
WINDOW_COLUMNS = (
    "school_id",
    "person_id",
    "date",
    "temperature",
    "symptoms",
    "key_area",
    "key_area_place",
    "contact",
)


def load_findings(
    engine: Engine,
    config: SchoolsConfig,
    rules: Rules,
    report_date: date | str,
    school_ids: Sequence[str] | None = None,
    *,
    keep: bool = True,
) -> Findings:
    """Load the :func:`span_days` days ending on ``report_date`` from the store, then
    :func:`compute_findings`, with the date's corrections from the store's revisions
    (:mod:`reportkit.findings.corrections`).

    The report date's check-ins are loaded whole; of the days before, what the flags
    read (:data:`WINDOW_COLUMNS`), from the store's digests where they fit
    (:mod:`reportkit.findings.digests`). The findings are those of the whole rows (the
    tests compare them). ``keep``: store the digests built (False for a reader that
    must not write, such as a report's kernel)."""
    from dataclasses import replace

    from reportkit import store
    from reportkit.findings import digests
    from reportkit.findings.corrections import compute_corrections

    report_date = as_date(report_date)
    ids = _select(config, school_ids)
    start = report_date - timedelta(days=span_days(rules) - 1)
    people = store.load_people(engine, ids)
    roster = Roster(people, ids)
    floor = rules.fever_celsius - FEVER_TOLERANCE
    before = digests.window_before(
        engine, roster, ids, start, report_date, floor, WINDOW_COLUMNS, keep=keep
    )
    today = store.load_checkins(engine, report_date, report_date, ids)
    checkins = today
    if len(before.rows):  # the other columns missing (NaN) on the days before
        checkins = (
            pd.concat([before.rows, today], ignore_index=True)[today.columns]
            if len(today)
            else before.rows.reindex(columns=today.columns)
        )
    prepared = prepare_day(
        people, checkins, config, rules, report_date, ids, roster=roster, reported=before.reported
    )
    findings = compute_findings(
        people,
        checkins,
        store.load_data_quality(engine, report_date, report_date, ids),
        config,
        rules,
        report_date,
        ids,
        entries=store.load_entries(engine, report_date, report_date, ids),
        class_teachers=store.load_class_teachers(engine, ids),
        prepared=prepared,
    )
    n_today = len(today)
    row_school, row_person = prepared.day.positions  # today's rows are the last
    positions = (row_school[-n_today:], row_person[-n_today:]) if n_today else None
    digests.keep_day(engine, before.marks, roster, ids, today, report_date, positions)
    revisions = store.load_revisions(engine, "checkins", day=report_date, school_ids=ids)
    corrections, flags = compute_corrections(checkins, revisions, rules, report_date, people)
    return replace(findings, corrections=corrections, flag_corrections=flags)
