"""A day's small files ingested together store exactly what each file ingested alone does.

``ingest_paths`` prepares and writes many schools' health logs, and many schools' gate
registers, of the same headers as one batch in one transaction. These tests ingest the
demo county's day (22 schools' exports, with the demo's bad rows: unknown people, a
wrong date, duplicates, Fahrenheit, unknown symptoms; 22 gate registers, and registers
made here with times of day alone, dated by their names, and bad entry times) once in
one call and once a file per call, on SQLite and on PostgreSQL, and compare every table
an ingestion writes: check-ins or entries, quarantine, data-quality findings,
ingestions, revisions and the audit log, and every file's report.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from reportkit import ingest, store
from reportkit.config import Settings
from reportkit.demo import DEMO_DATE, build_demo
from tests.conftest import _new_pg_db

# columns that differ by when or by which call a row was written, not by what it holds
_WHEN = {"id", "created_at", "updated_at", "at", "revised_at", "os_user", "host", "run_id"}


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo county's files (small classes, two days), not ingested."""
    root = tmp_path_factory.mktemp("grouped")
    build_demo(
        root, root / "params", f"sqlite:///{root / 'unused.db'}", small=True, days=2, ingest=False
    )
    return root


@pytest.fixture(params=["sqlite", "postgresql"])
def two_urls(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'together.db'}", f"sqlite:///{tmp_path / 'alone.db'}"
    cluster = request.getfixturevalue("pg_cluster")
    return _new_pg_db(cluster), _new_pg_db(cluster)


def _setup(url: str, root: Path):
    settings = Settings.resolve(url, root / "params", root / "outputs")
    config, rules = settings.schools(), settings.rules()
    engine = store.connect(url)
    store.sync_schools(engine, config)
    report = ingest.ingest_paths(
        engine, [root / "data" / "inbox" / "roster"], "roster", config, rules
    )
    assert not report.failed
    return engine, config, rules


def _day_files(root: Path, day) -> list[Path]:
    return sorted((root / "data" / "inbox" / day.isoformat()).rglob("*晨午检*"))


def _plain_csvs(files: list[Path]) -> list[Path]:
    """The UTF-8 CSV exports whose first line is the header, with a 体温 column."""
    out = []
    for path in files:
        try:
            first = path.read_bytes().decode("utf-8-sig").split("\n", 1)[0]
        except UnicodeDecodeError:
            continue
        if path.suffix == ".csv" and "体温" in first.split(","):
            out.append(path)
    return out


def _with_temperature(source: Path, target: Path, rows: tuple[int, ...], value: str) -> Path:
    lines = source.read_bytes().decode("utf-8-sig").splitlines()
    at = lines[0].split(",").index("体温")
    for i in rows:
        cells = lines[i].split(",")
        cells[at] = value
        lines[i] = ",".join(cells)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def _contents(engine, kind: str = "logs") -> dict[str, list]:
    """Every row an ingestion writes, without when and by which call; sorted."""
    out = {}
    rows_of = {"logs": store.checkins, "entries": store.entries}[kind]
    revisions = {"logs": store.checkin_revisions, "entries": store.entry_revisions}[kind]
    tables = [rows_of, store.quarantine, store.data_quality, store.ingestions, revisions]
    tables.append(store.audit_log)
    with engine.connect() as conn:
        for table in tables:
            rows = []
            for row in conn.execute(sa.select(table)):
                values = {k: v for k, v in row._mapping.items() if k not in _WHEN}
                if "detail" in values:
                    values["detail"] = json.loads(values["detail"])
                    values["detail"].pop("ids", None)  # revision ids: numbered per store
                rows.append(values)
            out[table.name] = sorted(rows, key=lambda r: json.dumps(r, default=str, sort_keys=True))
    return out


def _created(engine, kind: str = "logs") -> list:
    with engine.connect() as conn:
        created = sa.select(store.ingestions.c.created_at).where(store.ingestions.c.kind == kind)
        return list(conn.execute(created).scalars())


def _ingest_both(together, alone, files: list[Path], kind="logs") -> tuple[list, list]:
    (engine_a, config, rules), (engine_b, _, _) = together, alone
    grouped = ingest.ingest_paths(engine_a, files, kind, config, rules)
    single = [ingest.ingest_paths(engine_b, [f], kind, config, rules).files[0] for f in files]
    return [f.to_json() for f in grouped.files], [f.to_json() for f in single]


