"""What a report email says: subject, HTML body, plain text and the trend chart.

The bodies are built from a school's :class:`~reportkit.findings.Findings` slice (or
a district's :class:`~reportkit.findings.DistrictRollup`) into plain view models and
rendered by the Jinja2 templates in ``templates/email/``: the HTML ones with
autoescape, inline styles only, one column at most 600 px wide for phones, the
chart referenced as ``cid:`` (no external resource, no script). The MIME
assembly and sending belong to :mod:`reportkit.delivery.send`.

A school's body holds that school's people only; a district's body holds counts
per school, never a person. With ``mask_names`` names show as 张*丽.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

import pandas as pd

from reportkit import layout
from reportkit.i18n import t
from reportkit.privacy import mask_name, mask_phone
from reportkit.reports import class_sort_key, class_with_head_teacher, format_pct, head_teachers

if TYPE_CHECKING:
    from reportkit.config import DeliveryConfig, School, Unit
    from reportkit.findings import DistrictRollup, Findings, ReportChanges, UnitRollup

__all__ = [
    "Correction",
    "InlineImage",
    "MailBody",
    "district_body",
    "reminder_body",
    "school_body",
    "unit_body",
]

TEMPLATES = layout.TEMPLATES / "email"
MAX_NAMES = 100  # more missing people than this: counts per class only, names in the PDF
MAX_ROWS = 50  # longest list of people or schools shown in a message
NO_DATA = "—"  # a figure nobody knows: never shown as 0
MAIL_CHART_SCALE = 2.5  # 480 CSS px drawn 1,200 px wide, for the 580 px the body gives it

# Labels of the email only. They belong in the i18n catalog; until they are added
# there, they are looked up here first. key: (zh-CN, en)


@dataclass(frozen=True)
class InlineImage:
    """An image shown in the HTML body, referenced as ``cid:<cid>``.

    ``render`` draws it on first use of :attr:`data`: a rerun that finds the report
    already sent (the ``cid`` is derived from the chart's data, so the body and
    its hash are known without drawing) never draws it.
    """

    cid: str
    render: Callable[[], bytes] = field(compare=False, repr=False)
    filename: str = "trend.png"
    subtype: str = "png"

    @cached_property
    def data(self) -> bytes:
        return self.render()


@dataclass(frozen=True)
class MailBody:
    subject: str
    html: str
    text: str
    images: tuple[InlineImage, ...] = ()


# -- small helpers -----------------------------------------------------------------


def _s(value: object) -> str:
    if value is None:
        return ""
    try:
        if pd.isna(value):  # type: ignore[call-overload]
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _int(value: object) -> int:
    text = _s(value)
    return int(float(text)) if text else 0


def _class_label(grade: object, klass: object, role: object, lang: str) -> str:
    text = f"{_s(grade)} {_s(klass)}".strip()
    if text:
        return text
    return t("role_staff", lang) if _s(role) == "staff" else "–"


def _names(frame: pd.DataFrame, mask: bool) -> list[str]:
    return [mask_name(n) if mask else _s(n) for n in frame["name"]]


def _figure(value: object, key: str, lang: str, tone: str = "") -> dict[str, str]:
    return {"value": _s(value), "label": t(key, lang), "tone": tone}


@cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _render(name: str, **context: Any) -> str:
    return _environment().get_template(name).render(**context)


def _subject(template: str, key: str, **values: object) -> str:
    try:
        return template.format_map(values)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        from reportkit.errors import DeliveryError

        known = ", ".join("{" + k + "}" for k in values)
        raise DeliveryError(
            f"delivery.yaml: {key}: cannot fill {template!r} ({exc}); placeholders: {known}"
        ) from None


def _subject_template(delivery: DeliveryConfig, key: str, lang: str) -> str:
    """delivery.yaml's subject ``key`` when it sets one (the deployment's own words),
    else the default in the message's language."""
    if key in getattr(delivery, "model_fields_set", set()):
        return str(getattr(delivery, key))
    from reportkit.i18n import labels

    return labels(lang)[f"mail_{key}"]  # unformatted: _subject fills it


