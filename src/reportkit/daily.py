"""The afternoon job: ingest what arrived, run every school, roll up, send.

``reportkit daily`` for one date (default: today in the configured time zone):

1. takes a lock so two afternoon runs never overlap (an OS file lock: a run that
   was killed leaves nothing that blocks the next one), and refuses a store that
   is not there (exit 2);
2. ingests every file under ``<inbox>/<date>/[<school_id>/]`` — rosters, health
   logs and gate registers told apart by file name — and moves each file it
   could read to ``<archive>/<date>/`` as soon as it is in the store (quarantined
   rows stay in the store); a file refused for what it holds (past a limit of
   ``rules.yaml``'s ``limits``, unreadable, the wrong kind) goes to
   ``<archive>/../rejected/<date>/[<school_id>/]`` with ``<name>.reason.txt``
   beside it and a ``file_rejected`` finding in its school's report;
3. runs every school's report, then the roll-ups bottom-up (:mod:`reportkit.execution.batch`);
   a school with nobody on its roster is not run but failed by name (exit 1),
   never rendered as a report of zeros;
4. emails them (:mod:`reportkit.delivery.send`), each at most once.

A rerun the same day is safe: archived files are not seen again (and a file
seen again is recognised by its content hash), reports are re-rendered, and
the sent-log keeps messages from going twice. One run context
(:class:`~reportkit.context.RunContext`) serves the whole run: ``schools.yaml`` is
parsed once, its schools written into the store once, and the findings computed
once, by the runner, whose result hands them to delivery. Everything is logged to
``outputs/<date>/daily.log`` (0600), each line with the deployment's local time
and its offset, the error that stops a run included. :func:`check_daily`
(``reportkit daily --check``) says whether the job would start, running nothing.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from reportkit import layout
from reportkit.context import RunContext
from reportkit.errors import ReportExecutionError, ReportkitError
from reportkit.store.engine import private_mode

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from reportkit.config import SchoolsConfig, Settings
    from reportkit.execution import Executor
    from reportkit.ingest import FileReport

__all__ = [
    "DailyResult",
    "LockedError",
    "check_daily",
    "classify_file",
    "ingest_inbox",
    "run_daily",
    "today",
]

log = logging.getLogger(__name__)


class LockedError(ReportkitError):
    """Another afternoon run holds the lock."""

    exit_code = 1


def today(config: SchoolsConfig) -> date:
    """Today's date in the deployment's time zone."""
    return datetime.now(config.zone()).date()


def classify_file(path: Path) -> str:
    """``roster``, ``entries`` or ``logs``, from the file's name (as ``reportkit ingest``)."""
    from reportkit.ingest import classify_file as by_name

    return by_name(path)


@dataclass
class DailyResult:
    date: date
    log_path: Path
    ingested: dict[str, dict[str, int]] = field(default_factory=dict)
    ingest_failures: list[str] = field(default_factory=list)
    archived: int = 0
    rejected: list[str] = field(default_factory=list)  # "<path in rejected/>: <reason>"
    submissions: dict[str, int] = field(default_factory=dict)
    reports_ok: int = 0
    reports_failed: list[str] = field(default_factory=list)
    no_roster: list[str] = field(default_factory=list)  # schools not run: nobody on the roster
    messages_sent: int = 0
    dry_run: bool = False
    message_failures: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (
            self.ingest_failures
            or self.rejected
            or self.reports_failed
            or self.message_failures
            or self.no_roster
        )

    def summary_lines(self) -> list[str]:
        s = self.submissions
        lines = [
            f"reportkit daily {self.date.isoformat()}",
            f"  schools: {s.get('on_time', 0)} on time, {s.get('late', 0)} late, "
            f"{s.get('missing', 0)} missing",
        ]
        for kind, totals in self.ingested.items():
            lines.append(
                f"  ingested {kind}: {totals.get('files', 0)} files, {totals.get('rows_read', 0)} rows, "
                f"{totals.get('inserted', 0)} new, {totals.get('updated', 0)} updated, "
                f"{totals.get('quarantined', 0)} quarantined"
            )
        lines.append(f"  files archived: {self.archived}")
        if self.rejected:
            lines.append(f"  files rejected: {len(self.rejected)}")
            lines += [f"  REJECTED {item}" for item in self.rejected]
        lines.append(f"  reports rendered: {self.reports_ok}, failed: {len(self.reports_failed)}")
        verb = "written as .eml (dry run)" if self.dry_run else "sent"
        lines.append(
            f"  messages {verb}: {self.messages_sent}, failed: {len(self.message_failures)}"
        )
        lines += [f"  FAILED {item}" for item in self.ingest_failures + self.reports_failed]
        lines += [f"  FAILED {item}" for item in self.no_roster]
        lines += [f"  FAILED {item}" for item in self.message_failures]
        timing = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        lines.append(f"  time: {timing}")
        lines.append(f"  log: {self.log_path}")
        return lines


