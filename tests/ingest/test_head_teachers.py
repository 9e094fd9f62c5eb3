"""Head teachers (班主任) on the roster, on SQLite and PostgreSQL: stored per class, only
what a roster states, a class that names two is a finding, never a phone number; shown
beside the class in the report's, the email's and the console's missing-by-class lists."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from reportkit import schema, store
from reportkit.config import Rules, SchoolsConfig
from reportkit.ingest import ingest_paths
from tests.ingest.test_pipeline import good_row, logs_file, select, write_csv

DAY = date(2020, 2, 10)
HEADER = ["学号", "姓名", "身份", "年级", "班级", "班主任"]


@pytest.fixture
def config() -> SchoolsConfig:
    return SchoolsConfig.model_validate(
        {
            "districts": [{"id": "d01", "name": "示范区"}],
            "schools": [{"id": "s001", "name": "第一小学", "district": "d01"}],
        }
    )


def roster(tmp_path: Path, rows: list[list[object]], header=HEADER, name="名册.csv") -> Path:
    return write_csv(tmp_path / "in" / "s001" / name, [header, *rows])


def teachers(engine) -> dict[tuple[str, str], str]:
    return {
        (r["grade"], r["class"]): r["head_teacher"] for r in select(engine, store.class_teachers)
    }


@pytest.mark.parametrize(
    "header", ["班主任", "班主任姓名", "head teacher", "Head_Teacher", "2、班主任"]
)
def test_head_teacher_headers_are_aliases(header):
    assert schema.match_header(header, schema.ROSTER_ALIASES) == "head_teacher"
    assert schema.match_header("班主任电话", schema.ROSTER_ALIASES) is None


def test_a_roster_stores_each_class_head_teacher_once_and_notes_a_disagreement(
    engine, config, tmp_path
):
    path = roster(
        tmp_path,
        [
            ["001", "张三", "学生", "三年级", "1班", "王老师"],
            ["002", "李四", "学生", "三年级", "1班", " 王老师 "],
            ["003", "王五", "学生", "三年级", "1班", "赵老师"],  # row 4: another name
            ["004", "赵六", "学生", "三年级", "2班", ""],
            ["005", "钱七", "学生", "三年级", "2班", "孙老师"],
            ["006", "孙八", "教师", "", "", ""],
        ],
    )
    report = ingest_paths(engine, [path], "roster", config)
    assert report.inserted == 6, report.to_json()
    assert report.findings == 1, report.to_json()
    assert teachers(engine) == {("三年级", "1班"): "王老师", ("三年级", "2班"): "孙老师"}
    (stored,) = select(engine, store.class_teachers, store.class_teachers.c["class"] == "1班")
    assert stored["school_id"] == "s001"
    assert stored["source_file"] == str(path)
    assert "head_teacher" not in store.people.c  # per class, not per person
    (note,) = select(engine, store.data_quality)
    assert (note["reason"], note["row"], note["column"]) == (
        "head_teacher_conflict",
        4,
        "head_teacher",
    )
    assert note["value"] == "赵老师 ≠ 王老师"
    assert note["file"] == str(path)
    # dated with the day the roster was read: that day's school report shows it
    from datetime import datetime

    assert note["date"] == datetime.now(config.zone()).date()
    zh, en = note["message"].split(" / ")
    assert "第4行" in zh
    assert "赵老师 ≠ 王老师" in zh
    assert "以先出现的为准" in zh
    assert en.startswith("row 4:")
    assert "the first is kept" in en


def test_a_roster_updates_only_the_head_teachers_it_states(engine, config, tmp_path):
    rows = [
        ["001", "张三", "学生", "三年级", "1班", "王老师"],
        ["002", "李四", "学生", "三年级", "2班", "孙老师"],
    ]
    ingest_paths(engine, [roster(tmp_path, rows)], "roster", config)
    # without the column: nothing stored changes
    plain = [r[:5] for r in rows] + [["003", "王五", "学生", "三年级", "2班"]]
    report = ingest_paths(
        engine, [roster(tmp_path, plain, HEADER[:5], "名册2.csv")], "roster", config
    )
    assert report.inserted == 1
    assert not report.failed
    assert teachers(engine) == {("三年级", "1班"): "王老师", ("三年级", "2班"): "孙老师"}
    # with it: a class it names anew is replaced, a class whose cells are empty is kept
    again = [
        ["001", "张三", "学生", "三年级", "1班", "周老师"],
        ["002", "李四", "学生", "三年级", "2班", ""],
    ]
    ingest_paths(engine, [roster(tmp_path, again, name="名册3.csv")], "roster", config)
    assert teachers(engine) == {("三年级", "1班"): "周老师", ("三年级", "2班"): "孙老师"}


def test_a_head_teacher_phone_column_is_never_stored(engine, config, tmp_path):
    phone = "13912345678"
    path = roster(
        tmp_path,
        [
            ["001", "张三", "学生", "三年级", "1班", "王老师", phone],
            ["", "无号", "学生", "三年级", "1班", "王老师", phone],  # quarantined: no id
        ],
        [*HEADER, "班主任电话"],
    )
    report = ingest_paths(engine, [path], "roster", config)
    assert report.inserted == 1
    assert report.quarantined == 1
    assert teachers(engine) == {("三年级", "1班"): "王老师"}
    with engine.connect() as conn:
        for table in store.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                assert phone not in repr(tuple(row)), table.name


def test_the_copy_path_stores_head_teachers_like_the_insert_path(
    db_url, config, tmp_path, monkeypatch
):
    from reportkit.store import _postgres

    monkeypatch.setattr(_postgres, "COPY_MIN_ROWS", 1)  # PostgreSQL's COPY for any size
    engine = store.connect(db_url)
    try:
        rows = [
            ["001", "张三", "学生", "三年级", "1班", "王老师"],
            ["002", "李四", "学生", "", "2班", "孙老师"],
        ]
        ingest_paths(engine, [roster(tmp_path, rows)], "roster", config)
        assert teachers(engine) == {("三年级", "1班"): "王老师", ("", "2班"): "孙老师"}
        again = [["001", "张三", "学生", "三年级", "1班", "周老师"]]
        ingest_paths(engine, [roster(tmp_path, again, name="名册2.csv")], "roster", config)
        assert teachers(engine) == {("三年级", "1班"): "周老师", ("", "2班"): "孙老师"}
    finally:
        engine.dispose()


def test_the_missing_by_class_lists_show_the_head_teacher_when_known(engine, config, tmp_path):
    from reportkit.config import DeliveryConfig
    from reportkit.delivery import school_body
    from reportkit.findings import load_findings
    from reportkit.reports import SchoolReport

    path = roster(
        tmp_path,
        [
            ["001", "张三", "学生", "三年级", "1班", "王老师"],
            ["002", "李四", "学生", "三年级", "1班", "王老师"],
            ["003", "王五", "学生", "三年级", "2班", ""],
            ["004", "赵六", "学生", "三年级", "2班", ""],
        ],
    )
    ingest_paths(engine, [path], "roster", config)
    logs = logs_file(tmp_path, [good_row("001", "张三"), good_row("003", "王五")], "s001/l.csv")
    assert not ingest_paths(engine, [logs], "logs", config, Rules()).failed
    findings = load_findings(engine, config, Rules(), DAY)
    heads = dict(zip(findings.per_class["class"], findings.per_class["head_teacher"], strict=True))
    assert heads == {"1班": "王老师", "2班": None}
    school = config.school("s001")
    for lang, known in (
        ("zh-CN", "三年级 1班（班主任 王老师）"),
        ("en", "三年级 1班 (head teacher 王老师)"),
    ):
        section = SchoolReport(findings, config, "s001", lang).missing().body
        assert known in section
        assert "三年级 2班</td>" in section  # the class alone: no placeholder
        mail = school_body(findings, school, config.district("d01"), DeliveryConfig(), lang)
        assert known in mail.text
        assert known in mail.html
        for shown in (section, mail.text):
            assert "None" not in shown
            assert "nan" not in shown
