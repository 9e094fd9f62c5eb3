"""Reading one cell: text to what it means (dates, temperatures, symptoms, yes/no ...).

Each ``parse_*`` function reads one distinct cell text (None when empty) and
returns a tuple: the value and whether it was bad (or the reason code of its
finding). :func:`per_unique` runs a parser once per distinct text of a column and
broadcasts the results, which keeps :mod:`reportkit.ingest` vectorised;
:func:`clean` is what every parser gets: the text stripped of blanks and
zero-width marks, None when empty or a survey tool's placeholder for an
unanswered question.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import numpy as np
import pandas as pd

from reportkit.schema import (
    NO_SYMPTOM_WORDS,
    NO_WORDS,
    SURVEY_PLACEHOLDERS,
    SYMPTOM_SEPARATORS,
    YES_WORDS,
    normalize_word,
)

__all__ = [
    "as_categorical",
    "categorical",
    "clean",
    "dates_in",
    "is_time_only",
    "parse_date",
    "parse_place",
    "parse_symptoms",
    "parse_temperature",
    "parse_timestamp",
    "parse_timestamps",
    "parse_unique",
    "parse_word",
    "parse_yes_no",
    "per_unique",
]


# --- cell values ---------------------------------------------------------------
# Each parser takes one distinct cell text (None when empty) and returns a tuple;
# :func:`per_unique` runs it once per distinct text and broadcasts the results.

# whitespace (also full-width) and the zero-width marks WeChat copies carry
_BLANKS = " \t\r\n\x0b\x0c\xa0\u3000\u200b\u200c\u200d\u2060\ufeff"


def clean(value: Any) -> str | None:
    """A cell stripped of spaces (also full-width) and zero-width marks; empty, or a survey
    tool's placeholder for an unanswered question (``(空)``), -> None."""
    if isinstance(value, str):
        text = value.strip(_BLANKS)
        return None if not text or text in SURVEY_PLACEHOLDERS else text
    return None if value is None or pd.isna(value) else str(value)


def per_unique(values: pd.Series, parse: Callable[[Any], tuple], width: int) -> list[np.ndarray]:
    """``parse`` applied to each distinct value once; one object array per tuple item.

    ``parse`` gets the value :func:`clean`-ed: stripped text, or None when empty.
    """
    codes, table = parse_unique(values, parse, width)
    picked = table[codes]
    return [picked[:, k] for k in range(width)]


def parse_unique(
    values: pd.Series, parse: Callable[[Any], tuple], width: int
) -> tuple[np.ndarray, np.ndarray]:
    """(codes, table): ``parse`` of each distinct value once, a row of ``table`` each;
    row ``i``'s results are ``table[codes[i]]`` (code -1, an empty cell: the last row)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    results = [parse(clean(v)) for v in uniques.tolist()]
    results.append(parse(None))  # code -1: missing
    table = np.empty((len(results), width), dtype=object)
    table[:] = results
    return codes, table


def as_categorical(values: np.ndarray) -> pd.Categorical:
    """``values`` as a categorical of their distinct non-null values, kept as object
    (pandas would infer its str dtype)."""
    codes, uniques = pd.factorize(values)
    categories = pd.Index(uniques, dtype=object)
    return pd.Categorical.from_codes(codes, categories=categories, validate=False)


def categorical(codes: np.ndarray, results: np.ndarray) -> pd.Categorical:
    """The column ``results[codes]`` as :func:`as_categorical` would give it, computed
    on the few ``results`` rather than on every row."""
    few = as_categorical(results)
    return pd.Categorical.from_codes(few.codes[codes], dtype=few.dtype, validate=False)


_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:(?:\s+|t)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")
_EXCEL_EPOCH = datetime(1899, 12, 30)
_TITLE_DATE = re.compile(
    r"(?<!\d)(?:(20\d{2})\s*[-/.年_]\s*(\d{1,2})\s*[-/.月_]\s*(\d{1,2})|(20\d{6}))(?!\d)"
)


def parse_date(text: str | None) -> tuple[str | None, bool]:
    """(ISO date, bad) of a date cell: 2020-02-10, 2020/2/10, 2020.2.10, 2020年2月10日,
    20200210, an Excel serial, or any of them followed by a time."""
    if text is None:
        return None, False
    s = _squash(text)
    m = _DATE.match(s) or _COMPACT_DATE.match(s)
    try:
        if m:
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat(), False
        if _SERIAL.match(s):
            day = _EXCEL_EPOCH + timedelta(days=float(s))
            if 1990 <= day.year <= 2100:
                return day.date().isoformat(), False
    except ValueError:
        pass
    return None, True


def dates_in(texts: Sequence[str]) -> set[str]:
    """ISO dates written anywhere in texts (titles, file names), with a year."""
    found = set()
    for text in texts:
        for m in _TITLE_DATE.finditer(unicodedata.normalize("NFKC", text)):
            y, mo, d = (m[4][:4], m[4][4:6], m[4][6:]) if m[4] else (m[1], m[2], m[3])
            try:
                found.add(date(int(y), int(mo), int(d)).isoformat())
            except ValueError:
                continue
    return found


def _squash(text: str) -> str:
    """NFKC, lower case, trimmed; inner spaces collapsed to one."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


