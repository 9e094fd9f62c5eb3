"""Check-ins as person x day boolean matrices: the vectorised layout, no rule.

The flag engine (:mod:`reportkit.findings.compute`) works on arrays, not rows:
:class:`Roster` holds the selected schools' people as arrays (position ``i`` is
one person, grouped by school in config order), and :class:`CheckIns` maps each
check-in row to a roster position and a day of the span (0 = the span's first
day, ``span - 1`` = the report date), keeps the few per-row arrays the rules
read (temperature, symptom sets, exposures) and builds person x day matrices
from row masks (:meth:`CheckIns.matrix`). The helpers below the classes are
index arithmetic over such matrices: runs, windows, sums per school.

What counts as fever, symptomatic, suspected … is not here: those definitions
are :mod:`reportkit.findings.rules`, which hands these classes the masks.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from reportkit.schema import SYMPTOMS, Session

__all__ = [
    "SESSIONS",
    "CheckIns",
    "Roster",
    "as_date",
    "blank",
    "first_true",
    "group_sums",
    "rolling_any",
    "row_positions",
    "trailing_false",
]

SESSIONS = [s.value for s in Session]
_SYMPTOM_ORDER = {code: i for i, code in enumerate(SYMPTOMS)}


# -- columns as arrays -----------------------------------------------------------------


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
    values = s.to_numpy(dtype=object)
    return np.where(pd.isna(values), False, values).astype(bool)


def _float(frame: pd.DataFrame, col: str) -> np.ndarray:
    if col not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _text_flags(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factorize strings; codes and the uniques (NaN -> code -1)."""
    codes, uniques = pd.factorize(values)
    return codes, np.asarray(uniques, dtype=object)


def blank(values: np.ndarray) -> np.ndarray:
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


