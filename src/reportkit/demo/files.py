"""The demo's file writers: CSV in each school's encoding, XLSX as schools keep them.

Texts are made with numpy from precomputed tables (clock times, temperatures), so
a county's three weeks are written in seconds; the XLSX writer sets fixed zip
timestamps, so the same rows give the same bytes. :func:`write_log_csv` writes
one large health log for the benchmarks.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from datetime import date, timedelta
from functools import cache
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reportkit.demo.plan import DEMO_DATE, School, person_names, zfill

__all__ = [
    "ENTRY_HEADER",
    "LOG_HEADER",
    "NO_HEAD_TEACHER_SLOTS",
    "ROSTER_HEADER",
    "SESSION_WORDS",
    "SURVEY_HEADER",
    "head_teacher_texts",
    "stamp_texts",
    "temperature_texts",
    "write_csv",
    "write_log_csv",
    "write_logs",
    "write_roster",
]

LOG_HEADER = "日期 时段 学号 姓名 体温 症状 是否缺勤 缺勤原因 14天内是否到过重点地区 是否接触确诊或疑似病例 填报时间"
SURVEY_HEADER = (
    "序号 提交答卷时间 所用时间 来源 来源详情 来自IP 1、学号 2、姓名 3、今日体温 4、是否有以下症状"
)
SURVEY_HEADER += " 5、14天内是否到过重点地区 6、是否接触确诊或疑似病例"
ROSTER_HEADER = "学号 姓名 身份 年级 班级 状态"
ENTRY_HEADER = "进校时间 姓名 身份 联系电话 身份证号 事由 体温 审批人 离校时间"
_ENCODINGS = {"csv": "utf-8", "bom": "utf-8-sig", "gbk": "gbk"}
SESSION_WORDS = np.array(["晨检", "午检"], dtype=object)


@cache
def _clock(style: int) -> np.ndarray:
    """Seconds of the day as text: 0 ``07:45:12``, 1 ``7:45`` (Excel), 2 ``7:45:12`` (问卷星)."""
    minutes = [
        f"{m // 60:02d}:{m % 60:02d}" if style == 0 else f"{m // 60}:{m % 60:02d}"
        for m in range(1440)
    ]
    seconds = [f":{s:02d}" if style != 1 else "" for s in range(60)]
    return (np.array(minutes, dtype=object)[:, None] + np.array(seconds, dtype=object)).ravel()


@cache
def temperature_texts(sign: bool) -> np.ndarray:
    """Tenths of a degree above 34.0 °C as text: ``36.5`` or ``36.5℃``."""
    return np.array([f"{t / 10:.1f}{'℃' if sign else ''}" for t in range(340, 421)], dtype=object)


def stamp_texts(day: date, style: int, seconds: np.ndarray) -> np.ndarray:
    return (f"{day:%Y-%m-%d} " if style == 0 else f"{day.year}/{day.month}/{day.day} ") + _clock(
        style
    )[seconds]


def _csv_text(header: str | None, columns: list[Any], newline: str = "\n") -> str:
    """CSV of columns (arrays or constants) whose cells hold no comma, quote or newline."""
    n = max((len(c) for c in columns if not isinstance(c, str)), default=1)
    cells = [repeat(c, n) if isinstance(c, str) else c.tolist() for c in columns]
    lines = list(map(",".join, zip(*cells, strict=False)))  # 4x numpy's object "+"
    return newline.join([header.replace(" ", ","), *lines] if header else lines) + newline


def write_csv(
    path: Path, school: School, header: str, columns: list[Any], tail: Sequence[list[str]] = ()
) -> Path:
    """The school's CSV (its encoding; CRLF like Excel on Windows but for plain UTF-8)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    encoding = _ENCODINGS.get(school.fmt, "utf-8-sig")
    newline = "\n" if encoding == "utf-8" else "\r\n"
    text = _csv_text(header, columns, newline) + "".join(",".join(r) + newline for r in tail)
    path.write_bytes(text.encode(encoding))
    return path


