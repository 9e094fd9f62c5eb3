"""The events injected on the demo date, and each school's days with them.

:func:`plan_events` picks the people of the first county's events (missing
people and a missing class, a late and a missing school, fevers, a suspected
case, a class cluster, key-area travellers, unexplained illness absences, bad
rows, gate-register entries) and records them, so tests can check the flag
engine finds each of them; :class:`Planner` also adds a background of about one
symptomatic student a day before it. :func:`school_logs` and
:func:`school_entries` make a school's rows of every day with the plan's changes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from reportkit.demo.files import SESSION_WORDS, stamp_texts, temperature_texts
from reportkit.demo.plan import School, person_names

__all__ = ["Planner", "plan_events", "school_entries", "school_logs"]

_MILD = np.array(["腹泻", "头痛", "腹痛", "流涕"], dtype=object)  # symptoms no rule flags

# The demo date's events in the first county, one person a line: the event, the school's
# slot in the template ("<town><role>"; "*": a staff member), then the changes to the
# person's rows: field=value, "/n" for the last n days (default: the demo date only),
# "@session" for that session only; "drop" removes the rows.
_EVENTS = """
suspected                       1middle        key=湖北武汉/7 temp=38.1 sym=发热、咳嗽
fever                           0kindergarten  temp=37.8
fever                           3central       temp=37.5
fever                           3middle*       temp=38.2
respiratory                     1central       sym=咳嗽、咽痛
respiratory                     2middle        sym=咳嗽
key_persons                     0middle        key=湖北武汉/4
key_persons                     2central       key=是/6
key_persons                     3middle        key=湖北武汉/10
key_persons                     3village1      contact=是/3
unreachable                     0village1      drop/2
unreachable                     3central       drop/3
unreachable                     3middle        drop/4
missing                         0central       drop
missing                         1village2      drop
missing                         2central       drop
missing                         3village1      drop
noon_only_missing               2central       drop@noon
noon_only_missing               3central       drop@noon
noon_only_missing               3middle        drop@noon
illness_absence_unexplained     0village2      absent=是 reason=病假 sym=
illness_absence_unexplained     3village1      absent=是 reason=病假 sym=
personal_absence                3central       absent=是 reason=事假
personal_absence                3village1      absent=是 reason=事假
bad_rows.fahrenheit_converted   3village1      temp=98.6@morning
bad_rows.impossible_temperature 3village1      temp=45.0@morning
bad_rows.impossible_temperature 3village1      temp=3.65@noon
bad_rows.unknown_symptom        3village1      sym=牙疼@morning
"""
_SYMPTOMATIC = {"suspected", "fever", "respiratory"}  # one class each, so no accidental cluster


class Planner:
    """A county's changes to the generated rows; no person, no symptomatic class twice."""

    def __init__(
        self,
        schools: list[School],
        rosters: dict[str, pd.DataFrame],
        dates: list[date],
        rng: np.random.Generator,
    ) -> None:
        self.by_slot = {s.slot: s.id for s in schools}
        self.rosters, self.dates, self.rng = rosters, dates, rng
        self.used: set[tuple[str, str]] = set()
        self.classes: set[tuple[str, str, str]] = set()
        self.edits: dict[str, list[tuple[int, str | None, str, dict[str, Any]]]] = defaultdict(list)
        self.extra: dict[str, list[tuple[str, str, str]]] = defaultdict(list)  # pid, name, reason
        self.late: set[str] = set()
        self.no_file: set[str] = set()
        self.gate: dict[str, str] = {}

    def pick(
        self, slot: str, n: int = 1, fresh: bool = False, cls: tuple[str, str] | None = None
    ) -> list[tuple[str, str]]:
        """Up to n unused active people (school_id, person_id); staff if the slot ends in "*"."""
        sid = self.by_slot[slot.rstrip("*")]
        r = self.rosters[sid]
        ok = r["active"] & (r["role"] == ("教职工" if slot.endswith("*") else "学生"))
        if cls is not None:
            ok &= (r["grade"] == cls[0]) & (r["cls"] == cls[1])
        found = []
        for i in self.rng.permutation(np.flatnonzero(ok.to_numpy())):
            pid = str(r["pid"].iat[i])
            where = (sid, str(r["grade"].iat[i]), str(r["cls"].iat[i]))
            if (sid, pid) not in self.used and not (fresh and where in self.classes):
                self.used.add((sid, pid))
                self.classes.update([where] if fresh else [])
                found.append((sid, pid))
                if len(found) == n:
                    break
        return found

    def fresh_class(self, slot: str, min_size: int) -> tuple[str, str, list[str]]:
        """A class no event used yet, and its active students."""
        sid = self.by_slot[slot]
        r = self.rosters[sid]
        students = r[r["active"] & (r["role"] == "学生")]
        groups = [
            (k, g)
            for k, g in students.groupby(["grade", "cls"])
            if len(g) >= min_size and (sid, *k) not in self.classes
        ]
        (grade, cls), members = groups[int(self.rng.integers(len(groups)))]
        self.classes.add((sid, str(grade), str(cls)))
        return str(grade), str(cls), [str(p) for p in members["pid"]]

    def edit(
        self, sid: str, pid: str, changes: dict[str, Any], days: int = 1, session: str | None = None
    ) -> None:
        for back in range(min(days, len(self.dates))):
            self.edits[sid].append((back, session, pid, changes))

    def background(self, skip: str | None) -> None:
        """About one symptomatic student a day before the demo date, each in a class of its own."""
        slots = [slot for slot, sid in self.by_slot.items() if sid != skip]
        for back in range(1, len(self.dates)):
            found = (self.pick(slot, fresh=True) for slot in self.rng.permutation(slots))
            [(sid, pid)] = next(filter(None, found), [("", "")])
            if not sid:
                break  # every class has had its case
            temp = f"{self.rng.choice([37.4, 37.6, 37.9]):.1f}"
            sick = {"temp": temp, "sym": "发热"} if self.rng.random() < 0.5 else {"sym": "咳嗽"}
            self.edits[sid].append((back, None, pid, sick))


