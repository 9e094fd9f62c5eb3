"""Tests for reportkit.reports.render: offline HTML, PDF through a real Chromium, helpers.

The PDF tests need /usr/bin/chromium (or $REPORTKIT_CHROMIUM) and poppler-utils;
they fail, never skip, when those are missing.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from reportkit import files
from reportkit.errors import ConfigError, RenderError
from reportkit.reports import render, trend_png

SCHOOL = "靠山镇中心小学"
WIDE_COLUMNS = [f"d{i:02d}" for i in range(1, 31)]


# ------------------------------------------------------------------------- fixtures


def chart_png_b64() -> str:
    import datetime as dt

    days = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(14)]
    trend = pd.DataFrame(
        {
            "date": days,
            "expected": [420] * 14,
            "reported": [400 + i for i in range(14)],
            "fever": [i % 3 for i in range(14)],
            "symptomatic": [i % 5 for i in range(14)],
            "suspected": [i % 7 == 0 for i in range(14)],
        }
    )
    labels = {
        "coverage": "报告率(%)",
        "fever": "发热",
        "symptomatic": "有症状",
        "suspected": "疑似",
    }
    return base64.b64encode(trend_png(trend, labels, f"{SCHOOL} 近14天趋势")).decode("ascii")


def make_notebook(*, wide: bool = False) -> nbformat.NotebookNode:
    people = pd.DataFrame(
        {
            "姓名": ["张伟", "王芳", "李娜"],
            "班级": ["一(1)班", "二(3)班", "三(2)班"],
            "体温": [37.9, 38.2, 36.5],
        }
    )
    cells = [
        new_markdown_cell(f"# {SCHOOL} 每日健康报告\n\n日期：2024-03-14"),
        new_code_cell(
            "import pandas as pd\npeople",
            execution_count=1,
            outputs=[
                new_output(
                    "execute_result",
                    execution_count=1,
                    data={"text/html": people.to_html(), "text/plain": people.to_string()},
                )
            ],
        ),
        new_code_cell(
            "print('checked')\nraise ValueError('boom')",
            execution_count=2,
            outputs=[
                new_output("stream", name="stdout", text="checked 3 rows\n"),
                new_output("stream", name="stderr", text="UserWarning: noisy stderr\n"),
                new_output(
                    "error",
                    ename="ValueError",
                    evalue="boom",
                    traceback=["Traceback (most recent call last):", "ValueError: boom"],
                ),
            ],
        ),
        new_code_cell(
            "secret_parameter = 42",
            metadata={"tags": ["remove"]},
            outputs=[new_output("stream", name="stdout", text="HIDDEN-CELL-OUTPUT\n")],
        ),
        new_code_cell(
            "fig",
            execution_count=4,
            outputs=[
                new_output(
                    "display_data", data={"image/png": chart_png_b64(), "text/plain": "<Figure>"}
                )
            ],
        ),
        new_code_cell(
            "widget",
            outputs=[
                new_output(
                    "display_data",
                    data={
                        "application/javascript": "alert('x')",
                        "text/plain": "widget fallback text",
                    },
                )
            ],
        ),
    ]
    if wide:
        table = pd.DataFrame(
            [[(r * 7 + c) % 100 for c in range(30)] for r in range(40)], columns=WIDE_COLUMNS
        )
        cells.append(new_markdown_cell("## 宽表"))
        cells.append(
            new_code_cell(
                "wide",
                outputs=[
                    new_output(
                        "execute_result",
                        execution_count=5,
                        data={"text/html": table.to_html(), "text/plain": "wide"},
                    )
                ],
            )
        )
    return new_notebook(cells=cells, metadata={"language_info": {"name": "python"}})


@pytest.fixture(scope="module")
def html() -> str:
    return render.render_html(make_notebook())


def require_tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is required for this test: apt-get install poppler-utils"
    return path


def pdftotext(pdf: Path, *, layout: bool = False) -> str:
    args = [require_tool("pdftotext"), *(["-layout"] if layout else []), str(pdf), "-"]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def pdfinfo(pdf: Path) -> str:
    return subprocess.run(
        [require_tool("pdfinfo"), str(pdf)], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def printer():
    # Fails (RenderError) rather than skips when Chromium is missing.
    with render.PdfPrinter() as p:
        yield p


# ----------------------------------------------------------------------------- HTML


def test_html_language_and_content(html: str) -> None:
    assert '<html lang="zh-CN">' in html
    assert SCHOOL in html
    assert "姓名" in html
    assert "张伟" in html
    assert "checked 3 rows" in html
    assert f"<title>{SCHOOL} 每日健康报告</title>" in html
    assert 'name="viewport"' in html
    assert '"Noto Sans CJK SC"' in html
    assert "table.dataframe" in html


def test_html_hides_code_prompts_and_errors(html: str) -> None:
    for absent in ("import pandas", "raise ValueError", "secret_parameter", "print('checked')"):
        assert absent not in html
    for absent in ("Traceback", "ValueError", "boom", "noisy stderr"):
        assert absent not in html
    for prompt in ("In&nbsp;[", "In [", "Out["):
        assert prompt not in html
    assert "HIDDEN-CELL-OUTPUT" not in html  # cell tagged "remove"


def test_strip_errors_preprocessor() -> None:
    nb, _ = render.StripErrorsPreprocessor().preprocess(make_notebook(), {})
    kinds = [(o.output_type, o.get("name")) for c in nb.cells for o in c.get("outputs", [])]
    assert ("error", None) not in kinds
    assert ("stream", "stderr") not in kinds
    assert ("stream", "stdout") in kinds


def test_html_is_offline(html: str) -> None:
    assert "<script" not in html
    assert "<link" not in html
    assert "@import" not in html
    refs = re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]*)""", html)
    refs += re.findall(r"""url\(\s*["']?([^"')\s]*)""", html)
    assert refs, "expected at least the embedded chart"
    assert [r for r in refs if not r.startswith(("data:", "#"))] == []
    assert not re.search(r"https?://", html)
    assert "widget fallback text" in html  # JS output falls back to text/plain


