"""A deterministic synthetic county: the demo, the tests' data and the benchmarks' load.

:func:`build_demo` writes what a county's schools send in February 2020 — the
deployment's ``schools.yaml``, one roster per school, 21 days of 晨午检 exports
in the formats schools really use (UTF-8, UTF-8 with BOM, GBK, XLSX under a
merged title row, a 问卷星 survey export) and gate registers (门卫登记) — with
known events injected on the demo date (missing people and classes, a late and
a missing school, fevers, a suspected case, a class cluster, key-area
travellers, unexplained illness absences, bad rows). The events are recorded
in :attr:`DemoResult.events`, so tests can check the flag engine finds each of
them; then everything is ingested through :func:`reportkit.ingest.ingest_paths`.
Same seed, same bytes. Log rows are generated and formatted per school with
numpy, so ``scale=100`` (2,200 schools, ~800,000 people) is written in minutes.

The parts: the county plan (:mod:`reportkit.demo.plan`), the events
(:mod:`reportkit.demo.events`), the file writers (:mod:`reportkit.demo.files`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reportkit.demo.events import Planner, plan_events, school_entries, school_logs
from reportkit.demo.files import ENTRY_HEADER, write_csv, write_logs, write_roster
from reportkit.demo.forms import write_county_form
from reportkit.demo.plan import (
    DEMO_DATE,
    make_roster,
    person_names,
    plan_schools,
    schools_yaml,
    write_schools_yaml,
)

if TYPE_CHECKING:
    from reportkit.ingest import Kind

__all__ = ["DemoResult", "build_demo"]


@dataclass
class DemoResult:
    """What :func:`build_demo` wrote and ingested, and the events it injected."""

    root: Path
    params_dir: Path
    db_url: str
    demo_date: date
    schools: int
    people: int
    files: int
    rows: int  # health-log rows written
    events: dict[str, Any]
    ingestion: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> totals
    errors: list[str] = field(default_factory=list)  # files ingestion could not read
    # files an earlier run of the demo date refused (in data/rejected/, with the reason)
    rejected: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [
            f"demo county: {self.root / 'data' / 'inbox'}, {self.params_dir / 'schools.yaml'}, "
            f"demo date {self.demo_date}",
            f"{self.schools} schools, {self.people} people, {self.files} files, "
            f"{self.rows} check-in rows written in {self.seconds.get('write', 0):.1f} s",
        ]
        for kind, totals in self.ingestion.items():
            lines.append(f"ingested {kind}: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
        if "ingest" in self.seconds:
            lines.append(f"ingestion took {self.seconds['ingest']:.1f} s")
        lines += [f"not ingested: {error}" for error in self.errors]
        lines += [f"rejected earlier that day: {path}" for path in self.rejected]
        return "\n".join(lines)


def build_demo(
    root: Path,
    params_dir: Path,
    db_url: str,
    *,
    demo_date: date = DEMO_DATE,
    days: int = 21,
    scale: int = 1,
    seed: int = 20200210,
    ingest: bool = True,
    ingest_through: date | None = None,
    small: bool = False,
) -> DemoResult:
    """Write the demo county's files and ingest them; the same arguments give the same bytes.

    Writes ``params_dir/schools.yaml`` (a :class:`ConfigError` if a file not written by
    the demo is there), ``root/data/inbox/roster/<school>/名册.*`` and, per day,
    ``root/data/inbox/<date>/<school>/`` with the 晨午检 export and ``门卫登记.csv``.
    ``scale`` counties of 22 schools; the events are injected in the first.
    ``ingest_through`` ingests the days up to it only, leaving later ones in the inbox
    for ``reportkit daily``; ``small`` makes classes of 6-9 for quick tests.
    """
    if days < 1 or scale < 1:
        raise ValueError("days and scale must be at least 1")
    started = time.perf_counter()
    root, params_dir = Path(root), Path(params_dir)
    districts, schools = plan_schools(scale, seed)
    width = max(3, len(str(len(schools))))
    principals = {  # a stream of their own: the same schools.yaml with small=True
        s.id: str(person_names(np.random.default_rng([seed, 4, s.number]), 1, staff=True)[0])
        for s in schools
    }
    write_schools_yaml(params_dir, schools_yaml(districts, schools, principals))
    if not (params_dir / "forms" / "county_daily.xlsx").exists():  # the example upward form
        write_county_form(params_dir)
    rosters = {
        s.id: make_roster(
            s, np.random.default_rng([seed, 1, s.number]), small, width, principals[s.id]
        )
        for s in schools
    }
    dates = [demo_date - timedelta(days=days - 1 - i) for i in range(days)]
    planners: dict[str, Planner] = {}
    events: dict[str, Any] = {}
    for k, district in enumerate(districts):
        members = [s for s in schools if s.district == district["id"]]
        planners[district["id"]] = plan = Planner(
            members, rosters, dates, np.random.default_rng([seed, 2, k])
        )
        events = plan_events(plan) if k == 0 else events
        plan.background(events.get("zero_report_school") if k == 0 else None)
    inbox = root / "data" / "inbox"
    written: dict[Any, list[Path]] = defaultdict(list)
    rows = 0
    for school in schools:
        plan, rng = planners[school.district], np.random.default_rng([seed, 3, school.number])
        roster = rosters[school.id]
        staff = roster.loc[(roster["role"] == "教职工") & roster["active"], "name"].to_numpy()
        written["roster"].append(write_roster(inbox / "roster" / school.id, school, roster))
        for today, columns, seconds in school_logs(school, roster, dates, plan, rng):
            folder = inbox / today.isoformat() / school.id
            extra = plan.extra.get(school.id, []) if today == dates[-1] else []
            path, typed = write_logs(folder, school, today, columns, seconds, extra, rng)
            written[today, "logs"].append(path)
            rows += len(columns[2]) + len(typed)
            for (_, _, reason), row in zip(plan.extra[school.id], typed, strict=False):
                if reason == "missing_person_id":
                    events["bad_rows"][reason].append(
                        (school.id, path.relative_to(root).as_posix(), row)
                    )
            event = plan.gate.get(school.id) if today == dates[-1] else None
            entries = school_entries(school, staff, today, rng, event)
            if event:
                events[f"gate_{event}"] = (school.id, entries[-1][1], entries[-1][0])
            columns = [np.array(c, dtype=object) for c in zip(*sorted(entries), strict=True)]
            written[today, "entries"].append(
                write_csv(folder / "门卫登记.csv", school, ENTRY_HEADER, columns)
            )
    result = DemoResult(
        root=root,
        params_dir=params_dir,
        db_url=db_url,
        demo_date=demo_date,
        schools=len(schools),
        people=sum(len(r) for r in rosters.values()),
        files=1 + sum(len(v) for v in written.values()),
        rows=rows,
        events=events,
        seconds={"write": round(time.perf_counter() - started, 2)},
    )
    if ingest:
        started = time.perf_counter()
        through = [d for d in dates if ingest_through is None or d <= ingest_through]
        result.ingestion, result.errors = _ingest(params_dir, db_url, written, through)
        sloppy = events.get("bad_rows", {}).get("unknown_person", [(None,)])[0][0]
        if sloppy is not None:
            result.rejected = _rejected_upload(root, params_dir, db_url, demo_date, sloppy)
            events["bad_rows"]["file_rejected"] = [(sloppy, result.rejected[0])]
        result.seconds["ingest"] = round(time.perf_counter() - started, 2)
    return result


def _ingest(
    params_dir: Path, db_url: str, written: dict[Any, list[Path]], dates: list[date]
) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Rosters, then each day's logs and gate registers, through the real ingestion path."""
    from reportkit import ingest, store
    from reportkit.config import load_rules, load_schools
    from reportkit.ingest import SheetReader

    config, rules = load_schools(params_dir), load_rules(params_dir)
    engine = store.connect(db_url)
    store.sync_schools(engine, config)
    totals: dict[str, dict[str, int]] = {}
    errors: list[str] = []
    day_kinds: tuple[Kind, ...] = ("logs", "entries")
    batches: list[tuple[Kind, list[Path]]] = [("roster", written["roster"])]
    batches += [(kind, written[d, kind]) for d in dates for kind in day_kinds]
    with SheetReader(rules.limits) as sheets:  # one reader process for every day's workbooks
        reports = [
            ingest.ingest_paths(engine, paths, kind, config, rules, sheets=sheets)
            for kind, paths in batches
        ]
    for (kind, _), report in zip(batches, reports, strict=True):
        counts = report.to_json()
        total = totals.setdefault(kind, {"files": 0, "failed": 0})
        total["files"] += len(counts.pop("files"))
        total["failed"] += len(report.failed)
        errors += [str(f.error) for f in report.failed]
        for key, value in counts.items():
            if isinstance(value, int):  # the counts, not kind or skipped files
                total[key] = total.get(key, 0) + value
    return totals, errors


