"""The sections of the daily reports, built from findings for the notebooks.

A report notebook is a ``parameters`` cell and one line per section:
``report.title()``, ``report.submission()`` … Each section returns an object
that Jupyter displays as HTML (or a PNG for the chart), built here from a
:class:`~reportkit.findings.Findings` so it can be tested without a kernel.
Labels come from :mod:`reportkit.i18n`. A section prepares values here and
renders its HTML with a Jinja template of ``templates/sections/`` (autoescaped:
no HTML is put together in Python).

:class:`SchoolReport` shows one school's own people only (the findings are
sliced to the school before anything is shown); :class:`UnitReport` shows a
unit's counts per child school or unit and never a person.

A section that shows names also carries the same HTML with the names masked
(张*丽) under :data:`MASKED_MIME`; :mod:`reportkit.reports.render` picks it for the
masked PDF, so one execution gives both. The title carries the report's identity
(kind, id and :func:`~reportkit.findings.findings_hash` of what it shows)
under :data:`IDENTITY_MIME`, which no renderer shows.

A school with no check-in row for the day (``schools.rows == 0``) has not
submitted: its report says 未报送 first, and every figure that depends on
check-ins shows "—" / 无数据, never a 0 that would read as calm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from reportkit.clock import local_time
from reportkit.i18n import issue_value, level_label, t
from reportkit.privacy import mask_phone
from reportkit.reports.html import (
    _TREND_COUNTS,
    DASH,
    Figure,
    Section,
    Table,
    _class_label,
    _config,
    _flag,
    _int,
    _masked,
    _missing_value,
    _plain,
    _Svg,
    _table,
    _temperature,
    _template,
    class_sort_key,
    class_with_head_teacher,
    field_label,
    format_pct,
    head_teachers,
    open_findings,
    render_template,
    unknown_without_checkins,
)
from reportkit.reports.svgchart import report_chart

if TYPE_CHECKING:
    from reportkit.config import SchoolsConfig
    from reportkit.findings import Findings, UnitRollup

__all__ = ["ActionRow", "DistrictReport", "SchoolReport", "UnitReport", "action_rows", "warm_up"]

SECTION_TEMPLATES = tuple(
    f"sections/{name}.html.j2"
    for name in ("title", "submission", "figures", "listing", "entries", "corrections", "changes")
)


def warm_up() -> None:
    """Load what the first report would: the modules its cells use, the CJK font.

    The runner calls this in a kernel before it has a school to give it; nothing of a
    school is read here.
    """

    day = pd.Timestamp("2020-01-01")
    empty = pd.DataFrame(
        {"date": [day], "expected": [1], "reported": [1], "fever": [0], "symptomatic": [0]}
        | {"suspected": [0]}
    )
    report_chart(empty, "zh-CN")  # compiles the chart's template
    for name in SECTION_TEMPLATES:  # compiled once per kernel, before the first report
        _template(name)


class SchoolReport:
    """One school's report for one date, its sections in the order they are shown.

    ``no_data``: nothing was received from the school for the day (no check-in
    row); the sections then show "—" / 无数据 for whatever check-ins decide.
    """

    def __init__(
        self, findings: Findings, config: SchoolsConfig, school_id: str, lang: str = "zh-CN"
    ) -> None:
        self.db: str | None = None
        self.params_dir: str | Path | None = None
        self.school = config.school(school_id)
        self.district = config.district(self.school.district)
        from reportkit.findings import verified_hash

        self._hash = verified_hash(findings, school_id)  # checked on loading: not again
        self.findings = findings.for_school(school_id)
        self.lang = lang
        self.zone = config.zone(school_id)  # follow-up times are shown in the school's zone
        self.mask_names = False  # also build each section with names masked
        row = self.findings.schools
        self.row = row.iloc[0].to_dict() if not row.empty else {}
        self.no_data = _int(self.row.get("rows")) == 0
        # a later version of a report that was sent: its number, the findings of the
        # version sent before it and when that was (ISO local): what changes() compares
        self.version = 1
        self.previous: Findings | None = None
        self.previous_sent_at = ""

    @classmethod
    def open(
        cls,
        school_id: str,
        report_date: str,
        lang: str = "zh-CN",
        db: str | None = None,
        params_dir: str | Path | None = None,
        findings_dir: str | Path | None = None,
        *,
        mask_names: bool = False,
        version: int = 1,
        previous_dir: str | Path | None = None,
        previous_sent_at: str | None = None,
    ) -> SchoolReport:
        """``mask_names``: each section that shows names also carries them masked, for
        the masked PDF (the runner sets it when ``delivery.yaml`` masks names).
        ``version`` > 1 with ``previous_dir`` (the folder of the version sent before,
        sent at ``previous_sent_at``): :meth:`changes` says what changed since."""
        findings = open_findings(findings_dir, report_date, [school_id], db, params_dir)
        report = cls(findings, _config(db, params_dir), school_id, lang)
        report.db, report.params_dir = db, params_dir  # for the interactive controls
        report.mask_names = mask_names
        if previous_dir:
            from reportkit.findings import load_findings_files

            day = date.fromisoformat(str(report_date))
            report.previous = load_findings_files(previous_dir, [school_id], day)
            if report.previous is None:
                raise FileNotFoundError(f"no findings of the version sent in {previous_dir}")
            report.version, report.previous_sent_at = version, previous_sent_at or ""
        return report

    # -- helpers ---------------------------------------------------------------

    def _dual(self, build: Any) -> Section:
        """A section with names as they are and, with ``mask_names``, masked (张*丽)."""
        return Section(build(_plain), masked=build(_masked) if self.mask_names else None)

    def _listing(
        self, key: str, count: int | None, tables: list[Table], note: str | None = None
    ) -> str:
        """A heading (``key``, with ``count``), then ``tables`` or a ``note``."""
        return _render_listing(t(key, self.lang), count, tables, note)

    def _empty_key(self) -> str:
        return "no_data" if self.no_data else "none"

    def _figure(self, key: str) -> str:
        value = self.row.get(key)
        if self.no_data and unknown_without_checkins(key, value):
            return DASH
        if key == "coverage":
            return format_pct(value)
        return DASH if _missing_value(value) else f"{_int(value)}"

    # -- sections, in order ----------------------------------------------------

    def title(self) -> Section:
        from reportkit.findings import findings_hash

        day = self.findings.date.isoformat()
        title = t("daily_report", self.lang)
        return Section(
            render_template(
                "sections/title.html.j2",
                name=self.school.name,
                title=title,
                subtitle=[
                    day,
                    self.district.name,
                    *([self.school.town] if self.school.town else []),
                ],
            ),
            identity={
                "kind": "school",
                "id": self.school.id,
                "findings_hash": self._hash or findings_hash(self.findings, self.school.id),
                "names_masked": self.mask_names,  # every section carries a masked rendering
                "title": f"{self.school.name} {title} {day}",  # the page's and the PDF's title
            },
        )

    def submission(self) -> Section:
        status = _plain(self.row.get("submission")) or "missing"
        if self.no_data:
            status = "missing"
        text = t(f"submission_{status}", self.lang, n=_int(self.row.get("minutes_late")))
        last = _plain(self.row.get("last_received"))
        note, note_kind = None, None
        if self.no_data:
            note, note_kind = t("no_submission_note", self.lang), "nodata"
        elif _flag(self.row.get("zero_report")):
            note, note_kind = t("zero_report", self.lang), "zero"
        return Section(
            render_template(
                "sections/submission.html.j2",
                status=status,
                text=text,
                deadline_label=t("deadline", self.lang),
                deadline=self.school.deadline,
                last_received_label=t("last_received", self.lang),
                last_received=last.replace("T", " ")[:16],
                note=note,
                note_kind=note_kind,
            )
        )

    def changes(self) -> Section | None:
        """更正说明: what changed since the version sent (a later version only; nothing
        shown otherwise). Placed right after the key figures."""
        if self.previous is None:
            return None
        from reportkit.findings import school_changes
        from reportkit.reports.changes import change_heading, change_lines

        changes = school_changes(self.previous, self.findings, self.school.id)
        since = change_heading(self.version, self.previous_sent_at, self.lang)

        def build(name: Any) -> str:
            return _render_changes(since, change_lines(changes, self.lang, name), self.lang)

        return self._dual(build)

    def key_figures(self) -> Section:
        keys = [
            "expected",
            "reported",
            "coverage",
            "missing",
            "absent",
            "illness_absence",
            "fever",
            "suspected",
            "key_persons",
        ]
        figures = [Figure(t(key, self.lang), self._figure(key)) for key in keys]
        return Section(render_template("sections/figures.html.j2", figures=figures, note=None))

    def missing(self) -> Section:
        """Who did not report, by class: the class (with its head teacher when a roster
        named one), n of its N, the names (with the days missed when more than one),
        classes with the most missing first."""
        if self.no_data:
            expected = self._figure("expected")
            return Section(
                self._listing(
                    "not_reported", None, [], note=t("missing_no_submission", self.lang, n=expected)
                )
            )
        frame = self.findings.missing.copy()
        frame["class_label"] = _class_label(frame)
        per_class = self.findings.per_class.copy()
        per_class["class_label"] = _class_label(per_class)
        of = {
            c: _int(n) for c, n in zip(per_class["class_label"], per_class["expected"], strict=True)
        }
        heads = head_teachers(per_class)
        counts = frame["class_label"].value_counts()
        labels = sorted(counts.index, key=lambda c: (-int(counts[c]), class_sort_key(c)))
        sep = t("sep_names", self.lang)

        def build(name: Any) -> str:
            rows = []
            for label in labels:
                part = frame[frame["class_label"] == label].sort_values("person_id", kind="stable")
                names = sep.join(
                    name(n)
                    + (t("days_missing_suffix", self.lang, n=_int(d)) if _int(d) >= 2 else "")
                    for n, d in zip(part["name"], part["days_missing"], strict=True)
                )
                head = heads.get(label)
                shown_label = class_with_head_teacher(
                    label or t("role_staff", self.lang), name(head) if head else None, self.lang
                )
                rows.append((shown_label, f"{len(part)}/{of.get(label, len(part))}", names))
            table = Table(
                [t(k, self.lang) for k in ("class", "missing_of_expected", "names")],
                rows,
                t("none", self.lang),
            )
            return self._listing("not_reported_by_class", len(frame), [table])

        return self._dual(build)

    def missing_sessions(self) -> Section:
        """People who checked in but missed a session of the day (a detail)."""
        sessions = self.findings.missing_sessions.copy()
        if self.no_data:
            return Section(
                self._listing("missing_sessions", None, [], note=t("no_data", self.lang))
            )
        sessions["class_label"] = _class_label(sessions)
        sessions["session_label"] = [t(f"session_{v}", self.lang) for v in sessions["session"]]
        sessions = sessions.sort_values(["grade", "class", "person_id"], kind="stable")

        def build(name: Any) -> str:
            table = _table(
                sessions.assign(name=[name(v) for v in sessions["name"]]),
                {
                    "class_label": "class",
                    "person_id": "person_id",
                    "name": "name",
                    "session_label": "session",
                },
                self.lang,
            )
            return self._listing("missing_sessions", len(sessions), [table])

        return self._dual(build)

    def action(self) -> Section:
        """What needs action, most urgent first (:func:`action_rows`), each with its
        reason and the person's latest follow-up."""
        lang = self.lang
        rows = action_rows(self.findings, lang)
        followups = self._followups_by_person()
        headers = [t(k, lang) for k in ("kind", "class", "person_id", "name", "reason", "followup")]
        sep = t("sep_names", lang)

        def build(name: Any) -> str:
            shown = [
                (
                    r.kind,
                    r.class_label,
                    r.person_id,
                    sep.join(name(n) for n in r.names),
                    r.reason,
                    followups.get(r.person_id, "") if r.person_id else "",
                )
                for r in rows
            ]
            table = Table(headers, shown, t(self._empty_key(), lang))
            count = None if self.no_data and not rows else len(rows)
            return self._listing("needs_action", count, [table])

        return self._dual(build)

    def attention(self) -> Section:
        """The people (and clusters) that need action: :meth:`action`."""
        return self.action()

    def _followups(self, frame: pd.DataFrame) -> list[str]:
        if frame.empty:
            return []
        by_person = self._followups_by_person()
        return [by_person.get(p, "") for p in frame["person_id"]]

    def _followups_by_person(self) -> dict[str, str]:
        """Each person's latest follow-up: action · officer · time (the school's zone)."""
        latest = getattr(self.findings, "followups", None)
        if latest is None or latest.empty:
            return {}
        return {
            r.person_id: " · ".join(
                p
                for p in (
                    t("action_" + r.action, self.lang),
                    _plain(r.officer),
                    local_time(r.created_at, self.zone),
                )
                if p
            )
            for r in latest.itertuples()
        }

    def clusters(self) -> Section:
        frame = self.findings.clusters.copy()
        if not frame.empty:
            frame["class_label"] = _class_label(frame)
            frame["rule_label"] = [t(f"rule_{r}", self.lang) for r in frame["rule"]]

        def build(name: Any) -> str:
            shown = frame
            if not frame.empty:
                shown = frame.assign(
                    people=["、".join(name(n) for n in ns) for ns in frame["names"]]
                )
            count = None if self.no_data and frame.empty else len(frame)
            table = _table(
                shown,
                {
                    "rule_label": "rule",
                    "class_label": "class",
                    "count": "count",
                    "people": "people",
                },
                self.lang,
                self._empty_key(),
            )
            return self._listing("clusters", count, [table])

        return self._dual(build)

    def illness_absence(self) -> Section:
        frame = self.findings.illness_absence.copy()
        frame["class_label"] = _class_label(frame)

        def build(name: Any) -> str:
            count = None if self.no_data and frame.empty else len(frame)
            table = _table(
                frame.assign(name=[name(v) for v in frame["name"]]),
                {"class_label": "class", "person_id": "person_id", "name": "name"},
                self.lang,
                self._empty_key(),
            )
            return self._listing("illness_absence_followup", count, [table])

        return self._dual(build)

    def data_quality(self) -> Section:
        frame = self.findings.data_quality.copy()
        if not frame.empty:
            frame["file_name"] = [Path(_plain(f)).name for f in frame["file"]]
            frame["reason_label"] = [t(f"reason_{r}", self.lang) for r in frame["reason"]]
            frame["column_label"] = [field_label(c, self.lang) for c in frame["column"]]

        def build(name: Any) -> str:
            shown = frame
            if not frame.empty:
                # a name-mismatch finding shows the name as the file wrote it
                # ... and a refused file's reason in the report's language
                shown = frame.assign(
                    value=[
                        name(v)
                        if r == "name_mismatch"
                        else issue_value(r, v, self.lang)
                        if r == "file_rejected"
                        else v
                        for v, r in zip(frame["value"], frame["reason"], strict=True)
                    ]
                )
            count = None if self.no_data and frame.empty else len(frame)
            table = _table(
                shown,
                {
                    "file_name": "file",
                    "row": "row",
                    "column_label": "column",
                    "value": "value",
                    "reason_label": "reason",
                },
                self.lang,
                self._empty_key(),
            )
            return self._listing("data_quality", count, [table])

        return self._dual(build)

    def corrections(self) -> Section:
        """The corrections of the day (:mod:`reportkit.findings.corrections`): those that
        removed a flag, listed as corrections the school made with their time, then
        every value corrected after its first receipt (已更正) beside the value first
        received. "—" when the findings carry no corrections (not loaded from a store)."""
        heading = t("corrections", self.lang)
        values = getattr(self.findings, "corrections", None)
        flags = getattr(self.findings, "flag_corrections", None)
        if values is None or flags is None:
            return Section(
                render_template(
                    "sections/corrections.html.j2",
                    heading=heading,
                    count=None,
                    tables=[],
                    note=DASH,
                )
            )
        lang = self.lang

        def when(row: Any) -> str:
            stamp = row.get("reported_at")
            if stamp is not None and not _missing_value(stamp):
                return str(stamp)[:16]  # the school's own time, as it wrote it
            return local_time(row.get("corrected_at"), self.zone)

        flag_rows = flags.to_dict("records")
        for r in flag_rows:
            r["flag_label"] = t(f"corrected_flag_{r['flag']}", lang)
            column = "temperature" if r["flag"] == "fever" and _is_number(r["earlier"]) else ""
            column = column or ("symptoms" if r["flag"] in ("fever", "respiratory") else r["flag"])
            r["earlier_label"] = _corrected_value(column, r["earlier"], lang)
            r["current_label"] = _corrected_value(column, r["current"], lang)
            r["when"] = when(r)
        value_rows = values.to_dict("records")
        for r in value_rows:
            r["column_label"] = t(f"corrected_col_{r['column']}", lang)
            r["session_label"] = t(f"session_{r['session']}", lang)
            r["earlier_label"] = _corrected_value(r["column"], r["earlier"], lang)
            r["current_label"] = (
                f"{_corrected_value(r['column'], r['current'], lang)}（{t('corrected_mark', lang)}）"
            )
            r["when"] = local_time(r["corrected_at"], self.zone)

        def build(name: Any) -> str:
            tables = [
                _table(
                    pd.DataFrame([{**r, "name": name(r["name"])} for r in flag_rows]),
                    {
                        "person_id": "person_id",
                        "name": "name",
                        "flag_label": "corrected_flag",
                        "earlier_label": "earlier_value",
                        "current_label": "current_value",
                        "when": "corrected_at",
                    },
                    lang,
                    self._empty_key(),  # a school that sent nothing: 无数据, never 无
                    heading=f"{t('flag_corrections', lang)} ({len(flag_rows)})",
                ),
                _table(
                    pd.DataFrame([{**r, "name": name(r["name"])} for r in value_rows]),
                    {
                        "person_id": "person_id",
                        "name": "name",
                        "session_label": "session",
                        "column_label": "corrected_column",
                        "earlier_label": "earlier_value",
                        "current_label": "current_value",
                        "when": "corrected_at",
                    },
                    lang,
                    self._empty_key(),
                    heading=f"{t('corrected_values', lang)} ({len(value_rows)})",
                ),
            ]
            return render_template(
                "sections/corrections.html.j2",
                heading=heading,
                count=None if self.no_data and not value_rows else len(value_rows),
                tables=tables,
                note=None,
            )

        return self._dual(build)

    def trend(self) -> _Svg:
        trend = self.findings.trend
        if self.no_data and not trend.empty:
            # today's point is unknown, not 0 reported: leave it out of the chart
            unknown = [c for c in _TREND_COUNTS if c in trend and c != "expected"]
            trend = trend.astype({c: float for c in unknown})
            today = trend["date"] == self.findings.date
            trend.loc[today, unknown] = float("nan")
        return _Svg(report_chart(trend, self.lang))

    def per_class(self) -> Section:
        frame = self.findings.per_class.copy()
        frame["class_label"] = _class_label(frame)
        cols = {k: k for k in ("expected", "reported", "missing", "absent", "fever", "symptomatic")}
        if self.no_data:
            frame = frame.astype({k: object for k in cols})
            for key in cols:
                frame[key] = [DASH if unknown_without_checkins(key, v) else v for v in frame[key]]
        table = _table(frame, {"class_label": "class", **cols}, self.lang)
        return Section(self._listing("per_class", None, [table]))

    def entries(self) -> Section:
        summary = getattr(self.findings, "entries", None)
        detail = getattr(self.findings, "entry_flags", None)
        nothing = summary is None or summary.empty or _int(summary.iloc[0].get("total")) == 0
        heading = t("campus_entries", self.lang)
        if summary is None or summary.empty or (self.no_data and nothing):
            # a school that sent nothing most likely sent no gate register either
            empty = t(self._empty_key(), self.lang)
            return Section(
                render_template("sections/entries.html.j2", heading=heading, empty=empty)
            )
        row = summary.iloc[0]
        figures = [
            Figure(t("entries_" + k, self.lang), _int(row.get(k, 0)))
            for k in ("total", "fever", "unapproved", "no_temperature", "still_inside")
        ]
        d = None
        if detail is not None and not detail.empty:
            d = detail.copy()
            d["phone_masked"] = [mask_phone(p) for p in d["phone"]]
            d["flag_label"] = [t(f"entry_flag_{f}", self.lang) for f in d["flag"]]
            times = pd.to_datetime(d["entered_at"], errors="coerce")
            d["time"] = [x.strftime("%H:%M") if not _missing_value(x) else "" for x in times]
            d["kind_label"] = [t(f"entry_kind_{k}", self.lang) for k in d["kind"]]
            d["temperature"] = [_temperature(v) for v in d["temperature"]]

        def build(name: Any) -> str:
            table = None
            if d is not None:
                table = _table(
                    d.assign(name=[name(v) for v in d["name"]]),
                    {
                        "flag_label": "reason",
                        "time": "time",
                        "name": "name",
                        "kind_label": "kind",
                        "phone_masked": "phone",
                        "temperature": "temperature",
                        "approved_by": "approved_by",
                    },
                    self.lang,
                )
            return render_template(
                "sections/entries.html.j2",
                heading=heading,
                empty=None,
                figures=figures,
                table=table,
            )

        return self._dual(build)