def trend_image(trend: pd.DataFrame, lang: str) -> InlineImage:
    """The 14-day trend chart for a phone; its id is a digest of the data it shows."""
    columns = ["date", "expected", "reported", "fever", "symptomatic", "suspected"]
    shown = trend[columns].sort_values("date").to_csv(index=False)
    digest = hashlib.sha256(f"{lang}\n{shown}".encode()).hexdigest()[:20]
    return InlineImage(cid=f"trend.{digest}@reportkit", render=lambda: _trend_png(trend, lang))


def _trend_png(trend: pd.DataFrame, lang: str) -> bytes:
    """The trend chart laid out for a phone (480 CSS px wide, at most 5 dates), drawn
    at 2.5x: 1,200 px for the 580 px the body gives it, sharp at 2x."""
    from reportkit.reports import chart_labels, trend_png

    return trend_png(trend, chart_labels(lang), scale=MAIL_CHART_SCALE)


# -- a school's report ---------------------------------------------------------------


def _entries(findings: Findings, mask: bool, lang: str) -> list[dict[str, str]]:
    """The gate register's flagged entries; phone numbers masked, never shown whole."""
    flags = getattr(findings, "entry_flags", None)
    if flags is None or flags.empty:
        return []
    names = _names(flags, mask)
    return [
        {
            "flag": t(f"entry_flag_{r.flag}", lang),
            "time": pd.Timestamp(r.entered_at).strftime("%H:%M"),
            "name": name,
            "kind": t(f"entry_kind_{r.kind}", lang),
            "phone": mask_phone(r.phone),
            "temperature": "" if pd.isna(r.temperature) else f"{float(r.temperature):.1f}℃",
        }
        for name, r in zip(names, flags.itertuples(index=False), strict=True)
    ][:MAX_ROWS]


def school_body(
    findings: Findings,
    school: School,
    district: Unit,
    delivery: DeliveryConfig,
    lang: str = "zh-CN",
    correction: Correction | None = None,
) -> MailBody:
    """The message for one school: ``findings`` is sliced to that school first.
    ``correction``: a 【更正】 of the version sent, which the body leads with."""
    findings = findings.for_school(school.id)
    mask = bool(delivery.mask_names)
    row = findings.schools.iloc[0].to_dict() if not findings.schools.empty else {}
    status = _s(row.get("submission")) or "missing"
    day = findings.date.isoformat()
    missing_groups, missing_names_shown = _missing_groups(
        findings.missing, findings.per_class, mask, lang
    )
    action = _action(findings, mask, lang)
    # no check-in row at all: nothing that depends on check-ins is known, not even zero
    no_data = _no_data(row)
    suspected = _int(row.get("suspected"))
    missing = _int(row.get("missing"))
    if no_data:
        figures = [
            _figure(_int(row.get("expected")), "expected", lang),
            *(
                _figure(NO_DATA, key, lang, "zero")
                for key in (
                    "reported",
                    "coverage",
                    "missing",
                    "fever",
                    "suspected",
                    "symptomatic",
                    "key_persons",
                    "illness_absence",
                )
            ),
        ]
        missing_groups, missing_names_shown = [], False
    else:
        figures = [
            _figure(_int(row.get("expected")), "expected", lang),
            _figure(_int(row.get("reported")), "reported", lang),
            _figure(format_pct(row.get("coverage")), "coverage", lang),
            _figure(missing, "missing", lang, "warn" if missing else ""),
            _figure(_int(row.get("fever")), "fever", lang, "bad" if row.get("fever") else ""),
            _figure(suspected, "suspected", lang, "bad" if suspected else ""),
            _figure(_int(row.get("symptomatic")), "symptomatic", lang),
            _figure(_int(row.get("key_persons")), "key_persons", lang),
            _figure(_int(row.get("illness_absence")), "illness_absence", lang),
        ]
    last = _s(row.get("last_received"))
    entries = _entries(findings, mask, lang)
    context = {
        "entries": entries,
        "lang": lang,
        "L": lambda key, **kw: t(key, lang, **kw),
        "title": f"{school.name} {t('daily_report', lang)}",
        "subtitle": " · ".join(x for x in (day, district.name, school.town) if x),
        "status": status,
        "status_text": t(f"submission_{status}", lang, n=_int(row.get("minutes_late"))),
        "deadline": school.deadline,
        "last_received": last[11:16] if len(last) >= 16 else last,
        "zero_report": bool(row.get("zero_report")) and not no_data,
        "no_data": no_data,
        "no_data_line": t("mail_no_data_headline", lang),
        "no_data_people": t("mail_no_data_people", lang, n=_int(row.get("expected"))),
        "figures": figures,
        "missing_total": 0 if no_data else len(findings.missing),
        "missing_groups": missing_groups,
        "missing_names_shown": missing_names_shown,
        "action": action[:MAX_ROWS],
        "action_more": max(0, len(action) - MAX_ROWS),
        "mask": mask,
        "chart": None,
        "correction": _correction(correction, lang, mask),
    }
    images: tuple[InlineImage, ...] = ()
    if not findings.trend.empty:
        image = trend_image(findings.trend, lang)
        images = (image,)
        context["chart"] = {"cid": image.cid, "alt": t("trend_14d", lang)}
    if no_data:
        subject = _subject(
            _subject_template(delivery, "missing_subject", lang),
            "missing_subject",
            school=school.name,
            school_id=school.id,
            district=district.name,
            date=day,
            expected=_int(row.get("expected")),
            deadline=school.deadline,
            status=context["status_text"],
        )
    else:
        subject = _subject(
            _subject_template(delivery, "subject", lang),
            "subject",
            school=school.name,
            school_id=school.id,
            district=district.name,
            date=day,
            missing=missing,
            suspected=suspected,
            fever=_int(row.get("fever")),
            symptomatic=_int(row.get("symptomatic")),
            key_persons=_int(row.get("key_persons")),
            reported=_int(row.get("reported")),
            expected=_int(row.get("expected")),
            coverage=format_pct(row.get("coverage")),
            status=context["status_text"],
        )
    if correction is not None:
        subject = t("mail_correction_prefix", lang) + subject
    return MailBody(
        subject=subject,
        html=_render("school.html.j2", **context),
        text=_render("school.txt.j2", **context),
        images=images,
    )


