"""Executing the report notebooks with papermill, many schools in parallel.

For one date the runner computes the findings once for every selected school
(:func:`reportkit.findings.load_findings`), saves them as one non-executable file
per school and per unit (:mod:`reportkit.findings.files`) and hands them on
in its :class:`RunResult` (delivery and the daily summary go on from them), then executes
``school_daily.ipynb`` once per school and ``unit_daily.ipynb`` once per roll-up
(bottom-up, one level of the tree at a time) with papermill (kernels are
subprocesses, so a thread pool of ``jobs`` workers is enough), and renders each executed notebook to HTML and PDF
through :mod:`reportkit.reports.render` (and a masked PDF when ``delivery.yaml`` masks
names). Each worker keeps a warm kernel for several reports in turn, reset
between them (:mod:`reportkit.execution.kernels`).

A school's failure (a cell error, a timeout, a rendering error) is retried, then
recorded; it never stops the others. A full disk stops the batch: the reports
not yet run are recorded as not run, and the summary says why. A failed
notebook is kept with papermill's error marker. Every output is written
atomically (the executed notebook too) and privately (:mod:`reportkit.files`).
``manifest.json`` (:mod:`reportkit.execution.manifest`) records, as each job is planned,
starts and ends, its run id, language, the hash of the findings it shows, the
hash of its HTML and of each file, its seconds and its error.

Reports are deterministic: cell ids come from the cell's position and the PDF's
dates from the run (``SOURCE_DATE_EPOCH`` when set), so unchanged data renders
to identical HTML (and PDF) bytes.

Jobs are plain picklable :class:`JobSpec` values run by :func:`run_job`, so an
executor other than the local thread pool (a Dask cluster) can run them too.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportkit.context import DEFAULT_KERNEL_REUSE, FORMATS, RunContext, RunOptions
from reportkit.errors import ReportkitError
from reportkit.execution.job import JobResult, JobSpec, close_printer
from reportkit.layout import DayOutputs, day_outputs, output_dir

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from reportkit.config import SchoolsConfig, Settings
    from reportkit.execution.progress import Progress
    from reportkit.execution.workers import ThreadExecutor
    from reportkit.findings import Findings, UnitRollup
    from reportkit.reports import Form
    from reportkit.store import SentVersion

__all__ = [
    "Executor",
    "RunResult",
    "new_run_id",
    "plan_jobs",
    "rendered_units",
    "run_reports",
    "select_units",
    "unit_waves",
    "write_index",
    "write_manifest",
]

log = logging.getLogger(__name__)


def new_run_id(zone: ZoneInfo | None = None) -> str:
    """A run's id: its local start time and a random suffix (``20200228T163005-1a2b3c``)."""
    return f"{datetime.now(zone):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def _run_time(zone: ZoneInfo) -> datetime:
    """When the run's files say they were made: ``SOURCE_DATE_EPOCH`` if set, else now."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), zone)
    return datetime.now(zone).replace(microsecond=0)


@dataclass
class RunResult:
    """What a run did, and the findings it rendered from (``findings``: every school the
    run's reports cover, the follow-ups attached), for delivery and the daily summary
    to go on from without computing them again."""

    date: str
    manifest: Path
    jobs: list[JobResult]
    run_id: str = ""
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    submissions: dict[str, int] = field(default_factory=dict)
    findings: Findings | None = field(default=None, repr=False, compare=False)

    @property
    def failed(self) -> list[JobResult]:
        return [j for j in self.jobs if j.status != "ok"]

    @property
    def not_run(self) -> list[JobResult]:
        """The reports the batch did not start because it stopped (a full disk)."""
        return [j for j in self.failed if j.error is not None and j.error.ename == "NotRun"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.errors

    def to_json(self) -> dict[str, Any]:
        """The run as ``--json`` shows it: its fields (the findings left out) and ``ok``."""
        out: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name != "findings"
        }
        out["ok"] = self.ok
        return out


# --- a batch ------------------------------------------------------------------


@dataclass
class _Plan:
    specs: list[JobSpec]  # the schools' reports
    waves: list[list[str]]  # the roll-ups to render, by depth, deepest first
    submissions: dict[str, int]
    notes: list[str]
    findings: Findings
    save: Callable[[], list[str]]  # writes the schools' findings files; the errors
    units: Callable[
        [list[str], dict[tuple[str, str], dict[str, Any]]], tuple[list[JobSpec], list[str]]
    ]
    # the roll-ups as the manifest records them before their level runs (pending)
    pending: list[JobSpec] = field(default_factory=list)


def plan_jobs(
    context: RunContext | Settings,
    report_date: date,
    school_ids: Sequence[str] | None = None,
    unit_ids: Sequence[str] | None = None,
    *,
    lang: str | None = None,
    formats: Sequence[str] | None = None,
    retries: int | None = None,
    timeout: float | None = None,
    run_id: str | None = None,
) -> list[JobSpec]:
    """Compute the findings once for all selected schools, save them, plan one job per report
    (the schools, then the roll-ups bottom-up; a child unit's status from the day's manifest).

    ``context``: the command's :class:`~reportkit.context.RunContext` (or settings, for
    a context of its own); the options left out are the context's.
    """
    from reportkit.execution.manifest import read_manifest

    ctx = RunContext.of(context, sync=True)
    options = ctx.options.merged(
        lang=lang,
        formats=None if formats is None else tuple(formats),
        retries=retries,
        timeout=timeout,
    )
    plan = _plan(ctx, options, report_date, school_ids, unit_ids, run_id=run_id)
    plan.save()
    specs = list(plan.specs)
    jobs = read_manifest(day_outputs(ctx.settings.outputs, report_date).manifest)
    for wave in plan.waves:
        unit_specs, _ = plan.units(wave, jobs)
        specs += unit_specs
    return specs


def select_units(
    config: SchoolsConfig, school_ids: Sequence[str] | None, unit_ids: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """The schools and the roll-ups a run covers.

    ``unit_ids``: those roll-ups (with or without recipients), the roll-ups with
    recipients under them and their schools (narrowed by ``school_ids``); else
    ``school_ids``: those schools and the roll-ups with recipients above them; else
    every school and every roll-up with recipients. A roll-up without recipients is
    rendered only when asked for. Unknown ids: ConfigError.
    """
    for s in school_ids or ():
        config.school(s)
    due = [u for u in config.rollup_ids if config.unit(u).recipients]
    if unit_ids:
        asked = list(dict.fromkeys(unit_ids))
        for u in asked:
            config.unit(u)
        under = {s for u in asked for s in config.schools_under(u)}
        wanted = set(school_ids) if school_ids else None
        schools = [s.id for s in config.schools if s.id in under]
        if wanted is not None:
            schools = [s for s in schools if s in wanted]
        inside = set(asked)
        units = [
            u
            for u in config.rollup_ids
            if u in inside or (u in due and inside & {u, *config.ancestors(u)})
        ]
        return schools, units
    if school_ids:
        schools = list(dict.fromkeys(school_ids))
        above = {a for s in schools for a in config.ancestors(s)} | set(schools)
        return schools, [u for u in due if u in above]
    return [s.id for s in config.schools], due


def unit_waves(config: SchoolsConfig, unit_ids: Sequence[str]) -> list[list[str]]:
    """Roll-ups grouped by depth, deepest first: each level after its children."""
    depths: dict[int, list[str]] = {}
    for u in unit_ids:
        depths.setdefault(config.depth(u), []).append(u)
    return [depths[d] for d in sorted(depths, reverse=True)]


def rendered_units(jobs: dict[tuple[str, str], dict[str, Any]]) -> dict[str, str | None]:
    """Each unit's roll-up rendered ``ok`` in a day's manifest: when it was first made
    ok that day (``first_ok_at``; a later re-rendering does not make it late)."""
    return {
        str(job_id): job.get("first_ok_at") or job.get("ended_at")
        for (kind, job_id), job in jobs.items()
        if kind == "unit" and job.get("status") == "ok"
    }


def _plan(
    ctx: RunContext,
    options: RunOptions,
    report_date: date,
    school_ids: Sequence[str] | None,
    unit_ids: Sequence[str] | None,
    *,
    run_id: str | None = None,
    run_time: datetime | None = None,
    progress: Progress | None = None,
) -> _Plan:
    from reportkit.execution.manifest import read_manifest
    from reportkit.files import ensure_dir
    from reportkit.findings import (
        findings_hashes,
        load_findings,
        rollup_hash,
        save_findings,
        save_unit,
        unit_status,
    )
    from reportkit.store import latest_followups

    settings, config, formats = ctx.settings, ctx.schools, options.formats
    zone = config.zone()
    run_id = run_id or new_run_id(zone)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ReportkitError(f"unknown format {unknown[0]!r}; known: {', '.join(FORMATS)}")
    selected, units = select_units(config, school_ids, unit_ids)
    forms = _forms(ctx, units)  # a bad form map: ConfigError before anything renders
    engine = ctx.engine
    # a roll-up needs every school under it, not just the selected ones
    wanted = set(selected) | {s for u in units for s in config.schools_under(u)}
    covered = [s.id for s in config.schools if s.id in wanted]
    if progress is not None:
        progress.phase(f"computing the findings of {len(covered)} schools for {report_date}")
    findings = load_findings(engine, config, ctx.rules, report_date, covered)
    # each flagged person's latest follow-up, shown beside them in the report
    findings = replace(findings, followups=latest_followups(engine, covered, report_date))
    day = day_outputs(Path(settings.outputs).resolve(), report_date)
    base, folder = day.folder, day.findings
    hashes = findings_hashes(findings)

    def save() -> list[str]:
        try:
            ensure_dir(base)
            save_findings(findings, folder, run_id, hashes=hashes)
        except OSError as exc:
            # the reports then read the findings from the store; a full disk stops them soon
            message = f"cannot write the findings files in {folder}: {exc.strerror or exc}"
            log.error("%s", message)
            return [message]
        return []

    from reportkit.store import day_versions

    sent = day_versions(engine, report_date)  # the versions of the day's reports sent

    def versioned(kind: str, target: str, shows: str) -> dict[str, Any]:
        return _version(sent.get((kind, target), []), shows, day, kind, target, zone)

    masked = _mask_names(ctx)
    created = (run_time or _run_time(zone)).isoformat()
    lang = options.lang
    common = dict(
        report_date=report_date.isoformat(),
        findings_dir=str(folder),
        db=settings.db,
        params_dir=str(Path(settings.params).resolve()),
        formats=tuple(formats),
        retries=options.retries,
        timeout=options.timeout,
        run_id=run_id,
        created=created,
        zone=str(getattr(zone, "key", "") or ""),
    )
    outputs = Path(settings.outputs).resolve()
    specs = [
        JobSpec(
            kind="school",
            target_id=s,
            out_dir=str(output_dir(outputs, report_date, "school", s)),
            lang=lang,
            findings_hash=hashes[s],
            masked=masked,
            **versioned("school", s, hashes[s]),
            **common,  # type: ignore[arg-type]
        )
        for s in selected
    ]
    # a partial run keeps each finished roll-up in the language it was made in
    notes: list[str] = []
    partial = bool(school_ids) and not unit_ids
    earlier = read_manifest(day.manifest) if partial else {}

    def unit_specs(
        wave: list[str], jobs: dict[tuple[str, str], dict[str, Any]]
    ) -> tuple[list[JobSpec], list[str]]:
        """The wave's roll-ups, their child units' status from ``jobs`` (the manifest
        now), saved; their specs and the errors of saving."""
        rendered = rendered_units(jobs)
        statuses = {
            c: unit_status(config, c, report_date, rendered.get(c))
            for u in wave
            for c in config.children[u]
            if c in config.districts_by_id
        }
        rollups = findings.units(config, wave, statuses)
        errors: list[str] = []
        try:
            ensure_dir(folder)
            for rollup in rollups.values():
                save_unit(rollup, folder, run_id)
        except OSError as exc:
            errors.append(f"cannot write the findings files in {folder}: {exc.strerror or exc}")
            log.error("%s", errors[-1])
        for u in wave:
            if u in forms:
                errors += _write_form(forms[u], rollups[u], outputs, report_date, lang)
        out = []
        for u in wave:
            before = earlier.get(("unit", u), {})
            unit_lang = lang
            if before.get("status") == "ok" and before.get("lang") not in (None, lang):
                unit_lang = str(before["lang"])
                notes.append(
                    f"unit {u}: roll-up re-rendered in {unit_lang}, the language it was "
                    f"made in, not {lang}; run with --unit {u} --lang {lang} to change it"
                )
                log.warning("%s", notes[-1])
            out.append(
                JobSpec(
                    kind="unit",
                    target_id=u,
                    out_dir=str(output_dir(outputs, report_date, "unit", u)),
                    lang=unit_lang,
                    findings_hash=rollup_hash(rollups[u]),
                    **versioned("unit", u, rollup_hash(rollups[u])),
                    **common,  # type: ignore[arg-type]
                )
            )
        return out, errors

    chosen = findings.schools[findings.schools["school_id"].isin(set(selected))]
    submissions = {str(k): int(v) for k, v in chosen["submission"].value_counts().items()}
    pending = [
        JobSpec(
            kind="unit",
            target_id=u,
            out_dir=str(output_dir(outputs, report_date, "unit", u)),
            lang=lang,
            **common,  # type: ignore[arg-type]
        )
        for u in units
    ]
    waves = unit_waves(config, units)
    return _Plan(specs, waves, submissions, notes, findings, save, unit_specs, pending)


def _version(
    versions: Sequence[SentVersion],
    shows: str,
    day: DayOutputs,
    kind: str,
    target: str,
    zone: ZoneInfo,
) -> dict[str, Any]:
    """The version a report renders as, and the version sent before it (JobSpec fields):
    the latest sent version when it showed these findings (``shows``: their hash), else
    the next one, which says what changed since the latest."""
    if not versions:
        return {}
    latest = versions[-1]
    if latest.findings_hash == shows:
        version = latest.version
        before = next((v for v in versions if v.version == version - 1), None)
    else:
        version, before = latest.version + 1, latest
    if before is None:
        return {"version": version}
    when = before.sent_at.replace(tzinfo=UTC).astimezone(zone)
    return {
        "version": version,
        "previous_version": before.version,
        "previous_dir": str(day.version_dir(kind, target, before.version)),
        "previous_sent_at": when.isoformat(timespec="minutes"),
    }


def _forms(ctx: RunContext, units: Sequence[str]) -> dict[str, Form]:
    """The upward forms of ``units`` that have one, validated (ConfigError if not)."""
    from reportkit.reports import load_form

    out = {}
    for u in units:
        ref = ctx.schools.unit(u).form
        if ref is not None:
            out[u] = load_form(ctx.settings.params, ref)
    return out


def _write_form(
    form: Form, rollup: UnitRollup, outputs: Path, report_date: date, lang: str
) -> list[str]:
    """Fill a unit's upward form into ``units/<unit_id>.xlsx``; the errors."""
    from reportkit.reports import write_form

    path = day_outputs(outputs, report_date).form(rollup.unit_id)
    try:
        write_form(form, rollup, path, lang)
    except OSError as exc:
        message = f"unit {rollup.unit_id}: cannot write its form {path}: {exc.strerror or exc}"
        log.error("%s", message)
        return [message]
    return []