_ACTION_LABELS = {
    **{code: f"level_{code}" for code in ("suspected", "fever", "symptomatic", "key_person")},
    **{"cluster": "clusters", "unreachable": "unreachable", "illness_absence": "illness_absence"},
}


@dataclass(frozen=True)
class ActionRow:
    """One line of what needs action: ``code`` (suspected, fever, symptomatic, cluster,
    unreachable, illness_absence, key_person), its label, the class, the person's id
    (empty for a cluster), the names (one, or a cluster's), and the reason."""

    code: str
    kind: str
    class_label: str
    person_id: str
    names: tuple[str, ...]
    reason: str


def action_rows(findings: Findings, lang: str) -> list[ActionRow]:
    """What needs action in one school's findings, in the order every report shows it:
    suspected, fever, other symptoms, clusters, unreachable, illness absences to follow
    up, key persons (whose monitoring ends first on top); by class within each."""
    rows: list[ActionRow] = []
    attention = findings.attention
    reason_col = "reason_zh" if lang == "zh-CN" else "reason_en"
    order = ["grade", "class", "person_id"]

    def person(r: Any, code: str, reason: str) -> ActionRow:
        label = f"{_plain(r['grade'])} {_plain(r['class'])}".strip()
        return ActionRow(
            code,
            t(_ACTION_LABELS[code], lang),
            label or t("role_staff", lang),
            _plain(r["person_id"]),
            (_plain(r["name"]),),
            reason,
        )

    def level(name: str) -> pd.DataFrame:
        return attention[attention["level"] == name].sort_values(order, kind="stable")

    for _, r in level("suspected").iterrows():
        rows.append(person(r, "suspected", _plain(r[reason_col])))
    symptomatic = level("symptomatic")
    fevered = [("fever" in tuple(rs or ())) for rs in symptomatic["reasons"]]
    for want in (True, False):
        for (_, r), f in zip(symptomatic.iterrows(), fevered, strict=True):
            if f is want:
                code = "fever" if f else "symptomatic"
                rows.append(person(r, code, _plain(r[reason_col])))
    for c in findings.clusters.to_dict("records"):
        rule = t(f"rule_{c['rule']}_desc", lang, days=c["days"], min_cases=c["min_cases"])
        label = _plain(c.get("class_label")) or f"{_plain(c['grade'])} {_plain(c['class'])}"
        rows.append(
            ActionRow(
                "cluster",
                t(_ACTION_LABELS["cluster"], lang),
                label.strip(),
                "",
                tuple(_plain(n) for n in (c.get("names") or ())),
                t("sep_label", lang).join((t(f"rule_{c['rule']}", lang), rule)),
            )
        )
    for _, r in findings.unreachable.sort_values(order, kind="stable").iterrows():
        rows.append(person(r, "unreachable", t("reason_unreachable", lang, n=_int(r.get("days")))))
    illness = findings.illness_absence
    if "unexplained" in illness:
        illness = illness[illness["unexplained"].fillna(False).astype(bool)]
    for _, r in illness.sort_values(order, kind="stable").iterrows():
        rows.append(person(r, "illness_absence", t("flag_illness_absence", lang)))
    keys = attention[attention["level"] == "key_person"]
    keys = keys.assign(_end=pd.to_datetime(keys["monitoring_ends"], errors="coerce"))
    for _, r in keys.sort_values(["_end", *order], kind="stable").iterrows():
        rows.append(person(r, "key_person", _plain(r[reason_col])))
    return rows


