"""The flag engine: from roster, check-ins and gate register to a day's findings.

:func:`compute_findings` takes the frames of :mod:`reportkit.store` and returns
a :class:`~reportkit.findings.Findings` for one report date and a set of schools;
:func:`load_findings` loads the frames first. The work is vectorised: each
check-in row is mapped to a roster position and a day, and the rules run on
boolean person x day matrices (numpy), so a district's million check-ins take
about half a second on one core.

Rules (thresholds from ``params/rules.yaml``; W = ``window_days``):

* **population** — health flags consider check-ins of people on the school's
  roster, whatever their status; only *active* people are expected, and only
  their check-ins count as reported. Check-ins of people not on the roster are
  counted (``unrostered``) and otherwise ignored, except for submission.
* **fever** — the day's highest temperature >= ``fever_celsius`` (compared with
  1e-6 tolerance, so 37.3 stored as 37.29999… is fever) *or* the symptom code
  ``fever`` reported. **symptomatic** — fever or a ``respiratory_symptoms`` code
  on the day. **suspected** — symptomatic and an exposure (key area or contact)
  declared on any check-in of the W days ending on the day. **key person** —
  exposure in the window, not symptomatic: monitoring day n counts from the
  first check-in in the window declaring it (day 1), ends on that date +
  ``monitoring_days`` - 1; listed while n <= ``monitoring_days``. A person is
  listed at the highest level only; ``fever`` lists everyone with fever.
* **coverage** — ``missing``: active, no check-in on the day. ``days_missing``
  is the run of consecutive days without a check-in ending on the day, capped
  at W (days without any data count as missing). ``unreachable``: that run >=
  ``unreachable_days``. ``missing_sessions``: a reported, not absent, active
  person without a check-in for one of the school's ``sessions``.
* **submission** — from every check-in row of the school on the day:
  ``on_time`` if the latest ``reported_at`` (local wall-clock time) is at or
  before the school's deadline, ``late`` otherwise (``minutes_late`` rounded up;
  0 when not late), ``missing`` with no row. Rows without ``reported_at`` count
  as submitted and never make a school late. ``deadline`` is the aware ISO time
  in the school's zone.
* **clusters** — students only (a staff "class" is a department), grouped by
  school + grade + class (non-empty class). Each enabled rule in
  ``rules.clusters`` fires when >= ``min_cases`` distinct students were
  symptomatic within ``days`` days ending on the day. ``class_label`` is
  ``"<grade> <class>"`` (e.g. ``"三年级 2班"``), stripped.
* **illness absence** — active people absent for ``illness`` on the day
  (``schools.illness_absence``); listed in ``illness_absence`` (the cause must
  be followed up) when no symptom code, no other symptom text and no fever was
  recorded on the day (``illness_absence_unexplained``). ``absent`` counts
  active people absent on any check-in of the day.
* **entries** (gate register of the day) — ``fever`` (temperature >= the
  threshold), ``unapproved`` (a visitor with no approver), ``no_temperature``,
  ``still_inside`` (``left_at`` later than the school's closing time, or no
  ``left_at`` and entered at or before closing).
* **zero_report** — the school submitted and has no missing person, fever,
  symptomatic, suspected, key person, cluster or unexplained illness absence.
* **trend** — the W days ending on the day, each computed with its own window;
  the roster is today's (it has no history).

The frames and their columns are listed in :mod:`reportkit.findings.model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from reportkit.config import Rules, SchoolsConfig
from reportkit.findings.model import (
    ENTRY_FLAGS,
    SCHOOL_COLUMNS,
    Findings,
    data_quality_frame,
    entries_frames,
    submission_frame,
)
from reportkit.i18n import t
from reportkit.schema import SYMPTOMS, Session

__all__ = [
    "compute_findings",
    "load_findings",
    "span_days",
]

_EPS = 1e-6
_SESSIONS = [s.value for s in Session]
_LEVELS = np.array([None, "key_person", "symptomatic", "suspected"], dtype=object)
_SYMPTOM_ORDER = {code: i for i, code in enumerate(SYMPTOMS)}
_SYMPTOM_KEYS = {f"symptom_{c}" for c in SYMPTOMS}
_CLUSTER_COLUMNS = [
    *("school_id", "grade", "class", "class_label", "rule", "days", "min_cases", "count"),
    *("person_ids", "names"),
]
_ATTENTION_COLUMNS = [
    *("level", "reasons", "reason_zh", "reason_en", "temperature", "symptoms", "key_area"),
    *("contact", "key_area_place", "exposure_date", "monitoring_day", "monitoring_ends"),
]


def span_days(rules: Rules) -> int:
    """Days of check-ins the rules look at, ending on the report date.

    The trend's first day needs its own exposure window: 2 x window - 1 days
    (longer if a cluster rule spans more).
    """
    cluster_days = [r.days for r in rules.clusters.values() if r.enabled]
    return max(2 * rules.window_days - 1, *cluster_days, 1)


# -- small helpers -----------------------------------------------------------------


def _obj(frame: pd.DataFrame, col: str, default: Any = None) -> np.ndarray:
    """A column as an object array (strings stay strings); a default if absent."""
    if col not in frame:
        return np.full(len(frame), default, dtype=object)
    s = frame[col]
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        return s.to_numpy(dtype=object)
    return s.astype(str).to_numpy(dtype=object)


def _bool(frame: pd.DataFrame, col: str) -> np.ndarray:
    if col not in frame:
        return np.zeros(len(frame), dtype=bool)
    s = frame[col]
    if s.dtype == bool:
        return s.to_numpy()
    return s.fillna(False).astype(bool).to_numpy()


def _float(frame: pd.DataFrame, col: str) -> np.ndarray:
    if col not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _text_flags(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factorize strings; codes and the uniques (NaN -> code -1)."""
    codes, uniques = pd.factorize(values)
    return codes, np.asarray(uniques, dtype=object)