def test_html_embeds_images_and_is_small(html: str) -> None:
    assert re.search(r'<img [^>]*src="data:image/png;base64,iVBORw0KGgo', html)
    assert len(html.encode("utf-8")) < 1_500_000


def test_html_english(html: str) -> None:
    english = render.render_html(make_notebook(), lang="en")
    assert '<html lang="en">' in english
    assert '<html lang="zh-CN">' in html  # the cached zh-CN exporter is unaffected


def test_html_from_path(tmp_path: Path) -> None:
    path = tmp_path / "kaoshan.ipynb"
    nbformat.write(make_notebook(), path)
    assert SCHOOL in render.render_html(path)
    assert SCHOOL in render.render_html(str(path))


def test_html_errors() -> None:
    with pytest.raises(RenderError, match="Cannot read notebook"):
        render.render_html(Path("/nonexistent/report.ipynb"))
    with pytest.raises(RenderError, match="language tag"):
        render.html_exporter("not a language")


def test_html_exporter_is_reused_and_quiet(caplog: pytest.LogCaptureFixture) -> None:
    assert render.html_exporter("zh-CN") is render.html_exporter("zh-CN")
    assert render.html_exporter("zh-CN") is not render.html_exporter("en")
    with caplog.at_level(logging.WARNING):
        render.render_html(make_notebook())
    assert caplog.records == []


