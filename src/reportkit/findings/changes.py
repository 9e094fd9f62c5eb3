"""What changed between a sent report's findings and the findings of now: 更正说明.

A report that was sent stays as it was (a version of it is kept on disk with the
findings it was rendered from). When the data of its date change afterwards (a late
check-in, a correction), the next version says what changed since the version sent.
:func:`school_changes` compares two :class:`~reportkit.findings.Findings` of one
school: the people added to or removed from the missing list and the attention list
(a person whose level changed is removed at the old level and added at the new one),
the clusters added or removed, and the school's counts that changed (before →
after). :func:`unit_changes` compares two roll-ups of a unit: counts only, never a
person. Both are pure functions of their arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from reportkit.findings.model import Findings
    from reportkit.findings.tree import UnitRollup

__all__ = [
    "SCHOOL_COUNTS",
    "UNIT_COUNTS",
    "ClusterChange",
    "CountChange",
    "PersonChange",
    "ReportChanges",
    "school_changes",
    "unit_changes",
]

# the school's figures a correction lists when they changed, in the order shown
SCHOOL_COUNTS = (
    *("submission", "expected", "reported", "coverage", "missing", "absent"),
    *("illness_absence", "fever", "symptomatic", "suspected", "key_persons"),
    *("clusters", "unreachable"),
)
# a roll-up's (names of UnitRollup.figures())
UNIT_COUNTS = (
    *("schools_expected", "schools_submitted", "schools_on_time", "schools_late"),
    *("schools_missing", "reporting_rate", "on_time_rate", "people_expected"),
    *("people_reported", "coverage", "missing", "absent", "fever", "symptomatic"),
    *("suspected", "key_persons", "clusters", "illness_absence", "unreachable"),
)
_RATES = {"coverage", "reporting_rate", "on_time_rate"}


@dataclass(frozen=True)
class PersonChange:
    """One person added to or removed from a list: id, name, class (``grade class``),
    and for the attention list the level (a :class:`~reportkit.schema.FlagLevel` value)."""

    person_id: str
    name: str
    class_label: str
    level: str = ""


@dataclass(frozen=True)
class ClusterChange:
    """A cluster added or removed: its class, rule and count of people."""

    class_label: str
    rule: str
    count: int


@dataclass(frozen=True)
class CountChange:
    """One figure that changed: its key (an i18n label), before and after (``None``:
    unknown; rates in percent, rounded to one decimal)."""

    key: str
    before: Any
    after: Any


@dataclass(frozen=True)
class ReportChanges:
    """What changed since the version sent (empty tuples: nothing of that kind)."""

    missing_added: tuple[PersonChange, ...] = ()
    missing_removed: tuple[PersonChange, ...] = ()
    attention_added: tuple[PersonChange, ...] = ()
    attention_removed: tuple[PersonChange, ...] = ()
    clusters_added: tuple[ClusterChange, ...] = ()
    clusters_removed: tuple[ClusterChange, ...] = ()
    counts: tuple[CountChange, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing of the lists or figures changed."""
        return not any(
            (
                self.missing_added,
                self.missing_removed,
                self.attention_added,
                self.attention_removed,
                self.clusters_added,
                self.clusters_removed,
                self.counts,
            )
        )

    def count(self, key: str) -> CountChange | None:
        """The change of figure ``key``, or ``None`` when it did not change."""
        return next((c for c in self.counts if c.key == key), None)


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        import pandas as pd

        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value).strip()


def _value(key: str, value: Any) -> Any:
    """A figure as compared and shown: ints, rates rounded, text, ``None`` when unknown."""
    text = _text(value)
    if text == "":
        return None
    if key == "submission":
        return text
    try:
        number = float(value)
    except (TypeError, ValueError):
        return text
    if key in _RATES:
        return round(number, 1)
    return int(number) if number == int(number) else number


def _people(frame: pd.DataFrame, with_level: bool = False) -> dict[tuple[str, str], PersonChange]:
    people: dict[tuple[str, str], PersonChange] = {}
    if frame is None or frame.empty:
        return people
    for r in frame.to_dict("records"):
        level = _text(r.get("level")) if with_level else ""
        person = PersonChange(
            _text(r.get("person_id")),
            _text(r.get("name")),
            f"{_text(r.get('grade'))} {_text(r.get('class'))}".strip(),
            level,
        )
        people[(person.person_id, level)] = person
    return people


def _diff(before: dict[Any, Any], after: dict[Any, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    added = tuple(after[k] for k in sorted(set(after) - set(before)))
    removed = tuple(before[k] for k in sorted(set(before) - set(after)))
    return added, removed


def _clusters(frame: pd.DataFrame) -> dict[tuple[str, str, str], ClusterChange]:
    out: dict[tuple[str, str, str], ClusterChange] = {}
    if frame is None or frame.empty:
        return out
    for r in frame.to_dict("records"):
        label = _text(r.get("class_label")) or f"{_text(r.get('grade'))} {_text(r.get('class'))}"
        ids = ",".join(str(p) for p in (r.get("person_ids") or ()))
        rule = _text(r.get("rule"))
        out[(label.strip(), rule, ids)] = ClusterChange(
            label.strip(), rule, int(_value("count", r.get("count")) or 0)
        )
    return out


def _counts(keys: tuple[str, ...], before: dict[str, Any], after: dict[str, Any]) -> list[Any]:
    changed = []
    for key in keys:
        old, new = _value(key, before.get(key)), _value(key, after.get(key))
        if old != new:
            changed.append(CountChange(key, old, new))
    return changed


def _row(findings: Findings) -> dict[str, Any]:
    rows = findings.schools
    return {str(k): v for k, v in rows.iloc[0].to_dict().items()} if not rows.empty else {}


def school_changes(before: Findings, after: Findings, school_id: str) -> ReportChanges:
    """What changed in ``school_id``'s report from ``before`` (the findings of the
    version sent) to ``after`` (those of now)."""
    old, new = before.for_school(school_id), after.for_school(school_id)
    missing_added, missing_removed = _diff(_people(old.missing), _people(new.missing))
    attention_added, attention_removed = _diff(
        _people(old.attention, with_level=True), _people(new.attention, with_level=True)
    )
    clusters_added, clusters_removed = _diff(_clusters(old.clusters), _clusters(new.clusters))
    return ReportChanges(
        missing_added=missing_added,
        missing_removed=missing_removed,
        attention_added=attention_added,
        attention_removed=attention_removed,
        clusters_added=clusters_added,
        clusters_removed=clusters_removed,
        counts=tuple(_counts(SCHOOL_COUNTS, _row(old), _row(new))),
    )


def unit_changes(before: UnitRollup, after: UnitRollup) -> ReportChanges:
    """What changed in a unit's roll-up from ``before`` (the version sent) to ``after``:
    its figures only (a roll-up names no one)."""
    return ReportChanges(counts=tuple(_counts(UNIT_COUNTS, before.figures(), after.figures())))