def _blank(values: np.ndarray) -> np.ndarray:
    """True where a text cell is empty (None, NaN, '' or spaces)."""
    codes, uniques = _text_flags(values)
    per_unique = np.array([not str(u).strip() for u in uniques] + [True], dtype=bool)
    return per_unique[codes]


def _day_offsets(values: pd.Series, start: date) -> np.ndarray:
    """Days since ``start`` for dates, datetimes or ISO strings; NaT -> -10**6."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        days = values.to_numpy().astype("datetime64[D]")
        out = (days - np.datetime64(start, "D")).astype("int64")
        return np.where(np.isnat(days), -(10**6), out)
    # unique + lookup: twice as fast as factorize on date objects
    objects = values.to_numpy(dtype=object)
    uniques = pd.unique(objects)
    offs = np.array(
        [-(10**6) if pd.isna(u) else (pd.Timestamp(u).date() - start).days for u in uniques],
        dtype=np.int64,
    )
    return offs[pd.Index(uniques, dtype=object).get_indexer(objects)]


def _group_sums(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Sums of ``values`` (people x ...) over the roster slices of each school."""
    cs = np.zeros((len(values) + 1, *values.shape[1:]), dtype=np.int64)
    np.cumsum(values, axis=0, out=cs[1:])
    return cs[bounds[1:]] - cs[bounds[:-1]]


def _local_times(
    checkins: pd.DataFrame, rows: np.ndarray, row_school: np.ndarray, zones: list[Any]
) -> pd.Series:
    """``reported_at`` of ``rows`` as naive local wall-clock time of each row's school.

    The store keeps local times already; aware timestamps (from other callers)
    are converted to the school's zone, so the deadline compares local times.
    """
    if "reported_at" not in checkins or not rows.any():
        return pd.Series(pd.NaT, index=range(len(row_school)), dtype="datetime64[us]")
    column = checkins["reported_at"]
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        at = pd.Series(column.to_numpy()[rows])
    else:
        picked = column.to_numpy(dtype=object)[rows]
        at = pd.to_datetime(pd.Series(picked, dtype=object), errors="coerce", utc=_aware(picked))
    if at.dt.tz is None:
        return at
    local = pd.Series(pd.NaT, index=at.index, dtype="datetime64[us]")
    for i in np.unique(row_school).tolist():
        mask = row_school == i
        local[mask] = at[mask].dt.tz_convert(zones[i]).dt.tz_localize(None).astype(local.dtype)
    return local


