"""The printable summary of a day's findings, for ``reportkit flags``: one line or
one table row per school, its submission and its counts, in zh-CN or en."""

from __future__ import annotations

from typing import Any

import pandas as pd

from reportkit.findings.model import Findings
from reportkit.i18n import t

__all__ = ["summary_lines", "summary_table"]

_SUMMARY_COLUMNS = [
    *("expected", "reported", "coverage", "missing", "unreachable", "fever", "symptomatic"),
    *("suspected", "key_persons", "clusters", "illness_absence_unexplained", "data_quality"),
]


def _status(row: Any, lang: str) -> str:
    text = t(f"submission_{row['submission']}", lang, n=int(row["minutes_late"]))
    if row["zero_report"]:
        text += f" · {t('zero_report_short', lang)}"
    return text


def _cell(row: Any, col: str) -> str:
    value = row[col]
    if col == "coverage":
        return "" if pd.isna(value) else f"{value:.1f}%"
    return str(int(value))


def summary_lines(findings: Findings, lang: str = "zh-CN") -> list[str]:
    """One line per school: id, name, submission and the counts, in ``lang``."""
    lines = [f"{t('date', lang)} {findings.date.isoformat()}"]
    for _, row in findings.schools.iterrows():
        counts = " ".join(f"{t(c, lang)} {_cell(row, c)}" for c in _SUMMARY_COLUMNS)
        lines.append(f"{row['school_id']} {row['name']} [{_status(row, lang)}] {counts}")
    return lines


def summary_table(findings: Findings, lang: str = "zh-CN") -> Any:
    """A :class:`rich.table.Table` of the schools, one row each, for the terminal."""
    from rich.table import Table

    table = Table(title=f"{t('daily_report', lang)} {findings.date.isoformat()}")
    table.add_column(t("school_id", lang))
    table.add_column(t("school", lang))
    table.add_column(t("submission", lang))
    for col in _SUMMARY_COLUMNS:
        table.add_column(t(col, lang), justify="right")
    for _, row in findings.schools.iterrows():
        table.add_row(
            str(row["school_id"]),
            str(row["name"]),
            _status(row, lang),
            *(_cell(row, c) for c in _SUMMARY_COLUMNS),
        )
    return table
