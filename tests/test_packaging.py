"""What a wheel holds, and where an installed reportkit finds its notebooks."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from reportkit.errors import ReportkitError
from reportkit.layout import find_notebook, notebook_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_ships_the_notebooks_and_templates(tmp_path):
    had_build = (ROOT / "build").exists()
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), ROOT],
            check=True,
            capture_output=True,
        )
    finally:
        if not had_build:  # setuptools builds in the source tree
            shutil.rmtree(ROOT / "build", ignore_errors=True)
    (wheel,) = tmp_path.glob("reportkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for notebook in ("school_daily", "district_daily", "officer_console"):
        assert any(
            n.endswith(f".data/data/share/reportkit/notebooks/{notebook}.ipynb") for n in names
        )
    assert "reportkit/templates/reportkit/index.html.j2" in names
    assert "reportkit/py.typed" in names


def test_notebooks_are_found_in_the_installed_share_folder(tmp_path, monkeypatch):
    share = tmp_path / "share" / "reportkit" / "notebooks"
    share.mkdir(parents=True)
    (share / "only_installed.ipynb").write_text("{}", encoding="utf-8")
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.delenv("REPORTKIT_NOTEBOOKS", raising=False)
    assert find_notebook("only_installed.ipynb") == share / "only_installed.ipynb"


def test_the_notebooks_folder_setting_wins(tmp_path, monkeypatch):
    (tmp_path / "school_daily.ipynb").write_text("{}", encoding="utf-8")
    monkeypatch.setenv("REPORTKIT_NOTEBOOKS", str(tmp_path))
    assert notebook_path("school") == tmp_path / "school_daily.ipynb"
    with pytest.raises(ReportkitError, match=r"share/reportkit/notebooks.*REPORTKIT_NOTEBOOKS"):
        find_notebook("no_such.ipynb")