def _aware(values: np.ndarray) -> bool:
    return any(getattr(v, "tzinfo", None) is not None for v in values[:1000])


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _select(config: SchoolsConfig, school_ids: Sequence[str] | None) -> list[str]:
    if school_ids is None:
        return [s.id for s in config.schools]
    ids = [school_ids] if isinstance(school_ids, str) else list(dict.fromkeys(school_ids))
    for sid in ids:
        config.school(sid)  # unknown id: ConfigError naming it
    return ids


# -- roster -----------------------------------------------------------------------


class _Roster:
    """The selected schools' people as arrays, grouped by school in config order.

    Within a school people keep the roster's own order (classes as listed).
    """

    def __init__(self, people: pd.DataFrame, school_ids: list[str]) -> None:
        order = {s: i for i, s in enumerate(school_ids)}
        cols = ["school_id", "person_id", "name", "role", "grade", "class", "status"]
        arrays = {c: _obj(people, c) for c in cols}
        school = np.array([order.get(s, -1) for s in arrays["school_id"]], dtype=np.int64)
        frame = pd.DataFrame({"_s": school, "_pid": arrays["person_id"]}, copy=False)
        keep = (school >= 0) & ~frame.duplicated(["_s", "_pid"], keep="last").to_numpy()
        pos = np.flatnonzero(keep)
        pos = pos[np.argsort(school[pos], kind="stable")]
        self.school = school[pos]
        self.school_id = arrays["school_id"][pos]
        self.person_id = arrays["person_id"][pos]
        self.name = arrays["name"][pos]
        self.role = arrays["role"][pos]
        self.grade = arrays["grade"][pos]
        self.klass = arrays["class"][pos]
        self.status = arrays["status"][pos]
        self.n = len(pos)
        self.bounds = np.searchsorted(self.school, np.arange(len(school_ids) + 1))
        # status defaults to active (DESIGN: "active (default)")
        self.active = ~pd.Series(self.status, dtype=object).isin(["on_leave", "left"]).to_numpy()
        self.student = self.role == "student"

    def frame(self, idx: np.ndarray, **extra: Any) -> pd.DataFrame:
        data = {
            "school_id": self.school_id[idx],
            "person_id": self.person_id[idx],
            "name": self.name[idx],
            "role": self.role[idx],
            "grade": self.grade[idx],
            "class": self.klass[idx],
        }
        data.update(extra)
        return pd.DataFrame(data)


# -- check-ins ----------------------------------------------------------------------


