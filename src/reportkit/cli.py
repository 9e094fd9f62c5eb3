"""The ``reportkit`` command: parses arguments and calls the library.

Heavy modules (pandas, SQLAlchemy, papermill, nbconvert) are imported inside the
command that needs them, so ``reportkit --help`` answers at once.

Exit codes: 0 success; 1 something failed (a file could not be read, a school's
report failed, a message was not sent); 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["main"]

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


def _settings(args: argparse.Namespace) -> Any:
    from reportkit.config import Settings

    return Settings.resolve(args.db, args.params, args.outputs)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


# --- ingest -------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    from reportkit import ingest, store

    settings = _settings(args)
    config = settings.schools()
    engine = store.connect(settings.db)
    store.sync_schools(engine, config)
    missing = [p for p in args.paths if not Path(p).exists()]
    for p in missing:
        print(f"reportkit: {p}: no such file or folder", file=sys.stderr)
    paths = [Path(p) for p in args.paths if Path(p).exists()]
    report = ingest.ingest_paths(
        engine, paths, args.kind, config, settings.rules(), school=args.school, force=args.force
    )
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_ingest(report)
    return EXIT_FAILED if (report.failed or missing) else EXIT_OK


def _print_ingest(report: Any) -> None:
    from rich.table import Table

    table = Table(title=f"ingest {report.kind}")
    cols = ["rows_read", "inserted", "updated", "unchanged", "quarantined", "findings"]
    table.add_column("file", overflow="fold")
    table.add_column("encoding")
    for c in cols:
        table.add_column(c, justify="right")
    for f in report.files:
        if f.error:
            table.add_row(
                f.path, f.encoding or "", f"[red]{f.error}[/red]", *[""] * (len(cols) - 1)
            )
        else:
            note = " (already ingested)" if f.already_ingested else ""
            table.add_row(f.path + note, f.encoding or "", *[str(getattr(f, c)) for c in cols])
    table.add_row("total", "", *[str(getattr(report, c)) for c in cols], style="bold")
    _console().print(table)


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
    )
    print(result.summary())
    return EXIT_OK


# --- flags --------------------------------------------------------------------


def cmd_flags(args: argparse.Namespace) -> int:
    from reportkit import flags, store

    settings = _settings(args)
    config = settings.schools()
    for school_id in args.school or []:
        config.school(school_id)
    engine = store.connect(settings.db)
    findings = flags.load_findings(engine, config, settings.rules(), args.date, args.school or None)
    if args.json:
        print(json.dumps(findings.to_json(), ensure_ascii=False, indent=2))
    else:
        _console().print(flags.summary_table(findings, lang=args.lang))
    return EXIT_OK


# --- run ----------------------------------------------------------------------


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    bad = [f for f in formats if f not in ("html", "pdf")]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown format {bad[0]!r}; known: html, pdf")
    return formats


def cmd_run(args: argparse.Namespace) -> int:
    from reportkit import runner

    settings = _settings(args)
    result = runner.run_reports(
        settings,
        args.date,
        args.school,
        args.district,
        jobs=args.jobs,
        lang=args.lang,
        formats=args.formats,
        retries=args.retries,
        timeout=args.timeout,
        executor=_dask_executor(args),
        kernel_reuse=args.kernel_reuse,
    )
    _print_run(result)
    return EXIT_OK if result.ok else EXIT_FAILED


def _dask_executor(args: argparse.Namespace) -> Any:
    if not getattr(args, "dask", None):
        return None
    from reportkit.cluster import dask_executor

    return dask_executor(args.dask, kernel_reuse=args.kernel_reuse)


def _print_run(result: Any) -> None:
    ok = len(result.jobs) - len(result.failed)
    where = result.manifest if result.manifest.exists() else "not written"
    print(f"{ok} of {len(result.jobs)} reports rendered (run {result.run_id}); manifest: {where}")
    for note in result.notes:
        print(f"NOTE {note}")
    not_run = [j for j in result.failed if (j.error or {}).get("ename") == "NotRun"]
    for job in result.failed:
        err = job.error or {}
        if job in not_run:
            continue
        cell = "" if err.get("cell_index") is None else f" (cell {err['cell_index']})"
        print(
            f"FAILED {job.kind} {job.id}{cell}: {err.get('ename')}: {err.get('evalue', '')}".rstrip(),
            file=sys.stderr,
        )
    if not_run:
        names = ", ".join(f"{j.kind} {j.id}" for j in not_run)
        print(f"NOT RUN (the batch stopped): {names}", file=sys.stderr)
    for error in result.errors:
        print(f"reportkit: {error}", file=sys.stderr)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", type=int, default=2, help="notebooks executed at once (default 2)")
    p.add_argument(
        "--formats", type=_formats, default=("html", "pdf"), help="html,pdf (default both)"
    )
    p.add_argument("--lang", default="zh-CN", choices=["zh-CN", "en"])
    p.add_argument("--retries", type=int, default=1, help="retries of a failed report (default 1)")
    p.add_argument(
        "--timeout", type=float, default=300.0, help="seconds a cell may run (default 300)"
    )
    p.add_argument("--dask", metavar="ADDRESS", help="run on a Dask cluster, e.g. tcp://host:8786")
    p.add_argument(
        "--kernel-reuse",
        type=_positive_int,
        default=20,
        metavar="N",
        help="reports one kernel runs in turn, reset between them (default 20; 1: a fresh "
        "kernel per report)",
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
    from reportkit import deliver

    result = deliver.send_reports(
        _settings(args),
        args.date,
        args.school,
        args.district,
        dry_run=args.dry_run,
        force=args.force,
        lang=args.lang,
    )
    for line in deliver.summary_lines(result):
        print(line)
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_remind(args: argparse.Namespace) -> int:
    from reportkit import deliver

    result = deliver.send_reminders(
        _settings(args), args.date, force=args.force, dry_run=args.dry_run, lang=args.lang
    )
    for line in deliver.summary_lines(result):
        print(line)
    return EXIT_OK if result.ok else EXIT_FAILED


# --- daily / schedule -------------------------------------------------------------


def cmd_daily(args: argparse.Namespace) -> int:
    from reportkit import daily

    settings = _settings(args)
    try:
        result = daily.run_daily(
            settings,
            args.date,
            inbox=Path(args.inbox),
            archive=Path(args.archive),
            jobs=args.jobs,
            lang=args.lang,
            formats=args.formats,
            retries=args.retries,
            timeout=args.timeout,
            send=not args.no_send,
            dry_run=args.dry_run,
            executor=_dask_executor(args),
            kernel_reuse=args.kernel_reuse,
        )
    except daily.LockedError as exc:
        print(f"reportkit: {exc}", file=sys.stderr)
        return EXIT_FAILED
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
    settings = _settings(args)
    tz = settings.schools().timezone
    workdir = Path.cwd()
    line = schedule.crontab_line(at, workdir, tz)
    print("# crontab (crontab -e):")
    print(line)
    for name, text in schedule.systemd_units(at, workdir, tz).items():
        print(f"\n# /etc/systemd/system/{name}")
        print(text, end="")
    print("\n# then: systemctl daemon-reload && systemctl enable --now reportkit-daily.timer")
    if args.install:
        schedule.install_crontab(line)
        print("\ncrontab entry installed for the current user")
    return EXIT_OK


# --- console ------------------------------------------------------------------------


def cmd_console(args: argparse.Namespace) -> int:
    from reportkit.console import launch_console

    return launch_console(
        _settings(args),
        app=args.app,
        port=args.port,
        ip=args.ip,
        token=args.token,
        open_browser=not args.no_browser,
    )


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
    p.add_argument("kind", choices=["roster", "logs", "entries"])
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    p.add_argument("--school", help="school id for files without a school column")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--force",
        action="store_true",
        help="read files seen before again (after a roster or vocabulary fix)",
    )

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

    p = add(
        "flags", cmd_flags, "who has not reported, who needs attention, was each school on time"
    )
    p.add_argument("--date", type=_date, required=True)
    p.add_argument("--school", action="append", help="school id (repeatable; default all)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--lang", default="zh-CN", choices=["zh-CN", "en"])

    p = add("run", cmd_run, "execute and render the daily reports of schools and their districts")
    p.add_argument("--date", type=_date, required=True)
    p.add_argument("--school", action="append", help="school id (repeatable; default all)")
    p.add_argument("--district", action="append", help="district id (repeatable)")
    _add_run_options(p)

    for name, handler, help_ in (
        ("send", cmd_send, "email each school's report and each district's roll-up, once"),
        ("remind", cmd_remind, "remind schools with people not yet reported, before the deadline"),
    ):
        p = add(name, handler, help_)
        p.add_argument("--date", type=_date, required=True)
        if name == "send":
            p.add_argument("--school", action="append", help="school id (repeatable; default all)")
            p.add_argument("--district", action="append", help="district id (repeatable)")
        p.add_argument(
            "--dry-run",
            action="store_true",
            help="write .eml files under outputs/<date>/mail/, send nothing",
        )
        p.add_argument("--force", action="store_true", help="send again what was already sent")
        p.add_argument("--lang", default="zh-CN", choices=["zh-CN", "en"])

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
    _add_run_options(p)

    p = add(
        "schedule", cmd_schedule, "print a crontab line and systemd units for the afternoon job"
    )
    p.add_argument("--at", default="16:45", help="local time HH:MM (default 16:45)")
    p.add_argument(
        "--install", action="store_true", help="write the crontab entry for the current user"
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
    from reportkit.errors import ConfigError, ReportkitError

    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"reportkit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ReportkitError as exc:
        print(f"reportkit: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
