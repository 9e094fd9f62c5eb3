"""Why ingestion refused, could not read or skipped a file, in the chosen language: every
path gives its reason a key of the label catalog; the English stays what it was."""

from __future__ import annotations

import ast
from pathlib import Path

from reportkit.config import SchoolsConfig
from reportkit.ingest import ingest_paths, route_paths
from tests.ingest.test_pipeline import LOG_HEADER, write_csv

INGEST = Path(__file__).resolve().parents[2] / "src" / "reportkit" / "ingest"


def test_every_error_ingestion_raises_has_a_reason_key():
    """No ingest module words a reason itself: each error is made by
    :func:`reportkit.i18n.ingest_error`, or passes on a key it was given."""
    unkeyed = []
    for path in sorted(INGEST.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            keyed = any(k.arg == "key" for k in node.keywords)
            if name in ("IngestError", "RefusedFileError", "Skipped") and not keyed:
                unkeyed.append(f"{path.name}:{node.lineno} {name}")
    assert unkeyed == []


def _config() -> SchoolsConfig:
    return SchoolsConfig.model_validate(
        {
            "districts": [{"id": "d01", "name": "示范区"}],
            "schools": [{"id": "s001", "name": "第一小学", "district": "d01"}],
        }
    )


def test_refused_and_failed_files_say_why_in_each_language(engine, tmp_path):
    folder = tmp_path / "in" / "s001"
    empty = write_csv(folder / "空.csv", [])
    roster_as_log = write_csv(
        folder / "a.csv", [["学号", "姓名", "年级", "班级"], ["1", "张三", "3", "1"]]
    )
    no_roster = write_csv(folder / "b.csv", [LOG_HEADER, ["001", "张三", "2020-02-10"]])
    report = ingest_paths(engine, [empty, roster_as_log, no_roster], "logs", _config())
    by_name = {Path(f.path).name: f for f in report.files}
    assert by_name["空.csv"].error == f"{empty}: empty file"
    assert by_name["空.csv"].error_text("zh-CN") == f"{empty}: 空文件"
    assert by_name["空.csv"].to_json()["reason_key"] == "empty_file"
    wrong = by_name["a.csv"]
    assert wrong.refused
    assert wrong.reason("en").startswith("looks like a roster, not a health log")
    assert wrong.reason("zh-CN").startswith("看起来是花名册而不是健康日志：有年级、班级列")
    assert f"`reportkit ingest roster {roster_as_log}`" in wrong.reason("zh-CN")
    later = by_name["b.csv"]
    assert not later.refused  # no roster yet: read again once it is in
    assert later.reason("en") == "no roster for school s001: ingest the roster first"
    assert later.reason("zh-CN") == "学校 s001 没有花名册：请先导入花名册"


def test_skipped_files_say_why_in_each_language(tmp_path):
    folder = tmp_path / "day"
    folder.mkdir()
    for name in ("~$晨检.xlsx", "说明.docx", "名册.csv", "晨检.csv"):
        (folder / name).write_text("x", encoding="utf-8")
    routed, skipped = route_paths([folder], "logs")
    assert [r.path.name for r in routed] == ["晨检.csv"]
    why = {s.path.name: (s.reason, s.text("zh-CN"), s.key) for s in skipped}
    assert why["~$晨检.xlsx"] == (
        "an Excel/WPS lock file of an open workbook",
        "工作簿打开时生成的临时锁定文件",
        "skip_lock_file",
    )
    assert why["说明.docx"][1].startswith("不是表格文件（`.csv")
    roster = folder / "名册.csv"
    assert why["名册.csv"] == (
        f"a roster by its name: read it with `reportkit ingest roster {roster}`",
        f"按文件名是花名册：请用 `reportkit ingest roster {roster}` 读取",
        "skip_roster",
    )
