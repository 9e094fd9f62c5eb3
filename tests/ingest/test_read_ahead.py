"""A day's small files read ahead by worker processes store what reading them here does.

:class:`reportkit.ingest.ahead.ReadAhead` parses a day's CSV exports in worker processes
while the store is written. These tests ingest the demo county's day with one worker and
with none and compare every table an ingestion writes and every file's report, with a
file that cannot be read, a file ingested before and a copy of a file in the call among
them; they take files from a ReadAhead directly to see who read each one, and kill its
worker halfway through.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from reportkit import ingest
from reportkit.config import IngestLimits, Rules, Settings
from reportkit.demo import DEMO_DATE
from reportkit.errors import IngestError
from reportkit.ingest import ahead as ahead_module
from reportkit.ingest import readers
from reportkit.ingest.ahead import AUTO_MIN_FILES, ReadAhead, read_workers
from reportkit.ingest.routing import Routed
from reportkit.ingest.sheets import SheetReader
from tests.ingest.test_grouped import _contents, _day_files, _plain_csvs, _setup, county

__all__ = ["county"]  # the module's fixture, used here too


def _with(rules: Rules, **limits: object) -> Rules:
    return rules.model_copy(update={"limits": rules.limits.model_copy(update=limits)})


def _hostile_day(county: Path, tmp_path: Path) -> tuple[list[Path], Path]:
    """The day's files, with a file that cannot be read and a copy of another file
    among them; and a file to be ingested before them."""
    files = _day_files(county, DEMO_DATE)
    csvs = _plain_csvs(files)
    bad = tmp_path / "inbox" / csvs[1].parent.name / "晨午检(坏).csv"
    bad.parent.mkdir(parents=True)
    header = csvs[1].read_bytes().decode("utf-8-sig").splitlines()[0]
    bad.write_text(header + "\n" + ",".join(["1"] * 300) + "\n", encoding="utf-8")
    copy = tmp_path / "inbox" / csvs[5].parent.name / "晨午检(副本).csv"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(csvs[5], copy)
    ordered = [*files[:3], bad, *files[3:12], copy, *files[12:]]
    return ordered, csvs[0]


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> list[ReadAhead]:
    """This process waits for the worker's tasks instead of reading their files itself
    (a county's day is read here before a worker has started), so that what is stored
    comes from the worker; the ReadAheads made, to see who read what."""
    made: list[ReadAhead] = []
    real = ReadAhead._result

    def waiting(self, future, *args):
        if self not in made:
            made.append(self)
        if future is not None:
            concurrent.futures.wait([future], timeout=120)
        return real(self, future, *args)

    monkeypatch.setattr(ReadAhead, "_result", waiting)
    return made


def test_files_read_by_a_worker_store_what_files_read_here_store(county, tmp_path, patient):
    here = _setup(f"sqlite:///{tmp_path / 'here.db'}", county)
    ahead = _setup(f"sqlite:///{tmp_path / 'ahead.db'}", county)
    files, before = _hostile_day(county, tmp_path)
    reports = []
    for (engine, config, rules), workers in ((here, 0), (ahead, 1)):
        rules = _with(rules, read_workers=workers)
        first = ingest.ingest_paths(engine, [before], "logs", config, rules)
        assert not first.failed
        report = ingest.ingest_paths(engine, files, "logs", config, rules)
        reports.append([f.to_json() for f in report.files])
    assert reports[0] == reports[1]
    assert sum(a.counts["workers"] for a in patient) > 10  # the worker read them
    by_name = {Path(r["path"]).name: r for r in reports[1]}
    assert "limits.max_columns" in by_name["晨午检(坏).csv"]["error"]
    assert sum(1 for r in reports[1] if r.get("already_ingested")) >= 2  # before, the copy
    assert sum(r["inserted"] for r in reports[1]) > 1000
    assert _contents(here[0]) == _contents(ahead[0])


def _items(files: list[Path]) -> list[Routed]:
    return [Routed(path, "logs") for path in files]


def _settle(ahead: ReadAhead, files: int | None = None) -> None:
    """Wait for the worker to read the files pending (or the first ``files`` of them)."""
    futures = [p.future for p in ahead._pending if p.future and not p.future.cancelled()]
    assert futures
    done, _ = concurrent.futures.wait(futures[:files], timeout=120)
    assert len(done) == len(futures[:files])


@pytest.fixture
def one_file_a_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """A task per file (a county's day fits in one task of the default size)."""
    monkeypatch.setattr(ahead_module, "_CHUNK_FILES", 1)


@pytest.mark.usefixtures("one_file_a_task")
def test_a_worker_reads_each_new_file_and_none_ingested_before(county, tmp_path):
    engine, config, rules = _setup(f"sqlite:///{tmp_path / 'store.db'}", county)
    csvs = _plain_csvs(_day_files(county, DEMO_DATE))
    assert len(csvs) >= 6
    ingest.ingest_paths(engine, csvs[:2], "logs", config, rules)
    limits = IngestLimits(read_workers=1)
    with SheetReader(limits) as sheets, ReadAhead(engine, _items(csvs), limits, sheets) as ahead:
        assert ahead.workers == 1
        taken = [ahead.take(_items(csvs)[0])]  # ingested before: not read
        _settle(ahead)  # else this process reads a file the worker has not read yet
        taken += [ahead.take(item) for item in _items(csvs)[1:]]
    assert ahead.counts == {"workers": len(csvs) - 2, "here": 0, "known": 2}
    assert [t.table is None for t in taken[:2]] == [True, True]
    assert all(t.prior is not None for t in taken[:2])
    for path, fetched in zip(csvs[2:], taken[2:], strict=True):
        assert fetched.table is not None
        expected = readers.read_table_bytes(path.read_bytes(), path, "logs", limits=limits)
        assert fetched.table.frame.equals(expected.frame)
        assert fetched.table.encoding == expected.encoding
        assert fetched.prior is None


@pytest.mark.usefixtures("one_file_a_task")
def test_a_killed_worker_leaves_the_rest_read_here(county, tmp_path, caplog):
    engine, _, _ = _setup(f"sqlite:///{tmp_path / 'store.db'}", county)
    csvs = _plain_csvs(_day_files(county, DEMO_DATE))
    limits = IngestLimits(read_workers=1)
    caplog.set_level(logging.WARNING, logger="reportkit.ingest.ahead")
    with SheetReader(limits) as sheets, ReadAhead(engine, _items(csvs), limits, sheets) as ahead:
        first = ahead.take(_items(csvs)[0])  # here: the worker is starting
        _settle(ahead, files=1)
        children = multiprocessing.active_children()
        assert children  # the worker
        for child in children:
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            child.join(10)
        rest = [ahead.take(item) for item in _items(csvs)[1:]]
    assert first.table is not None
    assert all(r.table is not None for r in rest)
    assert ahead.counts["workers"] >= 1
    assert ahead.counts["here"] >= 1
    assert ahead.counts["workers"] + ahead.counts["here"] == len(csvs)
    assert "worker died" in caplog.text
    for path, fetched in zip(csvs[1:], rest, strict=True):
        assert fetched.table is not None
        assert fetched.table.frame.equals(readers.read_table_bytes(path.read_bytes(), path).frame)


def test_a_file_that_cannot_be_read_raises_in_its_turn(county, tmp_path):
    engine, _, _ = _setup(f"sqlite:///{tmp_path / 'store.db'}", county)
    csvs = _plain_csvs(_day_files(county, DEMO_DATE))[:4]
    big = tmp_path / "big.csv"
    big.write_bytes(csvs[0].read_bytes() * 3)
    files = [csvs[0], big, *csvs[1:]]
    limits = IngestLimits(read_workers=1, max_file_mb=1.5 * csvs[0].stat().st_size / (1 << 20))
    with SheetReader(limits) as sheets, ReadAhead(engine, _items(files), limits, sheets) as ahead:
        assert ahead.take(_items(files)[0]).table is not None
        with pytest.raises(IngestError) as caught:
            ahead.take(_items(files)[1])
        assert "max_file_mb" in str(caught.value)
        assert "big.csv" in str(caught.value)
        with pytest.raises(ValueError, match="out of its turn"):
            ahead.take(_items(files)[3])
        assert all(ahead.take(item).table is not None for item in _items(files)[2:])


def test_workers_start_only_for_a_days_many_files():
    assert read_workers(IngestLimits(), AUTO_MIN_FILES - 1) == 0
    assert read_workers(IngestLimits(read_workers=0), 10_000) == 0
    assert read_workers(IngestLimits(read_workers=3), 1) == 3
    cores = len(os.sched_getaffinity(0))
    assert read_workers(IngestLimits(), AUTO_MIN_FILES) == min(cores - 1, 4)


def test_read_workers_is_a_rules_setting(tmp_path):
    params = tmp_path / "params"
    params.mkdir()
    (params / "rules.yaml").write_text("limits:\n  read_workers: 2\n", encoding="utf-8")
    settings = Settings.resolve(f"sqlite:///{tmp_path / 'x.db'}", params, tmp_path / "out")
    assert settings.rules().limits.read_workers == 2


def test_a_script_without_a_main_guard_ingests_its_day_once(county, tmp_path):
    """A worker starts by importing the main module of the process that started it: a
    script with no ``if __name__ == "__main__":`` runs again there. The worker refuses
    (it would ingest the day a second time, beside its parent); its parent reads every
    file itself, and the day is stored once."""
    url = f"sqlite:///{tmp_path / 'script.db'}"
    engine, _, _ = _setup(url, county)
    files = _day_files(county, DEMO_DATE)
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import json, sys\n"
        "from pathlib import Path\n"
        "from reportkit import ingest, store\n"
        "from reportkit.config import Settings\n"
        f"settings = Settings.resolve({url!r}, {str(county / 'params')!r}, 'out')\n"
        "rules = settings.rules()\n"
        "limits = rules.limits.model_copy(update={'read_workers': 1})\n"
        "rules = rules.model_copy(update={'limits': limits})\n"
        f"files = [Path(p) for p in {[str(f) for f in files]!r}]\n"
        f"engine = store.connect({url!r})\n"
        "report = ingest.ingest_paths(engine, files, 'logs', settings.schools(), rules)\n"
        "print(json.dumps([f.to_json() for f in report.files]))\n",
        encoding="utf-8",
    )
    src = Path(ingest.__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{Path.cwd()}"}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "import the main module again" in done.stderr
    reports = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r.get("error") for r in reports] == [None] * len(files)
    assert not any(r.get("already_ingested") for r in reports)  # no one went before it
    here = _setup(f"sqlite:///{tmp_path / 'here.db'}", county)
    ingest.ingest_paths(here[0], files, "logs", *here[1:])
    assert _contents(engine) == _contents(here[0])