def test_a_new_threads_exporter_reuses_the_compiled_templates_and_validates_once(
    tmp_path: Path,
) -> None:
    from jinja2 import FileSystemLoader

    nb = make_notebook()
    first = render.render_html(nb)
    compiled: list[str] = []
    original = FileSystemLoader.get_source

    def spy(self, environment, template):  # type: ignore[no-untyped-def]
        compiled.append(template)
        return original(self, environment, template)

    calls: list[int] = []
    validate = nbformat.validate

    def counting_validate(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return validate(*args, **kwargs)

    pages: list[str] = []
    thread = threading.Thread(target=lambda: pages.append(render.render_html(nb)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(FileSystemLoader, "get_source", spy)
        mp.setattr(nbformat, "validate", counting_validate)
        thread.start()
        thread.join()
    assert pages == [first]
    assert compiled, "the new thread's exporter loads the templates' sources"
    # the sources are read (for the checksum) but their code comes from the cache
    assert render._TEMPLATE_CODE._code
    assert len(calls) == 1, "the notebook is validated once, not after every preprocessor"


def test_an_edited_template_is_compiled_anew(tmp_path: Path) -> None:
    from reportkit.layout import TEMPLATES

    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)

    def page() -> str:
        exporter = render.ReportHTMLExporter(
            config=render._exporter_config("zh-CN"), extra_template_basedirs=[str(templates)]
        )
        return exporter.from_notebook_node(make_notebook())[0]

    before = page()
    index = templates / "reportkit" / "index.html.j2"
    index.write_text(
        index.read_text(encoding="utf-8").replace("</body>", "<p>edited-template</p></body>"),
        encoding="utf-8",
    )
    after = page()
    assert "edited-template" not in before
    assert "edited-template" in after


def test_print_slots_are_half_the_cpus_one_to_four() -> None:
    assert [render.print_slots(n) for n in (1, 2, 3, 4, 8, 16)] == [1, 1, 1, 2, 4, 4]
    assert render.PdfPrinter().max_pages == render.print_slots()
    assert render.PdfPrinter(max_pages=3).max_pages == 3


# ---------------------------------------------------------------------------- files


def test_write_atomic(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    assert render.write_atomic(target, "第一版") == target
    render.write_atomic(target, "第二版".encode())
    assert target.read_text(encoding="utf-8") == "第二版"
    assert os.listdir(target.parent) == ["report.html"]


def test_write_atomic_keeps_old_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.pdf"
    target.write_bytes(b"old complete report")

    def crash(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        render.write_atomic(target, b"new")
    assert target.read_bytes() == b"old complete report"
    assert os.listdir(tmp_path) == ["report.pdf"]


@pytest.fixture
def umask():
    """Set the process umask for a test; restored afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize(
    ("mask", "file_mode", "dir_mode"), [(0o022, 0o600, 0o700), (0o077, 0o600, 0o700)]
)
def test_write_atomic_is_private_and_respects_the_umask(
    tmp_path: Path, umask, monkeypatch: pytest.MonkeyPatch, mask: int, file_mode: int, dir_mode: int
) -> None:
    monkeypatch.delenv("REPORTKIT_GROUP", raising=False)
    umask(mask)
    target = tmp_path / "outputs" / "2020-02-28" / "s001" / "report.html"
    render.write_atomic(target, "姓名")
    assert _mode(target) == file_mode
    for folder in (target.parent, target.parent.parent, target.parent.parent.parent):
        assert _mode(folder) == dir_mode, folder
    render.write_atomic(target, b"again")  # a rewrite keeps the mode
    assert _mode(target) == file_mode
    shared = render.write_atomic(tmp_path / "outputs" / "index.html", "x", private=False)
    assert _mode(shared) == 0o644 & ~mask


@pytest.mark.parametrize(
    ("mask", "file_mode", "dir_mode"), [(0o022, 0o640, 0o750), (0o077, 0o600, 0o700)]
)
def test_a_configured_group_may_read_but_the_umask_still_wins(
    tmp_path: Path, umask, monkeypatch: pytest.MonkeyPatch, mask: int, file_mode: int, dir_mode: int
) -> None:
    import grp

    group = grp.getgrgid(os.getgid())
    monkeypatch.setenv("REPORTKIT_GROUP", group.gr_name)
    umask(mask)
    target = tmp_path / "out" / "d" / "report.pdf"
    render.write_atomic(target, b"%PDF")
    assert _mode(target) == file_mode
    assert target.stat().st_gid == group.gr_gid
    assert _mode(target.parent) == dir_mode
    assert target.parent.stat().st_gid == group.gr_gid


def test_an_unknown_group_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTKIT_GROUP", "no-such-group-here")
    with pytest.raises(ConfigError, match=r"REPORTKIT_GROUP.*'no-such-group-here'"):
        render.write_atomic(tmp_path / "x.html", "x")
    assert not (tmp_path / "x.html").exists()


def test_ensure_dir_narrows_a_wide_folder_and_never_widens(
    tmp_path: Path, umask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REPORTKIT_GROUP", raising=False)
    umask(0o022)
    wide = tmp_path / "wide"
    wide.mkdir()
    os.chmod(wide, 0o755)
    files.ensure_dir(wide)
    assert _mode(wide) == 0o700
    narrow = tmp_path / "narrow"
    narrow.mkdir()
    os.chmod(narrow, 0o500)
    files.ensure_dir(narrow)
    assert _mode(narrow) == 0o500


# ------------------------------------------------------------------------- registry


def test_registry() -> None:
    assert render.get_renderer("html") is not render.get_renderer("pdf")
    with pytest.raises(RenderError) as info:
        render.get_renderer("docx")
    assert str(info.value) == "No renderer named 'docx'; known: html, pdf"

    def fake(nb, out_path, *, lang="zh-CN", printer=None):
        return out_path

    render.register_renderer("fake", fake)
    try:
        assert render.get_renderer("fake") is fake
    finally:
        render._RENDERERS.pop("fake")


def test_html_renderer_writes_file(tmp_path: Path) -> None:
    out = render.get_renderer("html")(make_notebook(), tmp_path / "r.html", lang="en")
    assert '<html lang="en">' in out.read_text(encoding="utf-8")


def test_missing_chromium_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTKIT_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(RenderError, match="apt-get install chromium"):
        render.PdfPrinter().start()
    with pytest.raises(RenderError, match="apt-get install chromium"):
        render.render_pdf("<p>x</p>", Path("/tmp/never.pdf"))


# ------------------------------------------------------------------------------ PDF


@pytest.mark.slow
def test_pdf_text_page_size_and_footer(printer: render.PdfPrinter, tmp_path: Path) -> None:
    pdf = printer.print_html(render.render_html(make_notebook()), tmp_path / "report.pdf")
    assert pdf.read_bytes().startswith(b"%PDF-")
    text = pdftotext(pdf)
    assert SCHOOL in text  # real text in a CJK font, not boxes
    assert "姓名" in text
    assert "张伟" in text
    assert re.search(r"^\s*1\s*/\s*\d+\s*$", text, re.MULTILINE), text
    assert "Traceback" not in text
    assert re.search(
        r"Page size:\s+595\.\d+ x 841\.\d+|Page size:\s+595\.\d+ x 842\.\d+", pdfinfo(pdf)
    )
    assert "(A4)" in pdfinfo(pdf)


@pytest.mark.slow
def test_pdf_wide_table_is_not_clipped(printer: render.PdfPrinter, tmp_path: Path) -> None:
    pdf = printer.print_html(render.render_html(make_notebook(wide=True)), tmp_path / "wide.pdf")
    layout = pdftotext(pdf, layout=True)
    header = next(line for line in layout.splitlines() if "d01" in line)
    assert "d30" in header, header  # last column is on the page, on the header row
    assert all(col in header for col in WIDE_COLUMNS)
    last_row = next(line for line in layout.splitlines() if line.startswith("39 "))
    assert last_row.split() == ["39", *(str((39 * 7 + c) % 100) for c in range(30))]
    pages = int(re.search(r"Pages:\s+(\d+)", pdfinfo(pdf)).group(1))
    assert pages >= 2
    # The header row is repeated on each page of the long table.
    assert sum("d30" in line for line in layout.splitlines()) >= 2


@pytest.mark.slow
def test_pdf_from_two_threads(printer: render.PdfPrinter, tmp_path: Path) -> None:
    html = render.render_html(make_notebook())
    barrier = threading.Barrier(2)
    results: dict[int, Path] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            results[i] = printer.print_html(html, tmp_path / f"t{i}.pdf")
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(results) == [0, 1]
    for path in results.values():
        assert path.read_bytes().startswith(b"%PDF-")
        assert SCHOOL in pdftotext(path)


@pytest.mark.slow
def test_pdf_print_file_and_renderer(printer: render.PdfPrinter, tmp_path: Path) -> None:
    html_path = render.get_renderer("html")(make_notebook(), tmp_path / "r.html")
    pdf = printer.print_file(html_path, tmp_path / "from_file.pdf")
    assert SCHOOL in pdftotext(pdf)
    pdf2 = render.get_renderer("pdf")(make_notebook(), tmp_path / "r.pdf", printer=printer)
    assert "姓名" in pdftotext(pdf2)
    with pytest.raises(RenderError, match="No such HTML file"):
        printer.print_file(tmp_path / "missing.html", tmp_path / "x.pdf")


@pytest.mark.slow
def test_render_pdf_with_own_browser(tmp_path: Path) -> None:
    pdf = render.render_pdf(f"<h1>{SCHOOL}</h1>", tmp_path / "solo.pdf")
    assert SCHOOL in pdftotext(pdf)


@pytest.mark.slow
def test_pdf_blocks_network(printer: render.PdfPrinter, tmp_path: Path) -> None:
    # A stray remote resource must neither be fetched nor stall the print.
    html = f'<img src="https://example.invalid/x.png"><p>{SCHOOL}</p>'
    assert SCHOOL in pdftotext(printer.print_html(html, tmp_path / "net.pdf"))


@pytest.mark.slow
def test_pdf_printer_survives_browser_crash(tmp_path: Path) -> None:
    import asyncio

    with render.PdfPrinter(max_pages=2) as printer:
        assert SCHOOL in pdftotext(printer.print_html(f"<p>{SCHOOL}</p>", tmp_path / "a.pdf"))
        browser = printer._browser
        asyncio.run_coroutine_threadsafe(browser.close(), printer._loop).result(30)
        assert SCHOOL in pdftotext(printer.print_html(f"<p>{SCHOOL}</p>", tmp_path / "b.pdf"))
        assert printer._browser is not browser
    printer.close()  # closing twice is fine
    with pytest.raises(RenderError, match="closed"):
        printer.print_html("<p>x</p>", tmp_path / "c.pdf")


def test_a_print_that_hangs_fails_alone_and_the_printer_still_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A page whose image never loads (a pipe nobody writes) holds the only print
    slot: it times out, the print queued behind it waits for the page instead of
    timing out too, and closing the printer is bounded even though Chromium is stuck."""
    import time

    monkeypatch.setattr(render, "CLOSE_TIMEOUT", 2.0)
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    page = tmp_path / "hangs.html"
    page.write_text('<p>x</p><img src="never-written">', encoding="utf-8")
    printer = render.PdfPrinter(max_pages=1, timeout=3).start()
    errors: list[str] = []
    try:
        printer.pdf_bytes("<p>warm</p>")

        def hang() -> None:
            try:
                printer.print_file(page, tmp_path / "hang.pdf")
            except RenderError as exc:
                errors.append(str(exc))

        thread = threading.Thread(target=hang)
        thread.start()
        time.sleep(0.5)  # the hanging print has the page
        queued = printer.pdf_bytes("<p>queued behind it</p>")
        thread.join(30)
        assert queued.startswith(b"%PDF")
        assert len(errors) == 1
        assert "hang.pdf timed out after 3 s" in errors[0]
        assert not (tmp_path / "hang.pdf").exists()
    finally:
        closing = time.monotonic()
        with caplog.at_level(logging.WARNING):
            printer.close()  # never a bare TimeoutError
        closed_in = time.monotonic() - closing
        with contextlib.suppress(OSError):  # let a Chromium still reading the pipe go
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert closed_in < 2 * render.CLOSE_TIMEOUT + 10


def test_render_html_from_many_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    langs = ["zh-CN", "en"] * 4
    with ThreadPoolExecutor(4) as pool:
        pages = list(pool.map(lambda lang: render.render_html(make_notebook(), lang), langs))
    for lang, page in zip(langs, pages, strict=True):
        assert f'<html lang="{lang}">' in page
        assert SCHOOL in page


def test_import_does_not_load_playwright() -> None:
    code = "import sys, reportkit.reports.render; sys.exit('playwright' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.slow
def test_pdf_pages_are_reused_and_keep_nothing_of_the_last_report(tmp_path: Path) -> None:
    with render.PdfPrinter(max_pages=1, page_uses=3) as printer:
        first = printer.print_html(f"<h1>{SCHOOL}</h1><p>甲乙丙</p>", tmp_path / "a.pdf")
        page = printer._idle[0][0]
        second = printer.print_html("<h1>另一所学校</h1>", tmp_path / "b.pdf")
        assert printer._idle[0][0] is page  # the same page printed both
        assert "甲乙丙" in pdftotext(first)
        assert "另一所学校" in pdftotext(second)
        assert SCHOOL not in pdftotext(second)
        assert "甲乙丙" not in pdftotext(second)
        printer.print_html("<p>third</p>", tmp_path / "c.pdf")
        assert printer._idle == []  # retired after page_uses prints


@pytest.mark.slow
def test_pdf_pages_run_no_javascript(printer: render.PdfPrinter, tmp_path: Path) -> None:
    html = (
        '<p id="x">static text</p>'
        "<script>document.getElementById('x').textContent = 'SCRIPTED';"
        "localStorage.setItem('k', 'v');</script>"
    )
    text = pdftotext(printer.print_html(html, tmp_path / "js.pdf"))
    assert "static text" in text
    assert "SCRIPTED" not in text


# ------------------------------------------------------ masked names, deterministic bytes


def _masked_notebook() -> nbformat.NotebookNode:
    from reportkit.reports import IDENTITY_MIME, MASKED_MIME

    nb = new_notebook(cells=[new_markdown_cell("# 日报")])
    cell = new_code_cell("report.missing()")
    cell.outputs = [
        new_output(
            "display_data",
            data={
                "text/html": "<p>未报：姚甜雯</p>",
                MASKED_MIME: "<p>未报：姚*雯</p>",
                IDENTITY_MIME: {"kind": "school", "id": "s001", "findings_hash": "abc123"},
            },
        )
    ]
    nb.cells.append(cell)
    return nb


def test_masked_rendering_shows_the_masked_names_only() -> None:
    nb = _masked_notebook()
    full = render.render_html(nb)
    masked = render.render_html(nb, masked=True)
    assert "姚甜雯" in full
    assert "姚*雯" not in full
    assert "姚*雯" in masked
    assert "姚甜雯" not in masked
    assert "abc123" not in full + masked  # the identity is for the runner, never shown
    assert render.render_html(nb) == full  # the masked render left the notebook as it was


def test_the_same_notebook_renders_to_the_same_html() -> None:
    assert render.render_html(make_notebook()) == render.render_html(make_notebook())


def test_set_pdf_dates_rewrites_both_dates_in_place() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    data = b"%PDF-1.4\n1 0 obj\n<</CreationDate (D:20261201200427+00'00')\n/ModDate (D:20261201200427+00'00')>>"
    when = datetime(2020, 2, 28, 16, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    fixed = render.set_pdf_dates(data, when)
    assert len(fixed) == len(data)  # offsets of the cross-reference table stay valid
    assert fixed.count(b"(D:20200228163000+08'00')") == 2


@pytest.mark.slow
def test_pdf_bytes_are_the_same_for_the_same_run_time(printer: render.PdfPrinter) -> None:
    import time
    from datetime import datetime
    from zoneinfo import ZoneInfo

    page = render.render_html(make_notebook())
    when = datetime(2020, 2, 28, 16, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    first = printer.pdf_bytes(page, created=when)
    time.sleep(1.1)  # Chromium's own dates have seconds
    assert printer.pdf_bytes(page, created=when) == first
    assert b"D:20200228163000+08'00'" in first
