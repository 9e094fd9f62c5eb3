"""Ingestion into the store, on SQLite and PostgreSQL: values, quarantine, findings, reruns."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from reportkit import ingest, store
from reportkit.config import Rules, SchoolsConfig
from reportkit.ingest import FileReport, IngestReport, ingest_paths

LOG_HEADER = [
    "学号",
    "姓名",
    "日期",
    "时段",
    "体温",
    "症状",
    "是否缺勤",
    "缺勤原因",
    "14天内是否到过重点地区",
    "是否接触确诊或疑似病例",
    "填报时间",
]


@pytest.fixture
def config() -> SchoolsConfig:
    return SchoolsConfig.model_validate(
        {
            "districts": [{"id": "d01", "name": "示范区"}],
            "schools": [
                {"id": "s001", "name": "第一小学", "district": "d01"},
                {"id": "s002", "name": "第二中学", "district": "d01"},
                {"id": "s003", "name": "第三小学", "district": "d01"},
            ],
        }
    )


def write_csv(path: Path, rows: list[list[object]], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding=encoding) as out:
        csv.writer(out).writerows(rows)
    return path


def select(engine, table: sa.Table, *where) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).where(*where))]


def count(engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def by_reason(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row["reason"], []).append(row)
    return out


@pytest.fixture
def roster(engine, config, tmp_path) -> IngestReport:
    """Two schools' rosters in one file with a school column (ids and names)."""
    path = write_csv(
        tmp_path / "in" / "roster.csv",
        [
            ["学校", "学号", "姓名", "身份", "年级", "班级", "状态"],
            ["s001", "001", "张三", "学生", "3", "01", "在校"],
            ["第一小学", "002", "李四", "学生", "3", "01", ""],
            ["s001", "003", "王五", "学生", "3", "02", "休学"],
            ["s001", "004", "赵六", "学生", "3", "02", "在读"],
            ["s001", "005", "钱七", "教师", "", "", "在职"],
            ["第二中学", "101", "孙八", "学生", "初一", "1", ""],
        ],
    )
    report = ingest_paths(engine, [path], "roster", config)
    assert report.inserted == 6, report.to_json()
    return report


def logs_file(tmp_path: Path, rows: list[list[object]], name: str = "logs.csv", **kw) -> Path:
    return write_csv(tmp_path / "in" / name, [LOG_HEADER, *rows], **kw)


def good_row(pid: str = "001", name: str = "张三", **values: object) -> list[object]:
    row = dict(
        zip(
            LOG_HEADER,
            [
                pid,
                name,
                "2020-02-10",
                "晨检",
                "36.5",
                "无",
                "否",
                "",
                "否",
                "否",
                "2020-02-10 07:40:00",
            ],
            strict=True,
        )
    )
    row.update(values)
    return list(row.values())


# --- the public surface -----------------------------------------------------------


def test_all_is_public_and_exists():
    assert set(ingest.__all__) >= {"FileReport", "IngestReport", "expand_paths", "ingest_paths"}
    assert all(hasattr(ingest, name) for name in ingest.__all__)


def test_report_json_shape():
    report = IngestReport(
        kind="logs",
        files=[
            FileReport("a.csv", "gbk", rows_read=3, inserted=2, quarantined=1, findings=4),
            FileReport("b.csv", None, error="b.csv: empty file"),
        ],
    )
    data = report.to_json()
    json.dumps(data)  # serialisable
    assert list(data) == [
        "kind",
        "files",
        "rows_read",
        "inserted",
        "updated",
        "unchanged",
        "quarantined",
        "findings",
        "skipped",
    ]
    assert data["files"][0] == {
        "path": "a.csv",
        "kind": None,
        "encoding": "gbk",
        "rows_read": 3,
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
        "quarantined": 1,
        "findings": 4,
    }
    assert data["files"][1]["error"] == "b.csv: empty file"
    assert (data["rows_read"], data["inserted"], data["findings"]) == (3, 2, 4)
    assert [f.path for f in report.failed] == ["b.csv"]


# --- roster ------------------------------------------------------------------------


def test_roster_values(engine, roster):
    people = {p["person_id"]: p for p in select(engine, store.people)}
    assert people["001"]["school_id"] == "s001"
    assert people["002"]["school_id"] == "s001"  # by the school's name
    assert people["101"]["school_id"] == "s002"
    assert people["001"]["class"] == "01"  # text, not the number 1
    assert people["003"]["status"] == "on_leave"
    assert people["002"]["status"] == "active"  # empty means active
    assert people["005"]["role"] == "staff"
    assert people["005"]["grade"] is None


def test_roster_bad_rows_and_fields(engine, config, tmp_path):
    path = write_csv(
        tmp_path / "s001" / "roster.csv",
        [
            ["学号", "姓名", "身份", "状态"],
            ["001", "张三", "外星人", "在校"],
            ["", "无号", "学生", ""],
            ["002", "", "学生", ""],
            ["003", "王五", "学生", "神游"],
        ],
    )
    report = ingest_paths(engine, [path], "roster", config)  # school from the folder
    assert (report.inserted, report.quarantined, report.findings) == (2, 2, 2)
    quarantined = by_reason(select(engine, store.quarantine))
    assert quarantined["missing_person_id"][0]["row"] == 3
    assert quarantined["missing_name"][0]["row"] == 4
    findings = by_reason(select(engine, store.data_quality))
    assert findings["bad_role"][0]["value"] == "外星人"
    assert findings["bad_status"][0]["value"] == "神游"
    people = {p["person_id"]: p for p in select(engine, store.people)}
    assert people["001"]["role"] == "student"
    assert people["003"]["status"] == "active"