def _no_data(row: Mapping[Hashable, Any]) -> bool:
    """No check-in row at all for the day (``rows == 0``): a school that sent nothing."""
    if "rows" in row and _s(row.get("rows")) != "":
        return _int(row.get("rows")) == 0
    return (_s(row.get("submission")) or "missing") == "missing"


def _missing_groups(
    missing: pd.DataFrame, per_class: pd.DataFrame, mask: bool, lang: str
) -> tuple[list[dict[str, Any]], bool]:
    """Missing people grouped by class (n of the class's N), the classes with the most
    missing first, then in natural grade/class order: the report's order."""
    if missing.empty:
        return [], False
    show_names = len(missing) <= MAX_NAMES
    frame = missing.assign(
        _label=[
            _class_label(g, c, r, lang)
            for g, c, r in zip(missing["grade"], missing["class"], missing["role"], strict=True)
        ],
        _shown=_names(missing, mask),
    )
    of = {
        f"{_s(g)} {_s(c)}".strip(): _int(n)
        for g, c, n in zip(
            per_class["grade"], per_class["class"], per_class["expected"], strict=True
        )
    }
    heads = head_teachers(per_class)
    groups: list[dict[str, Any]] = []
    for cls, part in frame.groupby("_label", sort=False):
        people = []
        for name, days in zip(
            part["_shown"], part.get("days_missing", [1] * len(part)), strict=True
        ):
            n = _int(days)
            people.append({"name": name, "days": n if n >= 2 else 0})
        key = f"{_s(part['grade'].iloc[0])} {_s(part['class'].iloc[0])}".strip()
        head = heads.get(key)
        groups.append(
            {
                "class": class_with_head_teacher(
                    str(cls), (mask_name(head) if mask else head) if head else None, lang
                ),
                "sort": str(cls),
                "count": len(part),
                "of": of.get(key, len(part)),
                "people": people if show_names else [],
            }
        )
    groups.sort(key=lambda g: (-int(g["count"]), class_sort_key(str(g["sort"]))))
    return groups, show_names