class _Day:
    """Check-ins mapped to roster positions and days, and the person x day matrices."""

    def __init__(
        self,
        checkins: pd.DataFrame,
        roster: _Roster,
        school_ids: list[str],
        start: date,
        span: int,
        rules: Rules,
        zones: list[Any],
    ) -> None:
        n = len(checkins)
        self.span = span
        fever_at = rules.fever_celsius - _EPS
        offset = _day_offsets(checkins["date"], start) if n else np.zeros(0, dtype=np.int64)
        order = {s: i for i, s in enumerate(school_ids)}
        s_codes, s_uniq = _text_flags(_obj(checkins, "school_id"))
        row_school = np.array([order.get(u, -1) for u in s_uniq] + [-1], dtype=np.int64)[s_codes]
        p_codes, p_uniq = _text_flags(_obj(checkins, "person_id"))
        # A person is (school, person id): key = school * len(ids) + id code.
        nu = max(len(p_uniq), 1)
        pos = pd.Index(p_uniq, dtype=object).get_indexer(pd.Index(roster.person_id, dtype=object))
        roster_key = np.where(pos >= 0, roster.school * nu + pos, -10 - np.arange(roster.n))
        row_key = np.where((row_school >= 0) & (p_codes >= 0), row_school * nu + p_codes, -1)
        row_person = pd.Index(roster_key).get_indexer(row_key)

        today = offset == span - 1
        self.submitted_rows = today & (row_school >= 0)
        self.row_school = row_school[self.submitted_rows]
        self.row_rostered = row_person[self.submitted_rows] >= 0
        self.reported_at = _local_times(checkins, self.submitted_rows, self.row_school, zones)

        usable = (offset >= 0) & (offset < span) & (row_person >= 0)
        rows = np.flatnonzero(usable)
        # the usual case (a window loaded from the store): every row is used, no gathers
        take = slice(None) if len(rows) == n else rows
        p = row_person[take]
        d = offset[take]
        temp = _float(checkins, "temperature")[take]
        sym_codes, sym_uniq = _text_flags(_obj(checkins, "symptoms")[take])
        self.sym_uniq = [
            *(tuple(c for c in str(u).replace(" ", "").split(",") if c) for u in sym_uniq),
            (),
        ]
        resp = set(rules.respiratory_symptoms)
        fever_code = np.array([("fever" in s) for s in self.sym_uniq], dtype=bool)
        resp_code = np.array([bool(resp.intersection(s)) for s in self.sym_uniq], dtype=bool)
        any_code = np.array([bool(s) for s in self.sym_uniq], dtype=bool)
        fever_row = (temp >= fever_at) | fever_code[sym_codes]
        symptomatic_row = fever_row | resp_code[sym_codes]
        key_area = _bool(checkins, "key_area")[take]
        contact = _bool(checkins, "contact")[take]

        def matrix(which: np.ndarray | None = None) -> np.ndarray:
            m = np.zeros(roster.n * span, dtype=bool)
            flat = p * span + d
            m[flat if which is None else flat[which]] = True
            return m.reshape(roster.n, span)

        self.reported = matrix()
        self.fever = matrix(fever_row)
        self.symptomatic = matrix(symptomatic_row)
        self.exposed = matrix(key_area | contact)
        window = d >= span - rules.window_days
        self.key_area_window = np.zeros(roster.n, dtype=bool)
        self.key_area_window[p[key_area & window]] = True
        self.contact_window = np.zeros(roster.n, dtype=bool)
        self.contact_window[p[contact & window]] = True

        # the report date, per person (only today's rows are gathered)
        tm = d == span - 1
        tp = p[tm]
        trows = rows[tm]
        self.tmax = np.full(roster.n, np.nan)
        np.fmax.at(self.tmax, tp, temp[tm])
        absent = _bool(checkins, "absent")[trows]
        reason = _obj(checkins, "absence_reason")[trows]
        self.absent = np.zeros(roster.n, dtype=bool)
        self.absent[tp[absent]] = True
        self.illness = np.zeros(roster.n, dtype=bool)
        self.illness[tp[absent & (reason == "illness")]] = True
        other = _obj(checkins, "symptoms_other", "")[trows]
        other_given = ~_blank(other)
        self.any_symptom = np.zeros(roster.n, dtype=bool)
        self.any_symptom[tp[any_code[sym_codes[tm]] | other_given]] = True
        s_codes2, s_uniq2 = _text_flags(_obj(checkins, "session", "morning")[trows])
        s_index = np.array(
            [_SESSIONS.index(u) if u in _SESSIONS else 0 for u in s_uniq2] + [0], dtype=np.int64
        )
        self.present = np.zeros((roster.n, len(_SESSIONS)), dtype=bool)
        self.present[tp, s_index[s_codes2]] = True

        # kept for the sentences of the few people listed
        self._tp, self._t_sym = tp, sym_codes[tm]
        self._t_other = np.where(other_given, other, None)
        sel = key_area & window
        places = _obj(checkins, "key_area_place")[rows[sel]]
        given = ~_blank(places)
        self._place_p, self._place_d = p[sel][given], d[sel][given]
        self._place = places[given]

    def symptoms_of(self, people: np.ndarray) -> dict[int, tuple[str, ...]]:
        """The report date's symptom codes (canonical order) of ``people``."""
        wanted = np.zeros(len(self.reported), dtype=bool)
        wanted[people] = True
        sel = wanted[self._tp]
        pairs = set(zip(self._tp[sel].tolist(), self._t_sym[sel].tolist(), strict=True))
        out: dict[int, set[str]] = {}
        for person, code in pairs:
            out.setdefault(person, set()).update(self.sym_uniq[code])
        return {
            k: tuple(sorted(v, key=lambda c: _SYMPTOM_ORDER.get(c, 99))) for k, v in out.items()
        }

    def other_of(self, people: np.ndarray) -> dict[int, str]:
        wanted = np.zeros(len(self.reported), dtype=bool)
        wanted[people] = True
        sel = wanted[self._tp] & (self._t_other != None)  # noqa: E711
        out: dict[int, list[str]] = {}
        for person, text in zip(self._tp[sel].tolist(), self._t_other[sel], strict=True):
            texts = out.setdefault(person, [])
            if str(text).strip() not in texts:
                texts.append(str(text).strip())
        return {k: "、".join(v) for k, v in out.items()}

    def places_of(self, people: np.ndarray) -> dict[int, str]:
        wanted = np.zeros(len(self.reported), dtype=bool)
        wanted[people] = True
        sel = wanted[self._place_p]
        order = np.argsort(self._place_d[sel], kind="stable")
        out: dict[int, list[str]] = {}
        persons = self._place_p[sel][order].tolist()
        for person, place in zip(persons, self._place[sel][order], strict=True):
            names = out.setdefault(person, [])
            if str(place).strip() not in names:
                names.append(str(place).strip())
        return {k: "、".join(v) for k, v in out.items()}