def _mask_names(ctx: RunContext) -> bool:
    """Whether ``delivery.yaml`` masks names (then each school also gets a masked PDF)."""
    from reportkit.errors import ConfigError

    try:
        return bool(ctx.delivery.mask_names)
    except ConfigError as exc:
        log.warning("delivery settings unreadable (%s); no masked PDF this run", exc)
        return False


Executor = Callable[[Sequence[JobSpec], Callable[[JobResult], None]], list[JobResult]]


def thread_executor(jobs: int, kernel_reuse: int = DEFAULT_KERNEL_REUSE) -> ThreadExecutor:
    """The local executor: a :class:`reportkit.execution.ThreadExecutor`."""
    from reportkit.execution.workers import ThreadExecutor

    return ThreadExecutor(jobs, kernel_reuse)


def run_reports(
    context: RunContext | Settings,
    report_date: date,
    school_ids: Sequence[str] | None = None,
    unit_ids: Sequence[str] | None = None,
    *,
    jobs: int | None = None,
    lang: str | None = None,
    formats: Sequence[str] | None = None,
    retries: int | None = None,
    timeout: float | None = None,
    executor: Executor | None = None,
    progress: bool | None = None,
    kernel_reuse: int | None = None,
    run_time: datetime | None = None,
) -> RunResult:
    """Run every selected school's report, then the roll-ups (:func:`select_units`)
    bottom-up: the deepest level first, each level once its children are done, so a
    parent shows which child units were late.

    ``context``: the command's :class:`~reportkit.context.RunContext`, or settings (a
    context of its own is built); each option left out (None) is the context's
    :class:`~reportkit.context.RunOptions`. With the local thread pool, each of the
    ``jobs`` workers keeps a warm kernel for up to ``kernel_reuse`` reports in turn,
    reset between them (:mod:`reportkit.execution.kernels`); ``kernel_reuse=1`` starts a
    fresh kernel per report. An ``executor`` of its own, or the options' ``dask``
    scheduler, runs the jobs elsewhere. ``run_time``: the time the PDFs say they were
    made (default ``SOURCE_DATE_EPOCH``, else now). The result carries the findings
    the reports were rendered from.
    """
    ctx = RunContext.of(context, sync=True)
    options = ctx.options.merged(
        jobs=jobs,
        lang=lang,
        formats=None if formats is None else tuple(formats),
        retries=retries,
        timeout=timeout,
        progress=progress,
        kernel_reuse=kernel_reuse,
    )
    ctx.require_store(school_ids, unit_ids)  # no store or no roster: never zeros
    from reportkit.execution.manifest import Manifest
    from reportkit.execution.progress import Progress

    config = ctx.schools
    zone = config.zone()
    run_id = new_run_id(zone)
    lang, formats = options.lang, options.formats
    if executor is None and options.dask:
        from reportkit.execution.cluster import dask_executor

        executor = dask_executor(options.dask, kernel_reuse=options.kernel_reuse)
    local = thread_executor(options.jobs, options.kernel_reuse) if executor is None else None
    execute: Executor = executor or local  # type: ignore[assignment]
    stop = threading.Event()
    day = day_outputs(ctx.settings.outputs, report_date)
    base = day.folder
    manifest = Manifest(base, report_date, run_id, zone)
    from reportkit.files import sweep_stale_temps

    for stale in sweep_stale_temps(base):  # a killed run's half-written files
        log.warning("removed %s, left by a run that was killed while writing it", stale)
    results: list[JobResult] = []
    with Progress(options.progress) as bar:
        try:
            if local is not None:
                bar.phase(
                    f"starting {local.jobs} report kernels"
                    + (" and Chromium" if "pdf" in formats else "")
                )
                local.prepare(lang, formats)  # kernels and Chromium start while findings compute
            plan = _plan(
                ctx,
                options,
                report_date,
                school_ids,
                unit_ids,
                run_id=run_id,
                run_time=run_time,
                progress=bar,
            )
            specs = list(plan.specs)
            # every report pending, with this run's id, before any file changes (a roll-up
            # gets the hash of what it shows when its level comes)
            manifest.plan([*specs, *plan.pending])
            save_errors = plan.save()
            n_schools = len(specs)
            n_units = sum(len(w) for w in plan.waves)

            def done(result: JobResult) -> None:
                if result.no_space and not stop.is_set():
                    stop.set()
                    log.error("no space left on the disk of %s: stopping the batch", base)
                manifest.end(result)
                bar.advance(result)

            if local is not None:
                local.on_start, local.stop = manifest.start, stop
            run_wave: Executor = local.wave if local is not None else execute
            bar.reports(
                n_schools + n_units,
                f"rendering {n_schools} school report(s), then {n_units} roll-up(s)",
            )
            if specs:
                results += run_wave(specs, done)
            for level, wave in enumerate(plan.waves):
                if stop.is_set():
                    break
                unit_specs, errors = plan.units(wave, manifest.jobs)
                save_errors += errors
                manifest.plan(unit_specs)
                specs += unit_specs
                bar.phase(
                    f"rendering {len(wave)} roll-up(s)"
                    + (f", level {level + 1} of {len(plan.waves)}" if len(plan.waves) > 1 else "")
                )
                results += run_wave(unit_specs, done)
        finally:
            manifest.flush()  # the ends held back (see SAVE_INTERVAL), on an error too
            if local is not None:
                local.close()  # after an error in planning: stops the warm kernels
                close_printer()
    ran = {(r.kind, r.id) for r in results}
    planned = [*specs, *plan.pending]
    manifest.restore(
        dict.fromkeys((s.kind, s.target_id) for s in planned if (s.kind, s.target_id) not in ran)
    )
    order: dict[tuple[str, str], int] = {(s.kind, s.target_id): i for i, s in enumerate(specs)}
    results.sort(key=lambda r: order.get((r.kind, r.id), len(order)))
    errors = list(save_errors)
    if stop.is_set():
        not_run = sum(1 for r in results if r.error is not None and r.error.ename == "NotRun")
        errors.append(
            f"no space left on the disk of {base}: the batch stopped"
            + (f", {not_run} report(s) not run" if not_run else "")
        )
    manifest.save()
    errors += [e for e in manifest.errors if e not in errors]
    try:  # the audit log: the params in force and each report version this run rendered
        from reportkit.store import record_run

        record_run(ctx.engine, report_date, run_id, ctx.settings.params, manifest.jobs.values())
    except Exception as exc:  # the reports stand; the run says what it could not record
        errors.append(f"cannot record the run in the audit log: {exc}")
        log.error("%s", errors[-1])
    if manifest.written:
        try:
            write_index(manifest.path, config, lang)
        except OSError as exc:
            errors.append(f"cannot write {day.index}: {exc.strerror or exc}")
            log.error("%s", errors[-1])
    return RunResult(
        report_date.isoformat(),
        manifest.path,
        results,
        run_id=run_id,
        errors=errors,
        notes=plan.notes,
        submissions=plan.submissions,
        findings=plan.findings,
    )


