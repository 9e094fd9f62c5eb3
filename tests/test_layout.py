"""reportkit.layout: the paths are the README's, and an unsafe id never becomes a path."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest

from reportkit import layout
from reportkit.errors import ReportkitError

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "reportkit"
DAY = date(2020, 2, 28)
OUT = Path("outputs")
SAMPLE = {
    "<date>": DAY.isoformat(),
    "<school_id>": "s001",
    "<unit_id>": "d01",
    "<id>": "d01",
    "<N>": "1",
}


def _readme_outputs() -> set[str]:
    """The files of the README's "Outputs" block, with sample ids (``a|b`` expanded)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Outputs", 1)[1].split("```", 2)[1]
    paths = set()
    for line in block.splitlines():
        if not line.startswith("outputs/"):
            continue
        pattern = line.split()[0]
        for key, value in SAMPLE.items():
            pattern = pattern.replace(key, value)
        stem, _, exts = pattern.rpartition(".")
        paths |= {f"{stem}.{ext}" for ext in exts.split("|")}
    return paths


def test_the_days_files_are_the_readmes() -> None:
    day = layout.day_outputs(OUT, DAY)
    made = {
        *(day.report_file("school", "s001", f) for f in layout.REPORT_FORMATS),
        *(day.report_file("unit", "d01", f) for f in ("ipynb", "html", "pdf")),
        day.form("d01"),
        layout.school_findings_file(day.findings, "s001"),
        layout.unit_findings_file(day.findings, "d01"),
        day.manifest,
        day.index,
        # a version as first sent
        *(
            layout.report_file(day.version_dir("school", "s001", 1), "school", "s001", f)
            for f in ("ipynb", "html", "pdf")
        ),
        *(
            layout.report_file(day.version_dir("unit", "d01", 1), "unit", "d01", f)
            for f in ("ipynb", "html", "pdf")
        ),
        layout.form_file(day.version_dir("unit", "d01", 1), "d01"),
    }
    assert {p.as_posix() for p in made} == _readme_outputs()
    assert day.version_dir("unit", "d01", 2) == OUT / "2020-02-28/units/d01/v2"
    assert layout.output_dir(OUT, DAY, "school", "s001") == OUT / "2020-02-28" / "s001"
    assert layout.output_dir(OUT, "2020-02-28", "unit", "d01") == OUT / "2020-02-28/units"


def test_the_other_paths_are_the_readmes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    day = layout.day_outputs(OUT, DAY)
    documented = {
        "outputs/<date>/daily.log": day.daily_log,
        "outputs/<date>/exports/<view>-<scope>-<HHMMSS>.xlsx": day.export_file(
            "missing", "s001", "163000"
        ),
        "data/archive/<date>/": layout.archive_dir("data/archive", DAY),
        "data/rejected/<date>/<school_id>/": layout.rejected_dir("data/archive", DAY) / "s001",
        "<outputs>/cron.log": layout.cron_log("<outputs>"),
    }
    for text, path in documented.items():
        assert f"`{text}" in readme, text
        shown = text.replace("<view>", "missing").replace("<scope>", "s001")
        shown = shown.replace("<HHMMSS>", "163000")
        for key, value in SAMPLE.items():
            shown = shown.replace(key, value)
        assert path.as_posix() == shown.rstrip("/")
    assert "<name>.reason.txt" in readme
    assert layout.reason_file("r/2020-02-28/s001/a.csv") == Path(
        "r/2020-02-28/s001/a.csv.reason.txt"
    )
    assert day.export_file("missing", "s001", "163000", 2).name == "missing-s001-163000-2.xlsx"
    assert layout.daily_lock(OUT) == OUT / ".daily.lock"
    assert layout.lock_note(layout.daily_lock(OUT)) == OUT / ".daily.json"
    assert day.mail == OUT / "2020-02-28" / "mail"
    assert layout.mail_file(day.mail, "school", "s001", "Cui Xiao<cui@example.org>").name == (
        "school_s001_Cui_Xiao_cui_at_example.org_.eml"
    )
    assert layout.rejected_dir("data/archive", DAY, "elsewhere") == Path("elsewhere/2020-02-28")
    assert layout.inbox_dir("data/inbox", DAY) == Path("data/inbox/2020-02-28")