# -- the rules ---------------------------------------------------------------------


def _levels(day: _Day, rules: Rules) -> dict[str, np.ndarray]:
    """Exposure windows, suspected per day, and the report date's levels."""
    span, w = day.span, rules.window_days
    counts = np.zeros((len(day.exposed), span + 1), dtype=np.int32)
    np.cumsum(day.exposed, axis=1, out=counts[:, 1:])
    lo = np.maximum(np.arange(span) + 1 - w, 0)
    exposed_window = (counts[:, 1:] - counts[:, lo]) > 0
    suspected = day.symptomatic & exposed_window
    recent = day.exposed[:, span - w :]
    first = recent.argmax(axis=1) if recent.size else np.zeros(len(recent), dtype=np.int64)
    monitoring_day = w - first
    exposed_today = exposed_window[:, -1]
    symptomatic_today = day.symptomatic[:, -1]
    key_person = exposed_today & ~symptomatic_today & (monitoring_day <= rules.monitoring_days)
    level = np.where(
        suspected[:, -1], 3, np.where(symptomatic_today, 2, np.where(key_person, 1, 0))
    )
    return {
        "suspected": suspected,
        "level": level,
        "exposed_today": exposed_today,
        "monitoring_day": monitoring_day,
        "first_offset": span - w + first,
    }


def _missing_run(day: _Day, roster: _Roster, w: int) -> np.ndarray:
    """Consecutive days without a check-in ending on the report date, capped at w."""
    back = day.reported[:, day.span - w :][:, ::-1]
    if not back.size:
        return np.zeros(roster.n, dtype=np.int64)
    return np.where(back.any(axis=1), back.argmax(axis=1), w)


