"""更正说明 for people: a :class:`~reportkit.findings.ReportChanges` as labelled lines.

The report section (:meth:`reportkit.reports.SchoolReport.changes`, ``UnitReport``'s)
and the 【更正】 email lead with the same lines: who was added to or removed from the
missing and attention lists, the clusters added or removed, then each figure that
changed, before → after. Labels come from :mod:`reportkit.i18n`; a unit's lines are
counts only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from reportkit.i18n import CATALOG, t

if TYPE_CHECKING:
    from reportkit.findings import ReportChanges
    from reportkit.findings.changes import ClusterChange, PersonChange

__all__ = ["ChangeLine", "change_heading", "change_lines"]

DASH = "—"
# figure keys of UnitRollup.figures() shown under the report's own label
_LABELS = {
    "on_time_rate": "reporting_rate_on_time",
    "people_expected": "expected",
    "people_reported": "reported",
}
_RATES = {"coverage", "reporting_rate", "on_time_rate"}


@dataclass(frozen=True)
class ChangeLine:
    """One line of a 更正说明: what (a label) and the items or ``before → after``."""

    label: str
    text: str
    kind: str = "list"  # list | count | note


def change_heading(version: int, sent_at: str, lang: str) -> str:
    """ "对 HH:MM 所发报告的更正（第 N 版）" / "Corrections to the report sent at HH:MM
    (version N)"; ``sent_at`` ISO local time."""
    try:
        when = datetime.fromisoformat(sent_at).strftime("%H:%M")
    except (TypeError, ValueError):
        when = DASH
    return t("changes_since", lang, time=when, version=version)


def _value(key: str, value: Any, lang: str) -> str:
    if value is None:
        return DASH
    if key == "submission":
        label = f"submission_{'late_short' if value == 'late' else value}"
        return t(label, lang) if label in CATALOG else str(value)
    if key in _RATES:
        return f"{float(value):.1f}%"
    return str(value)


def _person(p: PersonChange, name: Callable[[str], str], lang: str) -> str:
    left, right = ("（", "）") if lang == "zh-CN" else (" (", ")")
    text = f"{name(p.name)}{left}{p.class_label}{right}" if p.class_label else name(p.name)
    if p.level:
        level = f"level_{p.level}"
        text += f" {t(level, lang) if level in CATALOG else p.level}"
    return text


def _cluster(c: ClusterChange, lang: str) -> str:
    rule = f"rule_{c.rule}"
    return f"{c.class_label} {t(rule, lang) if rule in CATALOG else c.rule} ({c.count})"


def change_lines(
    changes: ReportChanges, lang: str, name: Callable[[str], str] = str
) -> list[ChangeLine]:
    """The lines of a 更正说明, in the order shown; ``name`` shows a name (masked or not).
    Nothing of the lists or figures changed: one note saying other details did."""
    sep = t("sep_names", lang)
    lines: list[ChangeLine] = []
    people = (
        ("changes_missing_added", changes.missing_added),
        ("changes_missing_removed", changes.missing_removed),
        ("changes_attention_added", changes.attention_added),
        ("changes_attention_removed", changes.attention_removed),
    )
    for key, group in people:
        if group:
            text = sep.join(_person(p, name, lang) for p in group)
            lines.append(ChangeLine(f"{t(key, lang)} ({len(group)})", text))
    for key, clusters in (
        ("changes_clusters_added", changes.clusters_added),
        ("changes_clusters_removed", changes.clusters_removed),
    ):
        if clusters:
            text = sep.join(_cluster(c, lang) for c in clusters)
            lines.append(ChangeLine(f"{t(key, lang)} ({len(clusters)})", text))
    for c in changes.counts:
        label = t(_LABELS.get(c.key, c.key), lang)
        text = f"{_value(c.key, c.before, lang)} → {_value(c.key, c.after, lang)}"
        lines.append(ChangeLine(label, text, "count"))
    if not lines:
        lines.append(ChangeLine(t("changes_other", lang), "", "note"))
    return lines
