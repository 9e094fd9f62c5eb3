"""Reading files and cell values: encodings, sheets, headers, and the value parsers."""

from __future__ import annotations

import codecs
import datetime as dt

import numpy as np
import openpyxl
import pandas as pd
import pytest
import xlwt

from reportkit.errors import IngestError
from reportkit.ingest import cells, expand_paths, read_table, readers
from reportkit.ingest.cells import (
    dates_in,
    parse_date,
    parse_place,
    parse_symptoms,
    parse_temperature,
    parse_timestamp,
    parse_yes_no,
    per_unique,
)
from reportkit.ingest.readers import detect_encoding

HEADER = "学号,姓名,日期,体温\n"
BODY = "001,张三,2020-02-10,36.5\n002,李四,2020-02-10,36.6\n"


def test_all_names_exist():
    assert all(hasattr(readers, name) for name in readers.__all__)
    assert len(set(readers.__all__)) == len(readers.__all__)


@pytest.mark.parametrize(
    ("encoding", "prefix", "reported"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", codecs.BOM_UTF8, "utf-8-sig"),
        ("gbk", b"", "gbk"),
        ("utf-16-le", codecs.BOM_UTF16_LE, "utf-16"),
    ],
)
def test_csv_encodings_are_detected_from_the_bytes(tmp_path, encoding, prefix, reported):
    path = tmp_path / "logs.txt"  # the extension says nothing
    path.write_bytes(prefix + (HEADER + BODY).encode(encoding))
    frame, found, header_row = read_table(path, "logs")
    assert found == reported
    assert header_row == 1
    assert list(frame.columns) == ["学号", "姓名", "日期", "体温"]
    assert frame["姓名"].tolist() == ["张三", "李四"]
    assert frame["学号"].tolist() == ["001", "002"]  # text, leading zeros kept


def test_gb18030_only_characters_are_read_and_named(tmp_path):
    name = "张㑇"  # 㑇 is in GB18030 but not in GBK
    with pytest.raises(UnicodeEncodeError):
        name.encode("gbk")
    path = tmp_path / "logs.csv"
    path.write_bytes((HEADER + f"001,{name},2020-02-10,36.5\n").encode("gb18030"))
    frame, encoding, _ = read_table(path, "logs")
    assert encoding == "gb18030"
    assert frame["姓名"].tolist() == [name]


def test_a_late_non_utf8_byte_is_read_with_the_right_encoding(tmp_path):
    rows = "".join(f"{i:06d},学生,2020-02-10,36.5\n" for i in range(60_000))
    path = tmp_path / "logs.csv"
    path.write_bytes((HEADER + rows + "999999,张三,2020-02-10,36.5\n").encode("gbk"))
    frame, encoding, _ = read_table(path, "logs")
    assert encoding == "gbk"
    assert frame["姓名"].iloc[-1] == "张三"
    assert len(frame) == 60_001


def test_detect_encoding_refuses_binary():
    garbage = bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8))
    with pytest.raises(IngestError, match="binary"):
        detect_encoding(garbage, "x.csv")


@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_delimiters_are_sniffed(tmp_path, delimiter):
    path = tmp_path / "logs.csv"
    path.write_text((HEADER + BODY).replace(",", delimiter), encoding="utf-8")
    frame, _, _ = read_table(path, "logs")
    assert frame.shape == (2, 4)
    assert frame["体温"].tolist() == ["36.5", "36.6"]


def test_header_below_title_rows_and_row_numbers_as_a_spreadsheet_shows(tmp_path):
    path = tmp_path / "logs.csv"
    text = "第一小学2020年2月10日晨检登记表,,,\n填表人：王老师,,,\n" + HEADER + BODY
    text += ",,,\n003,王五,2020-02-10,36.7\n"  # a blank line inside the table
    path.write_text(text, encoding="utf-8")
    frame, _, header_row = read_table(path, "logs")
    assert header_row == 3
    assert frame.index.tolist() == [4, 5, 7]  # the blank row 6 is not data
    assert frame.loc[7, "姓名"] == "王五"