_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_PKG, _CT = "http://schemas.openxmlformats.org/package/2006", "application/vnd.openxmlformats-"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_XLSX_PARTS = {
    "[Content_Types].xml": f'<Types xmlns="{_PKG}/content-types"><Default Extension="rels" '
    f'ContentType="{_CT}package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    + "".join(
        f'<Override PartName="/xl/{part}.xml" ContentType="{_CT}officedocument.spreadsheetml.{kind}+xml"/>'
        for part, kind in [
            ("workbook", "sheet.main"),
            ("worksheets/sheet1", "worksheet"),
            ("styles", "styles"),
        ]
    )
    + "</Types>",
    "_rels/.rels": f'<Relationships xmlns="{_PKG}/relationships"><Relationship Id="rId1" '
    f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": f'<workbook {_NS} xmlns:r="{_REL}"><sheets><sheet name="Sheet1" sheetId="1" '
    'r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{_PKG}/relationships"><Relationship Id="rId1" '
    f'Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" '
    f'Type="{_REL}/styles" Target="styles.xml"/></Relationships>',
    "xl/styles.xml": f'<styleSheet {_NS}><fonts count="1"><font><sz val="11"/><name val="宋体"/></font>'
    '</fonts><fills count="1"><fill><patternFill patternType="none"/></fill></fills><borders count="1">'
    '<border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="3"><xf xfId="0"/>'
    '<xf numFmtId="14" xfId="0" applyNumberFormat="1"/><xf numFmtId="22" xfId="0" applyNumberFormat="1"/>'
    '</cellXfs><cellStyles count="1"><cellStyle name="常规" xfId="0" builtinId="0"/></cellStyles></styleSheet>',
}


def _write_xlsx(path: Path, title: str, header: str, columns: list[tuple[str, np.ndarray]]) -> Path:
    """A workbook as schools keep them: a merged title row above the header.

    ``columns`` are (style, text) pairs: ``s`` text, ``n`` number, ``1`` an Excel date
    serial, ``2`` a date-time serial. Written directly (openpyxl without lxml takes
    0.1 ms a cell), with fixed zip timestamps so the same rows give the same bytes.
    """
    numbers = (np.arange(len(columns[0][1])) + 3).astype(str).astype(object)
    cells: Any = ""
    for i, (style, values) in enumerate(columns):
        cell = '<c r="' + chr(65 + i) + numbers
        if style == "s":
            cell = cell + '" t="inlineStr"><is><t>' + values + "</t></is></c>"
        else:
            cell = cell + ('"><v>' if style == "n" else f'" s="{style}"><v>') + values + "</v></c>"
        cells = cells + np.where(values == "", "", cell)
    text = '<c r="{}" t="inlineStr"><is><t>{}</t></is></c>'.format
    head = "".join(text(f"{chr(65 + i)}2", h) for i, h in enumerate(header.split()))
    rows = ['<row r="1">' + text("A1", title) + '</row><row r="2">' + head + "</row>"]
    rows += np.atleast_1d('<row r="' + numbers + '">' + cells + "</row>").tolist()
    merge = f'<mergeCells count="1"><mergeCell ref="A1:{chr(64 + len(columns))}1"/></mergeCells>'
    sheet = f"<worksheet {_NS}><sheetData>{''.join(rows)}</sheetData>{merge}</worksheet>"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as book:
        for name, xml in [*_XLSX_PARTS.items(), ("xl/worksheets/sheet1.xml", sheet)]:
            stamp = zipfile.ZipInfo(name, (2020, 2, 1, 0, 0, 0))
            book.writestr(stamp, _XML + xml, zipfile.ZIP_DEFLATED)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


# schools whose roster has no head-teacher column (班主任): their reports show classes alone
NO_HEAD_TEACHER_SLOTS = frozenset({"3village1", "1point"})


def head_teacher_texts(roster: pd.DataFrame) -> np.ndarray:
    """Each student's head teacher (班主任): the school's active staff but its leader, in
    turn by class (no random draw: the demo's other streams stay as they were); "" for
    staff rows."""
    students = (roster["grade"] != "").to_numpy()
    staff = roster.loc[(roster["role"] == "教职工") & roster["active"], "name"].to_numpy()[1:]
    out = np.full(len(roster), "", dtype=object)
    if len(staff) and students.any():
        classes, _ = pd.factorize(roster["grade"][students] + " " + roster["cls"][students])
        out[students] = staff[classes % len(staff)]
    return out


def write_roster(folder: Path, school: School, roster: pd.DataFrame) -> Path:
    columns = [
        roster[c].to_numpy(object) for c in ("pid", "name", "role", "grade", "cls", "status")
    ]
    header = ROSTER_HEADER
    if school.slot not in NO_HEAD_TEACHER_SLOTS:
        columns.append(head_teacher_texts(roster))
        header += " 班主任"
    if school.fmt == "xlsx":
        return _write_xlsx(
            folder / "名册.xlsx",
            f"{school.name}师生名册",
            header,
            [("s", c) for c in columns],
        )
    return write_csv(folder / "名册.csv", school, header, columns)


