"""Every output of the demo, as its readers get it: on a phone, and in one language.

The demo's reports are executed for real (papermill kernels, nbconvert, Chromium's
PDF) for the schools that carry its events, with their district's roll-up, in both
languages; the emails are built for every school. Then:

* phones: in Chromium at 390 px no table of the school report, the roll-up or an
  email is wider than its container (tables reflow into stacked rows); at 1280 px
  no column is cut;
* one language per output: zh-CN outputs hold no English word, en outputs no Chinese
  label. Names of people, schools, units, classes, places, files and what a file
  wrote are data, not labels: every string of the store and of schools.yaml /
  delivery.yaml is removed from the text before it is scanned.
"""

from __future__ import annotations

import html as html_lib
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from reportkit import cli, store
from reportkit.config import Settings, load_rules, load_schools
from reportkit.delivery import district_body, reminder_body, school_body
from reportkit.findings import load_findings

DAY = date(2020, 2, 28)
LANGS = ("zh-CN", "en")
# the schools of the demo's events: a class that did not report and a key person,
# a suspected case, a cluster with fever and an unreachable pupil, a school that sent
# nothing, an illness absence and a data-quality finding
SCHOOLS = ("s005", "s011", "s018", "s021", "s019")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
CHROMIUM_ARGS += ["--disable-background-networking", "--disable-component-update"]
# each table wider than its container (a sideways scroll or a cut column), and the page
OVERFLOW_JS = """() => {
  const wide = [...document.querySelectorAll('table')]
    .map((t, i) => ({table: i, width: t.scrollWidth, room: t.parentElement.clientWidth,
                     first: ((t.querySelector('th, td') || {}).textContent || '').trim()}))
    .filter(x => x.width > x.room + 1);
  const page = document.documentElement.scrollWidth;
  return page > innerWidth + 1 ? wide.concat([{page, room: innerWidth}]) : wide;
}"""
ENGLISH_WORD = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z]{2,}(?![A-Za-z0-9_])")
# Chinese characters and the full-width punctuation of Chinese labels
CHINESE = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff01-\uff5e]+")
# words a zh-CN reader reads as Chinese text: the attachment's format
ZH_ALLOWED = {"PDF"}


@dataclass
class Outputs:
    root: Path
    reports: dict[str, list[Path]]  # lang -> HTML pages (schools, the roll-up, the index)
    pdfs: dict[str, list[Path]]
    mails: dict[str, list[Any]]  # lang -> MailBody (school, district, reminder)
    cli: dict[str, list[str]]  # lang -> the text of flags and ingest
    data: list[str]  # strings that are data, longest first


_ISSUE_CODES = {"message", "column", "reason", "kind"}
_OWN_WORDS = {"data_quality": _ISSUE_CODES, "quarantine": _ISSUE_CODES}


def _data_strings(small_demo: Any) -> list[str]:
    """Every string the deployment and its files gave (names, classes, places, files...)."""
    found: set[str] = set()
    engine = sa.create_engine(small_demo.db_url)
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            # not data: the kit's own words (a finding's message in both languages, the
            # column and reason codes, a refused file's reason key) are what is checked
            texts = [
                c
                for c in table.columns
                if isinstance(c.type, sa.String | sa.Text)
                and not (table.name in _OWN_WORDS and c.name in _OWN_WORDS[table.name])
            ]
            for col in texts:
                query = sa.select(col).distinct()
                if table.name == "data_quality" and col.name == "value":
                    # a refused file's reason is the kit's, worded by each report
                    query = query.where(table.c.reason != "file_rejected")
                for (value,) in conn.execute(query):
                    if isinstance(value, str):
                        found.add(value)
                        found.add(Path(value).name)  # a file's name
                        found.update(re.split(r"[、，,;；/\s]+", value))  # listed symptoms
    engine.dispose()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            found.add(node)
            # delivery.yaml's subjects: the deployment's words around the placeholders
            found.update(re.split(r"\{[^}]*\}", node))

    for name in ("schools.yaml", "delivery.yaml"):
        path = Path(small_demo.params_dir) / name
        if path.exists():
            walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    # a unit's level is free text of schools.yaml, often one character (县, 镇)
    units = yaml.safe_load((Path(small_demo.params_dir) / "schools.yaml").read_text("utf-8"))
    levels = {str(u["level"]) for u in units.get("units") or () if u.get("level")}
    kept = {s.strip() for s in found if len(s.strip()) >= 2} | levels
    return sorted(kept, key=len, reverse=True)