def row_positions(
    checkins: pd.DataFrame, roster: Roster, school_ids: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Per check-in row: its school's index in ``school_ids`` and its person's roster
    position (-1 where the school is not selected, or the person not on its roster)."""
    order = {s: i for i, s in enumerate(school_ids)}
    s_codes, s_uniq = _text_flags(_obj(checkins, "school_id"))
    row_school = np.array([order.get(u, -1) for u in s_uniq] + [-1], dtype=np.int64)[s_codes]
    # one code per person id, the roster's and the rows' alike (one hash table)
    n = roster.n
    codes, uniques = pd.factorize(
        np.concatenate([roster.person_id.astype(object), _obj(checkins, "person_id")])
    )
    nu = max(len(uniques), 1)
    r_codes, p_codes = codes[:n], codes[n:]
    # A person is (school, person id): key = school * ids + id code (unique on the roster)
    roster_key = np.where(r_codes >= 0, roster.school * nu + r_codes, -10 - np.arange(n))
    row_key = np.where((row_school >= 0) & (p_codes >= 0), row_school * nu + p_codes, -1)
    keys, distinct = pd.factorize(np.concatenate([roster_key, row_key]))
    position = np.full(len(distinct), -1, dtype=np.int64)
    position[keys[:n]] = np.arange(n)
    return row_school, position[keys[n:]]


# -- the roster ----------------------------------------------------------------------


class Roster:
    """The selected schools' people as arrays, grouped by school in config order.

    Within a school people keep the roster's own order (classes as listed).
    ``bounds[i]:bounds[i + 1]`` are the positions of school ``i``.
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
        self.student = self.role == "student"

    def frame(self, idx: np.ndarray, **extra: Any) -> pd.DataFrame:
        """The people at positions ``idx`` (PERSON_COLUMNS), with ``extra`` columns."""
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

    def class_codes(self, eligible: np.ndarray) -> tuple[np.ndarray, int]:
        """(a code per person for their school + grade + class, -1 where not ``eligible``;
        the number of codes). Codes follow roster order."""
        keys = pd.DataFrame(
            {"s": self.school, "g": self.grade_text(), "c": self.class_text()}, copy=False
        )
        code = keys.groupby(["s", "g", "c"], sort=False).ngroup().to_numpy()
        code = np.where(eligible, code, -1)
        return code, int(code.max()) + 1 if len(code) else 0

    def grade_text(self) -> np.ndarray:
        return pd.Series(self.grade, dtype=object).fillna("").to_numpy(dtype=object)

    def class_text(self) -> np.ndarray:
        return pd.Series(self.klass, dtype=object).fillna("").to_numpy(dtype=object)


# -- check-ins -------------------------------------------------------------------------


class CheckIns:
    """Check-ins of the span mapped to roster positions and days, and what the rules read.

    Rows of people on the roster within the span are *used*: ``person`` and ``day``
    (0 .. span - 1) of each, its ``temperature``, its symptom set (``symptom_set``:
    an index into ``symptom_sets``, tuples of codes), ``key_area`` and ``contact``;
    ``in_window`` marks the rows of the last ``window`` days. Per person, for the
    report date: ``tmax`` (highest reading), ``absent``, ``absent_ill`` (absent for
    illness), ``any_symptom`` (a symptom code or other symptom text recorded),
    ``present`` (person x session). Every check-in row of the report date (rostered
    or not) is kept for the submission: ``row_school``, ``row_rostered``,
    ``reported_at`` (naive local time).

    ``reported`` (people x span, optional): days people reported on besides the rows
    given (:mod:`reportkit.findings.digests`: the rows of the days before that no flag
    reads are kept as who reported, not as rows); :meth:`matrix` of every row adds it.
    """

    def __init__(
        self,
        checkins: pd.DataFrame,
        roster: Roster,
        school_ids: list[str],
        start: date,
        span: int,
        window: int,
        zones: list[Any],
        reported: np.ndarray | None = None,
    ) -> None:
        n = len(checkins)
        self.span, self.n_people = span, roster.n
        if reported is not None and reported.shape != (roster.n, span):
            raise ValueError(f"reported is {reported.shape}, not people x span")
        self._reported = reported
        offset = _day_offsets(checkins["date"], start) if n else np.zeros(0, dtype=np.int64)
        row_school, row_person = row_positions(checkins, roster, school_ids)
        self.positions = (row_school, row_person)  # of every row given

        today = offset == span - 1
        submitted_rows = today & (row_school >= 0)
        self.row_school = row_school[submitted_rows]
        self.row_rostered = row_person[submitted_rows] >= 0
        self.reported_at = _local_times(checkins, submitted_rows, self.row_school, zones)

        usable = (offset >= 0) & (offset < span) & (row_person >= 0)
        rows = np.flatnonzero(usable)
        # the usual case (a window loaded from the store): every row is used, no gathers
        take = slice(None) if len(rows) == n else rows
        p = row_person[take]
        d = offset[take]
        self.person, self.day = p, d
        self.temperature = _float(checkins, "temperature")[take]
        sym_codes, sym_uniq = _text_flags(_obj(checkins, "symptoms")[take])
        self.symptom_set = sym_codes  # -1 (no text): the last, empty set
        self.symptom_sets = [
            *(tuple(c for c in str(u).replace(" ", "").split(",") if c) for u in sym_uniq),
            (),
        ]
        key_area = _bool(checkins, "key_area")[take]
        contact = _bool(checkins, "contact")[take]
        self.key_area, self.contact = key_area, contact
        window_rows = d >= span - window
        self.in_window = window_rows
        self.key_area_window = self.anyone(key_area & window_rows)
        self.contact_window = self.anyone(contact & window_rows)

        # the report date, per person (only today's rows are gathered)
        tm = d == span - 1
        tp = p[tm]
        trows = rows[tm]
        self.tmax = np.full(roster.n, np.nan)
        np.fmax.at(self.tmax, tp, self.temperature[tm])
        absent = _bool(checkins, "absent")[trows]
        reason = _obj(checkins, "absence_reason")[trows]
        self.absent = np.zeros(roster.n, dtype=bool)
        self.absent[tp[absent]] = True
        self.absent_ill = np.zeros(roster.n, dtype=bool)
        self.absent_ill[tp[absent & (reason == "illness")]] = True
        other = _obj(checkins, "symptoms_other", "")[trows]
        other_given = ~blank(other)
        any_code = np.array([bool(s) for s in self.symptom_sets], dtype=bool)
        self.any_symptom = np.zeros(roster.n, dtype=bool)
        self.any_symptom[tp[any_code[sym_codes[tm]] | other_given]] = True
        s_codes2, s_uniq2 = _text_flags(_obj(checkins, "session", "morning")[trows])
        s_index = np.array(
            [SESSIONS.index(u) if u in SESSIONS else 0 for u in s_uniq2] + [0], dtype=np.int64
        )
        self.present = np.zeros((roster.n, len(SESSIONS)), dtype=bool)
        self.present[tp, s_index[s_codes2]] = True

        # kept for the sentences of the few people listed
        self._tp, self._t_sym = tp, sym_codes[tm]
        self._t_other = np.where(other_given, other, None)
        sel = key_area & window_rows
        places = _obj(checkins, "key_area_place")[rows[sel]]
        given = ~blank(places)
        self._place_p, self._place_d = p[sel][given], d[sel][given]
        self._place = places[given]

    def per_set(self, of_set: list[bool]) -> np.ndarray:
        """A row mask from a value per symptom set (``of_set[k]`` for set ``k``)."""
        return np.array(of_set, dtype=bool)[self.symptom_set]

    def matrix(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The person x day matrix true where a used row (of the mask ``rows``, else any) is."""
        flat = np.zeros(self.n_people * self.span, dtype=bool)
        at = self.person * self.span + self.day
        flat[at if rows is None else at[rows]] = True
        m = flat.reshape(self.n_people, self.span)
        if rows is None and self._reported is not None:
            m |= self._reported
        return m

    def anyone(self, rows: np.ndarray) -> np.ndarray:
        """Per person: true if one of the used rows of the mask ``rows`` is theirs."""
        out = np.zeros(self.n_people, dtype=bool)
        out[self.person[rows]] = True
        return out

    def symptoms_of(self, people: np.ndarray) -> dict[int, tuple[str, ...]]:
        """The report date's symptom codes (canonical order) of ``people``."""
        wanted = np.zeros(self.n_people, dtype=bool)
        wanted[people] = True
        sel = wanted[self._tp]
        pairs = set(zip(self._tp[sel].tolist(), self._t_sym[sel].tolist(), strict=True))
        out: dict[int, set[str]] = {}
        for person, code in pairs:
            out.setdefault(person, set()).update(self.symptom_sets[code])
        return {
            k: tuple(sorted(v, key=lambda c: _SYMPTOM_ORDER.get(c, 99))) for k, v in out.items()
        }

    def other_of(self, people: np.ndarray) -> dict[int, str]:
        """The report date's other symptom texts of ``people``, joined with 、."""
        wanted = np.zeros(self.n_people, dtype=bool)
        wanted[people] = True
        sel = wanted[self._tp] & (self._t_other != None)  # noqa: E711
        out: dict[int, list[str]] = {}
        for person, text in zip(self._tp[sel].tolist(), self._t_other[sel], strict=True):
            texts = out.setdefault(person, [])
            if str(text).strip() not in texts:
                texts.append(str(text).strip())
        return {k: "、".join(v) for k, v in out.items()}

    def places_of(self, people: np.ndarray) -> dict[int, str]:
        """The key-area places ``people`` declared in the window, first declared first."""
        wanted = np.zeros(self.n_people, dtype=bool)
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


# -- index arithmetic over person x day matrices ----------------------------------------


def rolling_any(matrix: np.ndarray, days: int) -> np.ndarray:
    """Per person and day: true if the matrix is true on one of the ``days`` days ending
    on that day (fewer at the span's start)."""
    span = matrix.shape[1]
    counts = np.zeros((len(matrix), span + 1), dtype=np.int32)
    np.cumsum(matrix, axis=1, out=counts[:, 1:])
    lo = np.maximum(np.arange(span) + 1 - days, 0)
    return (counts[:, 1:] - counts[:, lo]) > 0


def first_true(matrix: np.ndarray) -> np.ndarray:
    """Per row: the column of the first true cell (0 when none)."""
    if not matrix.size:
        return np.zeros(len(matrix), dtype=np.int64)
    return matrix.argmax(axis=1)


def trailing_false(matrix: np.ndarray, days: int) -> np.ndarray:
    """Per row: how many of the last ``days`` columns, counted back from the last, are
    false before a true one (``days`` when all are)."""
    back = matrix[:, matrix.shape[1] - days :][:, ::-1]
    if not back.size:
        return np.zeros(len(matrix), dtype=np.int64)
    return np.where(back.any(axis=1), back.argmax(axis=1), days)


def group_sums(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Sums of ``values`` (people x ...) over the roster slices of each school."""
    out = np.zeros((len(bounds) - 1, *values.shape[1:]), dtype=np.int64)
    filled = np.flatnonzero(bounds[1:] > bounds[:-1])  # reduceat: no empty slices
    if len(filled):
        out[filled] = np.add.reduceat(values, bounds[:-1][filled], axis=0, dtype=np.int64)
    return out


def as_date(value: date | datetime | str) -> date:
    """A report date from a date, a datetime or ISO text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
