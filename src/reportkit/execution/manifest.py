"""``outputs/<date>/manifest.json``: what a day's runs made, from which findings, and
whether each report is finished.

The manifest is rewritten atomically when jobs are planned, before any of their files
changes, and as jobs end, so a run killed at any moment leaves a true one: the jobs a
run planned carry its ``run_id`` with ``"status": "pending"`` until they end ``"ok"``
or ``"failed"``. Ends are written at most every :data:`SAVE_INTERVAL` seconds (an end
waits at most that long for the next write): a rewrite costs what the whole day's
manifest does, and a district's afternoon ends thousands of jobs. A run killed
meanwhile leaves the jobs that ended since the last write pending, which the next
run renders again: later, never false. A job of an earlier run that this run does
not plan keeps its entry. Each job (one a line):

``kind, id, status, run_id, lang, findings_hash, content_hash, outputs {ipynb,
html, pdf, pdf_masked?}, sha256 {html, pdf, pdf_masked?}, seconds, attempts,
error, started_at, ended_at, first_ok_at``

``first_ok_at`` is when the report first ended ``ok`` this day (kept through later
runs): a unit's roll-up is on time when that was by the unit's deadline.

``findings_hash`` is :func:`~reportkit.findings.findings_hash` (a roll-up:
``rollup_hash``) of the findings the report shows; ``content_hash`` the sha256 of
its HTML (deterministic: equal content, equal hash); ``sha256`` of each file as
written. Times are ISO 8601 with the deployment's UTC offset. Delivery sends a
report only when its entry is ``ok``, its findings hash matches the findings it
sends from and its files hash as recorded.

When the manifest cannot be written (a full disk) the old one is removed rather
than left claiming reports this run replaced, and the error is kept for the
run's summary.

The day's index, written from the manifest, is :mod:`reportkit.execution.index`'s.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportkit.layout import DayOutputs

if TYPE_CHECKING:
    from reportkit.execution.job import JobResult, JobSpec

__all__ = ["MANIFEST_VERSION", "Manifest", "job_entry", "read_manifest"]

log = logging.getLogger(__name__)

MANIFEST_VERSION = 2
# seconds between two writes of the jobs that started and ended (plan and restore write at once)
SAVE_INTERVAL = 1.0
OUTPUT_KEYS = ("ipynb", "html", "pdf", "pdf_masked")


def _now(zone: tzinfo | None) -> str:
    return datetime.now(zone).astimezone(zone).isoformat(timespec="seconds")


def job_entry(spec: JobSpec, status: str = "pending") -> dict[str, Any]:
    """A manifest entry for a planned job (a :class:`~reportkit.execution.JobSpec`)."""
    return {
        "kind": spec.kind,
        "id": spec.target_id,
        "status": status,
        "run_id": spec.run_id,
        "lang": spec.lang,
        "findings_hash": spec.findings_hash or None,
        "content_hash": None,
        "outputs": {},
        "sha256": {},
        "seconds": None,
        "attempts": 0,
        "error": None,
        "started_at": None,
        "ended_at": None,
        "version": spec.version,
        "previous_version": spec.previous_version,
    }


def read_manifest(path: Path | str) -> dict[tuple[str, str], dict[str, Any]]:
    """The jobs of a manifest by (kind, id); empty when there is none or it is unreadable."""
    path = Path(path)
    jobs: dict[tuple[str, str], dict[str, Any]] = {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        for job in data.get("jobs", []):
            jobs[(str(job["kind"]), str(job["id"]))] = job
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("%s is not a manifest (%s); starting a new one", path, exc)
        return {}
    return jobs


class Manifest:
    """The day's manifest, kept in memory and rewritten on every change (thread-safe)."""

    def __init__(
        self, folder: Path | str, report_date: date, run_id: str, zone: tzinfo | None
    ) -> None:
        self.folder = Path(folder)
        self.path = DayOutputs(self.folder).manifest
        self.date = report_date
        self.run_id = run_id
        self.zone = zone
        self.jobs = read_manifest(self.path)
        self.previous = {key: dict(job) for key, job in self.jobs.items()}
        self.errors: list[str] = []
        self.written = False
        self._lock = threading.Lock()
        self._saved_at = float("-inf")  # time.monotonic() of the last write
        self._timer: threading.Timer | None = None  # the write of changes held back

    # -- changes ---------------------------------------------------------------

    def plan(self, specs: Iterable[Any]) -> None:
        """Every job of the run, pending, with the run's id (written at once)."""
        with self._lock:
            for spec in specs:
                self.jobs[(spec.kind, spec.target_id)] = job_entry(spec)
            self._save()

    def start(self, spec: JobSpec) -> None:
        with self._lock:
            job = self.jobs.setdefault((spec.kind, spec.target_id), job_entry(spec))
            job["started_at"] = _now(self.zone)
            self._soon()

    def end(self, result: JobResult) -> None:
        """Record a finished job (a :class:`~reportkit.execution.JobResult`)."""
        with self._lock:
            key = (result.kind, result.id)
            job = self.jobs.setdefault(key, {"kind": result.kind})
            before = self.previous.get(key, {})
            first = before.get("first_ok_at") or (
                before.get("ended_at") if before.get("status") == "ok" else None
            )
            ended = result.ended_at or _now(self.zone)
            job.update(
                {
                    "kind": result.kind,
                    "id": result.id,
                    "status": result.status,
                    "run_id": result.run_id or self.run_id,
                    "lang": result.lang or job.get("lang"),
                    "findings_hash": result.findings_hash or job.get("findings_hash"),
                    "content_hash": result.content_hash,
                    "outputs": {k: v for k, v in result.outputs.items() if k in OUTPUT_KEYS},
                    "sha256": dict(result.sha256),
                    "seconds": result.seconds,
                    "attempts": result.attempts,
                    "error": None if result.error is None else result.error.to_json(),
                    "started_at": result.started_at or job.get("started_at"),
                    "ended_at": ended,
                    # when the report was first made ok this day (a unit's roll-up is on
                    # time when that was by its deadline; a later re-rendering keeps it)
                    "first_ok_at": first or (ended if result.status == "ok" else None),
                    "version": result.version or job.get("version") or 1,
                    "previous_version": (
                        result.previous_version if result.version else job.get("previous_version")
                    )
                    or 0,
                }
            )
            self._soon()

    def restore(self, keys: Iterable[tuple[str, str]]) -> None:
        """Jobs planned but never run (an executor that skipped them): back to what
        the manifest said before this run, since their files are unchanged."""
        with self._lock:
            for key in keys:
                if key in self.previous:
                    self.jobs[key] = dict(self.previous[key])
                else:
                    self.jobs.pop(key, None)
            self._save()

    def save(self) -> bool:
        with self._lock:
            return self._save()

    def flush(self) -> None:
        """Write the changes held back, if any (at the end of a run, or on an error)."""
        with self._lock:
            if self._timer is not None:
                self._save()

    def _soon(self) -> None:
        """Write now, or within :data:`SAVE_INTERVAL` of the last write (caller holds
        the lock)."""
        if time.monotonic() - self._saved_at >= SAVE_INTERVAL:
            self._save()
        elif self._timer is None:
            wait = SAVE_INTERVAL - (time.monotonic() - self._saved_at)
            self._timer = threading.Timer(max(0.0, wait), self.flush)
            self._timer.daemon = True
            self._timer.start()

    # -- writing ---------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        ordered = sorted(self.jobs.values(), key=lambda j: (j["kind"] != "school", str(j["id"])))
        return {
            "version": MANIFEST_VERSION,
            "date": self.date.isoformat(),
            "run_id": self.run_id,
            "updated_at": _now(self.zone),
            "ok": sum(j.get("status") == "ok" for j in ordered),
            "failed": sum(j.get("status") == "failed" for j in ordered),
            "pending": sum(j.get("status") == "pending" for j in ordered),
            "jobs": ordered,
        }

    def _save(self) -> bool:
        from reportkit.files import write_atomic

        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._saved_at = time.monotonic()
        try:
            write_atomic(self.path, _text(self.document()))
        except OSError as exc:
            message = f"cannot write {self.path}: {exc.strerror or exc}"
            if message not in self.errors:
                self.errors.append(message)
                log.error("%s", message)
            # an old manifest would vouch for reports this run is replacing
            try:
                self.path.unlink(missing_ok=True)
            except OSError as gone:
                log.error("cannot remove the old %s: %s", self.path, gone)
            self.written = False
            return False
        self.written = True
        return True


def _text(document: dict[str, Any]) -> str:
    """The manifest as JSON, a job a line: json's C encoder writes each (with an
    ``indent`` it would take the pure-Python one, three times slower on a district)."""
    head = {k: v for k, v in document.items() if k != "jobs"}
    jobs = [json.dumps(job, ensure_ascii=False, allow_nan=False) for job in document["jobs"]]
    opening = json.dumps(head, ensure_ascii=False, allow_nan=False)[:-1]
    return opening + ', "jobs": [\n' + ",\n".join(jobs) + "\n]}\n"