def _action(findings: Findings, mask: bool, lang: str) -> list[dict[str, str]]:
    """What needs action, in the report's order (:func:`reportkit.reports.action_rows`)."""
    from reportkit.reports import action_rows

    sep = t("sep_names", lang)
    return [
        {
            "level": r.code,
            "level_text": r.kind,
            "name": sep.join(mask_name(n) if mask else n for n in r.names),
            "class": r.class_label,
            "reason": r.reason,
        }
        for r in action_rows(findings, lang)
    ]


# -- a district's roll-up ----------------------------------------------------------


def district_body(
    rollup: DistrictRollup,
    district: Unit,
    delivery: DeliveryConfig,
    lang: str = "zh-CN",
    correction: Correction | None = None,
) -> MailBody:
    """The district message: counts per school only, never a person (``correction``:
    a 【更正】, as :func:`school_body`'s; its lines are counts)."""
    schools = rollup.schools
    totals = rollup.totals
    day = rollup.date.isoformat()
    late_schools = schools[schools["submission"] == "late"]
    missing_schools = schools[schools["submission"] == "missing"]
    counted = ("suspected", "symptomatic", "fever", "key_persons", "clusters", "missing")
    # a school that sent nothing is listed as not submitted, not with counts it does not have
    submitted = schools[schools["submission"] != "missing"]
    flagged = submitted[(submitted[list(counted)].fillna(0) > 0).any(axis=1)]
    flagged = flagged.sort_values(
        ["suspected", "symptomatic", "fever", "clusters", "missing"], ascending=False, kind="stable"
    )
    attention_rows = []
    for r in flagged.itertuples(index=False):
        parts = [f"{t(c, lang)} {_int(getattr(r, c))}" for c in counted if _int(getattr(r, c)) > 0]
        attention_rows.append(
            {
                "name": _s(r.name),
                "counts": " · ".join(parts),
                "coverage": format_pct(r.coverage),
                "bad": _int(r.suspected) > 0 or _int(r.symptomatic) > 0,
            }
        )
    noteworthy = set(late_schools["school_id"]) | set(missing_schools["school_id"])
    noteworthy |= set(flagged["school_id"])
    figures = [
        _figure(rollup.schools_expected, "schools_expected", lang),
        _figure(rollup.schools_submitted, "schools_submitted", lang),
        _figure(format_pct(rollup.reporting_rate_on_time), "reporting_rate_on_time", lang),
        _figure(
            rollup.schools_missing, "schools_missing", lang, "bad" if rollup.schools_missing else ""
        ),
        _figure(format_pct(rollup.coverage), "coverage", lang),
        _figure(totals.get("missing", 0), "missing", lang, "warn" if totals.get("missing") else ""),
        _figure(totals.get("fever", 0), "fever", lang, "bad" if totals.get("fever") else ""),
        _figure(
            totals.get("suspected", 0), "suspected", lang, "bad" if totals.get("suspected") else ""
        ),
        _figure(totals.get("key_persons", 0), "key_persons", lang),
    ]
    context = {
        "lang": lang,
        "L": lambda key, **kw: t(key, lang, **kw),
        "title": f"{district.name} {t('district_report', lang)}",
        "subtitle": f"{day} · {t('upward_deadline', lang)} {district.deadline}",
        "figures": figures,
        "missing_schools": [_s(n) for n in missing_schools["name"]][:MAX_ROWS],
        "late_schools": [
            {
                "name": _s(r.name),
                "status": t("submission_late_short", lang)
                if getattr(r, "kind", "school") == "unit"
                else t("submission_late", lang, n=_int(r.minutes_late)),
            }
            for r in late_schools.itertuples(index=False)
        ][:MAX_ROWS],
        "attention": attention_rows[:MAX_ROWS],
        "attention_more": max(0, len(attention_rows) - MAX_ROWS),
        "schools_ok": len(schools) - len(noteworthy),
        "chart": None,
        "correction": _correction(correction, lang, False),
    }
    images: tuple[InlineImage, ...] = ()
    if not rollup.trend.empty:
        image = trend_image(rollup.trend, lang)
        images = (image,)
        context["chart"] = {"cid": image.cid, "alt": t("trend_14d", lang)}
    subject = _subject(
        _subject_template(delivery, "district_subject", lang),
        "district_subject",
        district=district.name,
        district_id=district.id,
        date=day,
        schools_expected=rollup.schools_expected,
        schools_submitted=rollup.schools_submitted,
        schools_missing=rollup.schools_missing,
        schools_late=len(late_schools),
        missing=totals.get("missing", 0),
        suspected=totals.get("suspected", 0),
        fever=totals.get("fever", 0),
        symptomatic=totals.get("symptomatic", 0),
        key_persons=totals.get("key_persons", 0),
        coverage=format_pct(rollup.coverage),
    )
    if correction is not None:
        subject = t("mail_correction_prefix", lang) + subject
    return MailBody(
        subject=subject,
        html=_render("district.html.j2", **context),
        text=_render("district.txt.j2", **context),
        images=images,
    )