@pytest.fixture(scope="module")
def outputs(small_demo: Any, tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    from reportkit.execution import run_reports

    root = tmp_path_factory.mktemp("outputs")
    reports: dict[str, list[Path]] = {}
    pdfs: dict[str, list[Path]] = {}
    mails: dict[str, list[Any]] = {}
    texts: dict[str, list[str]] = {}
    config = load_schools(small_demo.params_dir)
    engine = store.connect(small_demo.db_url, create=False)
    findings = load_findings(engine, config, load_rules(small_demo.params_dir), DAY)
    for lang in LANGS:
        settings = Settings.resolve(small_demo.db_url, small_demo.params_dir, root / lang)
        run_reports(settings, DAY, list(SCHOOLS), jobs=2, lang=lang, progress=False)
        day = root / lang / DAY.isoformat()
        reports[lang] = sorted(day.rglob("*.html"))
        pdfs[lang] = sorted(day.rglob("*.pdf"))
        delivery = settings.delivery()
        mails[lang] = [
            school_body(
                findings,
                config.school(s),
                config.district(config.school(s).district),
                delivery,
                lang,
            )
            for s in findings.school_ids
        ]
        mails[lang] += [
            district_body(findings.district(d.id, config), d, delivery, lang)
            for d in config.districts
        ]
        mails[lang] += [
            reminder_body(findings, config.school(s), delivery, _at(DAY, 15, 0), lang)
            for s in SCHOOLS
        ]
    engine.dispose()
    data = _data_strings(small_demo)
    return Outputs(root, reports, pdfs, mails, texts, data)


def _at(day: date, hour: int, minute: int) -> Any:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai"))


def _visible(page: str) -> str:
    """The text a reader sees (and what an image or a cell says it is), unescaped."""
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r'src="data:[^"]*"', "", page)
    attrs = " ".join(re.findall(r'\b(?:alt|title|data-label|aria-label)="([^"]*)"', page))
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", page) + " " + attrs)


def _without_data(text: str, data: list[str]) -> str:
    for value in data:
        text = text.replace(value, " ")
    return text


def _foreign(text: str, lang: str, data: list[str]) -> list[str]:
    """What in ``text`` is not in ``lang``: English words in zh-CN, Chinese in en."""
    text = _without_data(text, data)
    text = re.sub(r"`[^`]*`", " ", text)  # a command to type is the command's
    if lang == "zh-CN":
        return sorted({w for w in ENGLISH_WORD.findall(text) if w not in ZH_ALLOWED})
    return sorted(set(CHINESE.findall(text)))


def _pdf_text(pdf: Path, *, layout: bool = False) -> tuple[str, str]:
    for tool in ("pdftotext", "pdfinfo"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} (poppler-utils) is not installed")
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", *(["-layout"] if layout else []), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    info = subprocess.run(
        ["pdfinfo", "-enc", "UTF-8", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    # a name or a label wrapped in a cell comes out in pieces: join them again
    if not layout:
        text = re.sub(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])", "", text)
    title = next(
        (line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("Title:")),
        "",
    )
    return text, title


# --------------------------------------------------------------------------- phones


def _pages(outputs: Outputs, tmp_path: Path) -> list[Path]:
    pages = [p for p in outputs.reports["zh-CN"] if p.name != "index.html"]
    pages += [p for p in outputs.reports["en"] if "s018" in p.parts or "units" in p.parts]
    for lang in LANGS:
        for i, body in enumerate(outputs.mails[lang]):
            if lang == "zh-CN" or i % 5 == 0:
                path = tmp_path / lang / "mail" / f"{i:02d}.html"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(body.html, encoding="utf-8")
                pages.append(path)
    return pages


