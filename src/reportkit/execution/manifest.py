"""``outputs/<date>/manifest.json`` and ``outputs/<date>/index.html``: what a day's
runs made, from which findings, and whether each report is finished.

The manifest is rewritten atomically each time a job is planned, starts and ends,
so a run killed at any moment leaves a true one: the jobs a run planned carry its
``run_id`` with ``"status": "pending"`` until they end ``"ok"`` or ``"failed"``. A
job of an earlier run that this run does not plan keeps its entry. Each job:

``kind, id, status, run_id, lang, findings_hash, content_hash, outputs {ipynb,
html, pdf, pdf_masked?}, sha256 {html, pdf, pdf_masked?}, seconds, attempts,
error, started_at, ended_at``

``findings_hash`` is :func:`~reportkit.findings.findings_hash` (a roll-up:
``rollup_hash``) of the findings the report shows; ``content_hash`` the sha256 of
its HTML (deterministic: equal content, equal hash); ``sha256`` of each file as
written. Times are ISO 8601 with the deployment's UTC offset. Delivery sends a
report only when its entry is ``ok``, its findings hash matches the findings it
sends from and its files hash as recorded.

When the manifest cannot be written (a full disk) the old one is removed rather
than left claiming reports this run replaced, and the error is kept for the
run's summary.

The index lists every job with its submission status (按时 / 迟报 N 分钟 /
未报送, from the findings files) apart from its rendering status, under column
headers, built with a Jinja template (``templates/reportkit/day_index.html.j2``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

__all__ = ["MANIFEST_VERSION", "Manifest", "job_entry", "read_manifest", "write_index"]

log = logging.getLogger(__name__)

MANIFEST_VERSION = 2
OUTPUT_KEYS = ("ipynb", "html", "pdf", "pdf_masked")


def _now(zone: tzinfo | None) -> str:
    return datetime.now(zone).astimezone(zone).isoformat(timespec="seconds")


def job_entry(spec: Any, status: str = "pending") -> dict[str, Any]:
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
        self.path = self.folder / "manifest.json"
        self.date = report_date
        self.run_id = run_id
        self.zone = zone
        self.jobs = read_manifest(self.path)
        self.previous = {key: dict(job) for key, job in self.jobs.items()}
        self.errors: list[str] = []
        self.written = False
        self._lock = threading.Lock()

    # -- changes ---------------------------------------------------------------

    def plan(self, specs: Iterable[Any]) -> None:
        """Every job of the run, pending, with the run's id (written at once)."""
        with self._lock:
            for spec in specs:
                self.jobs[(spec.kind, spec.target_id)] = job_entry(spec)
            self._save()

    def start(self, spec: Any) -> None:
        with self._lock:
            job = self.jobs.setdefault((spec.kind, spec.target_id), job_entry(spec))
            job["started_at"] = _now(self.zone)
            self._save()

    def end(self, result: Any) -> None:
        """Record a finished job (a :class:`~reportkit.execution.JobResult`)."""
        with self._lock:
            job = self.jobs.setdefault((result.kind, result.id), {"kind": result.kind})
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
                    "ended_at": result.ended_at or _now(self.zone),
                }
            )
            self._save()

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

        try:
            text = json.dumps(self.document(), ensure_ascii=False, indent=2, allow_nan=False)
            write_atomic(self.path, text)
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


# --- the day's index -----------------------------------------------------------------


def _submission_label(job: dict[str, Any], folder: Path, lang: str) -> str:
    from reportkit.findings import district_path, read_header, school_path
    from reportkit.i18n import t

    try:
        if job["kind"] == "school":
            summary = read_header(school_path(folder / "findings", job["id"])).get("summary", {})
            status = summary.get("submission")
            if status not in ("on_time", "late", "missing"):
                return "—"
            return t(f"submission_{status}", lang, n=int(summary.get("minutes_late") or 0))
        rollup = read_header(district_path(folder / "findings", job["id"])).get("rollup", {})
        return t(
            "district_submitted",
            lang,
            n=int(rollup.get("schools_submitted") or 0),
            total=int(rollup.get("schools_expected") or 0),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "—"


def write_index(manifest_path: Path, config: Any, lang: str = "zh-CN") -> Path:
    """``outputs/<date>/index.html``: every report of the day, its submission status,
    its rendering status, its language and links to its files."""
    import jinja2

    from reportkit.files import write_atomic
    from reportkit.i18n import t

    folder = Path(manifest_path).parent
    base = folder.resolve()
    jobs = read_manifest(manifest_path).values()
    rows = []
    for job in sorted(jobs, key=lambda j: (j["kind"] != "school", str(j["id"]))):
        if job["kind"] == "school" and job["id"] in config.by_id:
            name = config.by_id[job["id"]].name
        elif job["kind"] == "district" and job["id"] in config.districts_by_id:
            name = config.districts_by_id[job["id"]].name
        else:
            name = str(job["id"])
        links = []
        for fmt, path in (job.get("outputs") or {}).items():
            if fmt not in ("html", "pdf", "pdf_masked"):
                continue
            target = Path(path).resolve()
            if target.is_relative_to(base):
                label = "PDF*" if fmt == "pdf_masked" else fmt.upper()
                links.append({"href": target.relative_to(base).as_posix(), "label": label})
        status = job.get("status")
        if status == "ok":
            render = t("render_ok", lang)
        elif status == "pending":
            render = t("render_pending", lang)
        else:
            render = t("render_failed_as", lang, error=(job.get("error") or {}).get("ename", ""))
        job_lang = job.get("lang")
        rows.append(
            {
                "name": name,
                "kind": job["kind"],
                "status": status,
                "submission": _submission_label(job, folder, lang),
                "render": render,
                "lang": t(f"lang_{job_lang}", lang) if job_lang in ("zh-CN", "en") else "—",
                "links": links,
            }
        )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(
            str(Path(__file__).resolve().parents[1] / "templates" / "reportkit")
        ),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    page = env.get_template("day_index.html.j2").render(
        lang=lang,
        title=f"{t('daily_report', lang)} {folder.name}",
        headers={
            "report": t("index_report", lang),
            "submission": t("submission", lang),
            "render": t("index_render", lang),
            "lang": t("index_language", lang),
            "files": t("index_files", lang),
        },
        rows=rows,
    )
    return write_atomic(folder / "index.html", page)