_TEMPERATURE = re.compile(r"^([+-]?\d+(?:[.,]\d+)?)(°c|°|度|摄氏度|c|°f|f)?$")


def parse_temperature(
    text: str | None, valid: tuple[float, float], fahrenheit: tuple[float, float]
) -> tuple[float, str | None]:
    """(°C or NaN, reason code of the finding or None) of a temperature cell."""
    if text is None:
        return np.nan, None
    m = _TEMPERATURE.match(normalize_word(text))
    if not m:
        return np.nan, "bad_temperature"
    value = float(m[1].replace(",", "."))
    reason = None
    if m[2] in ("°f", "f") or fahrenheit[0] <= value <= fahrenheit[1]:
        value = round((value - 32) * 5 / 9, 1)
        reason = "fahrenheit_converted"
    if not valid[0] <= value <= valid[1]:
        return np.nan, "impossible_temperature"
    return value, reason


_PUNCT = re.compile(r"[\s,，、;；:：.。!！()（）\[\]【】\-—/]+")


def parse_yes_no(text: str | None) -> tuple[bool, bool]:
    """(yes, bad) of a yes/no cell; a leading yes/no word decides ``是（武汉）``."""
    if text is None:
        return False, False
    word = normalize_word(text)
    if word in YES_WORDS:
        return True, False
    if word in NO_WORDS:
        return False, False
    first = next((t for t in _PUNCT.split(word) if t), "")
    if first in YES_WORDS:
        return True, False
    if first in NO_WORDS:
        return False, False
    return False, True


def parse_place(text: str | None) -> tuple[bool, str | None]:
    """(been to a key area, the place) of a 14-day travel cell: 否 / 是 / 是，武汉 / 湖北武汉.

    Any text that is not a no-word counts as yes: a place written is an exposure.
    """
    if text is None:
        return False, None
    yes, bad = parse_yes_no(text)
    if not yes and not bad:
        return False, None
    place = _LEADING_YES.sub("", text.strip()).rstrip(_PUNCT_CHARS)
    return True, place or None


_PUNCT_CHARS = " \t\u3000,，、;；:：.。!！()（）[]【】-—/"
_LEADING_YES = re.compile(r"^(?:是|有|到过)?[\s,，、;；:：.。!！()（）\[\]【】\-—/]*")


def parse_symptoms(text: str | None, terms: dict[str, str]) -> tuple[str, str, str | None]:
    """(codes sorted and comma-joined, unknown terms as written joined by 、, finding value)."""
    if text is None:
        return "", "", None
    codes: set[str] = set()
    other: list[str] = []
    for token in SYMPTOM_SEPARATORS.split(text):
        word = normalize_word(token)
        if word in NO_SYMPTOM_WORDS:
            continue
        code = terms.get(word)
        if code is None:
            other.append(token.strip())
        else:
            codes.add(code)
    joined = "、".join(dict.fromkeys(other))
    return ",".join(sorted(codes)), joined, joined or None


def parse_word(text: str | None, words: dict[str, str], default: str) -> tuple[str, bool]:
    """(vocabulary value, bad) of an enumerated cell; empty and unknown give ``default``."""
    if text is None:
        return default, False
    value = words.get(normalize_word(text))
    return (default, True) if value is None else (str(value), False)