def _clusters(day: _Day, roster: _Roster, rules: Rules, school_ids: list[str]) -> pd.DataFrame:
    eligible = roster.student & ~_blank(roster.klass)
    grade = pd.Series(roster.grade, dtype=object).fillna("").to_numpy(dtype=object)
    klass = pd.Series(roster.klass, dtype=object).fillna("").to_numpy(dtype=object)
    keys = pd.DataFrame({"s": roster.school, "g": grade, "c": klass}, copy=False)
    code = keys.groupby(["s", "g", "c"], sort=False).ngroup().to_numpy()
    code = np.where(eligible, code, -1)
    n_classes = int(code.max()) + 1 if len(code) else 0
    out = []
    for name, rule in rules.clusters.items():
        if not rule.enabled or n_classes == 0:
            continue
        days = min(rule.days, day.span)
        ill = day.symptomatic[:, day.span - days :].any(axis=1) & eligible
        counts = np.bincount(code[ill], minlength=n_classes)
        alert = np.append(counts >= rule.min_cases, False)  # code -1 -> False
        members = np.flatnonzero(ill & alert[code])
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


def _sentence(
    lang: str,
    temperature: float,
    by_temperature: bool,
    codes: tuple[str, ...],
    other: str,
    key_area: bool,
    place: str,
    contact: bool,
    monitoring: tuple[int, int, date] | None,
) -> str:
    health = []
    if by_temperature:
        health.append(t("flag_temperature", lang, t=f"{temperature:.1f}"))
    health += [
        t(f"symptom_{c}", lang) if f"symptom_{c}" in _SYMPTOM_KEYS else c
        for c in codes
        if not (c == "fever" and by_temperature)
    ]
    if other:
        health.append(t("flag_symptoms_other", lang, text=other))
    groups = [t("sep_items", lang).join(health)] if health else []
    if key_area:
        groups.append(
            t("flag_key_area_place", lang, place=place) if place else t("flag_key_area", lang)
        )
    if contact:
        groups.append(t("flag_contact", lang))
    if monitoring:
        n, total, end = monitoring
        groups.append(t("flag_monitoring", lang, n=n, total=total, end=end.isoformat()))
    return t("sep_groups", lang).join(groups)