# --- health logs: values ------------------------------------------------------------


def test_log_values_are_normalised(engine, roster, config, tmp_path):
    path = logs_file(
        tmp_path,
        [
            good_row("001", 体温="36.5℃", 症状="咳嗽、发烧", 填报时间="2020-02-10T07:42:11+00:00"),
            good_row("002", "李四", 日期="2020/2/10", 时段="午检", 体温="36,8", 症状="无"),
            good_row(
                "003",
                "王五",
                日期="2020年2月10日",
                时段="",
                体温="37.2度",
                是否缺勤="是",
                缺勤原因="病假",
            ),
            good_row(
                "004",
                "赵六",
                日期="20200210",
                时段="晚检",
                是否缺勤="病假",
                **{"14天内是否到过重点地区": "是，武汉"},
            ),
            good_row(
                "005",
                "钱七",
                日期="43871",
                **{"14天内是否到过重点地区": "湖北武汉", "是否接触确诊或疑似病例": "有"},
            ),
        ],
    )
    report = ingest_paths(engine, [path], "logs", config, school="s001")
    assert (report.inserted, report.quarantined, report.findings) == (5, 0, 0), report.to_json()
    rows = {r["person_id"]: r for r in select(engine, store.checkins)}
    assert {r["date"] for r in rows.values()} == {dt.date(2020, 2, 10)}
    one = rows["001"]
    assert (one["temperature"], one["symptoms"], one["session"]) == (36.5, "cough,fever", "morning")
    assert one["reported_at"] == dt.datetime(2020, 2, 10, 15, 42, 11)  # UTC -> Asia/Shanghai
    assert one["source_row"] == 2
    assert (rows["002"]["session"], rows["002"]["temperature"]) == ("noon", 36.8)
    assert rows["003"]["session"] == "morning"  # empty means morning
    assert (rows["003"]["absent"], rows["003"]["absence_reason"]) == (True, "illness")
    assert rows["003"]["temperature"] == 37.2
    assert (rows["004"]["absent"], rows["004"]["absence_reason"]) == (True, "illness")
    assert (rows["004"]["key_area"], rows["004"]["key_area_place"]) == (True, "武汉")
    assert rows["004"]["session"] == "evening"
    assert (rows["005"]["key_area"], rows["005"]["key_area_place"]) == (True, "湖北武汉")
    assert rows["005"]["contact"] is True
    assert rows["002"]["absent"] is False
    assert rows["002"]["key_area"] is False


def test_bad_fields_keep_the_row_and_are_findings(engine, roster, config, tmp_path):
    path = logs_file(
        tmp_path,
        [
            good_row("001", 体温="98.6"),
            good_row("002", "李四", 体温="45"),
            good_row("003", "王五", 体温="abc", 症状="咳嗽;鼻子痒"),
            good_row("004", "赵六", 时段="夜宵", 是否缺勤="不清楚", 填报时间="下午三点"),
            good_row("005", "钱七", 是否缺勤="是", 缺勤原因="家里装修"),
        ],
    )
    report = ingest_paths(engine, [path], "logs", config, school="s001")
    assert (report.inserted, report.quarantined) == (5, 0)
    rows = {r["person_id"]: r for r in select(engine, store.checkins)}
    assert rows["001"]["temperature"] == 37.0
    assert rows["002"]["temperature"] is None
    assert rows["003"]["temperature"] is None
    assert (rows["003"]["symptoms"], rows["003"]["symptoms_other"]) == ("cough", "鼻子痒")
    assert rows["004"]["session"] == "morning"
    assert rows["004"]["absent"] is False
    assert rows["004"]["reported_at"] is None
    assert rows["005"]["absence_reason"] == "other"
    findings = by_reason(select(engine, store.data_quality))
    expected = {
        "fahrenheit_converted": ("001", 2, "temperature", "98.6"),
        "impossible_temperature": ("002", 3, "temperature", "45"),
        "bad_temperature": ("003", 4, "temperature", "abc"),
        "unknown_symptom": ("003", 4, "symptoms", "鼻子痒"),
        "bad_session": ("004", 5, "session", "夜宵"),
        "bad_yes_no": ("004", 5, "absent", "不清楚"),
        "bad_timestamp": ("004", 5, "reported_at", "下午三点"),
        "bad_absence_reason": ("005", 6, "absence_reason", "家里装修"),
    }
    assert set(findings) == set(expected)
    assert report.findings == len(expected)
    for reason, (pid, row, column, value) in expected.items():
        (found,) = findings[reason]
        assert (found["person_id"], found["row"], found["column"], found["value"]) == (
            pid,
            row,
            column,
            value,
        ), reason
        assert found["school_id"] == "s001"
        assert found["date"] == dt.date(2020, 2, 10)
        assert found["file"] == str(path)
        assert found["kind"] == "logs"
        assert f"row {row}" in found["message"]


