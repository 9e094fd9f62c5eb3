"""The sections of the daily reports, built from findings for the notebooks.

A report notebook is a ``parameters`` cell and one line per section:
``report.title()``, ``report.submission()`` … Each section returns an object
that Jupyter displays as HTML (or a PNG for the chart), built here from a
:class:`~reportkit.flags.Findings` so it can be tested without a kernel.
Labels come from :mod:`reportkit.i18n`; every value shown is HTML-escaped.

:class:`SchoolReport` shows one school's own people only (the findings are
sliced to the school before anything is shown); :class:`DistrictReport` shows
counts per school and never a person.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from reportkit.clock import local_time
from reportkit.i18n import t

__all__ = [
    "DistrictReport",
    "SchoolReport",
    "Section",
    "format_pct",
    "mask_phone",
    "open_findings",
    "warm_up",
]


@dataclass(frozen=True)
class Section:
    """An HTML fragment Jupyter displays as rich output (``text/html``)."""

    body: str

    def _repr_html_(self) -> str:
        return self.body

    def __str__(self) -> str:
        return self.body


def _e(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return html.escape(str(value))


def mask_phone(value: object) -> str:
    """``13812341234`` -> ``138****1234``; ID numbers keep their first 3 and last 4 characters."""
    text = (
        "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip()
    )
    if len(text) <= 7:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


def format_pct(value: object) -> str:
    """A percentage for display; a dash when nothing was expected (NaN)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "—"
    return "—" if pd.isna(number) else f"{number:.1f}%"