_TS_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M")
_TIMESTAMP = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*[t\s]?\s*"
    r"(\d{1,2})\s*[:时点]\s*(\d{1,2})\s*(?:[:分]\s*(\d{1,2})(\.\d+)?\s*秒?)?\s*分?$"
)
_TIME_ONLY = re.compile(r"^\d{1,2}:\d{2}(?::\d{2})?$")


def parse_timestamp(text: str | None) -> tuple[datetime | None, bool, bool]:
    """(naive datetime, has a UTC offset so the datetime is UTC, bad) of a timestamp cell."""
    if text is None:
        return None, False, False
    s = _squash(text)
    if not s:
        return None, False, False
    m = _TIMESTAMP.match(s)
    try:
        if m:
            second = int(m[6] or 0)
            micro = round(float(m[7]) * 1e6) if m[7] else 0
            return (
                datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), second, micro),
                False,
                False,
            )
        if _SERIAL.match(s):
            stamp = _EXCEL_EPOCH + timedelta(days=float(s))
            return (
                stamp.replace(microsecond=0) + timedelta(seconds=round(stamp.microsecond / 1e6)),
                False,
                False,
            )
        if "t" in s or ":" in s:
            stamp = datetime.fromisoformat(s.upper())
            if stamp.tzinfo is not None:
                return stamp.astimezone(UTC).replace(tzinfo=None), True, False
            return stamp, False, False
    except ValueError:
        pass
    return None, False, True


def is_time_only(text: str | None) -> bool:
    return text is not None and bool(_TIME_ONLY.match(text))


def parse_timestamps(
    values: pd.Series,
    zone_of: Callable[[str | None], tzinfo],
    schools: pd.Series,
    day: pd.Series | None = None,
) -> tuple[pd.Series, np.ndarray]:
    """(naive local datetime64 column, bad mask) of a timestamp column.

    The common export formats go through pandas' vectorised parser; the rest
    (Chinese dates, Excel serials, ISO with an offset) once per distinct value.
    Times with an offset are converted to the school's zone; a time of day
    alone (``17:20``) takes the row's ``day`` (ISO dates), if given.
    """
    # the common formats: vectorised, on each distinct text once
    codes, uniques = pd.factorize(values)
    texts = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
    known = np.full(len(texts) + 1, np.datetime64("NaT"), dtype="datetime64[us]")  # -1: NaT
    left = np.ones(len(texts), dtype=bool)
    for fmt in _TS_FORMATS:
        if not left.any():
            break
        parsed = pd.to_datetime(texts[left], format=fmt, errors="coerce")
        ok = parsed.notna().to_numpy()
        known[np.flatnonzero(left)[ok]] = parsed[ok].to_numpy()
        left[np.flatnonzero(left)[ok]] = False
    out = pd.Series(known[codes], index=values.index)
    todo = np.append(left, False)[codes]  # the rest, row by row (a time takes its day)
    bad = np.zeros(len(values), dtype=bool)
    if todo.any():
        rest = values[todo]
        if day is not None:
            (time_only,) = per_unique(rest, lambda v: (is_time_only(v),), 1)
            placed = rest.index[time_only.astype(bool) & day[rest.index].notna().to_numpy()]
            if len(placed):
                rest = rest.astype(object)
                rest[placed] = day[placed] + " " + rest[placed]
        stamps, is_utc, is_bad = per_unique(rest, parse_timestamp, 3)
        local = pd.to_datetime(pd.Series(stamps, index=rest.index, dtype=object)).astype(
            "datetime64[us]"
        )
        is_utc = is_utc.astype(bool)
        if is_utc.any():
            row_schools = schools[rest.index].to_numpy()
            for school in pd.unique(row_schools[is_utc]):
                rows = rest.index[is_utc & (row_schools == school)]
                zone = zone_of(None if pd.isna(school) else school)
                local[rows] = (
                    local[rows].dt.tz_localize("UTC").dt.tz_convert(zone).dt.tz_localize(None)
                )
        out[rest.index] = local
        bad[np.flatnonzero(todo)] = is_bad.astype(bool)
    return out, bad
