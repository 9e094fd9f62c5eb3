"""``reportkit ingest``: routing by kind, the README's commands on the demo, and output that
reads at 80 columns and parses as JSON."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from reportkit import cli
from reportkit.demo import build_demo


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh small demo with its last day (2020-02-28) still in the inbox, as
    ``reportkit demo --ingest-through 2020-02-27`` leaves it."""
    root = tmp_path_factory.mktemp("demo")
    build_demo(
        root,
        root / "params",
        f"sqlite:///{root / 'data' / 'reportkit.db'}",
        small=True,
        days=3,
        ingest_through=date(2020, 2, 27),
    )
    return root


def _run(root: Path, *args: str) -> int:
    here = Path.cwd()
    os.chdir(root)  # the README's paths are relative to the deployment's folder
    try:
        return cli.main(["ingest", *args])
    finally:
        os.chdir(here)


def test_the_readme_ingest_commands_run_on_the_demo(demo_root, capsys):
    assert _run(demo_root, "roster", "data/inbox/roster/", "--lang", "en") == 0
    assert "failed" not in capsys.readouterr().out
    assert _run(demo_root, "logs", "data/inbox/2020-02-28/", "--lang", "en") == 0
    out = capsys.readouterr().out
    assert "failed" not in out
    assert "skipped" in out  # the gate registers: said, not read as logs
    assert "gate registers" in out
    assert "reportkit ingest entries" in out
    register = next((demo_root / "data" / "inbox" / "2020-02-28" / "s001").glob("门卫*.csv"))
    assert _run(demo_root, "entries", str(register.relative_to(demo_root)), "--school", "s001") == 0


def test_ingest_without_a_kind_routes_every_file(demo_root, capsys):
    assert _run(demo_root, "--json", "data/inbox/2020-02-28/") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] is None
    assert set(report["by_kind"]) == {"logs", "entries"}
    assert report["skipped"] == []
    kinds = [f["kind"] for f in report["files"]]
    assert kinds == sorted(kinds, key=["roster", "logs", "entries"].index)
    assert not [f for f in report["files"] if f.get("error")]


def test_errors_print_whole_below_the_table_at_80_columns(tmp_path, capsys):
    params = Path(__file__).resolve().parents[2] / "params"
    folder = tmp_path / "s001"
    folder.mkdir()
    empty = folder / "晨检登记表（二年级三班，班主任填写后请于每日上午十点前上报）.csv"
    empty.write_bytes(b"")
    common = ["--db", f"sqlite:///{tmp_path / 'r.db'}", "--params", str(params)]
    assert cli.main(["ingest", "logs", str(empty), "--lang", "en", *common]) == 1
    out = capsys.readouterr().out
    assert f"REFUSED {empty}: empty file" in out.splitlines()  # one line, not a cell
    assert max(len(line) for line in out.splitlines() if "│" in line) <= 80
    assert cli.main(["ingest", "logs", str(empty), "--json", *common]) == 1
    (failed,) = json.loads(capsys.readouterr().out)["files"]
    assert (failed["refused"], failed["kind"]) == (True, "logs")


def test_a_kind_alone_is_a_usage_error(capsys):
    assert cli.main(["ingest", "logs"]) == 2
    assert "give at least one file or folder" in capsys.readouterr().err
