"""Masking of what identifies a person, in one place: names, phone and ID numbers.

These are children's health records. Reports never show a phone or ID number
whole (:func:`mask_phone`, and :func:`mask_phones` for free text such as a
follow-up note), and with ``mask_names: true`` in ``delivery.yaml`` emailed
bodies and the attached PDF show names as 张*丽 (:func:`mask_name`).
"""

from __future__ import annotations

import math
import re

__all__ = ["mask_name", "mask_phone", "mask_phones"]

# mobile numbers (13x-19x, 11 digits) and landlines with an area code
_PHONE = re.compile(r"(?<![\d-])(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?![\d-])")


def _text(value: object) -> str:
    """A cell as text; None, NaN and pandas' missing values as ""."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value)
    return (
        ""
        if text in ("<NA>", "NaT", "nan") and type(value).__module__.startswith("pandas")
        else text
    )


def mask_name(name: object) -> str:
    """张丽 -> 张*, 张小丽 -> 张*丽, 欧阳小丽 -> 欧**丽."""
    text = _text(name).strip()
    if len(text) <= 1:
        return "*" if text else ""
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def mask_phone(value: object) -> str:
    """``13812341234`` -> ``138****1234``; ID numbers keep their first 3 and last 4 characters."""
    text = _text(value).strip()
    if len(text) <= 7:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


def mask_phones(text: str) -> str:
    """Every phone number in free ``text`` masked as :func:`mask_phone` does."""
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)