def test_cells_are_text_and_empty_cells_nan(tmp_path):
    path = tmp_path / "logs.csv"
    path.write_text(HEADER + "001,,2020-02-10,NA\n", encoding="utf-8")
    frame, _, _ = read_table(path, "logs")
    assert pd.isna(frame.loc[2, "姓名"])
    assert frame.loc[2, "体温"] == "NA"  # a word, not a missing value


def test_duplicate_and_empty_headers_are_made_unique(tmp_path):
    path = tmp_path / "logs.csv"
    path.write_text("学号,姓名,姓名,,\n001,张三,张叁,x,\n", encoding="utf-8")
    frame, _, _ = read_table(path, "logs")
    assert list(frame.columns) == ["学号", "姓名", "姓名.1", "Unnamed: 3"]


def test_rows_wider_than_the_header_are_read(tmp_path):
    path = tmp_path / "logs.csv"
    path.write_text(HEADER + "001,张三,2020-02-10,36.5,多余\n", encoding="utf-8")
    frame, _, _ = read_table(path, "logs")
    assert frame.loc[2, "体温"] == "36.5"
    assert "多余" in frame.loc[2].tolist()


def test_xlsx_with_merged_title_row(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["第一小学2月10日晨检登记表"])
    sheet.merge_cells("A1:E1")
    sheet.append(["学号", "姓名", "日期", "体温", "填报时间"])
    sheet.append(["001", "张三", dt.date(2020, 2, 10), 36.5, dt.datetime(2020, 2, 10, 7, 42, 11)])
    sheet.append([2020002, "李四", 43871, 37, "2020/2/10 7:50"])
    path = tmp_path / "logs.xlsx"
    book.save(path)
    frame, encoding, header_row = read_table(path, "logs")
    assert encoding is None
    assert header_row == 2
    assert frame.index.tolist() == [3, 4]
    assert frame["学号"].tolist() == ["001", "2020002"]
    assert frame.loc[3, "日期"].startswith("2020-02-10")
    assert frame.loc[4, "日期"] == "43871"
    assert frame.loc[3, "体温"] == "36.5"