def test_a_day_of_files_ingested_together_stores_what_each_alone_stores(county, two_urls):
    together, alone = _setup(two_urls[0], county), _setup(two_urls[1], county)
    files = _day_files(county, DEMO_DATE)  # the day the demo's bad rows are on
    assert len(files) >= 20
    reports_a, reports_b = _ingest_both(together, alone, files)
    assert reports_a == reports_b
    assert sum(r["quarantined"] for r in reports_a) > 0  # the demo's bad rows are in it
    assert sum(r["findings"] for r in reports_a) > 0
    a, b = _contents(together[0]), _contents(alone[0])
    assert a == b
    assert len(a["checkins"]) > 1000
    # the files went in together: one transaction, one time for all their ingestions
    assert len(set(_created(together[0]))) < len(files) // 2
    assert len(set(_created(alone[0]))) == len(files)
    # and a second time, nothing changes: each file is known by its content
    again = ingest.ingest_paths(together[0], files, "logs", *together[1:])
    assert all(f.already_ingested for f in again.files)
    assert _contents(together[0]) == a


def test_corrected_files_ingested_together_keep_each_files_revisions(county, two_urls, tmp_path):
    """The next day's exports, then a corrected copy of three schools' (a temperature
    changed on their first rows): the revisions name the file that replaced them."""
    together, alone = _setup(two_urls[0], county), _setup(two_urls[1], county)
    files = _day_files(county, DEMO_DATE)
    _ingest_both(together, alone, files)
    corrected = [
        _with_temperature(
            source,
            tmp_path / "corrected" / source.parent.name / f"更正{source.name}",
            (1, 2),
            "38.6",
        )
        for source in _plain_csvs(files)[:3]
    ]
    assert len(corrected) == 3
    reports_a, reports_b = _ingest_both(together, alone, corrected)
    assert reports_a == reports_b
    assert [r["updated"] for r in reports_a] == [2, 2, 2]
    a, b = _contents(together[0]), _contents(alone[0])
    assert a == b
    revisions = a["checkin_revisions"]
    assert len(revisions) == 6
    shas = {r["replaced_by"] for r in revisions}
    with together[0].connect() as conn:
        stored = conn.execute(sa.select(store.ingestions.c.path, store.ingestions.c.sha256))
        by_path = {path: sha for path, sha in stored}
    assert shas == {by_path[str(p)] for p in corrected}


def test_a_school_without_a_roster_fails_alone_and_the_rest_go_in(county, two_urls):
    """A batch that cannot be written (a school whose roster was never ingested) is
    ingested a file at a time: the school's file fails, naming the school; the others
    are stored, and the same as when each file goes alone."""
    together, alone = _setup(two_urls[0], county), _setup(two_urls[1], county)
    files = _day_files(county, DEMO_DATE)
    victim = files[4].parent.name
    for engine, _, _ in (together, alone):
        with engine.begin() as conn:
            conn.execute(sa.delete(store.people).where(store.people.c.school_id == victim))
    reports_a, reports_b = _ingest_both(together, alone, files)
    assert reports_a == reports_b
    failed = [r for r in reports_a if "error" in r]
    assert [Path(r["path"]).parent.name for r in failed] == [victim]
    assert victim in failed[0]["error"]
    assert _contents(together[0]) == _contents(alone[0])


def test_a_second_file_of_a_school_goes_in_after_the_first(county, two_urls, tmp_path):
    """Two exports of one school in one call (the morning's, then a fuller one): the
    later one is ingested after the first, as when each is ingested alone."""
    together, alone = _setup(two_urls[0], county), _setup(two_urls[1], county)
    files = _plain_csvs(_day_files(county, DEMO_DATE - timedelta(days=1)))[:6]
    assert len(files) == 6
    second = tmp_path / "inbox" / files[2].parent.name / "晨午检(2).csv"
    _with_temperature(files[2], second, (1,), "37.9")
    ordered = [*files[:3], second, *files[3:]]
    reports_a, reports_b = _ingest_both(together, alone, ordered)
    assert reports_a == reports_b
    assert reports_a[3]["updated"] == 1
    assert _contents(together[0]) == _contents(alone[0])


