"""The building blocks of the report sections (:mod:`reportkit.reports.sections`).

:class:`Section` is an HTML fragment Jupyter displays (``text/html``), with the
same fragment with names masked under :data:`MASKED_MIME` when it shows names,
and the report's identity under :data:`IDENTITY_MIME` (which no renderer shows).

The HTML itself is written only by Jinja templates (``templates/sections/``, their
tables, figure tiles and headings in ``_macros.html.j2``; the day's index too):
:func:`render_template` renders them autoescaped, a missing value (``None``, NaN,
NaT) printed as nothing. Python hands them values: :class:`Table` (headers, rows,
the text when empty) and :class:`Figure` tiles. Here too: percentages, masked
names, what a school that sent nothing shows as "—", and :func:`open_findings`
(the runner's findings file of the schools, else the store).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
import pandas as pd

from reportkit.i18n import t
from reportkit.layout import TEMPLATES
from reportkit.privacy import mask_name

__all__ = [
    "CHECKIN_FIGURES",
    "DASH",
    "IDENTITY_MIME",
    "MASKED_MIME",
    "Figure",
    "Section",
    "Table",
    "class_sort_key",
    "class_with_head_teacher",
    "field_label",
    "format_pct",
    "head_teachers",
    "open_findings",
    "render_template",
    "unknown_without_checkins",
]

MASKED_MIME = "application/vnd.reportkit.masked+html"
IDENTITY_MIME = "application/vnd.reportkit.identity+json"
DASH = "—"
# figures of a school that check-ins decide: unknown ("—") when nothing was received
CHECKIN_FIGURES = frozenset(
    {
        *("reported", "coverage", "missing", "absent", "illness_absence", "fever"),
        *("symptomatic", "suspected", "key_persons", "missing_sessions", "unreachable"),
        "clusters",
    }
)
# of these, the ones that say nothing at all without today's check-ins; the others
# (a key person's 14 days, a cluster of the last days) are shown when not 0
_TODAY_ONLY = frozenset({"reported", "coverage", "missing", "missing_sessions"})


def unknown_without_checkins(key: str, value: object) -> bool:
    """Whether a school that sent nothing shows ``key`` as "—" rather than ``value``."""
    if key not in CHECKIN_FIGURES:
        return False
    return key in _TODAY_ONLY or _missing_value(value) or value == 0


@dataclass(frozen=True)
class Section:
    """An HTML fragment Jupyter displays as rich output (``text/html``).

    ``masked``: the same fragment with names masked, when it shows names;
    ``identity``: what the report shows (kind, id, findings hash), for the runner.
    """

    body: str
    masked: str | None = None
    identity: dict[str, object] | None = None

    def _repr_html_(self) -> str:
        return self.body

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        data: dict[str, Any] = {"text/html": self.body}
        if self.masked is not None and self.masked != self.body:
            data[MASKED_MIME] = self.masked
        if self.identity:
            data[IDENTITY_MIME] = dict(self.identity)
        return data

    def __str__(self) -> str:
        return self.body


def _missing_value(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))  # NaN, NaT, pd.NA
    except (TypeError, ValueError):  # a list or an array: not a missing scalar
        return False


@dataclass(frozen=True)
class Table:
    """A table a section shows (``_macros.html.j2``'s ``table``): its column headers,
    its rows of values, the text shown instead when it has no row, and the ``<h3>``
    above it, if any."""

    headers: Sequence[str]
    rows: Sequence[Sequence[object]]
    empty: str
    heading: str | None = None


@dataclass(frozen=True)
class Figure:
    """A figure tile (``_macros.html.j2``'s ``figures``): a value over its label."""

    label: str
    value: object


def _shown(value: object) -> object:
    """What a template prints for a value: nothing for a missing one, never ``nan``."""
    return "" if _missing_value(value) else value


class LineBreaksBetweenTags(jinja2.ext.Extension):
    """A line break between markup in a template's source is not output.

    Templates are written one element a line, to be read; the pages keep the bytes
    they had when the sections were written in Python, so a report's content hash
    (and so the sent log's version of it) does not change with the template's
    layout. Only whitespace holding a line break between a tag or a Jinja tag and
    the next one goes: ``{{ a }} {{ b }}`` and ``text <span>`` keep their space.
    """

    _BREAK = re.compile(r"(>|%\}|\}\}|#\})[ \t]*\n\s*(?=<|\{[%{#])")

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return self._BREAK.sub(r"\1", source)


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        extensions=[LineBreaksBetweenTags],
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_shown,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # the package's own files: no stat per render to see if they changed
    )


def _template(name: str) -> jinja2.Template:
    """``templates/<name>``, compiled on first use (once per process)."""
    return _environment().get_template(name)


def render_template(name: str, /, **context: Any) -> str:
    """Render ``templates/<name>`` with ``context``: every value autoescaped, a missing
    one printed as nothing."""
    return _template(name).render(**context)


def _plain(value: object) -> str:
    return "" if _missing_value(value) else str(value)


def _masked(value: object) -> str:
    return mask_name(_plain(value))


def format_pct(value: object) -> str:
    """A percentage for display; a dash when nothing was expected (NaN)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return DASH
    return DASH if pd.isna(number) else f"{number:.1f}%"


def _table(
    frame: pd.DataFrame,
    columns: dict[str, str],
    lang: str,
    empty_key: str = "none",
    heading: str | None = None,
) -> Table:
    """The :class:`Table` of ``columns`` (frame column -> label key) of ``frame``."""
    rows = [] if frame.empty else list(frame[list(columns)].itertuples(index=False))
    headers = [t(label, lang) for label in columns.values()]
    return Table(headers, rows, t(empty_key, lang), heading)


_CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")}


def head_teachers(per_class: pd.DataFrame) -> dict[str, str]:
    """Class label ("初一 2班") -> its head teacher, for the classes a roster named one
    for: what the report's, the email's and the console's missing-by-class lists show."""
    if "head_teacher" not in per_class or per_class.empty:
        return {}
    labels = _class_label(per_class)
    return {
        str(label): _plain(head)
        for label, head in zip(labels, per_class["head_teacher"], strict=True)
        if _plain(head)
    }


def class_with_head_teacher(label: str, head_teacher: str | None, lang: str) -> str:
    """A class as a missing-by-class list shows it: with its head teacher when known,
    the class alone when not (never "None" or a placeholder)."""
    if not head_teacher:
        return label
    return t("class_with_head_teacher", lang, label=label, name=head_teacher)


def class_sort_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Order 二年级 before 十年级 and 2班 before 10班; 初一 after 六年级, 高一 after 初三."""
    text = _plain(text)
    offset = 6 if text.startswith("初") else 9 if text.startswith("高") else 0
    parts: list[tuple[int, int, str]] = []
    for num, cn, other in re.findall(r"(\d+)|([零一二三四五六七八九十]+)|(\D)", text):
        if num:
            parts.append((0, int(num) + offset, ""))
        elif cn:
            parts.append((0, _cn_number(cn) + offset, ""))
        else:
            parts.append((1, 0, other))
        offset = 0
    return tuple(parts)


def _cn_number(text: str) -> int:
    if "十" in text:
        tens, _, ones = text.partition("十")
        return _CN_DIGITS.get(tens, 1) * 10 + _CN_DIGITS.get(ones, 0)
    return _CN_DIGITS.get(text[-1], 0)


def field_label(column: object, lang: str) -> str:
    """A data-quality finding's column in the report's language: a canonical column
    (``temperature``) by its ``field_<column>`` label, a header as the file wrote it."""
    from reportkit.i18n import CATALOG

    text = _plain(column)
    return t(f"field_{text}", lang) if f"field_{text}" in CATALOG else text


def _class_label(frame: pd.DataFrame) -> pd.Series:
    grade = frame["grade"].fillna("").astype(str)
    klass = frame["class"].fillna("").astype(str)
    return (grade + " " + klass).str.strip()


def open_findings(
    findings_dir: str | Path | None,
    report_date: str | date,
    school_ids: list[str] | None,
    db: str | None,
    params_dir: str | Path | None,
) -> Any:
    """The findings a notebook shows: the runner's files of these schools, else
    computed from the store (a missing, unreadable or foreign file is never trusted).

    Computed findings carry the latest follow-up of each person (the runner adds
    them before it saves its files).
    """
    from dataclasses import replace

    from reportkit.findings import load_findings

    day = report_date if isinstance(report_date, date) else date.fromisoformat(report_date)
    if findings_dir and school_ids:
        from reportkit.findings import load_findings_files

        saved = load_findings_files(findings_dir, school_ids, day)
        if saved is not None:
            return saved
    from reportkit import store
    from reportkit.config import project_settings
    from reportkit.store import latest_followups

    settings = project_settings(db, params_dir)
    engine = store.connect(settings.db)
    # a kernel reads digests, and leaves storing them to the run
    findings = load_findings(
        engine, settings.schools(), settings.rules(), day, school_ids, keep=False
    )
    return replace(findings, followups=latest_followups(engine, findings.school_ids, day))


_CONFIGS: dict[tuple[str, int, int], Any] = {}


def _config(db: str | None, params_dir: str | Path | None) -> Any:
    """``schools.yaml``, parsed once per kernel while the file is unchanged (a province's
    tree is large; it holds configuration, no person)."""
    from reportkit.config import project_settings

    settings = project_settings(db, params_dir)
    try:
        path = (Path(settings.params) / "schools.yaml").resolve()
        stat = path.stat()
    except OSError:
        return settings.schools()  # the error names the file
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _CONFIGS:
        _CONFIGS.clear()
        _CONFIGS[key] = settings.schools()
    return _CONFIGS[key]


class _Svg:
    """A chart Jupyter shows as SVG (sharp at any pixel density, in the HTML and so
    in the PDF printed from it)."""

    def __init__(self, data: str) -> None:
        self.data = data

    def _repr_svg_(self) -> str:
        return self.data


_TREND_COUNTS = ("expected", "reported", "fever", "symptomatic", "suspected")


def _int(value: object) -> int:
    """A count for display; 0 for a missing value (callers show "—" where it matters)."""
    if _missing_value(value):
        return 0
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def _flag(value: object) -> bool:
    return not _missing_value(value) and bool(value)


def _temperature(value: object) -> str:
    if _missing_value(value):
        return ""
    try:
        return f"{float(value):.1f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return _plain(value)
