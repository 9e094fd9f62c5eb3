"""The ``reportkit`` command: parses arguments and calls the library.

Heavy modules (pandas, SQLAlchemy, papermill, nbconvert) are imported inside the
command that needs them, so ``reportkit --help`` answers at once.

Exit codes: 0 success; 1 something failed (a file could not be read, a school's
report failed, a message was not sent, the store stayed locked); 2 usage or
configuration error (a bad params file, a store or a roster that is not there).
Errors reportkit raises carry their exit code (``ReportkitError.exit_code``): the
command ends with it, mapping nothing by hand.

Each command builds one run context (:class:`reportkit.context.RunContext`: the
settings, the parsed params, the store, the run options) and hands it to the
library; the options' defaults are :class:`reportkit.context.RunOptions`'s.

Every command that reports takes ``--json``: one JSON object on stdout (the result's
fields; dates ISO 8601, paths as text), for scripts and monitoring.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
from collections.abc import Callable, Hashable, Sequence
from datetime import date, datetime
from datetime import time as time_of_day
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from reportkit.context import RunOptions

if TYPE_CHECKING:
    from rich.console import Console

    from reportkit.config import Settings
    from reportkit.context import RunContext
    from reportkit.execution import RunResult
    from reportkit.findings import Findings
    from reportkit.ingest import IngestReport

__all__ = ["main"]

DEFAULTS = RunOptions()  # the options' defaults, shown in --help

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("locations")
    group.add_argument(
        "--db",
        default=default,
        help="SQLAlchemy URL (env REPORTKIT_DB; default sqlite:///data/reportkit.db)",
    )
    group.add_argument(
        "--params",
        default=default,
        metavar="DIR",
        help="params folder (env REPORTKIT_PARAMS; default ./params)",
    )
    group.add_argument(
        "--outputs",
        default=default,
        metavar="DIR",
        help="outputs folder (env REPORTKIT_OUTPUTS; default ./outputs)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    from reportkit.config import Settings

    return Settings.resolve(args.db, args.params, args.outputs)


def _options(args: argparse.Namespace) -> RunOptions:
    """The run options the command's arguments give; the others are the defaults."""
    names: tuple[str, ...] = ("jobs", "lang", "formats", "retries", "timeout", "kernel_reuse")
    names += ("dask", "dry_run", "force")
    given = {name: getattr(args, name) for name in names if hasattr(args, name)}
    if hasattr(args, "no_send"):
        given["send"] = not args.no_send
    return DEFAULTS.merged(**given)


def _context(args: argparse.Namespace, *, create: bool = False, sync: bool = False) -> RunContext:
    """The command's one run context (``create``: a store that is not there is made;
    ``sync``: the command writes, so schools.yaml's schools go into the store once)."""
    from reportkit.context import RunContext

    return RunContext(_settings(args), _options(args), create=create, sync=sync)


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def _jsonable(value: Any) -> Any:
    """A result as JSON values: dataclasses by field (and ``ok``), dates ISO, paths as text."""
    to_json = getattr(value, "to_json", None)
    if callable(to_json) and not isinstance(value, type):
        return _jsonable(to_json())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(getattr(type(value), "ok", None), property):
            out["ok"] = bool(value.ok)  # type: ignore[attr-defined]
        return out
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return _jsonable(item())
    return str(value)


def _print_json(result: Any) -> None:
    print(json.dumps(_jsonable(result), ensure_ascii=False, indent=2))


# --- ingest -------------------------------------------------------------------


_KINDS = ("roster", "logs", "entries")


def cmd_ingest(args: argparse.Namespace) -> int:
    from reportkit import ingest

    items = list(args.paths)
    kind = items.pop(0) if items and items[0] in _KINDS else None
    if not items:
        print("reportkit ingest: give at least one file or folder", file=sys.stderr)
        return EXIT_USAGE
    ctx = _context(args, create=True, sync=True)
    config = ctx.schools  # a bad schools.yaml stops the command before a store is made
    engine = ctx.engine
    missing = [p for p in items if not Path(p).exists()]
    for p in missing:
        print(f"reportkit: {p}: no such file or folder", file=sys.stderr)
    paths = [Path(p) for p in items if Path(p).exists()]
    report = ingest.ingest_paths(
        engine, paths, kind, config, ctx.rules, school=args.school, force=args.force
    )
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_ingest(report, args.lang)
    return EXIT_FAILED if (report.failed or missing) else EXIT_OK


