"""The officer console's views: one date's findings as the tables the console shows.

:class:`ConsoleModel` holds one date's frames in memory (the roster once, the
check-ins of the rules' window per date, a step of one day loading one day),
recomputes the findings with :func:`reportkit.findings.compute_findings` when the
fever threshold changes, and builds each view (:data:`VIEWS`) as a frame that
filtering by school, class and search text only slices.
:meth:`ConsoleModel.export` writes a view to ``outputs/<date>/exports/*.xlsx`` (private,
text as text: :mod:`reportkit.xlsx`); :meth:`ConsoleModel.render` runs one school's report.
Times are shown in the deployment's zone. No widget here: :mod:`reportkit.console.widgets` wires ipywidgets to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from reportkit import store
from reportkit.clock import local_time
from reportkit.context import RunContext
from reportkit.findings import compute_findings, prepare_day, span_days
from reportkit.i18n import issue_value, t
from reportkit.layout import day_outputs
from reportkit.privacy import mask_phones
from reportkit.schema import FlagLevel
from reportkit.store import list_followups, record_followup
from reportkit.xlsx import write_table

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from reportkit.config import Settings
    from reportkit.execution import JobResult, JobSpec
    from reportkit.findings import Findings, PreparedDay

__all__ = ["COLUMNS", "VIEWS", "ConsoleModel"]


def _columns(names: str) -> list[str]:
    return names.split()


VIEWS = (
    "missing",
    "attention",
    "clusters",
    "illness_absence",
    "data_quality",
    "followups",
    "submissions",
    "corrections",
)
# Labels the i18n catalog lacks (zh-CN, en); to move into reportkit.i18n.
_STATUS_LABELS = {
    "on_time": "submission_on_time",
    "late": "submission_late_short",
    "missing": "submission_missing",
}
_LEVEL_ORDER = FlagLevel.most_urgent_first()  # suspected first
# view -> its columns, in order; each is also the label key of its header
COLUMNS: dict[str, list[str]] = {
    "missing": _columns("school class person_id name days_missing session followup"),
    "attention": _columns("school level class person_id name reason temperature followup"),
    "clusters": _columns("school rule class count people"),
    "illness_absence": _columns(
        "school class person_id name temperature symptoms unexplained followup"
    ),
    "data_quality": _columns("school person_id file row column value reason"),
    "followups": _columns("school date class person_id name action note officer created_at"),
    "submissions": _columns(
        "school submission last_received expected reported coverage missing fever symptomatic suspected key_persons"
    ),
    # each value corrected after its first receipt (已更正), and the flag it removed
    "corrections": _columns(
        "school class person_id name session corrected_column earlier_value current_value "
        "corrected_flag corrected_at"
    ),
}
# hidden columns of every view (filtering, the person dropdown); shown ones are COLUMNS
_HIDDEN = ["_school_id", "_grade", "_class", "_person_ids"]


# mobile (13812341234) and landline (0431-88881234) numbers, not inside longer digit runs
def _class_label(grade: Any, klass: Any) -> str:
    parts = [str(v) for v in (grade, klass) if v is not None and not pd.isna(v) and str(v)]
    return " ".join(parts)


class ConsoleModel:
    """A date's findings for a set of schools, as the console's views.

    ``settings``: the deployment's (or a run context, whose parsed params and store it
    uses); ``school_ids`` restricts the console (a school report's controls); None is
    every school of ``schools.yaml``.
    """

    def __init__(
        self,
        settings: Settings | RunContext,
        *,
        lang: str = "zh-CN",
        school_ids: Sequence[str] | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.context = RunContext.of(settings)  # params parsed once, for render() too
        self.settings = self.context.settings
        self.config = self.context.schools
        self.rules = self.context.rules
        # a store that is not there is refused (StoreMissingError), never shown as zeros
        self.engine = engine if engine is not None else self.context.engine
        self.lang = lang
        ids = list(school_ids) if school_ids else [s.id for s in self.config.schools]
        for sid in ids:
            self.config.school(sid)  # unknown id: ConfigError naming it
        self.school_ids = ids
        self.zone = self.config.zone()
        self.people = self._load_people()
        self.threshold = self.rules.fever_celsius
        self.day: date | None = None
        self.findings: Findings | None = None
        self._frames: dict[date, tuple[pd.DataFrame, ...]] = {}
        self._findings: dict[tuple[date, float], Findings] = {}
        self._views: dict[str, pd.DataFrame] = {}
        self._history: pd.DataFrame | None = None
        self._loaded: tuple[date, date, pd.DataFrame] | None = None
        self._prepared: PreparedDay | None = None

    def _load_people(self) -> pd.DataFrame:
        people = store.load_people(self.engine, self.school_ids)
        self.class_teachers = store.load_class_teachers(self.engine, self.school_ids)
        keys = zip(people["school_id"], people["person_id"], strict=True)
        self.names = dict(zip(keys, people["name"], strict=True))
        return people

    # -- data ---------------------------------------------------------------------

    def latest_date(self) -> date | None:
        """The latest date with a check-in of these schools in the store."""
        stmt = sa.select(sa.func.max(store.checkins.c.date)).where(
            store.checkins.c.school_id.in_(self.school_ids)
        )
        with self.engine.connect() as conn:
            value = conn.execute(stmt).scalar()
        if isinstance(value, str):  # SQLite without type affinity on an aggregate
            value = date.fromisoformat(value[:10])
        return value.date() if isinstance(value, datetime) else value

    def set_date(self, day: date) -> None:
        """Load the window ending on ``day`` and compute its findings.

        Check-ins already in memory are kept: a step of one day loads one day.
        """
        if day not in self._frames:
            ids = self.school_ids
            self._frames = {  # the last date only: a district's window is large
                day: (
                    self._window(day),
                    store.load_data_quality(self.engine, day, day, ids),
                    store.load_entries(self.engine, day, day, ids),
                )
            }
        self.day = day
        self._history = None
        self._update()

    def _window(self, day: date) -> pd.DataFrame:
        start = day - timedelta(days=span_days(self.rules) - 1)
        load = lambda a, b: store.load_checkins(self.engine, a, b, self.school_ids)  # noqa: E731
        if self._loaded is None or start > self._loaded[1] or day < self._loaded[0]:
            frame = load(start, day)
        else:
            lo, hi, have = self._loaded
            dates = have["date"]
            parts = [have[(dates >= start) & (dates <= day)]]
            if start < lo:
                parts.insert(0, load(start, lo - timedelta(days=1)))
            if day > hi:
                parts.append(load(hi + timedelta(days=1), day))
            parts = [p for p in parts if not p.empty] or [have.iloc[:0]]
            frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        self._loaded = (start, day, frame)
        return frame

    def reload(self) -> None:
        """Forget what was loaded (new files were ingested) and load the day again."""
        self._loaded = None
        self._frames, self._findings, self._prepared = {}, {}, None
        self.people = self._load_people()
        if self.day is not None:
            self.set_date(self.day)

    def set_threshold(self, celsius: float) -> None:
        """Recompute the findings with another fever threshold (the rules file is unchanged)."""
        self.threshold = round(float(celsius), 2)
        self._update()

    def _update(self) -> None:
        assert self.day is not None
        key = (self.day, self.threshold)
        if key not in self._findings:
            checkins, dq, entries = self._frames[self.day]
            rules = self.rules.model_copy(update={"fever_celsius": self.threshold})
            if self._prepared is None or self._prepared.report_date != self.day:
                # the roster and check-in arrays of the day: a threshold move reuses them
                self._prepared = prepare_day(
                    self.people, checkins, self.config, rules, self.day, self.school_ids
                )
            findings = compute_findings(
                self.people,
                checkins,
                dq,
                self.config,
                rules,
                self.day,
                self.school_ids,
                entries=entries,
                prepared=self._prepared,
                class_teachers=self.class_teachers,
            )
            self._findings = {k: v for k, v in self._findings.items() if k[0] == self.day}
            self._findings[key] = findings
        self.findings = self._findings[key]
        self._views = {}

    @property
    def shown(self) -> Findings:
        """The findings of the date and threshold shown (a date must be set first)."""
        if self.findings is None:
            raise RuntimeError("no date set: call set_date(day) first")
        return self.findings

    def history(self) -> pd.DataFrame:
        """Every follow-up of these schools dated up to the day, oldest first."""
        if self._history is None:
            self._history = list_followups(self.engine, self.school_ids, self.day)
        return self._history

    def latest(self) -> dict[tuple[str, str], str]:
        """(school, person) -> the latest follow-up as one line."""
        latest = self.history().drop_duplicates(["school_id", "person_id"], keep="last")
        return {
            (str(r.school_id), str(r.person_id)): " · ".join(
                str(p)
                for p in (
                    t(f"action_{r.action}", self.lang),
                    r.note,
                    r.officer,
                    self._local(r.created_at),
                )
                if p
            )
            for r in latest.itertuples()
        }

    def _local(self, stamp: Any) -> str:
        return local_time(stamp, self.zone)

    def classes(self, school_id: str) -> list[tuple[str, str]]:
        """The (grade, class) pairs of a school's roster, in roster order."""
        roster = self.people[self.people["school_id"] == school_id]
        pairs = zip(roster["grade"].fillna(""), roster["class"].fillna(""), strict=True)
        return [p for p in dict.fromkeys(pairs) if any(p)]

    def record(self, school_id: str, person_id: str, action: str, note: str, officer: str) -> int:
        """Append a follow-up for the current day (see :func:`record_followup`)."""
        assert self.day is not None
        row_id = record_followup(self.engine, school_id, person_id, self.day, action, note, officer)
        self._history = None
        self._views = {}
        return row_id

    # -- views ----------------------------------------------------------------------

    def view(self, name: str) -> pd.DataFrame:
        """The whole view (every school of the console), built once per findings."""
        if name not in VIEWS:
            raise ValueError(f"unknown view {name!r}; known: {', '.join(VIEWS)}")
        if name not in self._views:
            self._views[name] = getattr(self, f"_view_{name}")().reset_index(drop=True)
        return self._views[name]

    def select(
        self,
        name: str,
        school_ids: Sequence[str] | None = None,
        klass: tuple[str, str] | None = None,
        search: str = "",
        sort_by: str | None = None,
        ascending: bool = True,
    ) -> pd.DataFrame:
        """A view sliced to schools, a (grade, class) and a search text, then sorted."""
        frame = self.view(name)
        if school_ids is not None:
            frame = frame[frame["_school_id"].isin(list(school_ids))]
        if klass is not None and name != "submissions":
            frame = frame[(frame["_grade"] == klass[0]) & (frame["_class"] == klass[1])]
        text = search.strip().casefold()
        if text:
            hay = frame["name"].astype(str) + "\n" + frame["person_id"].astype(str)
            frame = frame[hay.str.casefold().str.contains(text, regex=False)]
        if sort_by:
            try:
                frame = frame.sort_values(
                    sort_by, ascending=ascending, kind="stable", na_position="last"
                )
            except TypeError:  # mixed types in a column: compare as text
                frame = frame.sort_values(
                    sort_by, ascending=ascending, kind="stable", key=lambda s: s.astype(str)
                )
        return frame.reset_index(drop=True)

    def _people(self, frame: pd.DataFrame, **extra: Any) -> pd.DataFrame:
        """Person columns common to person views; hidden columns start with ``_``."""
        names = {s.id: s.name for s in self.config.schools}
        latest = self.latest()
        keys = list(zip(frame["school_id"], frame["person_id"], strict=True))
        return pd.DataFrame(
            {
                "_school_id": frame["school_id"].to_numpy(),
                "_grade": frame["grade"].fillna("").to_numpy(),
                "_class": frame["class"].fillna("").to_numpy(),
                "_person_ids": [(p,) for p in frame["person_id"]],
                "school": [names.get(s, s) for s in frame["school_id"]],
                "class": [
                    _class_label(g, c) for g, c in zip(frame["grade"], frame["class"], strict=True)
                ],
                "person_id": frame["person_id"].to_numpy(),
                "name": frame["name"].to_numpy(),
                **extra,
                "followup": [latest.get(k, "") for k in keys],
            }
        )

    def _view_missing(self) -> pd.DataFrame:
        f = self.shown
        whole = self._people(f.missing, days_missing=f.missing["days_missing"].to_numpy())
        whole["session"] = ""
        sessions = f.missing_sessions
        part = self._people(sessions, days_missing=0)
        part["session"] = [t(f"session_{s}", self.lang) for s in sessions["session"]]
        return pd.concat([whole, part], ignore_index=True)[[*_HIDDEN, *COLUMNS["missing"]]]

    def _view_attention(self) -> pd.DataFrame:
        att = self.shown.attention
        att = att.assign(_o=att["level"].map(_LEVEL_ORDER)).sort_values("_o", kind="stable")
        reason = att["reason_zh" if self.lang == "zh-CN" else "reason_en"]
        return self._people(
            att,
            level=[t(f"level_{v}", self.lang) for v in att["level"]],
            reason=reason.to_numpy(),
            temperature=pd.to_numeric(att["temperature"], errors="coerce").to_numpy(),
            _fever=pd.MultiIndex.from_frame(att[["school_id", "person_id"]]).isin(
                pd.MultiIndex.from_frame(self.shown.fever[["school_id", "person_id"]])
            ),
        )[[*_HIDDEN, "_fever", *COLUMNS["attention"]]]

    def _view_illness_absence(self) -> pd.DataFrame:
        ia = self.shown.illness_absence
        return self._people(
            ia,
            temperature=pd.to_numeric(ia["temperature"], errors="coerce").to_numpy(),
            symptoms=[
                self._symptoms(s, o)
                for s, o in zip(ia["symptoms"], ia["symptoms_other"], strict=True)
            ],
            unexplained=[t("yes" if u else "no", self.lang) for u in ia["unexplained"]],
        )[[*_HIDDEN, *COLUMNS["illness_absence"]]]

    def _symptoms(self, codes: Any, other: Any) -> str:
        words = [t(f"symptom_{c}", self.lang) for c in str(codes or "").split(",") if c]
        if isinstance(other, str) and other:
            words.append(other)
        return t("sep_names", self.lang).join(words)

    def _view_clusters(self) -> pd.DataFrame:
        c = self.shown.clusters
        names = {s.id: s.name for s in self.config.schools}
        sep = t("sep_names", self.lang)
        return pd.DataFrame(
            {
                "_school_id": c["school_id"].to_numpy(),
                "_grade": c["grade"].fillna("").to_numpy(),
                "_class": c["class"].fillna("").to_numpy(),
                "_person_ids": list(c["person_ids"]),
                "school": [names.get(s, s) for s in c["school_id"]],
                "rule": [t(f"rule_{r}", self.lang) for r in c["rule"]],
                "class": c["class_label"].to_numpy(),
                "count": c["count"].to_numpy(),
                "people": [sep.join(n) for n in c["names"]],
                # searchable by name or id like the person views
                "name": [sep.join(n) for n in c["names"]],
                "person_id": [" ".join(p) for p in c["person_ids"]],
            }
        )

    def _view_data_quality(self) -> pd.DataFrame:
        roster = self.people[["school_id", "person_id", "name", "grade", "class"]]
        dq = self.shown.data_quality.merge(roster, on=["school_id", "person_id"], how="left")
        names = {s.id: s.name for s in self.config.schools}
        return pd.DataFrame(
            {
                "_school_id": dq["school_id"].to_numpy(),
                "_grade": dq["grade"].fillna("").to_numpy(),
                "_class": dq["class"].fillna("").to_numpy(),
                "_person_ids": [(p,) if isinstance(p, str) and p else () for p in dq["person_id"]],
                "school": [names.get(s, s or "") for s in dq["school_id"]],
                "person_id": dq["person_id"].fillna("").to_numpy(),
                "file": [Path(str(f)).name for f in dq["file"]],
                "row": dq["row"].to_numpy(),
                "column": dq["column"].to_numpy(),
                # a refused file's reason in the console's language, other values as written
                "value": [
                    issue_value(r, v, self.lang) if r == "file_rejected" else v
                    for v, r in zip(dq["value"], dq["reason"], strict=True)
                ],
                "reason": [t(f"reason_{r}", self.lang) for r in dq["reason"]],
                "name": dq["name"].fillna("").to_numpy(),
            }
        )

    def _view_followups(self) -> pd.DataFrame:
        hist = self.history().iloc[::-1]  # newest first
        roster = self.people[["school_id", "person_id", "name", "grade", "class"]]
        frame = hist.merge(roster, on=["school_id", "person_id"], how="left")
        out = self._people(
            frame.fillna({"name": ""}),
            date=[d.isoformat() for d in frame["date"]],
            action=[t(f"action_{a}", self.lang) for a in frame["action"]],
            note=frame["note"].to_numpy(),
            officer=frame["officer"].to_numpy(),
            created_at=[self._local(c) for c in frame["created_at"]],
        )
        return out[[*_HIDDEN, *COLUMNS["followups"]]]

    def _view_submissions(self) -> pd.DataFrame:
        s = self.shown.schools
        return pd.DataFrame(
            {
                "_school_id": s["school_id"].to_numpy(),
                "_grade": "",
                "_class": "",
                "_person_ids": [() for _ in range(len(s))],
                "_status": s["submission"].to_numpy(),
                "school": s["name"].to_numpy(),
                "submission": [
                    t(f"submission_{v}", self.lang, n=int(m or 0))
                    for v, m in zip(s["submission"], s["minutes_late"], strict=True)
                ],
                "last_received": [str(v or "")[11:16] for v in s["last_received"]],
                **{c: s[c].to_numpy() for c in COLUMNS["submissions"][3:]},
                "name": s["name"].to_numpy(),
                "person_id": s["school_id"].to_numpy(),
            }
        )

    def _view_corrections(self) -> pd.DataFrame:
        """The day's corrected values from the store's revisions (the findings of the
        console's own threshold do not load them): earlier → current, marked 已更正,
        with the flag the correction removed (fever at the console's threshold)."""
        from reportkit.findings import compute_corrections

        assert self.day is not None
        revisions = store.load_revisions(
            self.engine, "checkins", day=self.day, school_ids=self.school_ids
        )
        rules = self.rules.model_copy(update={"fever_celsius": self.threshold})
        checkins = self._frames[self.day][0]
        values, flags = compute_corrections(checkins, revisions, rules, self.day, self.people)
        removed: dict[tuple[str, str, str], list[str]] = {}
        for r in flags.itertuples():
            removed.setdefault((str(r.school_id), str(r.person_id), str(r.session)), []).append(
                t(f"corrected_flag_{r.flag}", self.lang)
            )
        roster = self.people[["school_id", "person_id", "grade", "class"]]
        frame = values.merge(roster, on=["school_id", "person_id"], how="left")
        keys = zip(frame["school_id"], frame["person_id"], frame["session"], strict=True)
        mark = t("corrected_mark", self.lang)
        out = self._people(
            frame.fillna({"name": ""}),
            session=[t(f"session_{v}", self.lang) for v in frame["session"]],
            corrected_column=[t(f"corrected_col_{c}", self.lang) for c in frame["column"]],
            earlier_value=frame["earlier"].to_numpy(),
            current_value=[f"{v}（{mark}）" for v in frame["current"]],
            corrected_flag=[t("sep_names", self.lang).join(removed.get(k, [])) for k in keys],
            corrected_at=[self._local(c) for c in frame["corrected_at"]],
        )
        return out[[*_HIDDEN, *COLUMNS["corrections"]]]

    def counts(self, name: str, frame: pd.DataFrame) -> str:
        """The count line of a view as shown (e.g. ``未报 12 人``)."""
        lang = self.lang
        if name == "missing":
            whole = int((frame["session"] == "").sum())
            text = t("count_missing", lang, n=whole)
            if len(frame) > whole:
                text += " · " + t("count_missing_sessions", lang, n=len(frame) - whole)
            return text
        parts = [t(f"count_{name}", lang, n=len(frame))]
        if name == "attention":
            for value, n in frame["level"].value_counts(sort=False).items():
                parts.append(t("count_part", lang, label=value, n=n))
            n = int(frame["_fever"].sum())
            parts.append(t("count_part", lang, label=t("fever", lang), n=n))
        if name == "submissions":
            for status, key in _STATUS_LABELS.items():
                n = int((frame["_status"] == status).sum())
                parts.append(t("count_part", lang, label=t(key, lang), n=n))
        if name == "illness_absence":
            n = int((frame["unexplained"] == t("yes", lang)).sum())
            parts.append(t("count_part", lang, label=t("unexplained", lang), n=n))
        return " · ".join(parts)

    def people_of(self, frame: pd.DataFrame) -> list[tuple[str, tuple[str, str]]]:
        """Dropdown options for the people in a view: (label, (school_id, person_id))."""
        names = {s.id: s.name for s in self.config.schools}
        seen: dict[tuple[str, str], str] = {}
        for sid, ids in zip(frame["_school_id"], frame["_person_ids"], strict=True):
            for pid in ids:
                key = (sid, pid)
                if key not in seen:
                    seen[key] = f"{self.names.get(key, '')} {pid} · {names.get(sid, sid)}"
        return [(text, key) for key, text in seen.items()]

    # -- the day at a glance ------------------------------------------------------------

    def board(
        self, school_ids: Sequence[str] | None = None, now: datetime | None = None
    ) -> pd.DataFrame:
        """Every school's submission for the day, what needs the officer first on top:
        not submitted, late, then the schools with suspected, symptomatic, fever, the
        rest. Columns: ``_school_id``, ``_status``, ``school``, ``submission`` (on time
        / late N min / missing), ``time_left`` (to the deadline, for a school still
        missing), ``reported`` (n/N), ``fever``, ``suspected`` ("—" for a school that
        sent nothing: unknown, not 0)."""
        s = self.shown.schools
        if school_ids is not None:
            s = s[s["school_id"].isin(list(school_ids))]
        order = s["submission"].map({"missing": 0, "late": 1}).fillna(2)
        s = s.assign(_o=order).sort_values(
            ["_o", "suspected", "symptomatic", "fever", "missing", "school_id"],
            ascending=[True, False, False, False, False, True],
            kind="stable",
        )
        now = now or datetime.now(self.zone)
        lang = self.lang
        silent = [int(r or 0) == 0 for r in s["rows"]]
        return pd.DataFrame(
            {
                "_school_id": s["school_id"].to_numpy(),
                "_status": s["submission"].to_numpy(),
                "school": s["name"].to_numpy(),
                "submission": [
                    t(f"submission_{v}", lang, n=int(m or 0))
                    for v, m in zip(s["submission"], s["minutes_late"], strict=True)
                ],
                "time_left": [
                    self._time_left(d, now) if v == "missing" else ""
                    for v, d in zip(s["submission"], s["deadline"], strict=True)
                ],
                "reported": [
                    f"{'—' if q else int(r)}/{int(e)}"
                    for r, e, q in zip(s["reported"], s["expected"], silent, strict=True)
                ],
                "fever": ["—" if q else int(v) for v, q in zip(s["fever"], silent, strict=True)],
                "suspected": [
                    "—" if q else int(v) for v, q in zip(s["suspected"], silent, strict=True)
                ],
            }
        ).reset_index(drop=True)

    def _time_left(self, deadline: Any, now: datetime) -> str:
        try:
            due = pd.Timestamp(deadline)
        except (TypeError, ValueError):
            return ""
        if pd.isna(due):
            return ""
        if due.tzinfo is None:
            due = due.tz_localize(self.zone)
        at = pd.Timestamp(now)
        if at.tzinfo is None:  # a time without a zone is the deployment's local time
            at = at.tz_localize(self.zone)
        minutes = int((due - at).total_seconds() // 60)
        if minutes < 0:
            return t("past_deadline", self.lang)
        return t("time_left", self.lang, h=minutes // 60, m=minutes % 60)

    def trend(self, school_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """The 14-day trend of the schools (summed per day): date, expected, reported,
        fever, symptomatic, suspected."""
        trend = self.shown.trend
        if school_ids is not None:
            trend = trend[trend["school_id"].isin(list(school_ids))]
        counts = ["expected", "reported", "fever", "symptomatic", "suspected"]
        return trend.groupby("date", as_index=False)[counts].sum().sort_values("date")

    def class_table(self, school_id: str) -> pd.DataFrame:
        """One school's classes for the day: class, head teacher ("" when no roster named
        one), expected, reported, missing, absent, fever, symptomatic, suspected."""
        pc = self.shown.per_class
        pc = pc[pc["school_id"] == school_id]
        frame = pd.DataFrame(
            {"class": [_class_label(g, c) for g, c in zip(pc["grade"], pc["class"], strict=True)]}
        )
        heads = pc["head_teacher"] if "head_teacher" in pc else pd.Series(None, index=pc.index)
        frame["head_teacher"] = [h if isinstance(h, str) else "" for h in heads]
        for col in ("expected", "reported", "missing", "absent", "fever", "symptomatic"):
            frame[col] = pc[col].to_numpy()
        frame["suspected"] = pc["suspected"].to_numpy() if "suspected" in pc else 0
        return frame

    # -- outputs ------------------------------------------------------------------------

    def export(self, name: str, frame: pd.DataFrame, scope: str) -> Path:
        """Write a view's shown rows (all of them) to ``outputs/<date>/exports/*.xlsx``."""
        assert self.day is not None
        day = day_outputs(self.settings.outputs, self.day)
        stamp = datetime.now(self.zone).strftime("%H%M%S")  # the officer's clock, not the host's
        path = day.export_file(name, scope, stamp)
        n = 1
        while path.exists():
            n += 1
            path = day.export_file(name, scope, stamp, n)
        shown = frame[COLUMNS[name]].apply(
            lambda col: col.map(lambda v: mask_phones(v) if isinstance(v, str) else v)
        )
        shown = shown.rename(columns=lambda c: t(c, self.lang))
        # text as text (a note "=HYPERLINK(...)" is no formula), 0600, written whole
        return write_table(path, {t(f"view_{name}", self.lang): shown})

    def render(self, school_id: str) -> JobResult:
        """Run and render one school's report (never the district's); its JobResult."""
        from reportkit.execution import close_printer, run_job, run_reports

        def school_only(specs: Sequence[JobSpec], _done: object) -> list[JobResult]:
            # a one-school run must not re-run (and so break) its district's roll-up
            results = []
            try:
                for spec in specs:
                    if spec.kind == "school":
                        results.append(run_job(spec))
            finally:
                close_printer()
            return results

        assert self.day is not None
        result = run_reports(
            self.context,
            self.day,
            [school_id],
            jobs=1,
            lang=self.lang,
            executor=school_only,
            progress=False,
        )
        return next(j for j in result.jobs if j.kind == "school")
