"""How long the officer console takes on the full demo county.

Builds the demo county (22 schools, 21 days, ingested into a SQLite file in a
temporary folder, or ``--root``; a demo already built there is reused), opens the
console without a browser and times each control change as the officer makes them:
views, a school (from the board), a class, a search, the fever threshold (computed,
then cached), other dates (loaded from the store). Prints milliseconds per change and
the issue's targets (a date change <= 0.5 s, a threshold move <= 0.3 s); never asserts.

With ``--app``, also starts ``reportkit console --app`` (Voilà, one preheated kernel)
and times, in Chromium, how long the app takes to show the console once the server
is up (target <= 3 s), and how long the server took to be ready.

    .venv/bin/python benchmarks/bench_console.py [--root DIR] [--scale 1] [--app]
"""

from __future__ import annotations

import argparse
import secrets
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from reportkit.config import Settings
from reportkit.console import Console, console_command
from reportkit.demo import DemoResult, build_demo

DATE_TARGET, THRESHOLD_TARGET, APP_TARGET = 0.5, 0.3, 3.0


def demo_in(root: Path, scale: int) -> tuple[DemoResult, str]:
    url = f"sqlite:///{root / 'demo.db'}"
    t0 = time.perf_counter()
    again = (root / "demo.db").exists()  # the same files again; the store already has them
    demo = build_demo(root, root / "params", url, scale=scale, ingest=not again)
    print(
        f"demo county: {demo.schools} schools, {demo.people:,} people, built and ingested "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    return demo, url


def measure(root: Path, demo: DemoResult, url: str) -> None:
    started = time.perf_counter()
    console = Console.open(url, demo.params_dir, root / "outputs")
    timings = {"open (load the window, compute, board)": time.perf_counter() - started}
    sid = demo.events["cluster"][0]

    def timed(name: str, change: Callable[[], object]) -> float:
        t1 = time.perf_counter()
        change()
        timings[name] = time.perf_counter() - t1
        return timings[name]

    timed("view -> missing", lambda: setattr(console.view, "value", "missing"))
    timed("school (a click on the board)", lambda: console.open_school(sid))
    timed("class", lambda: setattr(console.klass, "value", console.klass.options[1][1]))
    timed("search", lambda: setattr(console.search, "value", "G"))
    timed("search cleared", lambda: setattr(console.search, "value", ""))
    timed("all schools", lambda: setattr(console.school, "value", ""))
    thresholds = [
        timed(f"threshold {value:.1f}", lambda v=value: setattr(console.threshold, "value", v))
        for value in (37.0, 37.5, 37.8)
    ]
    timed("threshold 37.3 (cached)", lambda: setattr(console.threshold, "value", 37.3))
    dates = [
        timed(
            f"date -{n} day (store load)",
            lambda n=n: setattr(console.day, "value", demo.demo_date - timedelta(days=n)),
        )
        for n in (1, 2, 3)
    ]
    shown = len(console.model.findings.schools)
    print(f"console on {shown} schools:")
    for name, seconds in timings.items():
        print(f"  {name:40s} {seconds * 1000:8.1f} ms")
    worst_date, worst_threshold = max(dates), max(thresholds)
    print(
        f"  date change: median {statistics.median(dates) * 1000:.0f} ms, worst "
        f"{worst_date * 1000:.0f} ms = {worst_date / DATE_TARGET:.2f} x the 0.5 s target"
    )
    print(
        f"  threshold move: median {statistics.median(thresholds) * 1000:.0f} ms, worst "
        f"{worst_threshold * 1000:.0f} ms = {worst_threshold / THRESHOLD_TARGET:.2f} x the "
        "0.3 s target"
    )


def measure_app(root: Path, demo: DemoResult, url: str) -> None:
    """``reportkit console --app`` as an officer opens it: the server, then the page."""
    from playwright.sync_api import sync_playwright

    from reportkit.reports import find_chromium

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(db=url, params=demo.params_dir, outputs=root / "outputs")
    argv, env, cwd, page_url = console_command(
        settings, True, port, "127.0.0.1", secrets.token_urlsafe(16)
    )
    log = root / "voila.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        while "is filled" not in log.read_text(errors="replace"):  # the preheated kernel
            if proc.poll() is not None or time.perf_counter() - started > 180:
                print(f"voila did not get ready:\n{log.read_text()[-2000:]}")
                return
            time.sleep(0.1)
        ready = time.perf_counter() - started
        time.sleep(20)  # the pooled kernel runs the notebook (opens the console) meanwhile
        args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=find_chromium(), args=args)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            t0 = time.perf_counter()
            page.goto(page_url)
            page.wait_for_selector(".rk-console .rk-board button", timeout=120_000)
            opened = time.perf_counter() - t0
            browser.close()
        print("reportkit console --app (Voila, one preheated kernel):")
        print(f"  server and preheated kernel ready   {ready:8.1f} s after start")
        print(
            f"  page to console with its board      {opened:8.2f} s = "
            f"{opened / APP_TARGET:.2f} x the 3 s target"
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="build the demo here (default: a temp folder)")
    parser.add_argument("--scale", type=int, default=1, help="counties of 22 schools")
    parser.add_argument("--app", action="store_true", help="also time the Voila app in Chromium")
    args = parser.parse_args()

    def run(root: Path) -> None:
        demo, url = demo_in(root, args.scale)
        measure(root, demo, url)
        if args.app:
            measure_app(root, demo, url)

    if args.root is not None:
        args.root.mkdir(parents=True, exist_ok=True)
        run(args.root)
        return
    with tempfile.TemporaryDirectory(prefix="bench_console_") as tmp:
        run(Path(tmp))


if __name__ == "__main__":
    main()