def test_workbook_cells_read_as_the_text_pandas_gave(tmp_path):
    """The reader process gives each kind of cell the text ``pandas.read_excel(dtype=str)``
    gave before it; rows keep the numbers a spreadsheet shows (blank rows dropped)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["B2"] = "XX小学晨检"
    for col, head in zip("BCDEFG", ["学号", "姓名", "日期", "体温", "时间", "缺勤"], strict=True):
        sheet[f"{col}4"] = head
    first = [1, "张三", dt.date(2020, 2, 10), 36.5, dt.time(7, 40), True]
    later = [2.0, "", dt.datetime(2020, 2, 10, 7, 40, 1, 500000), 36, dt.timedelta(hours=7), "NA"]
    for row, values in ((5, first), (8, later)):
        for col, value in zip("BCDEFG", values, strict=True):
            sheet[f"{col}{row}"] = value
    path = tmp_path / "types.xlsx"
    book.save(path)
    frame, _, header_row = read_table(path, "logs")
    assert header_row == 4
    assert list(frame.columns) == ["学号", "姓名", "日期", "体温", "时间", "缺勤"]
    assert frame.index.tolist() == [5, 8]
    assert frame.loc[5].tolist() == ["1", "张三", "2020-02-10 00:00:00", "36.5", "07:40:00", "True"]
    assert frame.loc[8, "学号"] == "2"
    assert pd.isna(frame.loc[8, "姓名"])
    assert frame.loc[8].tolist()[2:4] == ["2020-02-10 07:40:01.500000", "36"]
    assert frame.loc[8].tolist()[4:] == ["7:00:00", "NA"]


def test_first_sheet_with_a_header_is_used(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["说明：请在第二页填写"])
    sheet = book.create_sheet("登记")
    sheet.append(["学号", "姓名", "日期"])
    sheet.append(["001", "张三", "2020-02-10"])
    path = tmp_path / "logs.xlsx"
    book.save(path)
    frame, _, header_row = read_table(path, "logs")
    assert header_row == 1
    assert frame["姓名"].tolist() == ["张三"]


def test_legacy_xls(tmp_path):
    book = xlwt.Workbook()
    sheet = book.add_sheet("Sheet1")
    sheet.write(0, 0, "第一小学晨检")
    for col, text in enumerate(["学号", "姓名", "日期"]):
        sheet.write(1, col, text)
    sheet.write(2, 0, "001")
    sheet.write(2, 1, "张三")
    sheet.write(2, 2, dt.date(2020, 2, 10), xlwt.easyxf(num_format_str="YYYY-MM-DD"))
    path = tmp_path / "logs.xls"
    book.save(str(path))
    frame, encoding, header_row = read_table(path, "logs")
    assert (encoding, header_row) == (None, 2)
    assert frame.loc[3, "学号"] == "001"
    assert frame.loc[3, "日期"].startswith("2020-02-10")


def test_excel_named_csv_is_read_as_excel(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["学号", "姓名"])
    book.active.append(["001", "张三"])
    path = tmp_path / "roster.csv"
    book.save(path)
    frame, encoding, _ = read_table(path, "roster")
    assert encoding is None
    assert frame["姓名"].tolist() == ["张三"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"  \r\n", "empty file"),
        ("名称,数量\n苹果,3\n".encode(), "no header row"),
        (bytes(range(256)) * 20, "binary"),
        (b"PK\x03\x04 not really a zip", "cannot read workbook"),
    ],
)
def test_unreadable_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(IngestError, match=message) as info:
        read_table(path, "logs")
    assert str(path) in str(info.value)


def test_missing_file_is_an_ingest_error(tmp_path):
    with pytest.raises(IngestError, match="cannot read file"):
        read_table(tmp_path / "nope.csv")


def test_expand_paths(tmp_path):
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for name in [
        "b/deep/z.xlsx",
        "b/a.CSV",
        "a.txt",
        "~$a.xlsx",
        ".x.csv",
        ".hidden/y.csv",
        "n.pdf",
    ]:
        (tmp_path / name).write_text("x")
    single = tmp_path / "n.pdf"
    found = expand_paths([tmp_path, single, tmp_path / "missing.csv"])
    rel = [p.relative_to(tmp_path).as_posix() for p in found]
    assert rel == ["a.txt", "b/a.CSV", "b/deep/z.xlsx", "n.pdf", "missing.csv"]


# --- values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2020-02-10",
        "2020/2/10",
        "2020.2.10",
        "2020年2月10日",
        "20200210",
        "43871",
        "2020-02-10 00:00:00",
        "2020-02-10 08:12",
        "２０２０－０２－１０",
    ],
)
def test_date_forms(text):
    assert parse_date(text) == ("2020-02-10", False)


@pytest.mark.parametrize("text", ["2020-02-30", "昨天", "10/02/2020", "123"])
def test_bad_dates(text):
    assert parse_date(text) == (None, True)


def test_missing_date_is_not_bad():
    assert parse_date(None) == (None, False)


@pytest.mark.parametrize(
    ("text", "celsius", "reason"),
    [
        ("36.5", 36.5, None),
        ("36.5℃", 36.5, None),
        ("36.5°C", 36.5, None),
        ("36,5", 36.5, None),
        ("36.5度", 36.5, None),
        ("37", 37.0, None),
        ("98.6", 37.0, "fahrenheit_converted"),
        ("98.6℉", 37.0, "fahrenheit_converted"),
        ("45", None, "impossible_temperature"),
        ("3.65", None, "impossible_temperature"),
        ("abc", None, "bad_temperature"),
        ("正常", None, "bad_temperature"),
    ],
)
def test_temperature_forms(text, celsius, reason):
    value, found = parse_temperature(text, (34.0, 43.0), (93.0, 110.0))
    assert found == reason
    if celsius is None:
        assert np.isnan(value)
    else:
        assert value == celsius


TERMS = {"发热": "fever", "发烧": "fever", "咳嗽": "cough", "头痛": "headache", "乏力": "fatigue"}


@pytest.mark.parametrize("separator", ["、", "，", ",", ";", "；", "/", " ", "　", "┋"])
def test_symptom_separators(separator):
    codes, other, unknown = parse_symptoms(f"咳嗽{separator}发烧", TERMS)
    assert (codes, other, unknown) == ("cough,fever", "", None)


def test_symptoms_none_words_and_unknown_terms():
    assert parse_symptoms("无", TERMS) == ("", "", None)
    assert parse_symptoms("正常", TERMS) == ("", "", None)
    assert parse_symptoms("None", TERMS) == ("", "", None)
    assert parse_symptoms("头痛、鼻子痒、乏力、鼻子痒", TERMS) == (
        "fatigue,headache",
        "鼻子痒",
        "鼻子痒",
    )
    assert parse_symptoms("发热，发烧", TERMS)[0] == "fever"  # unique codes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("是", (True, False)),
        ("否", (False, False)),
        ("缺勤", (True, False)),
        ("到校", (False, False)),
        ("Yes", (True, False)),
        ("是（发烧）", (True, False)),
        ("否，无", (False, False)),
        (None, (False, False)),
        ("不知道", (False, True)),
    ],
)
def test_yes_no(text, expected):
    assert parse_yes_no(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("否", (False, None)),
        ("无", (False, None)),
        ("是", (True, None)),
        ("是，武汉", (True, "武汉")),
        ("是武汉", (True, "武汉")),
        ("湖北武汉", (True, "湖北武汉")),
        ("有（温州）", (True, "温州")),
        (None, (False, None)),
    ],
)
def test_key_area_place(text, expected):
    assert parse_place(text) == expected


@pytest.mark.parametrize(
    ("text", "expected", "utc"),
    [
        ("2020-02-10 15:42:11", dt.datetime(2020, 2, 10, 15, 42, 11), False),
        ("2020/2/10 15:42", dt.datetime(2020, 2, 10, 15, 42), False),
        ("2020年2月10日 15:42:11", dt.datetime(2020, 2, 10, 15, 42, 11), False),
        ("2020-02-10T07:42:11+00:00", dt.datetime(2020, 2, 10, 7, 42, 11), True),
        ("2020-02-10T07:42:11Z", dt.datetime(2020, 2, 10, 7, 42, 11), True),
        ("43871.5", dt.datetime(2020, 2, 10, 12, 0), False),
    ],
)
def test_timestamp_forms(text, expected, utc):
    assert parse_timestamp(text) == (expected, utc, False)


@pytest.mark.parametrize("text", ["昨天下午", "2020-02-10", "15:42"])
def test_bad_timestamps(text):
    assert parse_timestamp(text) == (None, False, True)


def test_dates_in_titles_and_file_names():
    assert dates_in(["第一小学2020年2月10日晨检登记表"]) == {"2020-02-10"}
    assert dates_in(["logs_20200211.csv"]) == {"2020-02-11"}
    assert dates_in(["第一小学2月10日晨检登记表", "电话13800138000"]) == set()


def test_per_unique_parses_each_distinct_value_once():
    calls: list[object] = []

    def parse(value):
        calls.append(value)
        return (value or "-",)

    values = pd.Series([" a", "a ", "b", None, np.nan, "　"] * 1000, dtype=object)
    (out,) = per_unique(values, parse, 1)
    assert out[:6].tolist() == ["a", "a", "b", "-", "-", "-"]
    assert len(calls) == 5  # " a", "a ", "b", "　" and missing once


def test_categorical_of_parsed_values_holds_the_same_values():
    values = pd.Series(["b", " a", "a ", None, "x", "b"] * 3, dtype=object)
    codes, table = cells.parse_unique(values, lambda v: (v, v == "x" or None), 2)
    for item in range(2):
        column = cells.categorical(codes, table[:, item])
        expected = table[codes][:, item]
        assert column.categories.dtype == object
        assert column.categories.is_unique
        assert column.categories.notna().all()
        got = np.asarray(column, dtype=object)
        assert [None if pd.isna(v) else v for v in got] == expected.tolist()
    # " a" and "a " both parse to "a": one category, not two
    assert list(cells.categorical(codes, table[:, 0]).categories) == ["b", "a", "x"]


_TRICKY = {
    "title, BOM and CRLF": (
        "\ufeff某某小学2月10日晨检登记表\r\n学号,姓名,日期,体温\r\n001,张三,2020-02-10,36.5\r\n",
        True,
    ),
    "blank lines inside and at the end": (HEADER + "001,张三,,\n\n002,,2020-02-10,36.6\n\n", True),
    "quoted delimiters, line breaks and empty text": (
        HEADER + '001,"张,三",2020-02-10,"36\n.5"\n"002","",2020-02-10, 36.6 \n',
        True,
    ),
    "semicolons and a trailing empty column": (
        "学号;姓名;日期;体温;\n001;张三;2020-02-10;36.5;\n",
        True,
    ),
    "tabs, full-width text and long ids": (
        "学号\t姓名\t日期\t体温\n０００１\t张　三\t2020-02-10\t36.5℃\n000000000012\t李四\t\t\n",
        True,
    ),
    "a row narrower than the header": (HEADER + "001,张三\n002,李四,2020-02-10,36.6\n", False),
    "a row wider than the header": (HEADER + "001,张三,2020-02-10,36.5,多余\n", False),
}


@pytest.mark.parametrize("name", list(_TRICKY))
def test_utf8_files_read_by_pyarrow_as_pandas_reads_them(tmp_path, monkeypatch, name):
    """pyarrow reads well-formed UTF-8 files cell for cell as pandas' C parser does
    (text kept as written, leading zeros and spaces too, empty cells NaN, row numbers
    the file's); files it would read otherwise go to pandas, and so do small files."""
    text, by_arrow = _TRICKY[name]
    path = tmp_path / "logs.csv"
    path.write_bytes(text.encode("utf-8"))
    frame, _, _ = read_table(path, "logs")  # small: pandas reads it faster
    assert not any(isinstance(t, pd.CategoricalDtype) for t in frame.dtypes)
    monkeypatch.setattr(readers, "_ARROW_MIN_BYTES", 0)
    frame, encoding, header_row = read_table(path, "logs")
    assert encoding in ("utf-8", "utf-8-sig")
    categorical = [isinstance(t, pd.CategoricalDtype) for t in frame.dtypes]
    assert all(categorical) if by_arrow else not any(categorical)
    monkeypatch.setattr(readers, "_parse_csv_arrow", lambda *args: None)
    expected, _, expected_header_row = read_table(path, "logs")
    assert header_row == expected_header_row
    assert list(frame.columns) == list(expected.columns)
    assert frame.index.equals(expected.index)
    as_objects = frame.astype(object).where(frame.notna(), None)
    assert as_objects.equals(expected.astype(object).where(expected.notna(), None))


def test_parse_timestamps_of_a_column_as_text_or_categorical():
    """Common formats parsed once per distinct text, the rest row by row: a time of day
    takes the row's day, a time with an offset the row's school's zone; empty cells are
    NaT, unreadable ones NaT and bad. Object and categorical columns give the same."""
    from zoneinfo import ZoneInfo

    texts = [
        "2020-02-10 07:31:05",
        "2020/02/10 07:31",
        None,
        "07:40",
        "2020-02-10T07:45:00+00:00",
        "2020年2月10日 8时5分",
        "not a time",
        "2020-02-10 07:31:05",
        "07:40",
    ]
    day = pd.Series(["2020-02-10"] * 8 + ["2020-02-11"], dtype=object)
    schools = pd.Series(["s001"] * 9, dtype=object)
    zone = lambda school: ZoneInfo("Asia/Shanghai")  # noqa: E731
    expected = pd.to_datetime(
        [
            "2020-02-10 07:31:05",
            "2020-02-10 07:31",
            None,
            "2020-02-10 07:40",
            "2020-02-10 15:45",
            "2020-02-10 08:05",
            None,
            "2020-02-10 07:31:05",
            "2020-02-11 07:40",
        ],
        format="mixed",
    ).astype("datetime64[us]")
    for values in (pd.Series(texts, dtype=object), pd.Series(pd.Categorical(texts))):
        stamps, bad = cells.parse_timestamps(values, zone, schools, day)
        assert stamps.dtype == "datetime64[us]"
        assert list(stamps) == list(pd.Series(expected))
        assert list(bad) == [False] * 6 + [True] + [False] * 2