class _Lock:
    """An exclusive OS lock (filelock) plus a note of who holds it since when."""

    def __init__(self, path: Path) -> None:
        from filelock import FileLock

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.note = layout.lock_note(path)
        self.lock = FileLock(str(path))

    def __enter__(self) -> _Lock:
        from filelock import Timeout

        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            holder = "another run"
            try:
                info = json.loads(self.note.read_text(encoding="utf-8"))
                holder = f"pid {info['pid']} on {info['host']} since {info['since']} (date {info['date']})"
            except (OSError, ValueError, KeyError):
                pass
            raise LockedError(
                f"the afternoon job is already running: {holder}; lock {self.path}"
            ) from None
        return self

    def hold(self, report_date: date, zone: tzinfo | None = None) -> None:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(zone).astimezone(zone).isoformat(timespec="seconds"),
            "date": report_date.isoformat(),
        }
        self.note.write_text(json.dumps(info), encoding="utf-8")

    def __exit__(self, *exc: object) -> None:
        self.note.unlink(missing_ok=True)
        self.lock.release()


def ingest_inbox(
    context: RunContext | Settings,
    report_date: date,
    inbox: Path,
    archive: Path,
    rejected: Path | None = None,
) -> tuple[dict[str, dict[str, int]], list[str], int, list[str]]:
    """Ingest ``inbox/<date>/`` (rosters first); totals, failures, files archived, files
    rejected.

    Each file is archived as soon as it is in the store. A file refused for what it
    holds goes to ``rejected`` (default ``<archive>/../rejected``) ``/<date>/`` under
    its inbox path, with ``<name>.reason.txt``, and is recorded as a ``file_rejected``
    finding of its school and date; a file that failed otherwise (no roster yet, an
    unknown school folder) stays in the inbox for the next run. ``context``: the run's
    (or settings: a store that is not there is then created).
    """
    from reportkit import ingest

    ctx = RunContext.of(context, create=True, sync=True)
    config, rules, engine = ctx.schools, ctx.rules, ctx.engine
    day_dir = layout.inbox_dir(inbox, report_date)
    archive_dir = layout.archive_dir(archive, report_date)
    rejected_dir = layout.rejected_dir(archive, report_date, rejected)
    failures: list[str] = []
    refused: list[str] = []
    moved = 0

    def done(f: ingest.FileReport) -> None:
        nonlocal moved
        source = Path(f.path)
        if f.error is None:
            _move(source, archive_dir / source.relative_to(day_dir))
            moved += 1
        elif f.refused:
            target = _move(source, rejected_dir / source.relative_to(day_dir))
            _reject(engine, config, f, source, target, day_dir, report_date)
            refused.append(f"{target}: {_reason(f)}")
            log.error("rejected %s (moved to %s): %s", source, target, _reason(f))
        else:
            failures.append(f"ingest {f.path}: {f.error}")
            log.error("ingest %s: %s", f.path, f.error)

    if not day_dir.is_dir():
        return {}, failures, moved, refused
    report = ingest.ingest_paths(engine, [day_dir], None, config, rules, on_file=done)
    for skipped in report.skipped:
        log.info("skipped %s: %s", skipped.path, skipped.reason)
    totals = report.by_kind()
    for kind, counts in totals.items():
        log.info("ingested %s: %s", kind, counts)
    return totals, failures, moved, refused


def _move(source: Path, target: Path) -> Path:
    """Move a file, keeping both when another version has the name already."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and target.read_bytes() == source.read_bytes():
        source.unlink()  # sent twice: the folder has it already
        return target
    if target.exists():  # a new version under the same name: keep both
        target = target.with_name(f"{target.stem}.{time.time_ns()}{target.suffix}")
    shutil.move(str(source), str(target))
    return target


def _reason(f: FileReport) -> str:
    """A report's error without the file name it starts with (in English, for the log)."""
    return f.reason()


def _reject(
    engine: Engine,
    config: SchoolsConfig,
    f: FileReport,
    source: Path,
    target: Path,
    day_dir: Path,
    report_date: date,
) -> None:
    """The reason beside the rejected file, and a file-level finding in the store
    (:func:`reportkit.ingest.record_rejection`)."""
    from reportkit.ingest import record_rejection

    parts = source.relative_to(day_dir).parts
    school = parts[0] if len(parts) > 1 and parts[0] in config.by_id else None
    record_rejection(
        engine,
        f,
        source=source,
        kept=target,
        school_id=school,
        day=report_date,
        zone=config.zone(),
    )


