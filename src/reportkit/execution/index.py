"""``outputs/<date>/index.html``: every report of the day, from its manifest.

The index lists every job with its submission status (按时 / 迟报 N 分钟 / 未报送,
from the findings files) apart from its rendering status, its language and links to
its files, under column headers; the page is the Jinja template
``templates/day_index.html.j2`` (autoescaped, like the report sections).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportkit.execution.manifest import read_manifest
from reportkit.i18n import level_label
from reportkit.layout import DayOutputs, school_findings_file, unit_findings_file

if TYPE_CHECKING:
    from reportkit.config import SchoolsConfig

__all__ = ["write_index"]

LINKED = {"html": "index_link_html", "pdf": "index_link_pdf", "pdf_masked": "index_link_pdf_masked"}


def _submission_label(job: dict[str, Any], day: DayOutputs, lang: str) -> str:
    from reportkit.findings import read_header
    from reportkit.i18n import t

    try:
        if job["kind"] == "school":
            path = school_findings_file(day.findings, job["id"])
            summary = read_header(path).get("summary", {})
            status = summary.get("submission")
            if status not in ("on_time", "late", "missing", "closed"):
                return "—"
            return t(f"submission_{status}", lang, n=int(summary.get("minutes_late") or 0))
        rollup = read_header(unit_findings_file(day.findings, job["id"])).get("rollup", {})
        return t(
            "district_submitted",
            lang,
            n=int(rollup.get("schools_submitted") or 0),
            total=int(rollup.get("schools_expected") or 0),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "—"


def _name(job: dict[str, Any], config: SchoolsConfig, lang: str) -> str:
    if job["kind"] == "school" and job["id"] in config.by_id:
        return str(config.by_id[job["id"]].name)
    if job["kind"] == "unit":
        from reportkit.errors import ConfigError

        try:
            unit = config.unit(job["id"])
        except ConfigError:  # a unit no longer in schools.yaml: its id
            return str(job["id"])
        if not unit.level:
            return str(unit.name)
        level = level_label(unit.level, lang)
        return f"{unit.name}（{level}）" if lang == "zh-CN" else f"{unit.name} ({level})"
    return str(job["id"])


def _links(job: dict[str, Any], base: Path, lang: str) -> list[dict[str, str]]:
    """Links to the job's files, relative to the day's folder (none outside it)."""
    from reportkit.i18n import t

    links = []
    for fmt, path in (job.get("outputs") or {}).items():
        if fmt not in LINKED:
            continue
        target = Path(path).resolve()
        if target.is_relative_to(base):
            links.append(
                {"href": target.relative_to(base).as_posix(), "label": t(LINKED[fmt], lang)}
            )
    if job["kind"] == "unit":  # the unit's upward form, when it has one
        form = DayOutputs(base).form(str(job["id"]))
        if form.exists():
            links.append(
                {"href": form.relative_to(base).as_posix(), "label": t("index_link_xlsx", lang)}
            )
    return links


def _render_status(job: dict[str, Any], lang: str) -> str:
    from reportkit.i18n import t

    status = job.get("status")
    if status == "ok":
        return t("render_ok", lang)
    if status == "pending":
        return t("render_pending", lang)
    return t("render_failed_as", lang, error=(job.get("error") or {}).get("ename", ""))


def write_index(manifest_path: Path, config: SchoolsConfig, lang: str = "zh-CN") -> Path:
    """``outputs/<date>/index.html``: every report of the day, its submission status,
    its rendering status, its language and links to its files."""
    from reportkit.files import write_atomic
    from reportkit.i18n import t
    from reportkit.reports import render_template

    day = DayOutputs(Path(manifest_path).parent)
    base = day.folder.resolve()
    rows = []
    jobs = read_manifest(manifest_path).values()
    depth = {u: config.depth(u) for u in getattr(config, "rollup_ids", [])}
    for job in sorted(
        jobs, key=lambda j: (j["kind"] != "school", -depth.get(j["id"], 0), str(j["id"]))
    ):
        job_lang = job.get("lang")
        rows.append(
            {
                "name": _name(job, config, lang),
                "kind": job["kind"],
                "status": job.get("status"),
                "submission": _submission_label(job, day, lang),
                "render": _render_status(job, lang),
                "lang": t(f"lang_{job_lang}", lang) if job_lang in ("zh-CN", "en") else "—",
                "links": _links(job, base, lang),
            }
        )
    page = render_template(
        "day_index.html.j2",
        lang=lang,
        title=f"{t('daily_report', lang)} {day.folder.name}",
        headers={
            "report": t("index_report", lang),
            "submission": t("submission", lang),
            "render": t("index_render", lang),
            "lang": t("index_language", lang),
            "files": t("index_files", lang),
        },
        rows=rows,
    )
    return write_atomic(day.index, page)