def test_a_second_column_for_the_same_field_is_named_and_compared(engine, roster, config, tmp_path):
    path = write_csv(
        tmp_path / "in" / "two.csv",
        [
            ["学号", "姓名", "日期", "体温", "备注", "体温"],
            ["００１", "张三", "2020-02-10", "36.5", "", "36.5"],  # the same reading
            ["002", "李四", "2020-02-10", "36.6", "", "38.9"],  # two readings differ
            ["004", "赵六", "2020-02-10", "", "", "36.7"],  # only the second has one
        ],
    )
    report = ingest_paths(engine, [path], "logs", config, school="s001")
    assert report.inserted == 3  # the full-width id is 001
    temperatures = {r["person_id"]: r["temperature"] for r in select(engine, store.checkins)}
    assert temperatures == {"001": 36.5, "002": 36.6, "004": 36.7}
    found = by_reason(select(engine, store.data_quality))
    assert "unknown_columns" not in found  # no more "unknown columns: 体温.1"
    (duplicate,) = found["duplicate_column"]
    assert duplicate["value"] == "体温 (D)、体温 (F)"  # both headers, where they are
    assert duplicate["column"] == "temperature"
    assert "体温 (D)、体温 (F)" in duplicate["message"]
    assert (duplicate["school_id"], duplicate["date"]) == ("s001", dt.date(2020, 2, 10))
    (conflict,) = found["conflicting_values"]
    assert (conflict["row"], conflict["person_id"]) == (3, "002")
    assert conflict["value"] == "36.6 | 38.9"


def test_two_columns_that_differ_on_most_rows_make_one_finding(engine, config, tmp_path):
    people = [[f"{i:03d}", f"学生{i}"] for i in range(1, 31)]
    write_csv(tmp_path / "r" / "roster.csv", [["学号", "姓名"], *people])
    ingest_paths(engine, [tmp_path / "r" / "roster.csv"], "roster", config, school="s001")
    rows = [[pid, name, "2020-02-10", f"家长{pid}"] for pid, name in people]
    path = write_csv(tmp_path / "in" / "survey.csv", [["学号", "姓名", "日期", "填报人"], *rows])
    report = ingest_paths(engine, [path], "logs", config, school="s001")
    assert report.inserted == 30
    found = by_reason(select(engine, store.data_quality))
    (conflict,) = found["conflicting_values"]  # one on the header, not thirty
    assert conflict["row"] == 1
    assert conflict["value"] == "姓名 (B)、填报人 (D): 30/30"


def test_a_header_only_file_and_a_missing_file(engine, roster, config, tmp_path):
    empty = logs_file(tmp_path, [], name="header-only.csv")
    report = ingest_paths(engine, [empty, tmp_path / "missing.csv"], "logs", config, school="s001")
    assert [f.rows_read for f in report.files] == [0, 0]
    assert report.files[0].error is None
    assert "missing.csv: cannot read file" in report.files[1].error


def test_name_mismatch_is_a_finding_and_the_row_kept(engine, roster, config, tmp_path):
    path = logs_file(tmp_path, [good_row("001", "张 三"), good_row("002", "李思")])
    report = ingest_paths(engine, [path], "logs", config, school="s001")
    assert report.inserted == 2
    (mismatch,) = select(engine, store.data_quality)
    assert (mismatch["reason"], mismatch["person_id"], mismatch["value"]) == (
        "name_mismatch",
        "002",
        "李思",
    )


def test_absence_cell_reason_cell_and_empty_name_combined(engine, roster, config, tmp_path):
    path = logs_file(
        tmp_path,
        [
            good_row("001", 是否缺勤="", 缺勤原因="因病"),  # a reason alone: absent
            good_row("002", "", 是否缺勤="", 缺勤原因=""),  # nothing written: present
            good_row("003", 是否缺勤="否", 缺勤原因="病假"),  # "no" wins, the reason is kept
            good_row("004", "赵六", 是否缺勤="事假", 缺勤原因=""),  # the reason in the cell
        ],
    )
    report = ingest_paths(engine, [path], "logs", config, school="s001")
    assert report.inserted == 4
    rows = {r["person_id"]: r for r in select(engine, store.checkins)}
    got = {k: (r["absent"], r["absence_reason"], r["name"]) for k, r in rows.items()}
    assert got == {
        "001": (True, "illness", "张三"),
        "002": (False, None, None),
        "003": (False, "illness", "张三"),
        "004": (True, "personal", "赵六"),
    }
    # 003 is 王五 on the roster; an empty name (002) is no mismatch
    mismatched = {r["person_id"] for r in select(engine, store.data_quality)}
    assert mismatched == {"003"}


def test_survey_export_headers(engine, roster, config, tmp_path):
    path = write_csv(
        tmp_path / "in" / "survey.csv",
        [
            [
                "序号",
                "提交答卷时间",
                "所用时间",
                "来源",
                "来自IP",
                "1、学号",
                "2、您的姓名",
                "Q3.今日体温",
                "4、是否有以下症状",
                "　填 报 日 期　",
                "备注说明",
            ],
            [
                "1",
                "2020/2/10 7:41:02",
                "35秒",
                "微信",
                "1.2.3.4(北京)",
                "001",
                "张三",
                "36.6",
                "咳嗽┋乏力",
                "2020-02-10",
                "无",
            ],
            [
                "2",
                "2020/2/10 7:43:10",
                "20秒",
                "微信",
                "1.2.3.5(北京)",
                "002",
                "李四",
                "36.4",
                "无",
                "2020-02-10",
                "",
            ],
        ],
    )
    report = ingest_paths(engine, [path], "logs", config, school="s001")
    assert report.inserted == 2
    rows = {r["person_id"]: r for r in select(engine, store.checkins)}
    assert rows["001"]["temperature"] == 36.6
    assert rows["001"]["symptoms"] == "cough,fatigue"
    assert rows["001"]["reported_at"] == dt.datetime(2020, 2, 10, 7, 41, 2)
    (finding,) = select(engine, store.data_quality)  # once per file, not per row
    assert finding["reason"] == "unknown_columns"
    assert finding["value"] == "备注说明"
    assert finding["row"] == 1
    assert finding["date"] == dt.date(2020, 2, 10)


