"""The afternoon job: ingest what arrived, run every school, roll up, send.

``reportkit daily`` for one date (default: today in the configured time zone):

1. takes a lock so two afternoon runs never overlap (an OS file lock: a run that
   was killed leaves nothing that blocks the next one);
2. ingests every file under ``<inbox>/<date>/[<school_id>/]`` — rosters, health
   logs and gate registers told apart by file name — and moves each file it
   could read to ``<archive>/<date>/`` (quarantined rows stay in the store);
3. runs every school's report and the district roll-ups (:mod:`reportkit.runner`);
4. emails them (:mod:`reportkit.deliver`), each at most once.

A rerun the same day is safe: archived files are not seen again (and a file
seen again is recognised by its content hash), reports are re-rendered, and
the sent-log keeps messages from going twice. Everything is logged to
``outputs/<date>/daily.log``.
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
from datetime import date, datetime
from pathlib import Path
from typing import Any

from reportkit.errors import ReportkitError

__all__ = ["DailyResult", "LockedError", "classify_file", "ingest_inbox", "run_daily", "today"]

log = logging.getLogger("reportkit.daily")

ROSTER_WORDS = ("名册", "花名册", "roster")
ENTRY_WORDS = ("门卫", "进校登记", "入校登记", "来访登记", "entries", "entry")
SUFFIXES = {".csv", ".txt", ".xlsx", ".xls"}


class LockedError(ReportkitError):
    """Another afternoon run holds the lock."""


def today(config: Any) -> date:
    """Today's date in the deployment's time zone."""
    return datetime.now(config.zone()).date()


def classify_file(path: Path) -> str:
    """``roster``, ``entries`` or ``logs``, from the file's name."""
    name = path.name.lower()
    if any(w in name for w in ROSTER_WORDS):
        return "roster"
    if any(w in name for w in ENTRY_WORDS):
        return "entries"
    return "logs"


@dataclass
class DailyResult:
    date: date
    log_path: Path
    ingested: dict[str, dict[str, int]] = field(default_factory=dict)
    ingest_failures: list[str] = field(default_factory=list)
    archived: int = 0
    submissions: dict[str, int] = field(default_factory=dict)
    reports_ok: int = 0
    reports_failed: list[str] = field(default_factory=list)
    messages_sent: int = 0
    dry_run: bool = False
    message_failures: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.ingest_failures or self.reports_failed or self.message_failures)

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
        lines.append(f"  reports rendered: {self.reports_ok}, failed: {len(self.reports_failed)}")
        verb = "written as .eml (dry run)" if self.dry_run else "sent"
        lines.append(
            f"  messages {verb}: {self.messages_sent}, failed: {len(self.message_failures)}"
        )
        lines += [f"  FAILED {item}" for item in self.ingest_failures + self.reports_failed]
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
        self.note = path.with_suffix(".json")
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

    def hold(self, report_date: date) -> None:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now().isoformat(timespec="seconds"),
            "date": report_date.isoformat(),
        }
        self.note.write_text(json.dumps(info), encoding="utf-8")

    def __exit__(self, *exc: object) -> None:
        self.note.unlink(missing_ok=True)
        self.lock.release()