def test_no_table_needs_a_sideways_scroll_at_390_px_and_none_is_cut_at_1280(
    outputs: Outputs, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    from reportkit.reports import find_chromium

    pages = _pages(outputs, tmp_path)
    assert any("units" in p.parts for p in pages)
    assert any("mail" in p.parts for p in pages)
    wide: dict[str, Any] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
        try:
            for width in (390, 1280):
                context = browser.new_context(viewport={"width": width, "height": 844})
                page = context.new_page()
                for path in pages:
                    page.goto(path.as_uri())
                    found = page.evaluate(OVERFLOW_JS)
                    if found:
                        wide[f"{width}px {path.relative_to(path.parents[2])}"] = found
                    tables = page.evaluate("document.querySelectorAll('table').length")
                    assert tables, path  # a page of tables was looked at
                context.close()
        finally:
            browser.close()
    assert wide == {}


def test_printed_the_tables_stay_tables(outputs: Outputs) -> None:
    """The phone layout is for screens: the A4 PDF keeps the columns side by side."""
    pdf = next(p for p in outputs.pdfs["zh-CN"] if "s018" in p.parts)
    text, _ = _pdf_text(pdf, layout=True)
    # the header row is one line of the page, its labels side by side (not stacked)
    headers = [line.split() for line in text.splitlines() if "类别" in line and "原因" in line]
    assert headers
    assert headers[0][:4] == ["类别", "班级", "学号", "姓名"]


# ------------------------------------------------------------------ one language


@pytest.mark.parametrize("lang", LANGS)
def test_every_page_and_pdf_is_in_its_own_language(outputs: Outputs, lang: str) -> None:
    assert len(outputs.reports[lang]) >= len(SCHOOLS) + 2  # schools, the roll-up, the index
    assert len(outputs.pdfs[lang]) >= len(SCHOOLS) + 1
    found = {}
    for page in outputs.reports[lang]:
        text = _visible(page.read_text(encoding="utf-8"))
        if bad := _foreign(text, lang, outputs.data):
            found[str(page.relative_to(outputs.root))] = bad
    for pdf in outputs.pdfs[lang]:
        text, title = _pdf_text(pdf)
        assert title, pdf  # the PDF has a title: the report's, in its language
        if bad := _foreign(f"{title}\n{text}", lang, outputs.data):
            found[str(pdf.relative_to(outputs.root))] = bad
    assert found == {}


def test_the_page_and_pdf_title_is_the_report_s_own(outputs: Outputs) -> None:
    page = next(p for p in outputs.reports["zh-CN"] if "s018" in p.parts and p.suffix == ".html")
    title = re.search(r"<title>([^<]*)</title>", page.read_text(encoding="utf-8"))
    assert title is not None
    assert title.group(1) == "三井子镇中心小学 晨午检日报 2020-02-28"
    pdf = next(p for p in outputs.pdfs["en"] if "units" in p.parts and p.stem == "d01")
    assert _pdf_text(pdf)[1].endswith(" roll-up 2020-02-28")


@pytest.mark.parametrize("lang", LANGS)
def test_every_email_is_in_its_own_language(outputs: Outputs, lang: str) -> None:
    found = {}
    for body in outputs.mails[lang]:
        text = f"{body.subject}\n{_visible(body.html)}\n{body.text}"
        if bad := _foreign(text, lang, outputs.data):
            found[body.subject] = bad
    assert found == {}


@pytest.mark.parametrize("lang", LANGS)
def test_the_command_line_tables_are_in_the_chosen_language(
    small_demo: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    lang: str,
) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # a file's name whole in its cell, not folded
    db = tmp_path / "copy.db"
    shutil.copy(small_demo.db_url.removeprefix("sqlite:///"), db)
    common = ["--db", f"sqlite:///{db}", "--params", str(small_demo.params_dir)]
    assert cli.main(["flags", "--date", DAY.isoformat(), "--lang", lang, *common]) == 0
    flags = capsys.readouterr().out
    inbox = Path(small_demo.params_dir).parent / "data" / "inbox"
    day = inbox / DAY.isoformat() / "s018"
    assert cli.main(["ingest", str(day), "--force", "--lang", lang, *common]) == 0
    ingest = capsys.readouterr().out
    assert cli.main(["ingest", "logs", str(day), "--lang", lang, *common]) == 0
    ingest += capsys.readouterr().out  # seen before, and a gate register skipped
    # a refused file, and files of a folder skipped for what they are
    extra = tmp_path / "uploads" / "s018"
    extra.mkdir(parents=True)
    names = ["晨检(1).csv", "说明.docx", "~$晨检.xlsx"]
    for name in names:
        (extra / name).write_bytes(b"" if name.endswith(".csv") else b"x")
    assert cli.main(["ingest", "logs", str(extra), "--lang", lang, *common]) == 1
    refused = capsys.readouterr().out
    assert refused.count(str(extra)) >= 3  # each file named, with why
    ingest += refused
    data = [str(extra), *names, str(inbox), *_data_strings(small_demo)]
    assert _foreign(flags, lang, data) == []
    assert _foreign(ingest, lang, data) == []


# ---------------------------------------------------------------------------- order


def test_the_report_leads_with_what_needs_action_then_missing_by_class(
    outputs: Outputs, small_demo: Any
) -> None:
    """A whole class that did not report is one row (n of N, the names), after the key
    person: the leader reads what to act on before any long list."""
    school, grade, klass = small_demo.events["missing_class"]
    key_person = next(p for s, p, _ in small_demo.events["key_persons"] if s == school)
    page = next(p for p in outputs.reports["zh-CN"] if school in p.parts)
    text = _visible(page.read_text(encoding="utf-8"))
    headings = ["需处置", "未报人员（按班级）", "漏检时段", "入校登记", "数据问题", "分班情况"]
    at = [text.index(h) for h in headings]
    assert at == sorted(at)  # the issue's order: action, missing by class, the details
    assert text.index(key_person) < text.index("未报人员（按班级）")
    config = load_schools(small_demo.params_dir)
    engine = store.connect(small_demo.db_url, create=False)
    findings = load_findings(engine, config, load_rules(small_demo.params_dir), DAY)
    engine.dispose()
    missing = findings.missing[findings.missing["school_id"] == school]
    whole = missing[(missing["grade"] == grade) & (missing["class"] == klass)]
    pc = findings.per_class
    (expected,) = pc[(pc["school_id"] == school) & (pc["grade"] == grade) & (pc["class"] == klass)][
        "expected"
    ]
    html = page.read_text(encoding="utf-8")
    (head,) = pc[(pc["school_id"] == school) & (pc["grade"] == grade) & (pc["class"] == klass)][
        "head_teacher"
    ]
    # the class with its head teacher beside it (the demo's rosters name them)
    row = re.search(rf"<tr><td[^>]*>{grade} {klass}（班主任 {head}）</td>(.*?)</tr>", html)
    assert row is not None
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))
    assert cells[0] == f"{len(whole)}/{expected}"  # n of N
    assert all(name in cells[1] for name in whole["name"])  # the names in one row


