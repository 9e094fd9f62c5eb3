"""The demo county: deterministic files in the formats schools send, every injected
event found again by ingestion and the flag engine."""

from __future__ import annotations

import hashlib
import re
import zipfile
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa

from reportkit import demo, ingest, store
from reportkit.config import Rules, load_schools
from reportkit.demo import files, plan
from reportkit.errors import ConfigError
from reportkit.findings import load_findings

D = demo.DEMO_DATE


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _inbox(result: demo.DemoResult, day: date, school: str) -> Path:
    return result.root / "data" / "inbox" / day.isoformat() / school


def _log_file(result: demo.DemoResult, day: date, school: str) -> Path:
    [path] = [p for p in _inbox(result, day, school).iterdir() if "门卫" not in p.name]
    return path


@pytest.fixture(scope="module")
def default_demo(tmp_path_factory: pytest.TempPathFactory) -> demo.DemoResult:
    """The real default demo (8,000 people, 21 days), built and ingested on SQLite once."""
    root = tmp_path_factory.mktemp("demo")
    return demo.build_demo(root, root / "params", f"sqlite:///{root / 'reportkit.db'}")


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> demo.DemoResult:
    root = tmp_path_factory.mktemp("small")
    return demo.build_demo(root, root / "params", "sqlite://", small=True, ingest=False)


def test_same_seed_same_bytes(tmp_path: Path, small_demo: demo.DemoResult) -> None:
    again = demo.build_demo(tmp_path, tmp_path / "params", "sqlite://", small=True, ingest=False)
    assert _hashes(tmp_path) == _hashes(small_demo.root)
    assert again.events == small_demo.events
    other = demo.build_demo(
        tmp_path / "other", tmp_path / "p2", "sqlite://", small=True, ingest=False, seed=1, days=2
    )
    assert _hashes(tmp_path / "p2") != _hashes(tmp_path / "params")
    assert other.files == 1 + 22 + 2 * (22 * 2) - 2  # yaml, rosters, 2 days, no missing school


