"""Times for people: what is stored in UTC is shown in the deployment's zone.

The store keeps audit times (a follow-up's ``created_at``, a message's
``sent_at``) as UTC; :func:`local_time` is how any of them is shown in a report,
the console or a file name, in the school's (or the district's) zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

__all__ = ["local_time"]


def local_time(stamp: Any, zone: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``stamp`` (naive means UTC, as stored) in ``zone``, formatted; "" for none."""
    if stamp is None or stamp != stamp:  # None, NaT
        return ""
    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp)
    if not isinstance(stamp, datetime):
        raise TypeError(f"not a time: {stamp!r}")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(zone).strftime(fmt)