def test_missing_by_class_names_the_head_teacher_where_the_roster_does(
    outputs: Outputs, small_demo: Any
) -> None:
    """The demo's rosters carry 班主任 but for two schools: the class with its head
    teacher where known, the class alone where not, in the page, the PDF and the email."""
    from reportkit.demo.files import NO_HEAD_TEACHER_SLOTS
    from reportkit.demo.plan import plan_schools

    _, schools = plan_schools(1, 20200210)
    without = {s.id for s in schools if s.slot in NO_HEAD_TEACHER_SLOTS}
    school, grade, klass = small_demo.events["missing_class"]
    assert school not in without
    sloppy = small_demo.events["bad_rows"]["unknown_person"][0][0]
    assert sloppy in without
    for lang, label in (("zh-CN", "（班主任 "), ("en", " (head teacher ")):
        pages = {p.parts[-2]: p for p in outputs.reports[lang] if p.name == "report.html"}
        known = _visible(pages[school].read_text(encoding="utf-8"))
        assert f"{grade} {klass}{label}" in known
        alone = _visible(pages[sloppy].read_text(encoding="utf-8"))
        assert label.strip(" （(") not in alone  # no head teacher, and no placeholder
        for text in (known, alone):
            assert not re.search(r"\b(None|nan|NaN)\b", text)
        pdf = next(p for p in outputs.pdfs[lang] if school in p.parts and p.stem == "report")
        assert ("班主任" if lang == "zh-CN" else "head teacher") in _pdf_text(pdf)[0]
        mails = [m for m in outputs.mails[lang] if f"{grade} {klass}{label}" in m.text]
        assert mails  # the email's missing-by-class list too
        assert all(f"{grade} {klass}{label}" in m.html for m in mails)


def test_a_refused_file_and_a_quarantined_row_are_in_the_school_s_language(
    outputs: Outputs, small_demo: Any
) -> None:
    """The demo's sloppy school: a cut-off upload refused earlier that day and rows a
    teacher typed without an id reach its data-quality section, worded in each report's
    language (the one-language tests above would fail on an English reason)."""
    ((school, kept),) = small_demo.events["bad_rows"]["file_rejected"]
    assert Path(f"{kept}.reason.txt").read_text(encoding="utf-8").splitlines()[1:3] == [
        "空文件",
        "empty file",
    ]
    words = {
        "zh-CN": ("文件被拒收", "空文件", "缺少学号/工号"),
        "en": ("file rejected", "empty file", "no person id"),
    }
    data = set(outputs.data)
    for lang, expected in words.items():
        page = next(p for p in outputs.reports[lang] if school in p.parts and p.suffix == ".html")
        text = _visible(page.read_text(encoding="utf-8"))
        assert Path(kept).name in text
        for phrase in expected:
            assert phrase in text
            assert phrase not in data  # the kit's words, never removed as data