def _content_digest(root: Path) -> str:
    """sha256 of every file's path and content; a workbook's by its members' content (the
    compressed bytes depend on the zlib in use)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as book:
                for name in sorted(book.namelist()):
                    digest.update(name.encode() + b"\0" + book.read(name))
        else:
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_the_same_seed_writes_the_files_it_always_wrote(small_demo: demo.DemoResult) -> None:
    # the small demo's files as reportkit wrote them before and after the demo was split
    # into plan, events and files; only a change meant to change the demo's data may
    # change this digest (the last: the rosters name each class's head teacher, 班主任,
    # but for two schools; every health log and gate register kept its bytes)
    assert _content_digest(small_demo.root) == (
        "3bf60df9ffc7dd3b7d8b76098f2cc2eecd3c41c341d14cd2f40bd10018fda833"
    )


def test_schools_yaml_is_a_valid_county(small_demo: demo.DemoResult) -> None:
    path = small_demo.params_dir / "schools.yaml"
    assert path.read_text(encoding="utf-8").startswith(demo.GENERATED_MARKER)
    committed = Path(__file__).parents[2] / "params" / "schools.yaml"  # the example deployment
    assert path.read_text(encoding="utf-8") == committed.read_text(encoding="utf-8")
    config = load_schools(small_demo.params_dir)
    assert config.timezone == "Asia/Shanghai"
    # a city of two counties, towns, central schools with their village schools
    assert config.districts == []
    assert [(u.id, u.level) for u in config.units if u.parent is None] == [("c01", "市")]
    counties = [u for u in config.units if u.level == "县"]
    assert [(u.id, u.parent) for u in counties] == [("d01", "c01"), ("d02", "c01")]
    county = config.unit("d01")
    assert (county.name, county.recipients[0].email) == ("示范县", "wang@example.org")
    assert county.form is not None  # the example upward form
    assert (small_demo.params_dir / county.form.template).is_file()
    assert config.calendar_of("d02").closed == ["2020-02-21"]  # a holiday, inherited down
    assert all(config.calendar_of(s).closed == ["2020-02-21"] for s in config.schools_under("d02"))
    assert config.calendar_of("d01").closed is None
    towns = [u for u in config.units if u.level in ("镇", "乡")]
    assert len(towns) == 4
    assert {u.parent for u in towns} == {"d01", "d02"}
    assert set(config.schools_under("c01")) == {s.id for s in config.schools}
    assert [config.depth(u) for u in ("c01", "d01", towns[0].id)] == [0, 1, 2]
    assert len(config.schools) >= 20
    assert len({s.town for s in config.schools}) >= 3
    kinds = {s.kind for s in config.schools}
    assert {"primary", "village", "middle", "kindergarten"} <= kinds
    for school in config.schools:
        assert school.deadline == "16:30"
        assert school.recipients[0].email.endswith("@example.org")
        assert school.recipients[0].name.endswith("校长")
        if school.kind == "village":
            central = config.school(school.reports_to)
            assert central.kind == "primary"
            assert central.town == school.town
            assert school.parent == central.id  # the chain: village school -> central school
            assert central.id in config.rollup_ids
        if school.kind == "kindergarten":
            assert [str(s) for s in school.sessions] == ["morning"]
    assert any(s.name.endswith("中心小学") for s in config.schools)
    assert any(s.name.endswith("教学点") for s in config.schools)


def test_a_deployments_own_schools_yaml_is_never_overwritten(tmp_path: Path) -> None:
    own = tmp_path / "params" / "schools.yaml"
    own.parent.mkdir()
    own.write_text("timezone: Asia/Shanghai\nunits: []\nschools: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not written by the demo"):
        demo.build_demo(tmp_path, tmp_path / "params", "sqlite://", small=True, ingest=False)
    assert own.read_text(encoding="utf-8").startswith("timezone:")
    assert not (tmp_path / "data").exists()


def test_files_are_in_the_formats_schools_send(small_demo: demo.DemoResult) -> None:
    bad = small_demo.events["bad_rows"]
    gbk = _log_file(small_demo, D, bad["gbk_school"]).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        gbk.decode("utf-8")
    assert gbk.decode("gbk").startswith("日期,时段,学号,姓名,体温")
    assert "\r\n" in gbk.decode("gbk")
    encodings = {"utf-8": 0, "bom": 0}
    for path in (small_demo.root / "data" / "inbox" / D.isoformat()).glob("*/*.csv"):
        data = path.read_bytes()
        if data.startswith(b"\xef\xbb\xbf"):
            encodings["bom"] += 1
        elif path.parent.name != bad["gbk_school"]:
            data.decode("utf-8")
            encodings["utf-8"] += 1
    assert encodings["bom"] > 0
    assert encodings["utf-8"] > 0
    for school in bad["title_row_schools"]:
        book = openpyxl.load_workbook(_log_file(small_demo, D, school))
        sheet = book.active
        assert [str(r) for r in sheet.merged_cells.ranges] == ["A1:K1"]
        assert re.search(f"{D.month}月{D.day}日晨(午)?检登记表$", sheet["A1"].value)
        assert [c.value for c in sheet[2]][:3] == ["日期", "时段", "学号"]
        assert sheet["A3"].is_date
        assert isinstance(sheet["E3"].value, float)
    survey = pd.read_csv(_log_file(small_demo, D, bad["survey_school"]), dtype=str)
    assert list(survey.columns[:6]) == [
        "序号",
        "提交答卷时间",
        "所用时间",
        "来源",
        "来源详情",
        "来自IP",
    ]
    assert {"1、学号", "3、今日体温", "4、是否有以下症状"} <= set(survey.columns)
    gate = pd.read_csv(_inbox(small_demo, D, "s001") / "门卫登记.csv", dtype=str)
    assert list(gate.columns) == files.ENTRY_HEADER.split()
    assert gate["联系电话"].str.fullmatch(r"1[358]\d{9}").all()
    roster = pd.read_csv(small_demo.root / "data/inbox/roster/s002/名册.csv", dtype=str)
    students = roster[roster["身份"] == "学生"]
    assert students["学号"].str.startswith("0").all()  # ids that only survive as strings


def test_demo_date_has_a_missing_school_and_a_late_one(small_demo: demo.DemoResult) -> None:
    ev = small_demo.events
    assert not _inbox(small_demo, D, ev["missing_school"]).exists()
    assert _inbox(small_demo, D - timedelta(days=1), ev["missing_school"]).exists()
    late = pd.read_csv(_log_file(small_demo, D, ev["late_school"]), dtype=str)
    clock = pd.to_datetime(late["填报时间"], format="mixed").dt.time
    assert (clock > pd.Timestamp("16:30").time()).all()
    assert clock.max() >= pd.Timestamp("17:00").time()
    on_time = pd.read_csv(_log_file(small_demo, D, ev["zero_report_school"]), dtype=str)
    stamps = pd.to_datetime(on_time["填报时间"], format="mixed")
    assert stamps.dt.time.max() <= pd.Timestamp("15:30").time()
    assert set(on_time["症状"]) == {"无"}
    assert set(on_time["是否缺勤"]) == {"否"}


def test_scale_multiplies_counties(tmp_path: Path) -> None:
    result = demo.build_demo(
        tmp_path, tmp_path / "params", "sqlite://", scale=2, days=1, small=True, ingest=False
    )
    config = load_schools(tmp_path / "params")
    assert result.schools == len(config.schools) == 44
    assert [u.id for u in config.units if u.level == "县"] == ["d01", "d02", "d03", "d04"]
    assert len({s.name for s in config.schools}) == 44
    _, schools = plan.plan_schools(50, 0)
    assert schools[0].id == "s0001"
    assert len({s.id for s in schools}) == 1100


def test_write_log_csv(tmp_path: Path) -> None:
    log = demo.write_log_csv(tmp_path / "log.csv", 5000, 1000, roster=tmp_path / "roster.csv")
    frame = pd.read_csv(log, dtype=str)
    assert len(frame) == 5000
    assert list(frame.columns) == files.LOG_HEADER.split()
    assert not frame.duplicated(["日期", "时段", "学号"]).any()
    roster = pd.read_csv(tmp_path / "roster.csv", dtype=str)
    assert set(frame["学号"]) == set(roster["学号"])
    assert frame["学号"].iloc[0] == "P0000001"


def _assert_events_found(engine: sa.Engine, result: demo.DemoResult) -> None:
    """Every injected event is what the flag engine reports on the demo date; nothing else."""
    ev = result.events
    config = load_schools(result.params_dir)
    found = load_findings(engine, config, Rules(), result.demo_date)
    schools = found.schools.set_index("school_id")
    assert schools.loc[ev["late_school"], "submission"] == "late"
    assert schools.loc[ev["missing_school"], "submission"] == "missing"
    assert bool(schools.loc[ev["zero_report_school"], "zero_report"])
    assert (schools.drop(ev["late_school"])["submission"] != "late").all()

    def pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
        return set(zip(frame["school_id"], frame["person_id"], strict=True))

    people = store.load_people(engine)
    active = people[people["status"] == "active"]
    in_class = active[
        (active["school_id"] == ev["missing_class"][0])
        & (active["grade"] == ev["missing_class"][1])
        & (active["class"] == ev["missing_class"][2])
    ]
    whole_school = active[active["school_id"] == ev["missing_school"]]
    expected_missing = {(s, p) for s, p in ev["missing"]}
    expected_missing |= {(s, p) for s, p, _ in ev["unreachable"]}
    expected_missing |= pairs(in_class) | pairs(whole_school)
    assert len(in_class) > 0
    assert pairs(found.missing) == expected_missing
    unreachable = {(r.school_id, r.person_id): r.days for r in found.unreachable.itertuples()}
    assert unreachable == {(s, p): d for s, p, d in ev["unreachable"]}
    assert pairs(found.missing_sessions) == set(ev["noon_only_missing"])
    assert set(found.missing_sessions["session"]) == {"noon"}

    attention = found.attention.set_index(["school_id", "person_id"])
    level = attention["level"].to_dict()
    for key in ev["suspected"]:
        assert level[key] == "suspected"
    for school, person, temperature in ev["fever"]:
        assert level[school, person] == "symptomatic"
        assert attention.loc[(school, person), "temperature"] == pytest.approx(temperature)
    for school, person, _ in ev["respiratory"]:
        assert level[school, person] == "symptomatic"
    for school, person, first in ev["key_persons"]:
        assert level[school, person] == "key_person"
        row = attention.loc[(school, person)]
        assert row["exposure_date"] == first
        assert row["monitoring_day"] == (result.demo_date - first).days + 1
    school, grade, cls, cases = ev["cluster"]
    expected_attention = {*ev["suspected"], *((s, p) for s, p, *_ in ev["fever"])}
    expected_attention |= {(s, p) for s, p, *_ in ev["respiratory"] + ev["key_persons"]}
    expected_attention |= {(school, p) for p in cases}
    assert set(level) == expected_attention
    same_day = found.clusters[found.clusters["rule"] == "same_day"]
    assert len(same_day) == 1
    row = same_day.iloc[0]
    assert (row["school_id"], row["grade"], row["class"]) == (school, grade, cls)
    assert set(row["person_ids"]) == set(cases)
    assert set(found.clusters[["school_id", "grade", "class"]].itertuples(index=False)) == {
        (school, grade, cls)
    }
    illness = found.illness_absence
    assert pairs(illness[illness["unexplained"]]) == set(ev["illness_absence_unexplained"])
    assert not pairs(illness) & set(ev["personal_absence"])

    bad = ev["bad_rows"]
    dq = found.data_quality
    reasons = set(zip(dq["person_id"].fillna(""), dq["reason"], strict=True))
    for key in ("fahrenheit_converted", "impossible_temperature", "unknown_symptom"):
        assert {(p, key) for _, p, _ in bad[key]} <= reasons
    assert {(p, "unknown_person") for _, p in bad["unknown_person"]} <= reasons
    missing_ids = dq[dq["reason"] == "missing_person_id"]
    assert sorted(missing_ids["row"]) == sorted(r for _, _, r in bad["missing_person_id"])
    assert set(dq["school_id"]) == {bad["unknown_person"][0][0]}

    gate = {(r.school_id, r.flag, r.name) for r in found.entry_flags.itertuples()}
    assert gate == {
        (ev["gate_fever"][0], "fever", ev["gate_fever"][1]),
        (ev["gate_unapproved"][0], "unapproved", ev["gate_unapproved"][1]),
    }


def test_default_demo_on_sqlite(default_demo: demo.DemoResult) -> None:
    result = default_demo
    config = load_schools(result.params_dir)
    assert result.schools == len(config.schools) >= 20
    assert len({s.town for s in config.schools}) >= 3
    assert 7500 <= result.people <= 9000
    assert 290_000 <= result.rows <= 360_000
    assert {s.kind for s in config.schools} >= {"kindergarten", "middle", "primary", "village"}
    assert all(s.reports_to in config.by_id for s in config.schools if s.kind == "village")
    totals = result.ingestion
    assert result.errors == []
    assert {k: v["failed"] for k, v in totals.items()} == {"roster": 0, "logs": 0, "entries": 0}
    assert totals["roster"]["inserted"] == result.people
    assert totals["logs"]["rows_read"] == result.rows
    assert totals["logs"]["quarantined"] == 3  # two rows without ids, one unknown person
    assert totals["logs"]["findings"] == 4  # 98.6 °F, 45.0, 3.65, 牙疼
    engine = store.connect(result.db_url)
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(store.checkins)).scalar()
        stored = conn.execute(sa.select(store.people.c.person_id)).scalars().all()
    assert count == result.rows - 3
    assert any(p.startswith("0") for p in stored)
    _assert_events_found(engine, result)


def test_bad_rows_reach_quarantine_and_data_quality(tmp_path: Path, db_url: str) -> None:
    """A short small demo; the demo date left in the inbox, then ingested as the daily job does."""
    result = demo.build_demo(
        tmp_path, tmp_path / "params", db_url, small=True, days=5, ingest_through=D - timedelta(1)
    )
    engine = store.connect(db_url)
    assert store.load_checkins(engine, D, D).empty
    config = load_schools(result.params_dir)
    day = sorted((tmp_path / "data" / "inbox" / D.isoformat()).rglob("*.*"))
    for kind in ("logs", "entries"):
        paths = [p for p in day if ("门卫" in p.name) == (kind == "entries")]
        assert not ingest.ingest_paths(engine, paths, kind, config).failed
    bad = result.events["bad_rows"]
    with engine.connect() as conn:
        quarantined = conn.execute(sa.select(store.quarantine)).mappings().all()
        findings = conn.execute(sa.select(store.data_quality)).mappings().all()
    assert sorted((q["reason"], q["row"]) for q in quarantined if q["person_id"] is None) == [
        ("missing_person_id", row) for _, _, row in bad["missing_person_id"]
    ]
    assert [(q["person_id"], q["reason"]) for q in quarantined if q["person_id"]] == [
        (bad["unknown_person"][0][1], "unknown_person")
    ]
    # the sloppy school's upload refused earlier that day (whatever was ingested when)
    rejected = [f for f in findings if f["reason"] == "file_rejected"]
    assert [(f["school_id"], f["date"]) for f in rejected] == [(bad["file_rejected"][0][0], D)]
    assert Path(bad["file_rejected"][0][1]).is_file()
    findings = [f for f in findings if f["reason"] != "file_rejected"]
    assert sorted((f["person_id"], f["reason"], f["value"]) for f in findings) == sorted(
        (p, key, value)
        for key in ("fahrenheit_converted", "impossible_temperature", "unknown_symptom")
        for _, p, value in bad[key]
    )
    assert {q["file"] for q in quarantined} == {
        str(tmp_path / path) for _, path, _ in bad["missing_person_id"]
    }
    assert re.fullmatch(
        r"data/inbox/\d{4}-\d{2}-\d{2}/s\d{3}/.+\.csv", bad["missing_person_id"][0][1]
    )
    _assert_events_found(engine, result)