# --- gate registers -----------------------------------------------------------------


def _registers(root: Path, day) -> list[Path]:
    return sorted((root / "data" / "inbox" / day.isoformat()).rglob("门卫登记*"))


def _rewrite(source: Path, target: Path, edit) -> Path:
    """A copy of a register with ``edit(row number, cells)`` applied to each data row."""
    lines = source.read_bytes().decode("utf-8-sig").splitlines()
    header = lines[0].split(",")
    out = [lines[0]]
    for number, line in enumerate(lines[1:], start=1):
        cells = line.split(",")
        edit(number, cells, header)
        out.append(",".join(cells))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(out) + "\n", encoding="utf-8")
    return target


def _time_of_day(number: int, cells: list[str], header: list[str]) -> None:
    """Entry times written as a time of day (the date is the file name's); the first
    row's time left empty, the second's unreadable."""
    at = header.index("进校时间")
    cells[at] = cells[at].split(" ")[-1]
    if number == 1:
        cells[at] = ""
    elif number == 2:
        cells[at] = "25:99"


def test_a_day_of_gate_registers_ingested_together_stores_what_each_alone_stores(
    county, two_urls, tmp_path
):
    together, alone = _setup(two_urls[0], county), _setup(two_urls[1], county)
    files = _registers(county, DEMO_DATE)
    assert len(files) >= 20
    # three schools' registers of the day before, dated by their names alone
    dated = [
        _rewrite(source, tmp_path / "inbox" / source.parent.name / name, _time_of_day)
        for source, name in zip(
            files[:3],
            ["2020年2月27日门卫登记.csv"] * 2 + ["2020年2月26日门卫登记.csv"],
            strict=True,
        )
    ]
    files = [*files, *dated]
    reports_a, reports_b = _ingest_both(together, alone, files, "entries")
    assert reports_a == reports_b
    assert not [r for r in reports_a if "error" in r]
    assert [r["quarantined"] for r in reports_a[-3:]] == [2, 2, 2]
    a, b = _contents(together[0], "entries"), _contents(alone[0], "entries")
    assert a == b
    days = {str(r["date"]) for r in a["entries"] if r["source_file"] in map(str, dated)}
    assert days == {"2020-02-27", "2020-02-26"}
    assert len(a["entries"]) > 60
    # in one transaction (two: the files of other title dates), not one per file
    assert len(set(_created(together[0], "entries"))) <= 3
    assert len(set(_created(alone[0], "entries"))) == len(files)
    again = ingest.ingest_paths(together[0], files, "entries", *together[1:])
    assert all(f.already_ingested for f in again.files)
    assert _contents(together[0], "entries") == a


def test_corrected_gate_registers_ingested_together_keep_each_files_revisions(
    county, two_urls, tmp_path
):
    together, alone = _setup(two_urls[0], county), _setup(two_urls[1], county)
    files = _registers(county, DEMO_DATE)
    _ingest_both(together, alone, files, "entries")

    def warmer(number: int, cells: list[str], header: list[str]) -> None:
        if number <= 2:
            cells[header.index("体温")] = "37.6"

    corrected = [
        _rewrite(source, tmp_path / "corrected" / source.parent.name / "更正门卫登记.csv", warmer)
        for source in files[:3]
    ]
    reports_a, reports_b = _ingest_both(together, alone, corrected, "entries")
    assert reports_a == reports_b
    assert [r["updated"] for r in reports_a] == [2, 2, 2]
    a, b = _contents(together[0], "entries"), _contents(alone[0], "entries")
    assert a == b
    revisions = a["entry_revisions"]
    assert len(revisions) == 6
    with together[0].connect() as conn:
        stored = conn.execute(sa.select(store.ingestions.c.path, store.ingestions.c.sha256))
        by_path = {path: sha for path, sha in stored}
    assert {r["replaced_by"] for r in revisions} == {by_path[str(p)] for p in corrected}
    # each file's audit names its own revisions (3 files, one revision row each)
    revised = [r for r in a["audit_log"] if r["event"] == "revision"]
    assert sorted(r["subject"] for r in revised) == sorted(map(str, corrected))
    assert [r["detail"]["count"] for r in revised] == [2, 2, 2]