# -- a unit's roll-up ----------------------------------------------------------------


def unit_body(
    rollup: UnitRollup,
    unit: Unit,
    delivery: DeliveryConfig,
    lang: str = "zh-CN",
    correction: Correction | None = None,
) -> MailBody:
    """A unit's message (a district, town, county, city … or a central school): counts
    per child school or unit, never a person. A child unit whose roll-up was late or
    missing is listed with the late or missing schools (its row's status)."""
    return district_body(rollup, unit, delivery, lang, correction)


# -- a 【更正】 ----------------------------------------------------------------------


@dataclass(frozen=True)
class Correction:
    """What a 【更正】 message leads with: the changes since the version sent, that
    version's time (ISO local) and the number of the version it brings."""

    changes: ReportChanges
    sent_at: str
    version: int


def _correction(correction: Correction | None, lang: str, mask: bool) -> dict[str, Any] | None:
    if correction is None:
        return None
    from reportkit.reports import change_heading, change_lines

    name = mask_name if mask else str
    return {
        "heading": t("changes", lang),
        "since": change_heading(correction.version, correction.sent_at, lang),
        "lines": change_lines(correction.changes, lang, name),
        "sep": t("sep_label", lang),
    }


# -- a reminder before the deadline --------------------------------------------------


def reminder_body(
    findings: Findings, school: School, delivery: DeliveryConfig, now: datetime, lang: str = "zh-CN"
) -> MailBody:
    """Classes and how many of their people have not checked in yet (no names)."""
    findings = findings.for_school(school.id)
    row = findings.schools.iloc[0].to_dict() if not findings.schools.empty else {}
    missing = findings.missing
    counts: dict[tuple[str, str], int] = {}
    for g, c, r in zip(missing["grade"], missing["class"], missing["role"], strict=True):
        key = (_s(g) or (t("role_staff", lang) if _s(r) == "staff" else "–"), _s(c))
        counts[key] = counts.get(key, 0) + 1
    classes = [
        {"grade": g, "class": c, "count": n}
        for (g, c), n in sorted(counts.items(), key=lambda kv: class_sort_key(" ".join(kv[0])))
    ]
    day: date = findings.date
    total = len(missing)
    context = {
        "lang": lang,
        "L": lambda key, **kw: t(key, lang, **kw),
        "title": f"{school.name} {t('mail_reminder_title', lang)}",
        "subtitle": day.isoformat(),
        "intro": t(
            "mail_reminder_intro",
            lang,
            now=now.strftime("%H:%M"),
            n=total,
            deadline=school.deadline,
        ),
        "nothing_received": _s(row.get("submission")) == "missing",
        "classes": classes,
        "total": total,
    }
    subject = _subject(
        _subject_template(delivery, "reminder_subject", lang),
        "reminder_subject",
        school=school.name,
        school_id=school.id,
        date=day.isoformat(),
        missing=total,
        deadline=school.deadline,
        now=now.strftime("%H:%M"),
    )
    return MailBody(
        subject=subject,
        html=_render("reminder.html.j2", **context),
        text=_render("reminder.txt.j2", **context),
    )