class UnitReport:
    """A unit's roll-up for one date (a district, town, county, city, province or a
    central school): counts per child school or unit, never a person.

    ``source`` is a :class:`~reportkit.findings.Findings` of the unit's schools or the
    unit's :class:`~reportkit.findings.UnitRollup` itself (what the runner saves for
    the roll-up's kernel: counts, no person row).
    """

    def __init__(
        self,
        source: Findings | UnitRollup,
        config: SchoolsConfig,
        unit_id: str,
        lang: str = "zh-CN",
    ) -> None:
        from reportkit.findings import UnitRollup

        self.unit = config.unit(unit_id)
        self.district = self.unit  # the name before units
        if isinstance(source, UnitRollup):
            self.rollup = source
        else:
            self.rollup = source.unit(unit_id, config)
        self.date = self.rollup.date
        self.lang = lang
        self.version = 1  # as SchoolReport's: a later version and the roll-up sent before
        self.previous: UnitRollup | None = None
        self.previous_sent_at = ""

    @classmethod
    def open(
        cls,
        unit_id: str,
        report_date: str,
        lang: str = "zh-CN",
        db: str | None = None,
        params_dir: str | Path | None = None,
        findings_dir: str | Path | None = None,
        *,
        version: int = 1,
        previous_dir: str | Path | None = None,
        previous_sent_at: str | None = None,
    ) -> UnitReport:
        """``version``, ``previous_dir``, ``previous_sent_at``: as SchoolReport's."""
        from reportkit.findings import load_unit

        config = _config(db, params_dir)
        day = date.fromisoformat(str(report_date))
        report = None
        if findings_dir:
            rollup = load_unit(findings_dir, unit_id, day)
            if rollup is not None:
                report = cls(rollup, config, unit_id, lang)
        if report is None:
            ids = config.schools_under(unit_id)
            findings = open_findings(None, report_date, ids, db, params_dir)
            report = cls(findings, config, unit_id, lang)
        if previous_dir:
            report.previous = load_unit(previous_dir, unit_id, day)
            if report.previous is None:
                raise FileNotFoundError(f"no roll-up of the version sent in {previous_dir}")
            report.version, report.previous_sent_at = version, previous_sent_at or ""
        return report

    def title(self) -> Section:
        from reportkit.findings import rollup_hash

        deadline = f"{t('upward_deadline', self.lang)} {_plain(self.unit.deadline)}"
        level = [level_label(self.unit.level, self.lang)] if self.unit.level else []
        title = t("unit_report", self.lang)
        return Section(
            render_template(
                "sections/title.html.j2",
                name=self.unit.name,
                title=title,
                subtitle=[*level, self.date.isoformat(), deadline],
            ),
            identity={
                "kind": "unit",
                "id": self.unit.id,
                "findings_hash": rollup_hash(self.rollup),
                "title": f"{self.unit.name} {title} {self.date.isoformat()}",
            },
        )

    def changes(self) -> Section | None:
        """更正说明 of a later version: the figures that changed (counts, no person)."""
        if self.previous is None:
            return None
        from reportkit.findings import unit_changes
        from reportkit.reports.changes import change_heading, change_lines

        lines = change_lines(unit_changes(self.previous, self.rollup), self.lang)
        since = change_heading(self.version, self.previous_sent_at, self.lang)
        return Section(_render_changes(since, lines, self.lang))

    def totals(self) -> Section:
        r = self.rollup
        # counts of check-ins are known only for the schools that submitted
        known = r.schools_submitted > 0

        def count(key: str) -> object:
            return r.totals.get(key, 0) if known else DASH

        figures = {
            "schools_expected": r.schools_expected,
            "reporting_rate": format_pct(r.reporting_rate),
            "reporting_rate_on_time": format_pct(r.reporting_rate_on_time),
            "coverage": format_pct(r.coverage) if known else DASH,
            "expected": r.totals.get("expected", 0),
            "reported": count("reported"),
            "missing": count("missing"),
            "fever": count("fever"),
            "suspected": count("suspected"),
            "key_persons": count("key_persons"),
            "clusters": r.totals.get("clusters", 0),
        }
        if r.totals.get("schools_closed"):
            figures["schools_closed"] = r.totals["schools_closed"]
        tiles = [Figure(t(k, self.lang), v) for k, v in figures.items()]
        notes = []
        if 0 < r.schools_missing < r.schools_expected:
            notes.append(t("totals_of_submitted", self.lang, m=r.schools_missing))
        if r.late_units:
            names = t("sep_names", self.lang).join(r.late_units)
            notes.append(f"{t('late_units', self.lang)}{t('sep_label', self.lang)}{names}")
        note = " ".join(notes) or None
        return Section(render_template("sections/figures.html.j2", figures=tiles, note=note))

    def schools(self) -> Section:
        """The children, in the roll-up order (missing and late first, then by severity)."""
        frame = self.rollup.ordered().copy()
        units = (frame["kind"] == "unit").to_numpy() if "kind" in frame else None
        labels = []
        for i, (s, m) in enumerate(zip(frame["submission"], frame["minutes_late"], strict=True)):
            label = t(f"submission_{s}", self.lang, n=_int(m))
            if units is not None and units[i]:
                if s == "late":  # a roll-up rendered after its deadline: late, whenever
                    label = t("submission_late_short", self.lang)
                row = frame.iloc[i]
                label += " · " + t(
                    "district_submitted",
                    self.lang,
                    n=_int(row["schools_submitted"]),
                    total=_int(row["schools_expected"]),
                )
            labels.append(label)
        frame["status_label"] = labels
        frame["coverage_pct"] = [format_pct(c) for c in frame["coverage"]]
        cols = {
            "name": "school" if units is None or not units.any() else "unit",
            "status_label": "submission",
            "expected": "expected",
            "reported": "reported",
            "coverage_pct": "coverage",
            "missing": "missing",
            "fever": "fever",
            "symptomatic": "symptomatic",
            "suspected": "suspected",
            "key_persons": "key_persons",
            "clusters": "clusters",
        }
        for key in ("entries_total", "entries_fever", "entries_unapproved"):
            if key in frame:
                cols[key] = key
        # a school that sent nothing: its check-in figures are unknown, not 0
        silent = (frame["submission"] == "missing").to_numpy()
        if units is not None:
            silent = silent & ~units  # a missing unit's schools may have sent theirs
        if silent.any():
            shown = {c: ("coverage" if c == "coverage_pct" else c) for c in cols}
            frame = frame.astype({c: object for c in cols})
            for col, key in shown.items():
                frame[col] = [
                    DASH if quiet and _unknown_in_rollup(key, v) else v
                    for v, quiet in zip(frame[col], silent, strict=True)
                ]
        table = _table(frame, cols, self.lang)
        heading = "schools" if units is None or not units.any() else "units"
        return Section(_render_listing(t(heading, self.lang), len(frame), [table]))

    def trend(self) -> _Svg:
        return _Svg(report_chart(self.rollup.trend, self.lang))