def test_gbk_xlsx_and_title_dates(engine, roster, config, tmp_path):
    gbk = logs_file(tmp_path, [good_row("001")], name="gbk.csv", encoding="gbk")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["第一小学2020年2月11日晨检登记表"])
    sheet.merge_cells("A1:D1")
    sheet.append(["学号", "姓名", "体温", "填报时间"])
    sheet.append(["001", "张三", 36.6, dt.datetime(2020, 2, 11, 7, 30)])
    sheet.append([None, "无号", 36.6, None])
    xlsx = tmp_path / "in" / "title.xlsx"
    book.save(xlsx)
    report = ingest_paths(engine, [gbk, xlsx], "logs", config, school="s001")
    assert [f.encoding for f in report.files] == ["gbk", None]
    assert [f.inserted for f in report.files] == [1, 1]
    stored = {r["date"]: r for r in select(engine, store.checkins)}
    assert stored[dt.date(2020, 2, 11)]["temperature"] == 36.6  # no date column: the title's
    assert stored[dt.date(2020, 2, 11)]["reported_at"] == dt.datetime(2020, 2, 11, 7, 30)
    (quarantined,) = select(engine, store.quarantine)
    assert (quarantined["row"], quarantined["reason"]) == (4, "missing_person_id")  # as Excel shows


def test_a_log_without_any_date_is_refused(engine, roster, config, tmp_path):
    path = write_csv(
        tmp_path / "in" / "nodate.csv", [["学号", "姓名", "体温"], ["001", "张三", "36.5"]]
    )
    (report,) = ingest_paths(engine, [path], "logs", config, school="s001").files
    assert "no date column" in report.error
    assert count(engine, store.ingestions) == 1  # the roster only


# --- school of a row ------------------------------------------------------------------


def test_school_from_column_name_argument_and_folder(engine, roster, config, tmp_path):
    with_column = write_csv(
        tmp_path / "in" / "district.csv",
        [
            ["学校名称", *LOG_HEADER],
            ["第二中学", *good_row("101", "孙八")],
            ["s001", *good_row("001")],
        ],
    )
    from_folder = logs_file(tmp_path / "s001" / "deeper", [good_row("002", "李四")], name="f.csv")
    from_argument = logs_file(tmp_path / "plain", [good_row("003", "王五")], name="a.csv")
    report = ingest_paths(engine, [with_column, from_folder], "logs", config)
    assert report.inserted == 3
    assert not report.failed
    report = ingest_paths(engine, [from_argument], "logs", config, school="第一小学")
    assert report.inserted == 1
    schools = {r["person_id"]: r["school_id"] for r in select(engine, store.checkins)}
    assert schools == {"101": "s002", "001": "s001", "002": "s001", "003": "s001"}


def test_no_school_at_all_refuses_the_file(engine, roster, config, tmp_path):
    path = logs_file(tmp_path / "nowhere", [good_row()])
    report = ingest_paths(engine, [path], "logs", config)
    (failed,) = report.failed
    assert "cannot tell which school" in failed.error
    assert str(path) in failed.error
    assert count(engine, store.checkins) == 0


def test_unknown_school_rows_are_quarantined(engine, roster, config, tmp_path):
    path = write_csv(
        tmp_path / "in" / "district.csv",
        [["学校", *LOG_HEADER], ["第九小学", *good_row("001")], ["s001", *good_row("002", "李四")]],
    )
    report = ingest_paths(engine, [path], "logs", config)
    assert (report.inserted, report.quarantined) == (1, 1)
    (row,) = select(engine, store.quarantine)
    assert (row["reason"], row["value"], row["row"], row["school_id"]) == (
        "unknown_school",
        "第九小学",
        2,
        None,
    )


def test_a_school_without_roster_refuses_the_log(engine, roster, config, tmp_path):
    path = logs_file(tmp_path, [good_row()])
    (report,) = ingest_paths(engine, [path], "logs", config, school="s003").files
    assert "no roster for school s003" in report.error
    # nothing was recorded, so the same file goes in once the roster is there
    roster_path = write_csv(tmp_path / "r3.csv", [["学号", "姓名"], ["001", "张三"]])
    ingest_paths(engine, [roster_path], "roster", config, school="s003")
    assert ingest_paths(engine, [path], "logs", config, school="s003").inserted == 1


# --- quarantine --------------------------------------------------------------------------