def plan_events(p: Planner) -> dict[str, Any]:
    """Inject the demo date's events into the first county; returns their record."""
    demo, sid = p.dates[-1], p.by_slot
    ev: dict[str, Any] = {"zero_report_school": sid["2village1"], "late_school": sid["1village1"]}
    ev["missing_school"] = sid["3point"]
    p.late.add(ev["late_school"])
    p.no_file.add(ev["missing_school"])
    grade, cls, members = p.fresh_class("0middle", 1)
    for pid in members:
        p.used.add((sid["0middle"], pid))
        p.edit(sid["0middle"], pid, {"keep": False})
    ev["missing_class"] = (sid["0middle"], grade, cls)
    grade, cls, _ = p.fresh_class("3central", 6)
    cases = p.pick("3central", 3, cls=(grade, cls))
    for (school, pid), (temp, sym) in zip(
        cases, [("37.6", "咳嗽"), ("36.8", "咳嗽、咽痛"), ("38.0", "发热")], strict=True
    ):
        p.edit(school, pid, {"temp": temp, "sym": sym})
    ev["cluster"] = (sid["3central"], grade, cls, [pid for _, pid in cases])
    bad = ev["bad_rows"] = {
        "gbk_school": sid["1central"],
        "survey_school": sid["2middle"],
        "missing_person_id": [],
    }
    bad["title_row_schools"] = [sid["0village2"], sid["0kindergarten"]]
    for line in _EVENTS.strip().splitlines():
        key, slot, *changes = line.split()
        [(school, pid)] = p.pick(slot, fresh=key in _SYMPTOMATIC)
        for change in changes:
            change, _, session = change.partition("@")
            change, _, days = change.partition("/")
            name, _, value = change.partition("=")
            p.edit(
                school,
                pid,
                {"keep": False} if name == "drop" else {name: value},
                int(days or 1),
                session or None,
            )
        target = bad if key.startswith("bad_rows.") else ev
        if key == "key_persons":  # (school, person, first day declared)
            record: tuple[Any, ...] = (max(demo - timedelta(int(days) - 1), p.dates[0]),)
        elif key in ("fever", "unreachable"):  # (school, person, temperature | days)
            record = (float(value),) if key == "fever" else (int(days),)
        else:  # (school, person, symptoms | value written)
            record = (value,) if key == "respiratory" or target is bad else ()
        target.setdefault(key.removeprefix("bad_rows."), []).append((school, pid, *record))
    sloppy = sid["3village1"]  # a teacher's rows typed below the export
    r = p.rosters[sloppy]
    for name in r.loc[r["active"], "name"].iloc[:2]:
        p.extra[sloppy].append(("", name, "missing_person_id"))
    stranger = str(r["pid"].iat[0])[:-4] + "9901"
    p.extra[sloppy].append((stranger, str(person_names(p.rng, 1)[0]), "unknown_person"))
    bad["unknown_person"] = [(sloppy, stranger)]
    p.gate = {sid["2central"]: "unapproved", sid["3central"]: "fever"}
    return ev


# --- health logs and gate registers ---------------------------------------------------------