def write_manifest(
    outputs: Path,
    report_date: date,
    results: Iterable[JobResult],
    started: float = 0.0,
    lang: str = "zh-CN",
    formats: Sequence[str] = FORMATS,
    *,
    run_id: str = "",
    zone: ZoneInfo | None = None,
) -> Path:
    """Merge finished jobs into ``outputs/<date>/manifest.json`` (written atomically).

    :func:`run_reports` keeps the manifest up to date as jobs start and end
    (:class:`reportkit.execution.Manifest`); this records results obtained otherwise.
    ``started``, ``lang`` and ``formats`` are kept for callers of earlier versions.
    """
    from reportkit.execution.manifest import Manifest

    manifest = Manifest(day_outputs(outputs, report_date).folder, report_date, run_id, zone)
    for r in results:
        manifest.end(r if r.lang else replace(r, lang=lang))
    manifest.flush()
    if not manifest.written:
        raise OSError(manifest.errors[-1] if manifest.errors else f"cannot write {manifest.path}")
    return manifest.path


def write_index(manifest_path: Path, config: SchoolsConfig, lang: str = "zh-CN") -> Path:
    """``outputs/<date>/index.html`` (see :func:`reportkit.execution.write_index`)."""
    from reportkit.execution.index import write_index as write

    return write(manifest_path, config, lang)