def test_unusable_rows_are_quarantined_with_file_row_column_and_raw(
    engine, roster, config, tmp_path
):
    path = logs_file(
        tmp_path,
        [
            good_row("001"),
            good_row("", "无号"),
            good_row("002", "李四", 日期=""),
            good_row("003", "王五", 日期="去年"),
            good_row("999", "路人"),
        ],
    )
    report = ingest_paths(engine, [path], "logs", config, school="s001")
    assert (report.rows_read, report.inserted, report.quarantined) == (5, 1, 4)
    quarantined = {r["reason"]: r for r in select(engine, store.quarantine)}
    assert set(quarantined) == {"missing_person_id", "missing_date", "bad_date", "unknown_person"}
    missing = quarantined["missing_person_id"]
    assert (missing["file"], missing["row"], missing["column"], missing["value"]) == (
        str(path),
        3,
        "person_id",
        None,
    )
    assert missing["message"].startswith("第3行没有学号")
    assert json.loads(missing["raw"])["姓名"] == "无号"
    assert json.loads(missing["raw"])["学号"] is None
    no_date = quarantined["missing_date"]
    assert (no_date["row"], no_date["column"], no_date["person_id"]) == (4, "date", "002")
    assert quarantined["bad_date"]["value"] == "去年"
    unknown = quarantined["unknown_person"]
    assert (unknown["row"], unknown["value"], unknown["school_id"]) == (6, "999", "s001")
    assert unknown["date"] == dt.date(2020, 2, 10)
    assert all(r["sha256"] and r["kind"] == "logs" for r in quarantined.values())


def test_a_file_of_people_none_on_the_roster_is_quarantined_whole(engine, roster, config, tmp_path):
    """Another school's export put in this school's folder: no one of it is on the
    roster (the lookup finds nothing at all, which it must say, not fail on)."""
    path = logs_file(tmp_path, [good_row("901", "路人甲"), good_row("902", "路人乙")])
    report = ingest_paths(engine, [path], "logs", config, school="s001")
    assert report.failed == []
    assert (report.rows_read, report.inserted, report.quarantined) == (2, 0, 2)
    rows = select(engine, store.quarantine)
    assert sorted((r["reason"], r["value"], r["row"]) for r in rows) == [
        ("unknown_person", "901", 2),
        ("unknown_person", "902", 3),
    ]


def test_duplicates_in_a_file_keep_the_latest_report(engine, roster, config, tmp_path):
    path = logs_file(
        tmp_path,
        [
            good_row("001", 体温="37.9", 填报时间="2020-02-10 09:00:00"),
            good_row("001", 体温="36.4", 填报时间="2020-02-10 07:00:00"),
            good_row("002", "李四", 体温="36.5"),
            good_row("002", "李四", 体温="36.7"),
        ],
    )
    report = ingest_paths(engine, [path], "logs", config, school="s001")
    assert (report.inserted, report.quarantined) == (2, 2)
    temps = {r["person_id"]: r["temperature"] for r in select(engine, store.checkins)}
    assert temps == {"001": 37.9, "002": 36.7}  # latest reported_at, then file order
    duplicates = sorted(r["row"] for r in select(engine, store.quarantine))
    assert duplicates == [3, 4]
    assert {r["reason"] for r in select(engine, store.quarantine)} == {"duplicate_row"}


# --- reruns ---------------------------------------------------------------------------------


def _table_counts(engine) -> dict[str, int]:
    tables = [store.people, store.checkins, store.quarantine, store.data_quality, store.ingestions]
    return {t.name: count(engine, t) for t in tables}


def test_reingesting_the_same_file_changes_nothing(engine, roster, config, tmp_path):
    path = logs_file(
        tmp_path, [good_row("001"), good_row("002", "李四", 体温="45"), good_row("", "x")]
    )
    first = ingest_paths(engine, [path], "logs", config, school="s001")
    before = _table_counts(engine)
    again = ingest_paths(engine, [path], "logs", config, school="s001")
    assert _table_counts(engine) == before
    (file,) = again.files
    assert file.already_ingested
    assert (file.rows_read, file.inserted, file.updated) == (3, 0, 0)
    assert (file.unchanged, file.quarantined) == (2, 1)
    assert file.encoding == first.files[0].encoding
    assert again.to_json()["files"][0]["already_ingested"] is True
    # also a roster rerun
    again_roster = ingest_paths(engine, [tmp_path / "in" / "roster.csv"], "roster", config)
    assert again_roster.files[0].already_ingested


def test_a_corrected_file_updates_exactly_the_changed_row(engine, roster, config, tmp_path):
    rows = [good_row("001"), good_row("002", "李四"), good_row("004", "赵六")]
    ingest_paths(engine, [logs_file(tmp_path, rows)], "logs", config, school="s001")
    rows[1] = good_row("002", "李四", 体温="38.2")
    corrected = logs_file(tmp_path, rows, name="logs-corrected.csv")
    report = ingest_paths(engine, [corrected], "logs", config, school="s001")
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 2)
    stored = {r["person_id"]: r for r in select(engine, store.checkins)}
    assert stored["002"]["temperature"] == 38.2
    assert stored["002"]["source_file"] == str(corrected)
    assert stored["001"]["source_file"].endswith("logs.csv")  # unchanged rows are not rewritten
    assert count(engine, store.checkins) == 3


def test_force_reingests_and_replaces_earlier_issues(engine, roster, config, tmp_path):
    path = logs_file(tmp_path, [good_row("001"), good_row("006", "新生")])
    assert ingest_paths(engine, [path], "logs", config, school="s001").quarantined == 1
    roster_path = write_csv(tmp_path / "r.csv", [["学号", "姓名"], ["006", "新生"]])
    ingest_paths(engine, [roster_path], "roster", config, school="s001")
    report = ingest_paths(engine, [path], "logs", config, school="s001", force=True)
    assert (report.inserted, report.unchanged, report.quarantined) == (1, 1, 0)
    assert count(engine, store.quarantine) == 0
    assert count(engine, store.ingestions) == 3  # two rosters and the log, recorded once