def _print_ingest(report: IngestReport, lang: str = DEFAULTS.lang) -> None:
    """The counts as a table (files named by what tells them apart), then each file's
    error and each skipped file as plain lines that read well at 80 columns and piped;
    every label in ``lang``."""
    from rich.table import Table

    from reportkit.i18n import t

    def L(key: str, **kw: object) -> str:
        return t(f"cli_ingest_{key}", lang, **kw)

    cols = ["rows_read", "inserted", "updated", "unchanged", "quarantined", "findings"]
    names = _short_paths([f.path for f in report.files])
    kind = t(f"cli_kind_{report.kind}", lang) if report.kind else L("by_name")
    table = Table(title=L("title", kind=kind))
    table.add_column(L("file"), overflow="fold", ratio=1)
    if report.kind is None:
        table.add_column(L("kind"))
    for col in cols:
        table.add_column(L(col), justify="right")
    for f, name in zip(report.files, names, strict=True):
        kind_cell = [t(f"cli_kind_{f.kind}", lang) if f.kind else ""] if report.kind is None else []
        if f.error:
            table.add_row(f"[red]{name}[/red]", *kind_cell, f"[red]{L('failed')}[/red]", *[""] * 5)
            continue
        note = L("seen") if f.already_ingested else ""
        table.add_row(name + note, *kind_cell, *[str(getattr(f, c)) for c in cols])
    extra = [""] if report.kind is None else []
    table.add_row(L("total"), *extra, *[str(getattr(report, c)) for c in cols], style="bold")
    console = _console()
    console.print(table)
    lines = [
        f"{L('refused') if f.refused else L('failed_line')} {f.error_text(lang)}"
        for f in report.failed
    ]
    by_kind: dict[str, list[Any]] = {}
    for skipped in report.skipped:
        if skipped.kind is None:
            lines.append(L("skipped", path=skipped.path, reason=skipped.text(lang)))
        else:
            by_kind.setdefault(skipped.kind, []).append(skipped.path)
    for named, paths in by_kind.items():
        files = sorted({p.name for p in paths})
        shown = t("sep_names", lang).join(files[:3]) + ("…" if len(files) > 3 else "")
        lines.append(
            L("skipped_kind", n=len(paths), kind=t(f"cli_kind_{named}", lang), files=shown)
            + f"`reportkit ingest {named} PATH ...`"
        )
    for line in lines:  # plain lines: they wrap at the terminal's width, not in a cell
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _short_paths(paths: list[str]) -> list[str]:
    """Paths without the folder they all share, so that the table's first column stays
    narrow; a single file keeps its name."""
    parts = [Path(p).parts for p in paths]
    if len(parts) < 2:
        return [Path(p).name or p for p in paths]
    common = 0
    while all(len(p) > common + 1 and p[common] == parts[0][common] for p in parts):
        common += 1
    return [str(Path(*p[common:])) for p in parts]


# --- demo ---------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from reportkit import demo

    settings = _settings(args)
    result = demo.build_demo(
        Path(args.root),
        settings.params,
        settings.db,
        scale=args.scale,
        ingest_through=args.ingest_through,
        small=args.small,
    )
    print(result.summary())
    return EXIT_OK


# --- init -----------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from reportkit import store
    from reportkit.errors import StoreMissingError

    ctx = _context(args)
    settings = ctx.settings
    shown = store.describe_url(settings.db)
    try:
        engine = ctx.engine
        print(f"store already there: {shown} (tables checked)")
    except StoreMissingError:
        engine = store.connect(settings.db, create=True)
        print(f"store created: {shown}")
    schools = Path(settings.params) / "schools.yaml"
    if schools.exists():
        config = ctx.schools
        store.sync_schools(engine, config)
        print(f"{len(config.schools)} schools of {schools} recorded")
    else:
        print(f"no {schools} yet: write it, then `reportkit ingest roster FILE`")
    return EXIT_OK


# --- flags --------------------------------------------------------------------