def run_daily(
    context: RunContext | Settings,
    report_date: date | None = None,
    *,
    inbox: Path = Path("data/inbox"),
    archive: Path = Path("data/archive"),
    jobs: int | None = None,
    lang: str | None = None,
    formats: Sequence[str] | None = None,
    retries: int | None = None,
    timeout: float | None = None,
    send: bool | None = None,
    dry_run: bool | None = None,
    executor: Executor | None = None,
    progress: bool | None = None,
    kernel_reuse: int | None = None,
) -> DailyResult:
    """The whole afternoon for one date; never raises for one school's or file's failure.

    ``context``: the command's :class:`~reportkit.context.RunContext` (or settings); each
    option left out (None) is its options'. The store is connected once the lock is
    held, so that a second run is refused before anything else is tried.
    """
    from reportkit.execution import run_reports

    ctx = RunContext.of(context, sync=True).with_options(
        jobs=jobs,
        lang=lang,
        formats=None if formats is None else tuple(formats),
        retries=retries,
        timeout=timeout,
        send=send,
        dry_run=dry_run,
        progress=progress,
        kernel_reuse=kernel_reuse,
    )
    options, settings = ctx.options, ctx.settings
    config = ctx.schools
    zone = config.zone()
    day = report_date or today(config)
    day_files = layout.day_outputs(settings.outputs, day)
    from reportkit.files import ensure_dir

    ensure_dir(day_files.folder)  # private (0700), like everything the run writes there
    ensure_dir(layout.archive_dir(archive, day))  # the schools' own files go here
    result = DailyResult(day, day_files.daily_log, dry_run=options.dry_run)
    with (
        _log_to(result.log_path, zone),
        _stopped_in_log(day),
        _Lock(layout.daily_lock(settings.outputs)) as lock,
    ):
        lock.hold(day, zone)
        log.info("daily run for %s started (pid %d)", day, os.getpid())
        ctx.require_store(rosters=False)  # a store that is not there: exit 2
        started = time.perf_counter()
        _announce(f"ingesting the inbox of {day}")
        result.ingested, result.ingest_failures, result.archived, result.rejected = ingest_inbox(
            ctx, day, inbox, archive
        )
        result.seconds["ingest"] = time.perf_counter() - started
        schools, units = _with_rosters(ctx, result)  # schools without a roster fail

        started = time.perf_counter()
        run = run_reports(ctx, day, schools, units, executor=executor)
        result.seconds["reports"] = time.perf_counter() - started
        result.reports_ok = len(run.jobs) - len(run.failed)
        result.reports_failed = [f"{j.kind} {j.id}: {_job_error(j.error)}" for j in run.failed]
        result.submissions = dict(run.submissions)
        result.reports_failed += [f"run: {e}" for e in run.errors]
        for note in run.notes:
            log.warning("run: %s", note)
        for line in result.reports_failed:
            log.error("report %s", line)

        if options.send or options.dry_run:
            from reportkit.delivery import send_reports, summary_lines

            started = time.perf_counter()
            _announce("writing the emails (dry run)" if options.dry_run else "sending the emails")
            # from the findings the reports were rendered from: computed once, by the run
            delivery = send_reports(
                ctx, day, schools, units, findings=run.findings, with_rollups=True
            )
            result.seconds["send"] = time.perf_counter() - started
            result.messages_sent = sum(len(o.accepted) for o in delivery.outcomes)
            result.message_failures = [
                f"mail {o.kind} {o.target_id}: {o.status}: "
                + (o.error or "outcome unknown for " + ", ".join(o.unknown))
                for o in delivery.failed
            ]
            if delivery.stopped:
                result.message_failures.append(f"mail stopped: {delivery.stopped}")
            for line in summary_lines(delivery):
                log.info("send: %s", line)
        for line in result.summary_lines():
            log.info("%s", line)
    return result


def _job_error(error: ReportExecutionError | None) -> str:
    """A failed job's error as the summary shows it: ``ename: evalue``."""
    return "None: " if error is None else f"{error.ename}: {error.evalue}"


