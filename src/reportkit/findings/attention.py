"""The people who need attention, the fever list, and the sentence saying why.

:func:`attention_frames` turns the levels of :func:`reportkit.findings.rules.levels`
into the ``attention`` frame (one row per listed person, at the highest level only,
with the reasons as codes and as a sentence in zh-CN and en) and the ``fever``
frame (everyone with fever, whatever their level). The sentence is built from
the i18n catalog's ``flag_*`` fragments.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from reportkit.config import Rules
from reportkit.findings.matrices import CheckIns, Roster
from reportkit.findings.rules import Levels, fever_by_temperature, monitoring_end
from reportkit.i18n import t
from reportkit.schema import SYMPTOMS, FlagLevel

__all__ = ["attention_frames"]

_SYMPTOM_KEYS = {f"symptom_{c}" for c in SYMPTOMS}
# FlagLevel rank -> the level's value (None: not listed)
_LEVELS = np.array(
    [None, *(level.value for level in sorted(FlagLevel, key=lambda lv: lv.rank))], dtype=object
)
_ATTENTION_COLUMNS = [
    *("level", "reasons", "reason_zh", "reason_en", "temperature", "symptoms", "key_area"),
    *("contact", "key_area_place", "exposure_date", "monitoring_day", "monitoring_ends"),
]


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


def attention_frames(
    day: CheckIns,
    roster: Roster,
    rules: Rules,
    lv: Levels,
    fever_today: np.ndarray,
    start: date,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The people listed at a level, and everyone with fever (``fever_today``)."""
    level = lv.rank
    listed = np.flatnonzero(level > 0)
    fevered = np.flatnonzero(fever_today)
    wanted = np.union1d(listed, fevered)
    codes = day.symptoms_of(wanted)
    others = day.other_of(listed)
    places = day.places_of(listed)
    key_person = FlagLevel.KEY_PERSON.rank

    def symptom_text(i: int) -> str:
        return ",".join(sorted(codes.get(i, ())))

    rows = []
    for i in listed.tolist():
        temp = float(day.tmax[i])
        by_temp = bool(fever_by_temperature(temp, rules.fever_celsius))
        exposed = bool(lv.exposed_today[i])  # never at level symptomatic
        ka = exposed and bool(day.key_area_window[i])
        ct = exposed and bool(day.contact_window[i])
        first = start + timedelta(days=int(lv.first_offset[i])) if exposed else None
        ends = monitoring_end(first, rules) if first else None
        mon_day = int(lv.monitoring_day[i]) if exposed else None
        monitoring = (
            (mon_day, rules.monitoring_days, ends)
            if level[i] == key_person and mon_day is not None and ends is not None
            else None
        )
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
    attention = roster.frame(listed, **{str(c): extra[c].to_numpy(dtype=object) for c in extra})
    attention["temperature"] = attention["temperature"].astype(float)
    attention["monitoring_day"] = attention["monitoring_day"].astype("Int64")
    attention["key_area"] = attention["key_area"].astype(bool)
    attention["contact"] = attention["contact"].astype(bool)
    # school order, then the highest level first (ranks are below len(_LEVELS))
    order = roster.school[listed] * len(_LEVELS) - level[listed]
    attention = attention.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)

    temps = day.tmax[fevered]
    fever = roster.frame(
        fevered,
        temperature=temps,
        fever_by=np.where(
            fever_by_temperature(temps, rules.fever_celsius), "temperature", "symptom"
        ),
        symptoms=np.array([symptom_text(i) for i in fevered.tolist()], dtype=object),
        level=_LEVELS[level[fevered]],
    )
    return attention, fever