UNSAFE = ["../etc", "a/b", "a\\b", "", ".hidden", "-x", "s001\n", "学校", "x" * 65, "a b", None]


@pytest.mark.parametrize("bad", UNSAFE)
def test_an_unsafe_id_is_refused_before_it_becomes_a_path(bad: object) -> None:
    day = layout.day_outputs(OUT, DAY)
    calls = [
        lambda: layout.output_dir(OUT, DAY, "school", bad),  # type: ignore[arg-type]
        lambda: layout.output_dir(OUT, DAY, "unit", bad),  # type: ignore[arg-type]
        lambda: layout.report_file(day.folder, "unit", bad, "html"),  # type: ignore[arg-type]
        lambda: day.form(bad),  # type: ignore[arg-type]
        lambda: layout.school_findings_file(day.findings, bad),  # type: ignore[arg-type]
        lambda: layout.unit_findings_file(day.findings, bad),  # type: ignore[arg-type]
        lambda: day.export_file(bad, "s001", "163000"),  # type: ignore[arg-type]
        lambda: day.export_file("missing", bad, "163000"),  # type: ignore[arg-type]
        lambda: layout.mail_file(day.mail, "school", bad, "a@b.cn"),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(ReportkitError, match="unsafe id for a path"):
            call()


@pytest.mark.parametrize("bad", ["2020-02-28/../x", "../2020-02-28", "yesterday", "", None])
def test_a_date_that_is_not_a_date_is_refused(bad: object) -> None:
    for call in (layout.day_outputs, layout.archive_dir, layout.inbox_dir, layout.rejected_dir):
        with pytest.raises(ReportkitError, match="not a date"):
            call(OUT, bad)  # type: ignore[arg-type]


def test_unknown_kinds_and_formats_are_refused() -> None:
    day = layout.day_outputs(OUT, DAY)
    with pytest.raises(ReportkitError, match="unknown kind"):
        day.report_dir("county", "c01")
    with pytest.raises(ReportkitError, match="unknown report file"):
        day.report_file("school", "s001", "docx")
    with pytest.raises(ReportkitError, match="time stamp"):
        day.export_file("missing", "s001", "16:30/..")


def test_the_notebooks_and_templates_are_found_in_a_source_checkout(monkeypatch) -> None:
    monkeypatch.delenv("REPORTKIT_NOTEBOOKS", raising=False)
    assert layout.notebook_path("school") == ROOT / "notebooks" / "school_daily.ipynb"
    assert layout.notebook_path("unit") == ROOT / "notebooks" / "unit_daily.ipynb"
    assert (layout.TEMPLATES / "reportkit" / "conf.json").is_file()
    assert (layout.TEMPLATES / "sections" / "_macros.html.j2").is_file()


# names of the files and folders layout owns: no other module joins them into a path
OWNED = {
    *("manifest.json", "index.html", "daily.log", ".daily.lock", ".daily.json"),
    *(".deliver.lock", "findings", "mail", "exports", "units", "rejected", "cron.log"),
    *("report.html", "report.pdf", "report.ipynb", "report.masked.pdf"),
}
OWNED_SUFFIXES = (".arrow", ".eml", ".html", ".pdf", ".ipynb", ".reason.txt", ".json", ".lock")


def _joined_names(right: ast.expr) -> list[str]:
    """The literal text of the right side of ``path / ...`` (of an f-string, its tail)."""
    if isinstance(right, ast.Constant) and isinstance(right.value, str):
        return [right.value]
    if isinstance(right, ast.JoinedStr) and right.values:
        tail = right.values[-1]
        if isinstance(tail, ast.Constant) and isinstance(tail.value, str):
            return [tail.value]
    return []


def test_no_module_but_layout_joins_an_output_path() -> None:
    joins = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "layout.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)):
                continue
            for name in _joined_names(node.right):
                if name in OWNED or name.endswith(OWNED_SUFFIXES):
                    joins.append(f"{path.relative_to(SRC)}:{node.lineno}: / {name!r}")
    assert not joins, "paths joined outside reportkit.layout:\n" + "\n".join(joins)
