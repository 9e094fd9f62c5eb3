"""The three kinds of file, each prepared for its table: rosters, health logs, gate registers.

:func:`check_kind` refuses a roster given as a health log and the other way round;
:func:`prepare_roster`, :func:`prepare_logs` and :func:`prepare_entries` turn a
:class:`~reportkit.ingest.batch.Batch` into the rows of ``people``, ``checkins``
and ``entries``, quarantining what cannot be used and recording findings.

Decisions where the data contract is silent:

- an empty session means morning; an unknown session word keeps the row as
  morning with a ``bad_session`` finding (quarantining the row would lose it);
- an unknown absence reason becomes ``other`` with a ``bad_absence_reason``
  finding holding the text; an absence cell holding a reason word (病假) means
  absent for that reason, and a reason with an empty absence cell means absent;
- several unknown symptom terms in one cell make one ``unknown_symptom``
  finding whose value joins them (findings are unique per row, column, reason);
- a time of day alone (``15:42``) takes the row's date; person ids typed in
  full width (``００１``) are read as ASCII;
- a log without a date column takes the one date written in its title rows or
  file name (``XX小学2020年2月10日晨检登记表``), else the file is refused;
- a log for a school without a roster is refused, not quarantined, so that it
  can be ingested once the roster is in; ``force=True`` re-ingests a file (after
  a roster correction, say), replacing its earlier quarantine and findings;
- ``column`` of quarantine and findings is the canonical column name; ``raw``
  keeps the original headers; a file-level finding (unknown columns) is on the
  header row and dated with the file's latest date;
- a roster file states what it has columns for: a column it lacks keeps the
  stored value of people already on the roster (new people get the default);
- a roster's quarantined rows and findings are dated with the day it is read (local
  time), so that the school's report of that day shows them;
- the optional head-teacher column (班主任) is kept per class (``class_teachers``),
  not per person: a class's first name in the file is kept, a row naming another
  one is a ``head_teacher_conflict`` finding (``李四 ≠ 张三``); a class whose cells
  are all empty, and a file without the column, leave the stored one as it is.
  A phone column (班主任电话) is no alias: it is an unknown column, never stored.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from reportkit import schema, store
from reportkit.config import Rules
from reportkit.i18n import ingest_error
from reportkit.ingest import cells
from reportkit.ingest.batch import Batch, rows_frame
from reportkit.ingest.readers import Table
from reportkit.ingest.sheets import Kind
from reportkit.ingest.write import query_frame
from reportkit.schema import Reason, normalize_word

__all__ = ["check_kind", "prepare_entries", "prepare_logs", "prepare_roster"]

# columns only a health log has, and only a roster has (ids, names, schools are shared)
_LOG_ONLY = frozenset(schema.LOG_ALIASES.values()) - {"person_id", "name", "school_id"}
_ROSTER_ONLY = frozenset({"role", "grade", "class"})


def check_kind(table: Table, kind: Kind, path: Path) -> None:
    """Refuse a health log given as a roster and a roster given as a health log, naming
    the command that fits: a roster ingest of a log would blank every grade and class."""
    if kind == "entries":
        return
    found: dict[str, list[str]] = {"roster": [], "logs": []}
    for header in table.frame.columns:
        if schema.match_header(header, schema.LOG_ALIASES) in _LOG_ONLY:
            found["logs"].append(header)
        if schema.match_header(header, schema.ROSTER_ALIASES) in _ROSTER_ONLY:
            found["roster"].append(header)
    other: Kind = "logs" if kind == "roster" else "roster"
    if found[other] and not found[kind]:
        raise ingest_error(path, f"{kind}_as_{other}", columns="、".join(found[other]), path=path)


def prepare_roster(batch: Batch, conn: sa.Connection) -> None:
    """A roster file states what it has columns for: a column it lacks keeps the stored
    value of people already on the roster (new people get the default)."""
    person_id = batch.get("person_id")
    batch.quarantine(person_id.isna(), Reason.MISSING_PERSON_ID, "person_id")
    values: dict[str, Any] = {
        "name": batch.get("name").to_numpy(),
        "role": batch.word("role", schema.ROLE_WORDS, schema.Role.STUDENT, Reason.BAD_ROLE),
        "grade": batch.get("grade").to_numpy(),
        "class": batch.get("class").to_numpy(),
        "status": batch.word(
            "status", schema.STATUS_WORDS, schema.Status.ACTIVE, Reason.BAD_STATUS
        ),
    }
    absent = [column for column in values if column not in batch.raw]
    if absent:
        stored = _stored_people(conn, batch.school_id, person_id, absent)
        for column in absent:
            found = stored["_found"].to_numpy()
            values[column] = np.where(found, stored[column].to_numpy(), values[column])
    batch.quarantine(pd.isna(values["name"]), Reason.MISSING_NAME, "name")
    rows = rows_frame(batch.index, {"school_id": batch.school_id, "person_id": person_id, **values})
    batch.dedupe(rows, ["school_id", "person_id"])
    batch.rows = rows if batch.alive.all() else rows.loc[batch.alive]
    # a roster has no dates: its issues are of the day it is read, so that that day's
    # report of the school shows them
    batch.dates[:] = datetime.now(batch.config.zone()).date().isoformat()
    if "head_teacher" in batch.raw:
        batch.class_teachers = _class_teachers(batch, rows)


def _class_teachers(batch: Batch, rows: pd.DataFrame) -> pd.DataFrame:
    """The head teacher of each class the file names one for (its first row's), from
    the rows kept; a kept row naming another is a finding, never silent."""
    teacher = batch.get("head_teacher")
    frame = pd.DataFrame(
        {
            "school_id": rows["school_id"].astype(object),
            "grade": rows["grade"].astype(object).fillna(""),
            "class": rows["class"].astype(object).fillna(""),
            "head_teacher": teacher.astype(object),
        },
        index=batch.index,
    )
    named = batch.alive & teacher.notna().to_numpy() & (frame["class"] != "").to_numpy()
    named &= frame["school_id"].notna().to_numpy()
    frame = frame[named]
    keys = ["school_id", "grade", "class"]
    first = frame.groupby(keys, sort=False)["head_teacher"].transform("first")
    differs = pd.Series(False, index=batch.index)
    as_word = frame["head_teacher"].map(normalize_word) != first.map(normalize_word)
    differs[frame.index] = as_word.to_numpy()
    if differs.any():
        shown = pd.Series(None, index=batch.index, dtype=object)
        shown[frame.index] = (frame["head_teacher"] + " ≠ " + first).to_numpy()
        batch.finding(differs.to_numpy(), Reason.HEAD_TEACHER_CONFLICT, "head_teacher", shown)
    return frame.drop_duplicates(keys, keep="first").reset_index(drop=True)


def _stored_people(
    conn: sa.Connection, schools: pd.Series, person_id: pd.Series, columns: list[str]
) -> pd.DataFrame:
    """The stored ``columns`` of each row's person, and ``_found`` (on the roster)."""
    ids = [s for s in pd.unique(schools) if isinstance(s, str)]
    people = store.people
    stored = query_frame(
        conn.execute(
            sa.select(
                people.c.school_id, people.c.person_id, *(people.c[c] for c in columns)
            ).where(people.c.school_id.in_(ids))
        ),
        ["school_id", "person_id", *columns],
    )
    stored["_found"] = True
    keys = pd.DataFrame(
        {"school_id": schools.to_numpy(dtype=object), "person_id": person_id.to_numpy(dtype=object)}
    )
    merged = keys.merge(stored, how="left", on=["school_id", "person_id"], validate="many_to_one")
    merged["_found"] = merged["_found"].astype(object).fillna(False).astype(bool)
    return merged


def prepare_logs(batch: Batch, conn: sa.Connection) -> None:
    batch.get("person_id")
    batch.quarantine(batch.missing("person_id"), Reason.MISSING_PERSON_ID, "person_id")
    dates = batch.parse_dates()
    # the parses whose values go into rows as they are, as categoricals (see _frame)
    batch.get("name")
    batch.word("session", schema.SESSION_WORDS, schema.Session.MORNING, Reason.BAD_SESSION)
    terms = _terms(batch.rules)
    *_, unknown = batch.parse("symptoms", lambda v: cells.parse_symptoms(v, terms), 3)
    batch.finding(~batch.missing("symptoms", 2), Reason.UNKNOWN_SYMPTOM, "symptoms", unknown)
    absent, reason_hint = _absences(batch)
    key_area, _ = batch.parse("key_area_14d", cells.parse_place, 2)
    rows = rows_frame(
        batch.index,
        {
            "school_id": (
                batch.categorical("school_id")
                if "school_id" in batch.raw and batch.default_school is None
                else batch.school_id
            ),
            "person_id": batch.categorical("person_id"),
            "date": batch.categorical("date") if "date" in batch.raw else dates,
            "session": batch.categorical("session"),
            "name": batch.categorical("name"),
            "temperature": batch.temperature(),
            "symptoms": batch.categorical("symptoms", 0),
            "symptoms_other": batch.categorical("symptoms", 1),
            "absent": absent,
            "absence_reason": reason_hint,
            "key_area": key_area.astype(bool),
            "key_area_place": batch.categorical("key_area_14d", 1),
            "contact": batch.yes_no("contact_14d"),
            "reported_at": batch.timestamps("reported_at", dates),
        },
    )
    _check_roster(batch, conn, rows)
    batch.dedupe(rows, ["school_id", "person_id", "date", "session"], order="reported_at")
    batch.rows = rows if batch.alive.all() else rows.loc[batch.alive]


def _terms(rules: Rules) -> dict[str, str]:
    return {normalize_word(term): code for term, code in rules.symptom_terms().items()}


def _absences(batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    """(absent, reason): an absence cell may hold a reason word (病假); a reason implies absent."""

    def absent(text: str | None) -> tuple[bool, bool, str | None, bool]:
        """(absent, bad, reason written in the cell, the cell is empty)"""
        reason = None if text is None else schema.ABSENCE_WORDS.get(normalize_word(text))
        if reason is not None:
            return True, False, str(reason), False
        return (*cells.parse_yes_no(text), None, text is None)

    def reason(text: str | None) -> tuple[str | None, bool]:
        if text is None:
            return None, False
        return cells.parse_word(text, schema.ABSENCE_WORDS, schema.AbsenceReason.OTHER)

    is_absent, bad, hint, blank = batch.parse("absent", absent, 4)
    no_hint = batch.missing("absent", 2)
    batch.finding(bad.astype(bool), Reason.BAD_YES_NO, "absent")
    why, why_bad = batch.parse("absence_reason", reason, 2)
    batch.finding(why_bad.astype(bool), Reason.BAD_ABSENCE_REASON, "absence_reason")
    no_why = batch.missing("absence_reason")
    why = np.where(no_why, hint, why)
    is_absent = is_absent.astype(bool) | (blank.astype(bool) & ~(no_why & no_hint))
    return is_absent, why


def _check_roster(batch: Batch, conn: sa.Connection, rows: pd.DataFrame) -> None:
    """Quarantine people not on their school's roster; note names that differ from it."""
    schools = [s for s in pd.unique(rows["school_id"][batch.alive]) if isinstance(s, str)]
    if not schools:
        return
    people = query_frame(
        conn.execute(
            sa.select(
                store.people.c.school_id, store.people.c.person_id, store.people.c.name
            ).where(store.people.c.school_id.in_(schools))
        ),
        ["school_id", "person_id", "name"],
    )
    missing = sorted(set(schools) - set(people["school_id"]))
    if missing:
        raise ingest_error(batch.path, "no_roster", refused=False, schools=", ".join(missing))
    pos = _places(rows, people)
    on_roster = pos >= 0
    mismatch = np.zeros(len(rows), dtype=bool)
    # names as written against the roster's, on codes (-1: not a name written); those
    # that differ compared again without spaces and full-width forms
    name = rows["name"].cat
    at, pos = np.flatnonzero(on_roster), pos[on_roster]
    listed = people["name"].to_numpy(dtype=object)
    listed_code = name.categories.get_indexer(pd.Index(listed, dtype=object))
    written = name.codes.to_numpy()[at]
    differs = (written >= 0) & pd.notna(listed)[pos] & (written != listed_code[pos])
    for i in np.flatnonzero(differs):
        as_written = name.categories[written[i]]
        mismatch[at[i]] = normalize_word(as_written) != normalize_word(listed[pos[i]])
    batch.quarantine(~on_roster, Reason.UNKNOWN_PERSON, "person_id", batch.written("person_id"))
    batch.finding(mismatch, Reason.NAME_MISMATCH, "name")


def _places(rows: pd.DataFrame, people: pd.DataFrame) -> np.ndarray:
    """Each row's place on the roster (-1: not on it), on (school, id) pairs in one
    lookup: each pair as one integer of the codes of its two values among the rows'
    distinct values (the roster's pairs are unique, its primary key)."""
    pairs, known = [], np.ones(len(people), dtype=bool)
    size = 1
    for name in ("school_id", "person_id"):
        values = rows[name]
        if not isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object).astype("category")
        categories = pd.Index(values.cat.categories, dtype=object)
        listed = categories.get_indexer(pd.Index(people[name], dtype=object))
        known &= listed >= 0
        pairs.append((values.cat.codes.to_numpy().astype(np.int64), listed.astype(np.int64)))
        size = len(categories)
    (row_school, roster_school), (row_person, roster_person) = pairs
    row_key = row_school * size + row_person
    row_key[(row_school < 0) | (row_person < 0)] = -1
    roster_key = (roster_school * size + roster_person)[known]
    found = pd.Index(roster_key).get_indexer(row_key)
    found[row_key < 0] = -1
    places = np.full(len(row_key), -1, dtype=np.intp)
    hit = found >= 0
    places[hit] = np.flatnonzero(known)[found[hit]]
    return places


def prepare_entries(batch: Batch) -> None:
    # the day of entry times written as a time of day: a date column, else the title's
    (day,) = batch.parse("date", lambda v: (cells.parse_date(v)[0],), 1)
    if "date" not in batch.raw:
        day[:] = batch.title_day
    day = pd.Series(day, index=batch.index, dtype=object)
    written = batch.written("entered_at")
    batch.quarantine(batch.get("entered_at").isna(), Reason.MISSING_ENTRY_TIME, "entered_at")
    stamps, bad = cells.parse_timestamps(written, batch.config.zone, batch.school_id, day)
    batch.quarantine(bad, Reason.BAD_ENTRY_TIME, "entered_at", written)
    name = batch.get("name")
    batch.quarantine(name.isna(), Reason.MISSING_NAME, "name")
    batch.dates = pd.Series(
        np.datetime_as_string(stamps.to_numpy(), unit="D"), index=batch.index, dtype=object
    )
    batch.dates[stamps.isna()] = None
    phone = batch.get("phone")
    (id_number,) = batch.parse(
        "id_number", lambda v: (None if v is None else normalize_word(v).upper(),), 1
    )
    (contact,) = cells.per_unique(phone, lambda v: (re.sub(r"\D", "", v or ""),), 1)
    contact = np.where(contact == "", np.where(pd.isna(id_number), "", id_number), contact)
    (who,) = cells.per_unique(name, lambda v: (normalize_word(v),), 1)
    stamp_text = np.datetime_as_string(stamps.to_numpy(), unit="s")
    keys = batch.school_id.fillna("").to_numpy() + "|" + stamp_text + "|" + who + "|" + contact
    entry_id = [hashlib.sha1(k.encode()).hexdigest()[:16] for k in keys]
    rows = rows_frame(
        batch.index,
        {
            "entry_id": entry_id,
            "school_id": batch.school_id,
            "date": batch.dates,
            "entered_at": stamps,
            "name": name,
            "kind": batch.word("kind", schema.ENTRY_KIND_WORDS, schema.EntryKind.OTHER, None),
            "phone": phone,
            "id_number": id_number,
            "purpose": batch.get("purpose"),
            "temperature": batch.temperature(),
            "approved_by": batch.get("approved_by"),
            "left_at": batch.timestamps("left_at", batch.dates),
        },
    )
    batch.dedupe(rows, ["entry_id"])
    batch.rows = rows if batch.alive.all() else rows.loc[batch.alive]
