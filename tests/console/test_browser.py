"""The officer console in a real browser: JupyterLab and the Voilà app, on a demo store.

Each test starts the server the way ``reportkit console`` does
(:func:`reportkit.console.console_command`: loopback, a token, the store passed
through ``REPORTKIT_*``), drives Debian's Chromium with Playwright, changes the
school, records a follow-up and finds its row in the database. Screenshots are
kept under ``tmp_path/outputs/``.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from reportkit import store
from reportkit.config import Settings
from reportkit.console import console_command

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "officer_console.ipynb"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """The small demo county, three days (the console needs a store, not volume)."""
    from reportkit.demo import build_demo

    root = tmp_path_factory.mktemp("demo")
    return build_demo(root, root / "params", f"sqlite:///{root / 'rk.db'}", small=True, days=3)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _isolated(home: Path) -> dict[str, str]:
    """Jupyter's config, settings and runtime folders of this test only."""
    dirs = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": home / "settings",
        "JUPYTERLAB_WORKSPACES_DIR": home / "workspaces",
        "IPYTHONDIR": home / "ipython",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    # the news prompt would cover the console's lower controls
    labconfig = dirs["JUPYTER_CONFIG_DIR"] / "labconfig"
    labconfig.mkdir()
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    return {k: str(v) for k, v in dirs.items()}


@contextmanager
def _server(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[Any]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    pytest.fail(f"server not listening on {port} after {timeout} s:\n{log.read_text()[-3000:]}")


@contextmanager
def _browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # fail, never skip: the console's browser path must be checked where it runs
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _settings(demo, tmp_path: Path) -> Settings:
    return Settings(db=demo.db_url, params=demo.params_dir, outputs=tmp_path / "outputs")


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tmp copy of the console notebook: the server's root folder."""
    folder = tmp_path / "project" / "notebooks"
    folder.mkdir(parents=True)
    shutil.copy(NOTEBOOK, folder)
    monkeypatch.setenv("REPORTKIT_NOTEBOOKS", str(folder))
    return folder.parent


def _followups(db_url: str, officer: str) -> list:
    engine = store.connect(db_url)
    with engine.connect() as conn:
        stmt = sa.select(store.followups).where(store.followups.c.officer == officer)
        return conn.execute(stmt).all()


def _use_console(page: Any, settings: Settings, demo, officer: str, shots: Path, name: str):
    """Change the school, see the table change, record a follow-up; the school id."""
    try:
        page.wait_for_selector(".rk-table table", timeout=120_000)
    except Exception:
        page.screenshot(path=str(shots / f"{name}-failed.png"), full_page=True)
        raise
    page.screenshot(path=str(shots / f"{name}-opened.png"), full_page=True)
    school_id, person_id = demo.events["suspected"][0]
    school = settings.schools().school(school_id)
    before = page.inner_text(".rk-table")
    page.select_option(".rk-school select", label=f"{school.name} ({school_id})")
    page.wait_for_function(
        "b => document.querySelector('.rk-table').innerText !== b", arg=before, timeout=30_000
    )
    after = page.inner_text(".rk-table")
    assert school.name in after
    assert person_id in after
    page.select_option(".rk-action select", label="已就医")
    page.fill(".rk-officer input", officer)
    page.fill(".rk-note textarea", "发热门诊，等待核酸结果")
    page.click("button.rk-record")
    page.wait_for_selector(".rk-message .rk-ok", timeout=30_000)
    page.wait_for_function(
        "() => document.querySelector('.rk-table').innerText.includes('已就医')", timeout=30_000
    )
    page.click("button.rk-export")
    download = page.wait_for_selector(".rk-links a.rk-download", timeout=30_000)
    assert download.get_attribute("download").endswith(".xlsx")
    assert page.inner_text(".rk-links a.rk-file") == "导出的表格"  # named, not a raw path
    # the board: a click on a school opens its lists and its classes
    other_id = demo.events["cluster"][0]
    other = settings.schools().school(other_id)
    page.click(f"button.rk-board-school:has-text('{other.name}')")
    page.wait_for_function(
        "n => document.querySelector('.rk-class-table').innerText.includes(n)",
        arg=other.name,
        timeout=30_000,
    )
    assert other.name in page.inner_text(".rk-table")
    assert "人数" in page.inner_html(".rk-chart")  # the trend's count axis, labelled
    page.screenshot(path=str(shots / f"{name}-recorded.png"), full_page=True)
    return school_id, person_id


def _run_all_cells(page: Any) -> None:
    """Run → Run All Cells, once the kernel is idle; again if nothing started."""
    page.get_by_text(re.compile(r"\| Idle$")).wait_for(timeout=90_000)
    for _attempt in range(3):
        page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
        try:
            page.wait_for_selector(".jp-Cell .jp-OutputArea-output", timeout=20_000)
            return
        except Exception:  # the menu opened before the notebook was ready
            page.keyboard.press("Escape")
    raise AssertionError("Run All Cells did not run the console notebook")


def test_console_in_jupyterlab(demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = _project(tmp_path, monkeypatch)
    settings = _settings(demo, tmp_path)
    shots = tmp_path / "outputs"
    shots.mkdir()
    port, token = _free_port(), secrets.token_urlsafe(16)
    argv, env, cwd, url = console_command(settings, False, port, "127.0.0.1", token)
    assert cwd == root.resolve()
    assert f"--ServerApp.root_dir={root.resolve()}" in argv
    env.update(_isolated(tmp_path / "jupyter"))
    log = tmp_path / "jupyterlab.log"
    with _server(argv, env, cwd, log) as proc, _browser() as browser:
        _wait_port(port, proc, log)
        # the token is required
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/sessions", timeout=10)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        _run_all_cells(page)
        school_id, person_id = _use_console(
            page, settings, demo, "实验室测试员", shots, "jupyterlab"
        )
    rows = _followups(demo.db_url, "实验室测试员")
    assert len(rows) == 1
    row = rows[0]._mapping
    assert (row["school_id"], row["person_id"], row["action"]) == (
        school_id,
        person_id,
        "seen_by_doctor",
    )
    assert row["note"] == "发热门诊，等待核酸结果"
    assert row["date"] == demo.demo_date


def test_console_as_voila_app(demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _project(tmp_path, monkeypatch)
    settings = _settings(demo, tmp_path)
    shots = tmp_path / "outputs"
    shots.mkdir()
    port, token = _free_port(), secrets.token_urlsafe(16)
    argv, env, cwd, url = console_command(settings, True, port, "127.0.0.1", token)
    env.update(_isolated(tmp_path / "jupyter"))
    log = tmp_path / "voila.log"
    with _server(argv, env, cwd, log) as proc, _browser() as browser:
        _wait_port(port, proc, log)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        response = page.goto(f"http://127.0.0.1:{port}/")
        assert response is not None
        assert "/login" in response.url  # no token, no console
        assert page.locator(".rk-console").count() == 0
        page.goto(url)
        school_id, person_id = _use_console(page, settings, demo, "应用测试员", shots, "voila")
        assert "from reportkit" not in page.content()  # an app: no code shown
    rows = _followups(demo.db_url, "应用测试员")
    assert len(rows) == 1
    row = rows[0]._mapping
    assert (row["school_id"], row["person_id"], row["action"]) == (
        school_id,
        person_id,
        "seen_by_doctor",
    )