def cmd_flags(args: argparse.Namespace) -> int:
    from reportkit.findings import load_findings

    ctx = _context(args)
    config = ctx.schools
    engine = ctx.require_store(args.school)
    findings = load_findings(engine, config, ctx.rules, args.date, args.school or None)
    if args.json:
        print(json.dumps(findings.to_json(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(_flags_text(findings, args.lang, _width())))
    return EXIT_OK


def _width() -> int:
    """The terminal's columns; 80 when output goes to a file or a pipe (cron, CI logs)."""
    if sys.stdout.isatty():
        return max(40, shutil.get_terminal_size((80, 24)).columns)
    return 80


# figures of ``reportkit flags``; those of _NEED_CHECKINS mean nothing without check-ins
# and show "—" for a school that sent none (a 0 would say "all clear")
_FLAG_FIGURES: tuple[str, ...] = ("expected", "reported", "missing", "coverage", "unreachable")
_FLAG_FIGURES += ("fever", "symptomatic", "suspected", "key_persons", "clusters")
_FLAG_FIGURES += ("illness_absence_unexplained", "data_quality")
_NEED_CHECKINS = {"coverage", "fever", "symptomatic", "suspected", "key_persons", "clusters"}
_NEED_CHECKINS |= {"illness_absence_unexplained"}


def _flags_text(findings: Findings, lang: str = DEFAULTS.lang, width: int = 80) -> list[str]:
    """``reportkit flags`` as lines of at most ``width`` columns: one block per school,
    its id, name and submission on the first line, then its figures, wrapped between
    figures (an id, a name or a figure is never cut)."""
    from rich.cells import cell_len

    from reportkit.i18n import t

    sep = " · "
    lines = [f"{t('daily_report', lang)} {findings.date.isoformat()}"]
    for row in findings.schools.to_dict("records"):
        status = t(f"submission_{row['submission']}", lang, n=int(row["minutes_late"] or 0))
        if row.get("zero_report"):
            status += sep + t("zero_report_short", lang)
        lines.append(f"{row['school_id']} {row['name']}{sep}{status}")
        nothing = not int(row.get("rows") or 0)
        parts = [f"{t(c, lang)} {_figure(row, c, nothing)}" for c in _FLAG_FIGURES]
        line = " "
        for part in parts:
            joined = f"{line}{sep if line.strip() else ' '}{part}"
            if line.strip() and cell_len(joined) > width:
                lines.append(line)
                line = f"  {part}"
            else:
                line = joined
        lines.append(line)
    return lines


def _figure(row: dict[Hashable, Any], column: str, nothing: bool) -> str:
    value = row.get(column)
    if nothing and column in _NEED_CHECKINS:
        return "—"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if column == "coverage":
        return f"{float(value):.1f}%"
    return str(int(value))


# --- run ----------------------------------------------------------------------


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    bad = [f for f in formats if f not in ("html", "pdf")]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown format {bad[0]!r}; known: html, pdf")
    return formats


def cmd_run(args: argparse.Namespace) -> int:
    from reportkit.execution import run_reports

    result = run_reports(_context(args, sync=True), args.date, args.school, args.unit)
    if args.json:
        _print_json(result)
    else:
        _print_run(result)
    return EXIT_OK if result.ok else EXIT_FAILED


def _print_run(result: RunResult) -> None:
    ok = len(result.jobs) - len(result.failed)
    where = result.manifest if result.manifest.exists() else "not written"
    print(f"{ok} of {len(result.jobs)} reports rendered (run {result.run_id}); manifest: {where}")
    for note in result.notes:
        print(f"NOTE {note}")
    not_run = result.not_run
    for job in result.failed:
        err = job.error
        if job in not_run or err is None:
            continue
        cell = "" if err.cell_index is None else f" (cell {err.cell_index})"
        print(
            f"FAILED {job.kind} {job.id}{cell}: {err.ename}: {err.evalue}".rstrip(),
            file=sys.stderr,
        )
    if not_run:
        names = ", ".join(f"{j.kind} {j.id}" for j in not_run)
        print(f"NOT RUN (the batch stopped): {names}", file=sys.stderr)
    for error in result.errors:
        print(f"reportkit: {error}", file=sys.stderr)


def _add_lang(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", default=DEFAULTS.lang, choices=["zh-CN", "en"])


def _add_run_options(p: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    p.add_argument(
        "--jobs", type=int, default=d.jobs, help=f"notebooks executed at once (default {d.jobs})"
    )
    p.add_argument(
        "--formats",
        type=_formats,
        default=d.formats,
        help=f"html,pdf (default {','.join(d.formats)})",
    )
    _add_lang(p)
    p.add_argument(
        "--retries",
        type=int,
        default=d.retries,
        help=f"retries of a failed report (default {d.retries})",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=d.timeout,
        help=f"seconds a cell may run (default {d.timeout:g})",
    )
    p.add_argument(
        "--dask",
        metavar="ADDRESS",
        default=d.dask,
        help="run on a Dask cluster, e.g. tcp://host:8786",
    )
    p.add_argument(
        "--kernel-reuse",
        type=_positive_int,
        default=d.kernel_reuse,
        metavar="N",
        help=f"reports one kernel runs in turn, reset between them (default {d.kernel_reuse}; "
        "1: a fresh kernel per report)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more (got {text!r})")
    return value


# --- send / remind --------------------------------------------------------------


def cmd_send(args: argparse.Namespace) -> int:
    from reportkit.delivery import send_reports, summary_lines

    result = send_reports(_context(args, sync=True), args.date, args.school, args.unit)
    if args.json:
        _print_json(result)
        return EXIT_OK if result.ok else EXIT_FAILED
    for line in summary_lines(result):
        print(line)
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_remind(args: argparse.Namespace) -> int:
    from reportkit.delivery import send_reminders, summary_lines

    result = send_reminders(_context(args, sync=True), args.date)
    if args.json:
        _print_json(result)
        return EXIT_OK if result.ok else EXIT_FAILED
    for line in summary_lines(result):
        print(line)
    return EXIT_OK if result.ok else EXIT_FAILED


# --- daily / schedule -------------------------------------------------------------


def cmd_daily(args: argparse.Namespace) -> int:
    from reportkit import daily

    if args.check:
        ok, lines = daily.check_daily(_context(args), Path(args.inbox), Path(args.archive))
        print("\n".join(lines))
        print(f"reportkit daily: {'ready' if ok else 'would not start'}")
        return EXIT_OK if ok else EXIT_USAGE
    ctx = _context(args, sync=True)
    result = daily.run_daily(ctx, args.date, inbox=Path(args.inbox), archive=Path(args.archive))
    if args.json:
        _print_json(result)
    else:
        print("\n".join(result.summary_lines()))
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_schedule(args: argparse.Namespace) -> int:
    from reportkit import schedule
    from reportkit.config import parse_hhmm

    try:
        at = parse_hhmm(args.at)
    except ValueError:
        print(f"reportkit: --at must be HH:MM (got {args.at!r})", file=sys.stderr)
        return EXIT_USAGE
    ctx = _context(args)
    tz = ctx.schools.timezone
    job = schedule.plan(
        ctx.settings,
        at,
        tz,
        Path.cwd(),
        inbox=Path(args.inbox),
        archive=Path(args.archive),
        env_file=Path(args.env_file) if args.env_file else None,
    )
    from reportkit.store.engine import ensure_private_dir, private_mode

    ensure_private_dir(job.log.parent)  # cron opens the log before the job starts
    if not job.log.exists():  # and would make it 0644
        os.close(os.open(job.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, private_mode()))
    line = schedule.crontab_line(job)
    print("# crontab (crontab -e):")
    print(line)
    for name, text in schedule.systemd_units(job).items():
        print(f"\n# /etc/systemd/system/{name}")
        print(text, end="")
    print("\n# then: systemctl daemon-reload && systemctl enable --now reportkit-daily.timer")
    if job.secrets:
        listed = ", ".join(f"{name}=..." for name in job.secrets)
        print(f"# secrets: put {listed} in {job.env_file} (one NAME=value a line; chmod 600)")
    else:
        print(f"# secrets, when needed, go in {job.env_file} (NAME=value lines; chmod 600)")
    if args.check:
        checked = schedule.check(job)
        print("\n# schedule --check: the entry's command, as cron runs it, with daily --check")
        print("\n".join(checked.lines))
        if not checked.ok:
            return EXIT_USAGE
    if args.install:
        schedule.install_crontab(line)
        print("\ncrontab entry installed for the current user")
    return EXIT_OK


# --- console ------------------------------------------------------------------------


def cmd_console(args: argparse.Namespace) -> int:
    from reportkit.console import launch_console

    ctx = _context(args)
    ctx.require_store(rosters=False)  # the console reads the store: it must be there
    return launch_console(
        ctx.settings,
        app=args.app,
        port=args.port,
        ip=args.ip,
        token=args.token,
        open_browser=not args.no_browser,
    )


# --- audit / purge ------------------------------------------------------------


def cmd_audit(args: argparse.Namespace) -> int:
    from reportkit import store

    ctx = _context(args)
    engine = ctx.require_store(rosters=False)
    school = ctx.schools.school(args.school).id if args.school else None
    report = store.audit_report(engine, args.date, ctx.zone, school)
    if args.json:
        _print_json(report)
        return EXIT_OK
    print("\n".join(_audit_lines(report)))
    return EXIT_OK


def _audit_lines(report: Any) -> list[str]:
    """The audit report as plain lines: each event, then each revision's earlier values."""
    where = f" {report.school}" if report.school else ""
    lines = [f"audit {report.date.isoformat()}{where}: {len(report.events)} event(s)"]
    for e in report.events:
        detail = e["detail"]
        if e["event"] == "ingestion":
            here = detail.get("here", {})
            what = ", ".join(f"{k} {v}" for k, v in here.items() if v) or "nothing new"
            summary = f"{detail.get('kind')} {e['subject']}: {what}"
        elif e["event"] == "revision":
            summary = (
                f"{detail.get('count')} {detail.get('table')} row(s) replaced by {e['subject']}"
            )
        elif e["event"] == "purge":
            summary = f"before {detail.get('cutoff')}: {sum(detail.get('rows', {}).values())} rows"
        elif e["event"] == "send":
            summary = f"{detail.get('kind')} {detail.get('target_id')} to {e['subject']}"
        elif e["event"] == "followup":
            summary = f"{detail.get('person_id')} {detail.get('action')} by {detail.get('officer')}"
        else:
            summary = e["subject"]
        digest = f" [{e['sha256'][:12]}]" if e.get("sha256") else ""
        lines.append(
            f"{e['at']:%Y-%m-%d %H:%M:%S} {e['event']:<9} {e['school_id'] or '-':<8} "
            f"{summary}{digest} ({e['os_user']}@{e['host']})"
        )
    if report.revisions:
        lines.append(f"{len(report.revisions)} revision(s), earlier values:")
    for r in report.revisions:
        earlier = r["earlier"]
        who = earlier.get("person_id") or earlier.get("entry_id")
        values = ", ".join(
            f"{k}={v}"
            for k, v in earlier.items()
            if k not in ("school_id", "person_id", "entry_id", "date", "session", "name")
            and v not in (None, "")
        )
        lines.append(
            f"  {r['table']} {earlier.get('school_id')} {who} {earlier.get('session') or ''}: "
            f"{values} (written {r['written_at']:%H:%M}, replaced {r['revised_at']:%m-%d %H:%M})"
        )
    return lines


def cmd_purge(args: argparse.Namespace) -> int:
    from reportkit import store
    from reportkit.daily import today

    ctx = _context(args)
    engine = ctx.require_store(rosters=False)
    cutoff = args.before or store.retention_cutoff(today(ctx.schools), ctx.rules.retention_days)
    result = store.purge(
        engine,
        cutoff,
        ctx.zone,
        outputs=ctx.settings.outputs,
        archive=Path(args.archive),
        dry_run=args.dry_run,
    )
    if args.json:
        _print_json(result)
        return EXIT_OK if result.ok else EXIT_FAILED
    verb = "would delete" if result.dry_run else "deleted"
    rows = ", ".join(f"{name} {n}" for name, n in result.rows.items() if n) or "no rows"
    folders = ", ".join(f"{name} {n}" for name, n in result.folders.items()) or "no folders"
    print(f"purge before {cutoff.isoformat()}: {verb} {rows}; {folders} ({result.files} files)")
    for error in result.errors:
        print(f"FAILED {error}")
    return EXIT_OK if result.ok else EXIT_FAILED


# --- parser -------------------------------------------------------------------

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reportkit",
        description="Daily epidemic reporting for school districts: ingest, flag, render, send.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        _common(p, suppress=True)
        p.set_defaults(handler=handler)
        return p

    p = add("ingest", cmd_ingest, "read rosters, health logs or gate registers into the store")
    p.usage = "reportkit ingest [-h] [options] [roster|logs|entries] PATH [PATH ...]"
    p.add_argument(
        "paths",
        nargs="+",
        metavar="[KIND] PATH",
        help="roster, logs or entries, then files or folders; without a kind each file is "
        "read as its name says (名册: roster, 门卫: gate register, else health log), "
        "rosters first; with one, files of folders named as another kind are skipped",
    )
    p.add_argument(
        "--school",
        help="the school of the files (default: a folder named after a school id); rows "
        "naming another school are quarantined; without either, each row's school column",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--force",
        action="store_true",
        help="read files seen before again (after a roster or vocabulary fix)",
    )
    _add_lang(p)

    p = add("init", cmd_init, "create the store (and record the schools of schools.yaml)")

    p = add("demo", cmd_demo, "build the deterministic demo district and ingest it")
    p.add_argument("--root", default=".", help="where data/inbox is written (default .)")
    p.add_argument("--scale", type=int, default=1, help="multiply the number of schools")
    p.add_argument(
        "--ingest-through",
        type=_date,
        default=None,
        metavar="DATE",
        help="ingest days up to DATE only; later days stay in the inbox",
    )
    p.add_argument("--small", action="store_true", help="classes of 6-9 people, for quick trials")

    p = add(
        "flags", cmd_flags, "who has not reported, who needs attention, was each school on time"
    )
    p.add_argument("--date", type=_date, required=True)
    p.add_argument("--school", action="append", help="school id (repeatable; default all)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _add_lang(p)

    p = add("run", cmd_run, "execute and render the daily reports of schools and their units")
    p.add_argument("--date", type=_date, required=True)
    p.add_argument("--school", action="append", help="school id (repeatable; default all)")
    p.add_argument(
        "--unit",
        "--district",
        dest="unit",
        action="append",
        help="unit id (a district, town, county … or a central school; repeatable): its "
        "roll-up, with or without recipients, and the schools under it",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _add_run_options(p)

    for name, handler, help_ in (
        ("send", cmd_send, "email each school's report and each unit's roll-up, once"),
        ("remind", cmd_remind, "remind schools with people not yet reported, before the deadline"),
    ):
        p = add(name, handler, help_)
        p.add_argument("--date", type=_date, required=True)
        if name == "send":
            p.add_argument("--school", action="append", help="school id (repeatable; default all)")
            p.add_argument(
                "--unit",
                "--district",
                dest="unit",
                action="append",
                help="unit id (a district, town, county … or a central school; repeatable): its "
                "roll-up, with or without recipients, and the schools under it",
            )
        p.add_argument(
            "--dry-run",
            action="store_true",
            help="write .eml files under outputs/<date>/mail/, send nothing",
        )
        p.add_argument(
            "--force",
            action="store_true",
            help="send again what was already sent, or what may have arrived (outcome unknown)",
        )
        _add_lang(p)
        p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add(
        "daily", cmd_daily, "the afternoon job: ingest the inbox, run every school, roll up, send"
    )
    p.add_argument(
        "--date", type=_date, default=None, help="default: today in the configured time zone"
    )
    p.add_argument(
        "--inbox", default="data/inbox", help="where schools' files arrive (default data/inbox)"
    )
    p.add_argument(
        "--archive", default="data/archive", help="where ingested files go (default data/archive)"
    )
    p.add_argument("--no-send", action="store_true", help="render but send no email")
    p.add_argument(
        "--dry-run", action="store_true", help="write the emails as .eml files instead of sending"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--check",
        action="store_true",
        help="say whether the job would start (params, store, folders, lock); run nothing",
    )
    _add_run_options(p)

    p = add("audit", cmd_audit, "what happened to a date's data: the audit log and revisions")
    p.add_argument("--date", type=_date, required=True)
    p.add_argument("--school", help="school id: only that school's events and revisions")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add(
        "purge",
        cmd_purge,
        "delete health records, archived files and outputs older than retention_days",
    )
    p.add_argument(
        "--before",
        type=_date,
        default=None,
        metavar="DATE",
        help="delete what is dated before DATE (default: today minus rules.yaml's "
        "retention_days, 180)",
    )
    p.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    p.add_argument(
        "--archive", default="data/archive", help="the daily job's archive (default data/archive)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add(
        "schedule", cmd_schedule, "print a crontab line and systemd units for the afternoon job"
    )
    p.add_argument("--at", default="16:45", help="local time HH:MM (default 16:45)")
    p.add_argument(
        "--install", action="store_true", help="write the crontab entry for the current user"
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="run the entry's command as cron would (with daily --check): would it start?",
    )
    p.add_argument("--inbox", default="data/inbox", help="the job's inbox (default data/inbox)")
    p.add_argument(
        "--archive", default="data/archive", help="the job's archive (default data/archive)"
    )
    p.add_argument(
        "--env-file",
        metavar="FILE",
        help="the secrets file the entries read (default ./.env): PGPASSWORD, SMTP password",
    )

    p = add(
        "console",
        cmd_console,
        "open the data officer's console in JupyterLab (or Voila with --app)",
    )
    p.add_argument("--app", action="store_true", help="serve it as a no-code web app with Voila")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--ip", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--token", default=None, help="access token (default: a random one)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")

    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("reportkit")
    except PackageNotFoundError:
        return "0+unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("db", "params", "outputs"):
        if not hasattr(args, name):
            setattr(args, name, None)
    from reportkit.errors import ReportkitError

    try:
        return args.handler(args)
    except ReportkitError as exc:  # one line; the class says which exit code
        print(f"reportkit: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