def test_a_bad_file_does_not_stop_the_others(engine, roster, config, tmp_path):
    folder = tmp_path / "s001"
    (folder / "garbage.csv").parent.mkdir(parents=True, exist_ok=True)
    (folder / "garbage.csv").write_bytes(bytes(range(256)) * 64)
    (folder / "empty.csv").write_bytes(b"")
    logs_file(folder, [good_row("001")], name="good.csv")
    report = ingest_paths(engine, [folder], "logs", config)
    assert [Path(f.path).name for f in report.files] == ["empty.csv", "garbage.csv", "good.csv"]
    assert [bool(f.error) for f in report.files] == [True, True, False]
    assert "empty.csv: empty file" in report.files[0].error
    assert "garbage.csv: not a table" in report.files[1].error
    assert report.inserted == 1
    assert report.to_json()["files"][1]["error"] == report.files[1].error


def test_rules_extend_the_symptom_terms(engine, roster, config, tmp_path):
    rules = Rules(extra_symptom_terms={"runny_nose": ["流鼻水"]})
    path = logs_file(tmp_path, [good_row("001", 症状="流鼻水/咳嗽")])
    ingest_paths(engine, [path], "logs", config, rules=rules, school="s001")
    (row,) = select(engine, store.checkins)
    assert row["symptoms"] == "cough,runny_nose"


# --- gate register ------------------------------------------------------------------------


ENTRY_HEADER = [
    "日期",
    "姓名",
    "人员类别",
    "联系电话",
    "身份证号",
    "进校事由",
    "体温",
    "进校时间",
    "离校时间",
    "审批人",
]


def test_entries(engine, config, tmp_path):
    rows = [
        ENTRY_HEADER,
        [
            "2020-02-10",
            "周师傅",
            "送货",
            "138 0013 8000",
            "",
            "送教材",
            "36.4",
            "08:12",
            "08:40",
            "王校长",
        ],
        [
            "",  # a full entry time needs no date
            "吴女士",
            "家长",
            "",
            "11010119900101123x",
            "接孩子",
            "36.6",
            "2020-02-10 16:05",
            "16:20",
            "",
        ],
        ["2020-02-10", "", "来访", "", "", "", "", "09:00", "", ""],
        ["2020-02-10", "郑先生", "施工", "", "", "", "", "", "", ""],
        ["2020-02-10", "冯先生", "来访", "", "", "", "37", "某时", "", ""],
    ]
    path = write_csv(tmp_path / "s001" / "gate.csv", rows)
    report = ingest_paths(engine, [path], "entries", config)
    assert (report.inserted, report.quarantined) == (2, 3)
    reasons = {r["row"]: r["reason"] for r in select(engine, store.quarantine)}
    assert reasons == {4: "missing_name", 5: "missing_entry_time", 6: "bad_entry_time"}
    stored = {r["name"]: r for r in select(engine, store.entries)}
    zhou = stored["周师傅"]
    assert (zhou["kind"], zhou["date"]) == ("delivery", dt.date(2020, 2, 10))
    assert zhou["entered_at"] == dt.datetime(2020, 2, 10, 8, 12)
    assert zhou["left_at"] == dt.datetime(2020, 2, 10, 8, 40)  # a time takes the entry's date
    assert zhou["phone"] == "138 0013 8000"
    assert len(zhou["entry_id"]) == 16
    wu = stored["吴女士"]
    assert (wu["kind"], wu["id_number"]) == ("visitor", "11010119900101123X")
    first_ids = {r["entry_id"] for r in stored.values()}

    # a register without a date column: times take the date of the title
    title = write_csv(
        tmp_path / "s002" / "gate.csv",
        [
            ["第二中学2020年2月11日来访登记"],
            ["姓名", "进校时间", "离校时间"],
            ["陈先生", "9:05", "9:30"],
        ],
    )
    assert ingest_paths(engine, [title], "entries", config).inserted == 1
    (chen,) = select(engine, store.entries, store.entries.c.school_id == "s002")
    assert (chen["entered_at"], chen["left_at"]) == (
        dt.datetime(2020, 2, 11, 9, 5),
        dt.datetime(2020, 2, 11, 9, 30),
    )

    rows[1][6] = "36.8"  # a corrected temperature keeps the entry's identity
    corrected = write_csv(tmp_path / "s001" / "gate-v2.csv", rows)
    report = ingest_paths(engine, [corrected], "entries", config)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 1)
    assert {
        r["entry_id"] for r in select(engine, store.entries, store.entries.c.school_id == "s001")
    } == first_ids
    assert count(engine, store.entries) == 3


def test_every_reason_has_a_message():
    from reportkit.i18n import issue_message
    from reportkit.schema import Reason

    for reason in Reason:  # the reason texts live in the i18n catalog
        zh, en = issue_message(reason, 7, "x", "temperature").split(" / ")
        assert zh.strip(), reason
        assert en.strip(), reason


def test_a_time_of_day_takes_the_row_date(engine, roster, config, tmp_path):
    path = logs_file(tmp_path, [good_row("001", 日期="2020-02-12", 填报时间="15:42")])
    assert ingest_paths(engine, [path], "logs", config, school="s001").findings == 0
    (row,) = select(engine, store.checkins)
    assert row["reported_at"] == dt.datetime(2020, 2, 12, 15, 42)


