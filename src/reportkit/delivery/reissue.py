"""Versions of a sent report kept on disk, and what a 【更正】 says.

When a server first accepts a message of a new version of a report, that version is
frozen: its files as they are now (the notebook, HTML, PDFs, a unit's form) are
copied into ``<school_id>/v<N>/`` (``units/<unit_id>/v<N>/`` for a roll-up,
:meth:`reportkit.layout.DayOutputs.version_dir`) with the findings it was rendered
from and a ``version.json``, through a temporary folder renamed into place: a version
folder is complete or absent, and once there it is never written again. The working
files stay where they were (the next run replaces them).

A later version of the report (the manifest's ``version`` and ``previous_version``)
is sent to those who got an earlier one as 【更正】: :func:`correction` compares the
frozen findings of the version sent before with the findings sent from now
(:func:`reportkit.findings.school_changes`, ``unit_changes``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportkit.layout import REPORT_FORMATS, day_outputs, version_note

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from reportkit.delivery.body import Correction
    from reportkit.findings import Findings, UnitRollup
    from reportkit.store import SentVersion

__all__ = ["correction", "freeze_version", "report_files"]

log = logging.getLogger(__name__)


def report_files(outputs: Path, report_date: date, kind: str, target_id: str) -> list[Path]:
    """The working files of one report that exist: notebook, HTML, PDFs, a unit's form."""
    day = day_outputs(outputs, report_date)
    files = [day.report_file(kind, target_id, fmt) for fmt in REPORT_FORMATS]
    if kind == "unit":
        files.append(day.form(target_id))
    return [f for f in files if f.exists()]


def freeze_version(
    outputs: Path,
    report_date: date,
    kind: str,
    target_id: str,
    version: int,
    snapshot: Callable[[Path], object],
    meta: Mapping[str, Any],
) -> Path | None:
    """Keep version ``version`` of a report: its files now and ``snapshot(folder)`` (which
    writes the findings it was rendered from) in its version folder. An existing version
    folder is left as it is (``None``); else the folder made."""
    from reportkit.files import ensure_dir

    final = day_outputs(outputs, report_date).version_dir(kind, target_id, version)
    if final.exists():
        return None
    ensure_dir(final.parent)
    work = final.with_name(f".{final.name}-{os.getpid()}-partial")
    shutil.rmtree(work, ignore_errors=True)
    ensure_dir(work)
    try:
        for path in report_files(outputs, report_date, kind, target_id):
            shutil.copy2(path, work / path.name)  # a copy: the next run replaces the originals
        snapshot(work)
        text = json.dumps({"version": version, **meta}, ensure_ascii=False, indent=1)
        version_note(work).write_text(text + "\n", encoding="utf-8")
        os.rename(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final


def correction(
    outputs: Path,
    entry: Mapping[str, Any] | None,
    versions: Sequence[SentVersion],
    zone: ZoneInfo,
    current: Findings | UnitRollup,
    target_id: str,
) -> Correction | None:
    """What the 【更正】 of the report in ``entry`` (its manifest job) says, when it is a
    later version of one that was sent: the changes since the version sent before it
    (its frozen findings) and when that was. ``None``: not a later version, or the
    version sent before is not kept (then no 【更正】 is sent; the run says why)."""
    from reportkit.delivery.body import Correction
    from reportkit.findings import (
        Findings,
        load_findings_files,
        load_unit,
        school_changes,
        unit_changes,
    )

    if not entry:
        return None
    version, before = int(entry.get("version") or 1), int(entry.get("previous_version") or 0)
    sent = next((v for v in versions if v.version == before), None)
    if before < 1 or sent is None:
        return None
    day = current.date
    folder = day_outputs(outputs, day).version_dir(str(entry.get("kind")), target_id, before)
    when = sent.sent_at.replace(tzinfo=UTC).astimezone(zone).isoformat(timespec="minutes")
    if isinstance(current, Findings):
        earlier = load_findings_files(folder, [target_id], day)
        if earlier is None:
            log.error("school %s: version %d is not kept in %s", target_id, before, folder)
            return None
        return Correction(school_changes(earlier, current, target_id), when, version)
    rollup = load_unit(folder, target_id, day)
    if rollup is None:
        log.error("unit %s: version %d is not kept in %s", target_id, before, folder)
        return None
    return Correction(unit_changes(rollup, current), when, version)
