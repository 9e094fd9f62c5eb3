"""Which rendered report may be sent: what ``manifest.json`` vouches for, checked.

The runner records, per job of ``outputs/<date>/manifest.json``, its status, run
id, language, the hash of the findings it rendered (``findings_hash``), the
content hash of the rendering (``content_hash``) and the sha256 of each file
as written. :func:`check_report` reads one job and the PDF beside it and says
whether that PDF may go out with a message built from findings of a given hash
— or, as :class:`NotSendable`, why not: missing, interrupted, failed, rendered
from other findings or in another language, altered since, or (with names
masked) not the masked rendering.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from reportkit.errors import DeliveryError
from reportkit.layout import day_outputs

__all__ = ["NotSendable", "ReportFile", "check_report", "read_manifest"]

Refusal = Literal["stale", "failed"]


class NotSendable(DeliveryError):
    """The report on disk is not one to send: missing, interrupted, stale or altered."""

    def __init__(self, reason: str, status: Refusal = "stale") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class ReportFile:
    """The PDF a message carries, as the manifest vouches for it."""

    path: Path
    data: bytes
    content_hash: str
    masked: bool


def read_manifest(outputs: Path, report_date: date) -> dict[tuple[str, str], dict[str, Any]]:
    """``outputs/<date>/manifest.json`` as (kind, id) -> job; empty when there is none."""
    path = day_outputs(outputs, report_date).manifest
    if not path.exists():
        return {}
    try:
        jobs = json.loads(path.read_text(encoding="utf-8"))["jobs"]
        return {(str(j["kind"]), str(j["id"])): j for j in jobs}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DeliveryError(f"{path}: not a readable manifest ({exc})") from exc


def check_report(
    entry: Mapping[str, Any] | None,
    findings_hash: str,
    folder: Path,
    *,
    masked: bool = False,
    lang: str | None = None,
) -> ReportFile:
    """The report PDF to attach, if ``entry`` (a manifest job) vouches for it; else
    :class:`NotSendable` saying why.

    Sendable: the job ended ``ok``, from findings hashing to ``findings_hash``, in
    ``lang`` (when both say), and the PDF in ``folder`` (``pdf_masked`` when
    ``masked``) has the sha256 the job recorded.
    """
    rerun = "run `reportkit run` for this date again"
    if entry is None:
        raise NotSendable(f"no report in manifest.json; {rerun}", "failed")
    run = entry.get("run_id") or "?"
    status = entry.get("status")
    if status == "pending":
        raise NotSendable(f"the run that was rendering it (run {run}) did not finish; {rerun}")
    if status != "ok":
        ename = (entry.get("error") or {}).get("ename", "")
        raise NotSendable(f"its last render failed (run {run}) {ename}".rstrip(), "failed")
    recorded = entry.get("findings_hash")
    if not recorded:
        raise NotSendable(f"manifest.json records no findings hash for it; {rerun}")
    if recorded != findings_hash:
        raise NotSendable(f"the findings changed since it was rendered (run {run}); {rerun}")
    if lang and entry.get("lang") and entry["lang"] != lang:
        raise NotSendable(f"it was rendered in {entry['lang']}, this message is in {lang}")
    key = "pdf_masked" if masked else "pdf"
    outputs = entry.get("outputs") or {}
    if masked and not outputs.get(key):
        raise NotSendable(
            "mask_names is on but no masked PDF (report.masked.pdf) was rendered; "
            f"the full report is never attached; {rerun}",
            "failed",
        )
    name = Path(str(outputs.get(key) or "")).name
    if not name.endswith(".pdf"):
        raise NotSendable(f"report PDF missing (render failed?): {folder}", "failed")
    pdf = Path(folder) / name
    try:
        data = pdf.read_bytes()
    except FileNotFoundError:
        raise NotSendable(f"report PDF missing (render failed?): {pdf}", "failed") from None
    except OSError as exc:
        raise NotSendable(f"cannot read {pdf}: {exc}", "failed") from exc
    expected = (entry.get("sha256") or {}).get(key)
    if not expected:
        raise NotSendable(f"manifest.json records no sha256 for {pdf.name}; {rerun}")
    if hashlib.sha256(data).hexdigest() != expected:
        raise NotSendable(f"{pdf} is not the file run {run} wrote (sha256 differs); {rerun}")
    content = entry.get("content_hash")
    if not content:
        raise NotSendable(f"manifest.json records no content hash for it; {rerun}")
    return ReportFile(pdf, data, str(content), masked)