def _table(frame: pd.DataFrame, columns: dict[str, str], lang: str, empty_key: str = "none") -> str:
    """A plain, escaped HTML table of ``columns`` (frame column -> label key)."""
    if frame.empty:
        return f'<p class="rk-empty">{_e(t(empty_key, lang))}</p>'
    head = "".join(f"<th>{_e(t(label, lang))}</th>" for label in columns.values())
    rows = []
    for record in frame[list(columns)].itertuples(index=False):
        rows.append("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in record) + "</tr>")
    return (
        '<div class="rk-table"><table class="dataframe rk">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _heading(key: str, lang: str, count: int | None = None) -> str:
    suffix = f' <span class="rk-count">({count})</span>' if count is not None else ""
    return f"<h2>{_e(t(key, lang))}{suffix}</h2>"


def _class_label(frame: pd.DataFrame) -> pd.Series:
    grade = frame["grade"].fillna("").astype(str)
    klass = frame["class"].fillna("").astype(str)
    return (grade + " " + klass).str.strip()


def open_findings(
    findings_path: str | Path | None,
    report_date: str | date,
    school_ids: list[str] | None,
    db: str | None,
    params_dir: str | Path | None,
) -> Any:
    """The findings a notebook shows: the runner's saved file, else computed from the store.

    Computed findings carry the latest follow-up of each person (the runner adds
    them before it saves its file).
    """
    from dataclasses import replace

    from reportkit import flags

    if findings_path:
        return flags.Findings.load(Path(findings_path))
    from reportkit import store
    from reportkit.config import project_settings
    from reportkit.followups import latest_followups

    settings = project_settings(db, params_dir)
    day = report_date if isinstance(report_date, date) else date.fromisoformat(report_date)
    engine = store.connect(settings.db)
    findings = flags.load_findings(engine, settings.schools(), settings.rules(), day, school_ids)
    return replace(findings, followups=latest_followups(engine, findings.school_ids, day))


def _config(db: str | None, params_dir: str | Path | None) -> Any:
    from reportkit.config import project_settings

    return project_settings(db, params_dir).schools()


def _figure_png(trend: pd.DataFrame, lang: str, title: str) -> bytes:
    from reportkit.charts import figure_png, trend_chart

    labels = {
        k: t(f"chart_{k}", lang) for k in ("coverage", "fever", "symptomatic", "suspected", "date")
    }
    return figure_png(trend_chart(trend, labels, title=title))


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
    _figure_png(empty, "zh-CN", t("trend_14d", "zh-CN"))


class _Png:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def _repr_png_(self) -> bytes:
        return self.data


class SchoolReport:
    """One school's report for one date, its sections in the order they are shown."""

    def __init__(self, findings: Any, config: Any, school_id: str, lang: str = "zh-CN") -> None:
        self.db: str | None = None
        self.params_dir: str | Path | None = None
        self.school = config.school(school_id)
        self.district = config.district(self.school.district)
        self.findings = findings.for_school(school_id)
        self.lang = lang
        self.zone = config.zone(school_id)  # follow-up times are shown in the school's zone
        row = self.findings.schools
        self.row = row.iloc[0].to_dict() if not row.empty else {}

    @classmethod
    def open(
        cls,
        school_id: str,
        report_date: str,
        lang: str = "zh-CN",
        db: str | None = None,
        params_dir: str | Path | None = None,
        findings_path: str | Path | None = None,
    ) -> SchoolReport:
        findings = open_findings(findings_path, report_date, [school_id], db, params_dir)
        report = cls(findings, _config(db, params_dir), school_id, lang)
        report.db, report.params_dir = db, params_dir  # for the interactive controls
        return report

    # -- sections, in order ----------------------------------------------------

    def title(self) -> Section:
        day = self.findings.date.isoformat()
        return Section(
            f"<h1>{_e(self.school.name)} {_e(t('daily_report', self.lang))}</h1>"
            f'<p class="rk-sub">{_e(day)} · {_e(self.district.name)}'
            f"{' · ' + _e(self.school.town) if self.school.town else ''}</p>"
        )

    def submission(self) -> Section:
        status = self.row.get("submission", "missing")
        minutes = self.row.get("minutes_late")
        text = t(f"submission_{status}", self.lang, n=int(minutes or 0))
        last = self.row.get("last_received")
        shown = str(last).replace("T", " ")[:16] if last else ""
        extra = f" · {_e(t('last_received', self.lang))} {_e(shown)}" if last else ""
        deadline = f" · {_e(t('deadline', self.lang))} {_e(self.school.deadline)}"
        parts = [f'<p class="rk-status rk-{_e(status)}"><b>{_e(text)}</b>{deadline}{extra}</p>']
        if self.row.get("zero_report"):
            parts.append(f'<p class="rk-zero">{_e(t("zero_report", self.lang))}</p>')
        return Section("".join(parts))

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
        cells = []
        for key in keys:
            value = self.row.get(key, 0)
            shown = format_pct(value) if key == "coverage" else f"{int(value or 0)}"
            cells.append(
                f'<div class="rk-figure"><span class="rk-value">{_e(shown)}</span>'
                f'<span class="rk-label">{_e(t(key, self.lang))}</span></div>'
            )
        return Section(f'<div class="rk-figures">{"".join(cells)}</div>')

    def missing(self) -> Section:
        frame = self.findings.missing.copy()
        frame["class_label"] = _class_label(frame)
        frame = frame.sort_values(["grade", "class", "person_id"], kind="stable")
        body = _table(
            frame,
            {
                "class_label": "class",
                "person_id": "person_id",
                "name": "name",
                "days_missing": "days_missing",
            },
            self.lang,
        )
        sessions = self.findings.missing_sessions
        extra = ""
        if not sessions.empty:
            s = sessions.copy()
            s["class_label"] = _class_label(s)
            s["session_label"] = [t(f"session_{v}", self.lang) for v in s["session"]]
            extra = f"<h3>{_e(t('missing_sessions', self.lang))}</h3>" + _table(
                s,
                {
                    "class_label": "class",
                    "person_id": "person_id",
                    "name": "name",
                    "session_label": "session",
                },
                self.lang,
            )
        return Section(_heading("not_reported", self.lang, len(frame)) + body + extra)

    def attention(self) -> Section:
        frame = self.findings.attention.copy()
        order = {"suspected": 0, "symptomatic": 1, "key_person": 2, "fever": 3}
        frame["_o"] = frame["level"].map(order)
        frame = frame.sort_values(["_o", "grade", "class", "person_id"], kind="stable")
        frame["class_label"] = _class_label(frame)
        frame["level_label"] = [t(f"level_{v}", self.lang) for v in frame["level"]]
        frame["reason"] = frame["reason_zh" if self.lang == "zh-CN" else "reason_en"]
        frame["followup"] = self._followups(frame)
        cols = {
            "level_label": "level",
            "class_label": "class",
            "person_id": "person_id",
            "name": "name",
            "reason": "reason",
        }
        if frame["followup"].astype(bool).any():
            cols["followup"] = "followup"
        fever = self.findings.fever
        extra = ""
        if not fever.empty:
            f = fever.copy()
            f["class_label"] = _class_label(f)
            extra = f"<h3>{_e(t('fever_list', self.lang))} ({len(f)})</h3>" + _table(
                f,
                {
                    "class_label": "class",
                    "person_id": "person_id",
                    "name": "name",
                    "temperature": "temperature",
                },
                self.lang,
            )
        return Section(
            _heading("needs_attention", self.lang, len(frame))
            + _table(frame, cols, self.lang)
            + extra
        )

    def _followups(self, frame: pd.DataFrame) -> list[str]:
        latest = getattr(self.findings, "followups", None)
        if latest is None or latest.empty or frame.empty:
            return [""] * len(frame)
        by_person = {
            r.person_id: f"{t('action_' + r.action, self.lang)} · {r.officer} · {local_time(r.created_at, self.zone)}"
            for r in latest.itertuples()
        }
        return [by_person.get(p, "") for p in frame["person_id"]]

    def clusters(self) -> Section:
        frame = self.findings.clusters.copy()
        if not frame.empty:
            frame["class_label"] = _class_label(frame)
            frame["rule_label"] = [t(f"rule_{r}", self.lang) for r in frame["rule"]]
            frame["people"] = ["、".join(n) for n in frame["names"]]
        return Section(
            _heading("clusters", self.lang, len(frame))
            + _table(
                frame,
                {
                    "rule_label": "rule",
                    "class_label": "class",
                    "count": "count",
                    "people": "people",
                },
                self.lang,
            )
        )

    def illness_absence(self) -> Section:
        frame = self.findings.illness_absence.copy()
        frame["class_label"] = _class_label(frame)
        return Section(
            _heading("illness_absence_followup", self.lang, len(frame))
            + _table(
                frame, {"class_label": "class", "person_id": "person_id", "name": "name"}, self.lang
            )
        )

    def data_quality(self) -> Section:
        frame = self.findings.data_quality.copy()
        if not frame.empty:
            frame["file_name"] = [Path(str(f)).name for f in frame["file"]]
            frame["reason_label"] = [t(f"reason_{r}", self.lang) for r in frame["reason"]]
        return Section(
            _heading("data_quality", self.lang, len(frame))
            + _table(
                frame,
                {
                    "file_name": "file",
                    "row": "row",
                    "column": "column",
                    "value": "value",
                    "reason_label": "reason",
                },
                self.lang,
            )
        )

    def trend(self) -> _Png:
        return _Png(_figure_png(self.findings.trend, self.lang, t("trend_14d", self.lang)))

    def per_class(self) -> Section:
        frame = self.findings.per_class.copy()
        frame["class_label"] = _class_label(frame)
        cols = {k: k for k in ("expected", "reported", "missing", "absent", "fever", "symptomatic")}
        return Section(
            _heading("per_class", self.lang)
            + _table(frame, {"class_label": "class", **cols}, self.lang)
        )

    def entries(self) -> Section:
        summary = getattr(self.findings, "entries", None)
        detail = getattr(self.findings, "entry_flags", None)
        if summary is None or summary.empty:
            return Section(
                _heading("campus_entries", self.lang)
                + f'<p class="rk-empty">{_e(t("none", self.lang))}</p>'
            )
        row = summary.iloc[0]
        figures = " · ".join(
            f"{_e(t('entries_' + k, self.lang))} {int(row.get(k, 0) or 0)}"
            for k in ("total", "fever", "unapproved", "no_temperature", "still_inside")
        )
        body = f"<p>{figures}</p>"
        if detail is not None and not detail.empty:
            d = detail.copy()
            d["phone_masked"] = [mask_phone(p) for p in d["phone"]]
            d["flag_label"] = [t(f"entry_flag_{f}", self.lang) for f in d["flag"]]
            d["time"] = pd.to_datetime(d["entered_at"]).dt.strftime("%H:%M")
            d["kind_label"] = [t(f"entry_kind_{k}", self.lang) for k in d["kind"]]
            body += _table(
                d,
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
        return Section(_heading("campus_entries", self.lang) + body)


class DistrictReport:
    """A district's roll-up for one date: counts per school, never a person."""

    def __init__(self, findings: Any, config: Any, district_id: str, lang: str = "zh-CN") -> None:
        self.district = config.district(district_id)
        self.rollup = findings.district(district_id, config)
        self.date = findings.date
        self.lang = lang

    @classmethod
    def open(
        cls,
        district_id: str,
        report_date: str,
        lang: str = "zh-CN",
        db: str | None = None,
        params_dir: str | Path | None = None,
        findings_path: str | Path | None = None,
    ) -> DistrictReport:
        config = _config(db, params_dir)
        ids = [s.id for s in config.schools_in(district_id)]
        findings = open_findings(findings_path, report_date, ids, db, params_dir)
        return cls(findings, config, district_id, lang)

    def title(self) -> Section:
        return Section(
            f"<h1>{_e(self.district.name)} {_e(t('district_report', self.lang))}</h1>"
            f'<p class="rk-sub">{_e(self.date.isoformat())} · {_e(t("upward_deadline", self.lang))} '
            f"{_e(self.district.deadline)}</p>"
        )

    def totals(self) -> Section:
        r = self.rollup
        figures = {
            "schools_expected": r.schools_expected,
            "reporting_rate": format_pct(r.reporting_rate),
            "reporting_rate_on_time": format_pct(r.reporting_rate_on_time),
            "coverage": format_pct(r.coverage),
            "expected": r.totals.get("expected", 0),
            "reported": r.totals.get("reported", 0),
            "missing": r.totals.get("missing", 0),
            "fever": r.totals.get("fever", 0),
            "suspected": r.totals.get("suspected", 0),
            "key_persons": r.totals.get("key_persons", 0),
            "clusters": r.totals.get("clusters", 0),
        }
        cells = "".join(
            f'<div class="rk-figure"><span class="rk-value">{_e(v)}</span>'
            f'<span class="rk-label">{_e(t(k, self.lang))}</span></div>'
            for k, v in figures.items()
        )
        return Section(f'<div class="rk-figures">{cells}</div>')

    def schools(self) -> Section:
        frame = self.rollup.schools.copy()
        # what needs the bureau's attention first: missing, late, then suspected cases
        frame["_status"] = frame["submission"].map({"missing": 0, "late": 1}).fillna(2)
        frame = frame.sort_values(
            ["_status", "suspected", "symptomatic", "fever", "missing", "school_id"],
            ascending=[True, False, False, False, False, True],
            kind="stable",
        )
        frame["status_label"] = [
            t(f"submission_{s}", self.lang, n=int(m or 0))
            for s, m in zip(frame["submission"], frame["minutes_late"], strict=True)
        ]
        frame["coverage_pct"] = [format_pct(c) for c in frame["coverage"]]
        cols = {
            "name": "school",
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
        return Section(_heading("schools", self.lang, len(frame)) + _table(frame, cols, self.lang))

    def trend(self) -> _Png:
        return _Png(_figure_png(self.rollup.trend, self.lang, t("trend_14d", self.lang)))