def check_daily(
    context: RunContext | Settings, inbox: Path, archive: Path
) -> tuple[bool, list[str]]:
    """``reportkit daily --check``: would the afternoon job start here? Writes nothing.

    The params load, the store is there (and which schools have no roster), the
    outputs, inbox and archive folders can be written, the SMTP password variable
    is set when delivery.yaml logs in, and no other run holds the lock. Returns
    (ok, lines); a line starting with ``problem:`` is why it would not start.
    """
    from reportkit import store

    ctx = RunContext.of(context)
    settings = ctx.settings
    lines: list[str] = []
    problems: list[str] = []
    config = None
    try:
        config = ctx.schools
        ctx.rules  # noqa: B018 (parsed: a bad rules.yaml is a problem)
        delivery = ctx.delivery
        lines.append(f"params: {Path(settings.params).resolve()} ({len(config.schools)} schools)")
        smtp = delivery.smtp
        if smtp.username and not os.environ.get(smtp.password_env):
            problems.append(f"the SMTP password variable {smtp.password_env} is not set")
    except ReportkitError as exc:
        problems.append(f"params: {exc}")
    try:
        engine = ctx.require_store(rosters=False)
        lines.append(f"store: {store.describe_url(settings.db)}")
        if config is not None:
            lacking = store.schools_without_roster(engine, [s.id for s in config.schools])
            if lacking:
                lines.append(
                    f"warning: no roster for {', '.join(lacking)}: these schools will fail"
                )
    except ReportkitError as exc:
        problems.append(f"store: {exc}")
    for name, folder in (("outputs", settings.outputs), ("inbox", inbox), ("archive", archive)):
        folder = Path(folder).resolve()
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            problems.append(f"{name}: {folder} cannot be written ({existing} is not writable)")
        elif name == "inbox" and not folder.is_dir():
            lines.append(f"warning: the inbox {folder} does not exist: nothing will be ingested")
        else:
            lines.append(f"{name}: {folder}")
    note = layout.lock_note(layout.daily_lock(settings.outputs))
    if note.exists():
        from filelock import FileLock, Timeout

        try:
            with FileLock(str(layout.daily_lock(settings.outputs)), timeout=0):
                pass
        except Timeout:
            lines.append(f"warning: a run is in progress now ({note.read_text(encoding='utf-8')})")
    lines += [f"problem: {p}" for p in problems]
    return not problems, lines


def _with_rosters(
    ctx: RunContext, result: DailyResult
) -> tuple[list[str] | None, list[str] | None]:
    """The selection for the runner and the sender: every school with people on its
    roster (and the roll-ups above them). The others are failures of the day,
    named in the log and the summary, never reports of zeros; when no school has a
    roster the run stops (:class:`RosterMissingError`, exit 2)."""
    from reportkit import store
    from reportkit.errors import RosterMissingError

    config = ctx.schools
    every = [s.id for s in config.schools]
    lacking = store.schools_without_roster(ctx.engine, every)
    if not lacking:
        return None, None  # every school, every roll-up with recipients
    shown = store.describe_url(ctx.settings.db)
    if len(lacking) == len(every):
        raise RosterMissingError(lacking, shown)
    for sid in lacking:
        line = f"school {sid}: no roster in the store {shown}; not rendered, not sent"
        result.no_roster.append(line)
        log.error("%s", line)
    # the runner renders the roll-ups with recipients above them, the sender sends them
    return [s for s in every if s not in lacking], None


def _announce(text: str) -> None:
    from reportkit.execution import announce

    announce(text)


class _ZoneFormatter(logging.Formatter):
    """Log times in the deployment's zone with their offset (2020-02-28T16:45:03+08:00)."""

    def __init__(self, fmt: str, zone: tzinfo | None) -> None:
        super().__init__(fmt)
        self.zone = zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = datetime.fromtimestamp(record.created, self.zone).astimezone(self.zone)
        return stamp.isoformat(timespec="milliseconds")


class _log_to:
    """Send reportkit's log records to the day's log file for the duration of a run."""

    def __init__(self, path: Path, zone: tzinfo | None = None) -> None:
        self.path = path
        self.zone = zone
        self.handler: logging.Handler | None = None

    def __enter__(self) -> _log_to:
        if not self.path.exists():  # private like the reports: it names files and schools
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, private_mode()))
        self.handler = logging.FileHandler(self.path, encoding="utf-8")
        self.handler.setFormatter(
            _ZoneFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", self.zone)
        )
        root = logging.getLogger("reportkit")
        root.addHandler(self.handler)
        if root.level == logging.NOTSET or root.level > logging.INFO:
            root.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handler is not None:
            logging.getLogger("reportkit").removeHandler(self.handler)
            self.handler.close()


class _stopped_in_log:
    """An error that ends the run is written to the day's log before it leaves (the
    command prints it on stderr): one line for reportkit's own errors, the traceback
    for anything else."""

    def __init__(self, day: date) -> None:
        self.day = day

    def __enter__(self) -> _stopped_in_log:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if exc is None:
            return
        pid = os.getpid()  # a refused second run writes here too: say which run stopped
        if isinstance(exc, ReportkitError):
            log.error("daily run for %s (pid %d) stopped: %s", self.day, pid, exc)
        elif isinstance(exc, Exception):
            log.exception("daily run for %s (pid %d) stopped by an unexpected error", self.day, pid)