def write_logs(
    folder: Path,
    school: School,
    today: date,
    columns: list[Any],
    seconds: np.ndarray,
    extra: list[tuple[str, str, str]],
    rng: np.random.Generator,
) -> tuple[Path, list[int]]:
    """The day's export in the school's format; returns it and the rows of ``extra``
    (rows a teacher typed below a CSV export: person id, name, why)."""
    n, md = len(columns[2]), f"{today.month}月{today.day}日"
    if school.fmt == "xlsx":
        serial = (today - date(1899, 12, 30)).days
        cells = [
            ("1", np.full(n, str(serial), dtype=object)),
            *[("s", c) for c in columns[1:4]],
            ("n", columns[4]),
        ]
        cells += [("s", c) for c in columns[5:10]] + [
            ("2", (serial + seconds / 86400).round(8).astype(str).astype(object))
        ]
        title = f"{school.name}{md}{'晨午检' if len(school.sessions) > 1 else '晨检'}登记表"
        return _write_xlsx(folder / f"{md}晨午检登记表.xlsx", title, LOG_HEADER, cells), []
    if school.fmt == "survey":  # 问卷星: answer sheets by submission time, no date column
        order = np.argsort(seconds, kind="stable")
        survey: list[Any] = [
            zfill(np.arange(1, n + 1), 1),
            stamp_texts(today, 2, seconds[order]),
            zfill(rng.integers(20, 180, n), 1) + "秒",
        ]
        survey += ["微信", "N/A", "203.0.113." + zfill(rng.integers(1, 255, n), 1) + "(吉林-松原)"]
        survey += [columns[i][order] for i in (2, 3, 4, 5, 8, 9)]
        return write_csv(
            folder / f"晨检打卡_{today:%Y%m%d}_问卷星.csv", school, SURVEY_HEADER, survey
        ), []
    stamps = stamp_texts(today, school.clock_style, np.sort(rng.integers(36000, 39600, len(extra))))
    typed = [  # rows a teacher typed below the export
        [columns[0], "晨检", pid, name, "36.5", "无", "否", "", "否", "否", stamp]
        for (pid, name, _), stamp in zip(extra, stamps, strict=True)
    ]
    path = write_csv(folder / f"{md}晨午检.csv", school, LOG_HEADER, columns, typed)
    return path, [n + 2 + i for i in range(len(extra))]


def write_log_csv(
    path: Path, n_rows: int, n_people: int, seed: int = 0, roster: Path | None = None
) -> Path:
    """One large UTF-8 health-log CSV, ``n_people`` checked twice a day, for benchmarks.

    People are ``P0000001``...; ``roster`` also writes their roster CSV, so that an
    ingestion of the log finds everyone. Written in chunks of 500,000 rows.
    """
    rng = np.random.default_rng(seed)
    pids = "P" + zfill(np.arange(1, n_people + 1), 7)
    names = person_names(rng, n_people)
    if roster is not None:
        Path(roster).write_text(
            _csv_text(ROSTER_HEADER, [pids, names, "学生", "初一", "1班", "在校"]), encoding="utf-8"
        )
    n_days = -(-n_rows // (2 * n_people))
    days = np.array(
        [(DEMO_DATE - timedelta(days=n_days - 1 - d)).isoformat() for d in range(n_days)],
        dtype=object,
    )
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(LOG_HEADER.replace(" ", ",") + "\n")
        for lo in range(0, n_rows, 500_000):
            i = np.arange(lo, min(lo + 500_000, n_rows))
            who, day, session = i % n_people, i // (2 * n_people), i // n_people % 2
            seconds = np.where(session == 0, 27000, 43200) + rng.integers(0, 7200, len(i))
            tenths = np.clip(np.rint(rng.normal(364, 2.5, len(i))), 355, 385).astype(int) - 340
            columns = [
                days[day],
                SESSION_WORDS[session],
                pids[who],
                names[who],
                temperature_texts(False)[tenths],
            ]
            columns += ["无", "否", "", "否", "否", days[day] + " " + _clock(0)[seconds]]
            out.write(_csv_text(None, columns))
    return Path(path)