def ingest_inbox(
    settings: Any, report_date: date, inbox: Path, archive: Path
) -> tuple[dict[str, dict[str, int]], list[str], int]:
    """Ingest ``inbox/<date>/`` (rosters first), archive what was read; totals, failures, moved."""
    from reportkit import ingest, store

    config = settings.schools()
    rules = settings.rules()
    engine = store.connect(settings.db)
    store.sync_schools(engine, config)
    day_dir = Path(inbox) / report_date.isoformat()
    files = sorted(p for p in day_dir.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    files = [p for p in files if not p.name.startswith((".", "~$"))]
    by_kind: dict[str, list[Path]] = {"roster": [], "logs": [], "entries": []}
    for path in files:
        by_kind[classify_file(path)].append(path)
    totals: dict[str, dict[str, int]] = {}
    failures: list[str] = []
    moved = 0
    for kind in ("roster", "logs", "entries"):
        if not by_kind[kind]:
            continue
        report = ingest.ingest_paths(engine, by_kind[kind], kind, config, rules)  # type: ignore[arg-type]
        data = report.to_json()
        totals[kind] = {"files": len(data["files"])} | {
            k: data[k]
            for k in ("rows_read", "inserted", "updated", "unchanged", "quarantined", "findings")
        }
        for f in report.files:
            if f.error:
                failures.append(f"ingest {f.path}: {f.error}")
                log.error("ingest %s: %s", f.path, f.error)
                continue
            source = Path(f.path)
            target = Path(archive) / report_date.isoformat() / source.relative_to(day_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() and target.read_bytes() == source.read_bytes():
                source.unlink()  # sent twice: the archive has it already
            else:
                if target.exists():  # a new version under the same name: keep both
                    target = target.with_name(f"{target.stem}.{time.time_ns()}{target.suffix}")
                shutil.move(str(source), str(target))
            moved += 1
        log.info("ingested %s: %s", kind, totals[kind])
    return totals, failures, moved


def run_daily(
    settings: Any,
    report_date: date | None = None,
    *,
    inbox: Path = Path("data/inbox"),
    archive: Path = Path("data/archive"),
    jobs: int = 2,
    lang: str = "zh-CN",
    formats: Sequence[str] = ("html", "pdf"),
    retries: int = 1,
    timeout: float = 300.0,
    send: bool = True,
    dry_run: bool = False,
    executor: Any = None,
    progress: bool | None = None,
    kernel_reuse: int = 20,
) -> DailyResult:
    """The whole afternoon for one date; never raises for one school's or file's failure."""
    from reportkit import runner

    config = settings.schools()
    day = report_date or today(config)
    out_dir = Path(settings.outputs) / day.isoformat()
    from reportkit.files import ensure_dir

    ensure_dir(out_dir)  # private (0700), like everything the run writes there
    result = DailyResult(day, out_dir / "daily.log", dry_run=dry_run)
    with _Lock(Path(settings.outputs) / ".daily.lock") as lock, _log_to(result.log_path):
        lock.hold(day)
        log.info("daily run for %s started (pid %d)", day, os.getpid())
        started = time.perf_counter()
        _announce(f"ingesting the inbox of {day}")
        result.ingested, result.ingest_failures, result.archived = ingest_inbox(
            settings, day, inbox, archive
        )
        result.seconds["ingest"] = time.perf_counter() - started

        started = time.perf_counter()
        run = runner.run_reports(
            settings,
            day,
            jobs=jobs,
            lang=lang,
            formats=formats,
            retries=retries,
            timeout=timeout,
            executor=executor,
            progress=progress,
            kernel_reuse=kernel_reuse,
        )
        result.seconds["reports"] = time.perf_counter() - started
        result.reports_ok = len(run.jobs) - len(run.failed)
        result.reports_failed = [
            f"{j.kind} {j.id}: {(j.error or {}).get('ename')}: {(j.error or {}).get('evalue', '')}"
            for j in run.failed
        ]
        result.submissions = dict(run.submissions)
        result.reports_failed += [f"run: {e}" for e in run.errors]
        for note in run.notes:
            log.warning("run: %s", note)
        for line in result.reports_failed:
            log.error("report %s", line)

        if send or dry_run:
            from reportkit import deliver

            started = time.perf_counter()
            _announce("writing the emails (dry run)" if dry_run else "sending the emails")
            delivery = deliver.send_reports(settings, day, dry_run=dry_run, lang=lang)
            result.seconds["send"] = time.perf_counter() - started
            result.messages_sent = sum(len(o.accepted) for o in delivery.outcomes)
            result.message_failures = [
                f"mail {o.kind} {o.target_id}: {o.error or o.status}" for o in delivery.failed
            ]
            for line in deliver.summary_lines(delivery):
                log.info("send: %s", line)
        for line in result.summary_lines():
            log.info("%s", line)
    return result


def _announce(text: str) -> None:
    from reportkit.progress import announce

    announce(text)


class _log_to:
    """Send reportkit's log records to the day's log file for the duration of a run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handler: logging.Handler | None = None

    def __enter__(self) -> _log_to:
        self.handler = logging.FileHandler(self.path, encoding="utf-8")
        self.handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
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