def school_logs(
    school: School,
    roster: pd.DataFrame,
    dates: list[date],
    plan: Planner,
    rng: np.random.Generator,
) -> Iterator[tuple[date, list[Any], np.ndarray]]:
    """Each day's export (LOG_HEADER columns as text, reported_at in seconds), made at once."""
    active = roster[roster["active"]]
    pids, names = active["pid"].to_numpy(object), active["name"].to_numpy(object)
    n_people, n_sessions, n_days = len(active), len(school.sessions), len(dates)
    n = n_people * n_sessions * n_days
    day = np.repeat(np.arange(n_days), n_sessions * n_people)
    session = np.tile(np.repeat(np.arange(n_sessions), n_people), n_days)
    who = np.tile(np.arange(n_people), n_days * n_sessions)
    tenths = np.clip(np.rint(rng.normal(364, 2.5, n)), 358, 371).astype(int) - 340
    seconds = np.where(
        session == 0, 27000 + rng.integers(0, 7200, n), 43200 + rng.integers(0, 12600, n)
    )
    col: dict[str, np.ndarray] = {
        "keep": ~((rng.random(n) < 0.003) & (day < n_days - 5)),  # gaps never touch an event
        "temp": temperature_texts(school.celsius_sign)[tenths],
        **{k: np.full(n, "否", dtype=object) for k in ("absent", "key", "contact")},
        "sym": np.full(n, "无", dtype=object),
        "reason": np.full(n, "", dtype=object),
    }
    u = rng.random(n_days * n_people)[day * n_people + who]  # one draw per person and day
    away = (day < n_days - 1) & (u < 0.002)  # absences before the demo date
    ill = away & (u >= 0.001)  # with a symptom the rules do not flag
    col["absent"][away], col["reason"][away], col["reason"][ill] = "是", "事假", "病假"
    col["sym"][ill] = _MILD[(u[ill] * 1e5).astype(int) % len(_MILD)]  # same in both sessions
    index = {pid: k for k, pid in enumerate(pids)}
    for back, only, pid, changes in plan.edits.get(school.id, ()):
        for j, name in enumerate(school.sessions):
            if only in (None, name):
                i = ((n_days - 1 - back) * n_sessions + j) * n_people + index[pid]
                for key, value in changes.items():
                    col[key][i] = value
    if school.id in plan.late:
        last = day == n_days - 1
        seconds[last] = 61320 + rng.integers(0, 600, int(last.sum()))  # 17:02-17:12
    for d, today in enumerate(dates):
        if d < n_days - 1 or school.id not in plan.no_file:
            rows = slice(d * n_sessions * n_people, (d + 1) * n_sessions * n_people)
            keep = col["keep"][rows]
            at, person = seconds[rows][keep], who[rows][keep]
            y, m, dd = today.year, today.month, today.day
            date_text = [today.isoformat(), f"{y}/{m}/{dd}", f"{y}年{m}月{dd}日"][school.date_style]
            columns = [date_text, SESSION_WORDS[session[rows][keep]], pids[person], names[person]]
            columns += [
                col[k][rows][keep] for k in ("temp", "sym", "absent", "reason", "key", "contact")
            ]
            yield today, [*columns, stamp_texts(today, school.clock_style, at)], at


def school_entries(
    school: School, staff: np.ndarray, today: date, rng: np.random.Generator, event: str | None
) -> list[list[str]]:
    """A day's gate register: staff on duty, visitors, deliveries; the principal approves.

    ``event`` adds the demo date's injected entry: a visitor without an approver
    (``unapproved``) or a delivery with a fever (``fever``); it is the last row.
    """
    kinds = ["值班教职工", *rng.choice(_KINDS, int(rng.integers(1, 4)), p=[0.3, 0.45, 0.25])]
    kinds += [{"unapproved": "来访人员", "fever": "送货"}[event]] if event else []
    rows = []
    for kind in kinds:
        phone = f"1{rng.choice(['3', '5', '8'])}{rng.integers(10)}{rng.integers(10**8):08d}"
        temp, idn = f"{rng.integers(361, 370) / 10:.1f}", ""
        if kind == "值班教职工":
            name, purpose, start, end = (
                staff[rng.integers(len(staff))],
                "值班",
                *rng.integers([420, 1020], [480, 1070]),
            )
        else:
            name, purpose = str(person_names(rng, 1)[0]), str(rng.choice(_PURPOSES[kind]))
            start = int(rng.integers(510, 930))
            end, birth = (
                start + int(rng.integers(15, 120)),
                date(1965, 1, 1) + timedelta(int(rng.integers(12000))),
            )
            if rng.random() < 0.5:  # fake: no region has code 999999
                idn = f"999999{birth:%Y%m%d}{rng.integers(10000):04d}"
        stamp, leave = (f"{today:%Y-%m-%d} {m // 60:02d}:{m % 60:02d}" for m in (start, end))
        rows.append([stamp, name, kind, phone, idn, purpose, temp, staff[0], leave])
    if event:
        rows[-1][6:8] = ["37.6", staff[0]] if event == "fever" else [rows[-1][6], ""]
    return rows


_KINDS = ["值班教职工", "来访人员", "送货"]
_PURPOSES = {
    "来访人员": ["家长领取教材", "上级检查指导", "维修门窗", "送防疫物资"],
    "送货": ["送消毒用品", "送口罩", "送教材"],
}