def _is_number(text: object) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def _corrected_value(column: str, text: object, lang: str) -> str:
    """A corrected value (as :mod:`reportkit.findings.corrections` writes it) for people:
    38.2℃, 是/否, symptom names, an absence reason's name; "—" for none."""
    value = _plain(text)
    if not value:
        return DASH
    if column == "temperature":
        return f"{value}℃"
    if value in ("yes", "no"):
        return t(value, lang)
    if column == "symptoms":
        return "、".join(_label(f"symptom_{code}", code, lang) for code in value.split(","))
    if column == "absence_reason":
        return _label(f"absence_{value}", value, lang)
    return value


def _label(key: str, fallback: str, lang: str) -> str:
    from reportkit.i18n import CATALOG

    return t(key, lang) if key in CATALOG else fallback


DistrictReport = UnitReport  # the name before units


def _render_listing(
    heading: str, count: int | None, tables: list[Table], note: str | None = None
) -> str:
    return render_template(
        "sections/listing.html.j2", heading=heading, count=count, tables=tables, note=note
    )


def _render_changes(since: str, lines: list[Any], lang: str) -> str:
    return render_template(
        "sections/changes.html.j2",
        heading=t("changes", lang),
        since=since,
        lines=lines,
        sep=t("sep_label", lang),
    )


def _unknown_in_rollup(key: str, value: object) -> bool:
    """A silent school's cell of the roll-up shown as "—": its check-in figures, and a
    gate register count of 0 (it most likely sent no register either)."""
    if key.startswith("entries_"):
        return _missing_value(value) or value == 0
    return unknown_without_checkins(key, value)