# --- a file's school ------------------------------------------------------------------


def test_a_school_folder_file_never_writes_another_schools_rows(engine, roster, config, tmp_path):
    with_school = [["学校", *LOG_HEADER], ["s002", *good_row("101", "孙八")]]
    write_csv(tmp_path / "d" / "district.csv", with_school)
    assert ingest_paths(engine, [tmp_path / "d" / "district.csv"], "logs", config).inserted == 1
    before = select(engine, store.checkins, store.checkins.c.school_id == "s002")
    path = write_csv(
        tmp_path / "inbox" / "s001" / "logs.csv",
        [
            ["学校", *LOG_HEADER],
            ["s001", *good_row("001")],
            ["s002", *good_row("101", "孙八", 体温="39.5")],  # another school's pupil
            ["第二中学", *good_row("101", "孙八", 体温="39.5")],  # by name, too
            ["", *good_row("002", "李四")],  # empty: the folder's school
        ],
    )
    report = ingest_paths(engine, [path], "logs", config)
    assert (report.inserted, report.quarantined) == (2, 2)
    assert select(engine, store.checkins, store.checkins.c.school_id == "s002") == before
    wrong = by_reason(select(engine, store.quarantine))["wrong_school"]
    assert [(q["row"], q["value"], q["school_id"]) for q in wrong] == [
        (3, "s002", "s001"),
        (4, "第二中学", "s001"),
    ]  # shown to the school that sent the file, not to s002
    assert "not this file's school" in wrong[0]["message"]


def test_the_school_given_wins_over_the_school_column(engine, roster, config, tmp_path):
    path = write_csv(
        tmp_path / "in" / "logs.csv",
        [["学校", *LOG_HEADER], ["s001", *good_row("001")], ["s002", *good_row("101", "孙八")]],
    )
    report = ingest_paths(engine, [path], "logs", config, school="s001")
    assert (report.inserted, report.quarantined) == (1, 1)
    (q,) = select(engine, store.quarantine)
    assert (q["reason"], q["value"]) == ("wrong_school", "s002")


def test_a_district_export_takes_each_rows_school(engine, roster, config, tmp_path):
    path = write_csv(
        tmp_path / "in" / "logs.csv",
        [["学校", *LOG_HEADER], ["s001", *good_row("001")], ["第二中学", *good_row("101", "孙八")]],
    )
    assert ingest_paths(engine, [path], "logs", config).inserted == 2
    assert sorted(r["school_id"] for r in select(engine, store.checkins)) == ["s001", "s002"]


# --- the wrong kind, and what a roster states -----------------------------------------------


def test_a_health_log_given_as_a_roster_is_refused(engine, roster, config, tmp_path):
    path = logs_file(tmp_path, [good_row("001"), good_row("002", "李四")])
    report = ingest_paths(engine, [path], "roster", config, school="s001")
    (failed,) = report.failed
    assert failed.refused
    assert "looks like a health log" in failed.error
    assert f"`reportkit ingest logs {path}`" in failed.error
    people = {p["person_id"]: p for p in select(engine, store.people)}
    assert (people["001"]["grade"], people["001"]["class"]) == ("3", "01")  # untouched


def test_a_roster_given_as_health_logs_is_refused(engine, roster, config, tmp_path):
    path = write_csv(
        tmp_path / "in" / "s001" / "students.csv",
        [["学号", "姓名", "年级", "班级"], ["001", "张三", "3", "01"]],
    )
    (failed,) = ingest_paths(engine, [path], "logs", config).failed
    assert "looks like a roster" in failed.error
    assert f"`reportkit ingest roster {path}`" in failed.error


def test_a_roster_file_changes_only_the_columns_it_has(engine, roster, config, tmp_path):
    path = write_csv(
        tmp_path / "in" / "s001" / "status.csv",
        [["学号", "姓名", "状态"], ["003", "王五", "在校"], ["006", "周九", "在校"]],
    )
    report = ingest_paths(engine, [path], "roster", config)
    assert (report.inserted, report.updated) == (1, 1)
    people = {p["person_id"]: p for p in select(engine, store.people)}
    assert people["003"]["status"] == "active"  # what the file says
    assert (people["003"]["grade"], people["003"]["class"]) == ("3", "02")  # kept
    assert people["005"]["role"] == "staff"  # not in the file: not touched
    assert people["006"]["role"] == "student"  # a new person: the defaults
    assert (people["006"]["grade"], people["006"]["class"]) == (None, None)
    # ids alone: names come from the roster; a new person without a name cannot be added
    ids = write_csv(
        tmp_path / "in" / "s001" / "ids.csv", [["学号", "班级"], ["001", "05"], ["009", "05"]]
    )
    report = ingest_paths(engine, [ids], "roster", config)
    assert (report.updated, report.quarantined) == (1, 1)
    people = {p["person_id"]: p for p in select(engine, store.people)}
    assert (people["001"]["name"], people["001"]["class"]) == ("张三", "05")
    assert "009" not in people


# --- encodings, placeholders ------------------------------------------------------------------