def _rejected_upload(
    root: Path, params_dir: Path, db_url: str, day: date, school_id: str
) -> list[str]:
    """The demo date's first upload of the sloppy school, cut off at 0 bytes: refused by
    a run earlier that day, so it is in ``data/rejected/`` with its reason and is a
    finding of the school's data-quality section (the later, whole export is read)."""
    from reportkit import ingest, layout, store
    from reportkit.config import load_rules, load_schools

    config = load_schools(params_dir)
    archive = root / "data" / "archive"
    # as it arrived, relative to the demo's root: the same bytes wherever it is built
    name = f"{day.month}月{day.day}日晨午检(1).csv"
    source = Path("data") / "inbox" / day.isoformat() / school_id / name
    kept = layout.rejected_dir(archive, day, None) / school_id / source.name
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(b"")
    engine = store.connect(db_url)
    try:
        report = ingest.ingest_paths(
            engine, [kept], "logs", config, load_rules(params_dir), school=school_id
        )
        (refused,) = report.failed
        ingest.record_rejection(
            engine,
            refused,
            source=source,
            kept=kept,
            school_id=school_id,
            day=day,
            zone=config.zone(),
            at=datetime(day.year, day.month, day.day, 12, 5, tzinfo=config.zone()),  # same bytes
        )
    finally:
        engine.dispose()
    return [str(kept)]