def _attention(
    day: _Day, roster: _Roster, rules: Rules, lv: dict[str, np.ndarray], start: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The people listed at a level, and everyone with fever."""
    level = lv["level"]
    fever_today = day.fever[:, -1]
    listed = np.flatnonzero(level > 0)
    fevered = np.flatnonzero(fever_today)
    wanted = np.union1d(listed, fevered)
    codes = day.symptoms_of(wanted)
    others = day.other_of(listed)
    places = day.places_of(listed)
    fever_at = rules.fever_celsius - _EPS

    def symptom_text(i: int) -> str:
        return ",".join(sorted(codes.get(i, ())))

    rows = []
    for i in listed.tolist():
        temp = float(day.tmax[i])
        by_temp = bool(temp >= fever_at)
        exposed = bool(lv["exposed_today"][i])  # never at level symptomatic
        ka = exposed and bool(day.key_area_window[i])
        ct = exposed and bool(day.contact_window[i])
        first = start + timedelta(days=int(lv["first_offset"][i])) if exposed else None
        ends = first + timedelta(days=rules.monitoring_days - 1) if first else None
        mon_day = int(lv["monitoring_day"][i]) if exposed else None
        monitoring = (mon_day, rules.monitoring_days, ends) if level[i] == 1 else None
        person_codes = codes.get(i, ())
        reasons = (
            (("fever",) if fever_today[i] else ())
            + tuple(c for c in person_codes if c != "fever")
            + (("key_area",) if ka else ())
            + (("contact",) if ct else ())
        )
        args = (temp, by_temp, person_codes, others.get(i, ""), ka, places.get(i, ""), ct)
        rows.append(
            {
                "level": _LEVELS[level[i]],
                "reasons": reasons,
                "reason_zh": _sentence("zh-CN", *args, monitoring),
                "reason_en": _sentence("en", *args, monitoring),
                "temperature": temp,
                "symptoms": symptom_text(i),
                "key_area": ka,
                "contact": ct,
                "key_area_place": places.get(i) if ka else None,
                "exposure_date": first,
                "monitoring_day": mon_day,
                "monitoring_ends": ends,
            }
        )
    extra = pd.DataFrame(rows, columns=_ATTENTION_COLUMNS)
    attention = roster.frame(listed, **{c: extra[c].to_numpy(dtype=object) for c in extra})
    attention["temperature"] = attention["temperature"].astype(float)
    attention["monitoring_day"] = attention["monitoring_day"].astype("Int64")
    attention["key_area"] = attention["key_area"].astype(bool)
    attention["contact"] = attention["contact"].astype(bool)
    rank = roster.school[listed] * 4 - level[listed]  # school order, then highest level
    attention = attention.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True)

    temps = day.tmax[fevered]
    fever = roster.frame(
        fevered,
        temperature=temps,
        fever_by=np.where(temps >= fever_at, "temperature", "symptom"),
        symptoms=np.array([symptom_text(i) for i in fevered.tolist()], dtype=object),
        level=_LEVELS[level[fevered]],
    )
    return attention, fever


# -- school-level parts ------------------------------------------------------------


def _per_class(
    roster: _Roster, school_ids: list[str], counts: dict[str, np.ndarray]
) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "school_id": roster.school_id,
            "grade": pd.Series(roster.grade, dtype=object).fillna("").to_numpy(),
            "class": pd.Series(roster.klass, dtype=object).fillna("").to_numpy(),
            **{k: v.astype(np.int64) for k, v in counts.items()},
        }
    )
    grouped = frame.groupby(["school_id", "grade", "class"], sort=False).sum()
    return grouped.reset_index()


def _trend(
    day: _Day,
    roster: _Roster,
    rules: Rules,
    lv: dict[str, np.ndarray],
    school_ids: list[str],
    report_date: date,
) -> pd.DataFrame:
    w = rules.window_days
    cols = slice(day.span - w, day.span)
    suspected = lv["suspected"][:, cols]
    parts = {
        "reported": day.reported[:, cols] & roster.active[:, None],
        "fever": day.fever[:, cols],
        "symptomatic": day.symptomatic[:, cols] & ~suspected,
        "suspected": suspected,
    }
    sums = {k: _group_sums(v, roster.bounds) for k, v in parts.items()}
    expected = _group_sums(roster.active, roster.bounds)
    n = len(school_ids)
    dates = [report_date - timedelta(days=w - 1 - j) for j in range(w)]
    return pd.DataFrame(
        {
            "school_id": np.repeat(np.array(school_ids, dtype=object), w),
            "date": np.tile(np.array(dates, dtype=object), n),
            "expected": np.repeat(expected, w),
            **{k: v.reshape(-1) for k, v in sums.items()},
        }
    )


# -- entry points ----------------------------------------------------------------------


def compute_findings(
    people: pd.DataFrame,
    checkins: pd.DataFrame,
    data_quality: pd.DataFrame | None,
    config: SchoolsConfig,
    rules: Rules,
    report_date: date | str,
    school_ids: Sequence[str] | None = None,
    entries: pd.DataFrame | None = None,
) -> Findings:
    """Apply the rules to the frames for ``report_date`` and the selected schools.

    Pure: the frames are not changed. ``checkins`` should hold the
    :func:`span_days` days ending on the report date (fewer days work; the
    earlier trend days then see shorter exposure windows). ``school_ids``
    defaults to every school of ``config``; an unknown id is a ConfigError.
    """
    report_date = _as_date(report_date)
    ids = _select(config, school_ids)
    w = rules.window_days
    span = span_days(rules)
    start = report_date - timedelta(days=span - 1)
    roster = _Roster(people, ids)
    zones = [config.zone(sid) for sid in ids]
    day = _Day(checkins, roster, ids, start, span, rules, zones)
    lv = _levels(day, rules)
    level = lv["level"]
    active = roster.active

    reported_today = day.reported[:, -1] & active
    missing = active & ~day.reported[:, -1]
    run = _missing_run(day, roster, w)
    unreachable = missing & (run >= rules.unreachable_days)
    absent = day.absent & active
    illness = day.illness & active
    unexplained = illness & ~day.any_symptom & ~(day.tmax >= rules.fever_celsius - _EPS)

    sessions = np.array(
        [[s in config.school(sid).sessions for s in _SESSIONS] for sid in ids], dtype=bool
    ).reshape(len(ids), len(_SESSIONS))
    need = (reported_today & ~absent)[:, None] & sessions[roster.school] & ~day.present
    ms_person, ms_session = np.nonzero(need)

    attention, fever = _attention(day, roster, rules, lv, start)
    clusters = _clusters(day, roster, rules, ids)
    dq = data_quality_frame(data_quality, ids, report_date)
    entry_summary, entry_flags = entries_frames(
        entries, config, rules.fever_celsius, ids, report_date
    )

    counts = {
        "expected": active,
        "reported": reported_today,
        "missing": missing,
        "absent": absent,
        "fever": day.fever[:, -1],
        "symptomatic": level == 2,
        "suspected": level == 3,
        "key_persons": level == 1,
    }
    per_class = _per_class(roster, ids, counts)
    person_counts = {
        **{k: _group_sums(v, roster.bounds) for k, v in counts.items()},
        "missing_sessions": _group_sums(need.sum(axis=1), roster.bounds),
        "unreachable": _group_sums(unreachable, roster.bounds),
        "illness_absence": _group_sums(illness, roster.bounds),
        "illness_absence_unexplained": _group_sums(unexplained, roster.bounds),
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
    with np.errstate(divide="ignore", invalid="ignore"):
        schools.insert(
            6,
            "coverage",
            np.where(
                schools["expected"] > 0, schools["reported"] / schools["expected"] * 100, np.nan
            ),
        )
    submission = submission_frame(
        day.row_school, day.row_rostered, day.reported_at, config, ids, report_date
    )
    schools = pd.concat([schools, submission], axis=1)
    quiet = ["missing", "fever", "symptomatic", "suspected", "key_persons", "clusters"]
    schools["zero_report"] = (
        (schools["submission"] != "missing")
        & (schools[quiet].sum(axis=1) == 0)
        & (schools["illness_absence_unexplained"] == 0)
    )
    for col in ["total", *ENTRY_FLAGS]:
        schools[f"entries_{col}"] = entry_summary[col].to_numpy()
    schools = schools[SCHOOL_COLUMNS]

    return Findings(
        date=report_date,
        schools=schools,
        missing=roster.frame(np.flatnonzero(missing), days_missing=run[missing]),
        missing_sessions=roster.frame(
            ms_person, session=np.array(_SESSIONS, dtype=object)[ms_session]
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
        trend=_trend(day, roster, rules, lv, ids, report_date),
        per_class=per_class,
        entries=entry_summary,
        entry_flags=entry_flags,
        rules=rules,
    )


def load_findings(
    engine: Any,
    config: SchoolsConfig,
    rules: Rules,
    report_date: date | str,
    school_ids: Sequence[str] | None = None,
) -> Findings:
    """Load the :func:`span_days` days ending on ``report_date`` from the store, then
    :func:`compute_findings`."""
    from reportkit import store

    report_date = _as_date(report_date)
    ids = _select(config, school_ids)
    start = report_date - timedelta(days=span_days(rules) - 1)
    return compute_findings(
        store.load_people(engine, ids),
        store.load_checkins(engine, start, report_date, ids),
        store.load_data_quality(engine, report_date, report_date, ids),
        config,
        rules,
        report_date,
        ids,
        entries=store.load_entries(engine, report_date, report_date, ids),
    )