def test_lines_in_another_encoding_are_quarantined_and_the_rest_read(
    engine, roster, config, tmp_path
):
    header = ",".join(LOG_HEADER) + "\n"
    utf8 = "".join(
        ",".join(map(str, good_row(p, n))) + "\n" for p, n in [("001", "张三"), ("002", "李四")]
    )
    gbk = ",".join(map(str, good_row("003", "王五"))) + "\n"
    path = tmp_path / "in" / "pasted.csv"
    path.write_bytes(
        (header + utf8).encode()
        + gbk.encode("gbk")
        + "004,赵六,2020-02-10,晨检,36.5,无,否,,否,否,2020-02-10 07:40:00\n".encode()
    )
    report = ingest_paths(engine, [path], "logs", config, school="s001")
    assert report.failed == []
    (f,) = report.files
    assert (f.encoding, f.rows_read, f.inserted, f.quarantined) == ("utf-8", 4, 3, 1)
    (q,) = select(engine, store.quarantine)
    assert (q["reason"], q["row"], q["column"]) == ("bad_encoding", 4, "line")
    assert q["value"].startswith("003,")
    assert (q["school_id"], q["date"]) == ("s001", dt.date(2020, 2, 10))
    assert "line 4" in q["message"]
    assert sorted(r["person_id"] for r in select(engine, store.checkins)) == ["001", "002", "004"]


def test_a_gbk_file_with_one_utf8_line_quarantines_it(engine, roster, config, tmp_path):
    rows = [good_row(p, n) for p, n in [("001", "张三"), ("002", "李四"), ("004", "赵六")]]
    text = ",".join(LOG_HEADER) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    odd = ",".join(map(str, good_row("003", "王五", 症状="咳嗽"))) + "\n"
    path = tmp_path / "in" / "gbk.csv"
    path.write_bytes(text.encode("gbk") + odd.encode("utf-8"))  # never read as garbled GBK
    (f,) = ingest_paths(engine, [path], "logs", config, school="s001").files
    assert (f.encoding, f.inserted, f.quarantined) == ("gbk", 3, 1)
    (q,) = select(engine, store.quarantine)
    assert (q["reason"], q["row"]) == ("bad_encoding", 5)
    assert "王五" in q["value"]  # shown as it was written
    assert sorted(r["person_id"] for r in select(engine, store.checkins)) == ["001", "002", "004"]


def test_survey_placeholders_read_as_empty(engine, roster, config, tmp_path):
    path = logs_file(
        tmp_path,
        [
            good_row("001", 缺勤原因="(空)", 症状="（空）"),
            good_row("002", "李四", 缺勤原因="(跳过)", **{"14天内是否到过重点地区": "（跳过）"}),
            good_row("003", "王五", 是否缺勤="是", 缺勤原因="(空)"),
        ],
    )
    report = ingest_paths(engine, [path], "logs", config, school="s001")
    assert (report.inserted, report.findings) == (3, 0)
    rows = {r["person_id"]: r for r in select(engine, store.checkins)}
    assert rows["001"]["absence_reason"] is None
    assert (rows["001"]["symptoms"], rows["001"]["symptoms_other"]) == ("", "")
    assert rows["002"]["key_area"] is False
    assert rows["003"]["absent"] is True
    assert rows["003"]["absence_reason"] is None


# --- routing by kind ----------------------------------------------------------------------------


def test_a_folder_is_routed_by_file_name_rosters_first(engine, config, tmp_path):
    day = tmp_path / "inbox" / "2020-02-10" / "s001"
    write_csv(day / "晨检.csv", [LOG_HEADER, good_row("001")])  # sorts before 名册
    write_csv(day / "名册.csv", [["学号", "姓名"], ["001", "张三"]])
    write_csv(
        day / "门卫登记.csv",
        [["进校时间", "姓名", "身份", "事由"], ["2020-02-10 08:00", "王师傅", "送货", "送口罩"]],
    )
    (day / "说明.pdf").write_bytes(b"%PDF-1.4")
    (day / "~$名册.xlsx").write_bytes(b"lock")
    report = ingest_paths(engine, [day.parent], None, config)
    assert [(Path(f.path).name, f.kind) for f in report.files] == [
        ("名册.csv", "roster"),
        ("晨检.csv", "logs"),
        ("门卫登记.csv", "entries"),
    ]
    assert report.failed == []
    assert report.by_kind()["logs"]["inserted"] == 1  # the roster was in first
    skipped = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(skipped) == {"说明.pdf", "~$名册.xlsx"}
    data = report.to_json()
    assert data["by_kind"]["entries"]["files"] == 1
    json.dumps(data)


def test_a_kind_given_skips_files_named_as_another_kind(engine, roster, config, tmp_path):
    day = tmp_path / "inbox" / "2020-02-10" / "s001"
    write_csv(day / "晨检.csv", [LOG_HEADER, good_row("001")])
    write_csv(day / "门卫登记.csv", [["进校时间", "姓名"], ["2020-02-10 08:00", "王师傅"]])
    report = ingest_paths(engine, [day.parent], "logs", config)
    assert report.failed == []
    assert [Path(f.path).name for f in report.files] == ["晨检.csv"]
    (skipped,) = report.skipped
    assert skipped.kind == "entries"
    assert "a gate register by its name" in skipped.reason
    assert "`reportkit ingest entries " in skipped.reason
    # a file named on its own is read as the kind asked for, whatever its name
    named = ingest_paths(engine, [day / "门卫登记.csv"], "entries", config)
    assert named.inserted == 1
