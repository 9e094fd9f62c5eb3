"""How long each control of the officer console takes on the full demo county.

Builds the demo county (22 schools, 21 days, ingested into a SQLite file in a
temporary folder, or ``--root``), opens the console without a browser and times
each control change as the officer makes them: views, a school, a class, a
search, the fever threshold (computed, then cached), the previous day (loaded
from the store). Prints milliseconds per change; never asserts on time.

    .venv/bin/python benchmarks/bench_console.py [--root DIR] [--scale 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from reportkit.console import Console
from reportkit.demo import build_demo


def measure(root: Path, scale: int) -> None:
    url = f"sqlite:///{root / 'demo.db'}"
    t0 = time.perf_counter()
    demo = build_demo(root, root / "params", url, scale=scale)
    print(
        f"demo county: {demo.schools} schools, {demo.people:,} people, built and ingested "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    started = time.perf_counter()
    console = Console.open(url, demo.params_dir, root / "outputs")
    timings = {"open (load the window, compute)": time.perf_counter() - started}
    sid = demo.events["cluster"][0]

    def timed(name: str, change: Callable[[], object]) -> None:
        t1 = time.perf_counter()
        change()
        timings[name] = time.perf_counter() - t1

    timed("view -> missing", lambda: setattr(console.view, "value", "missing"))
    timed("school", lambda: setattr(console.school, "value", sid))
    timed("class", lambda: setattr(console.klass, "value", console.klass.options[1][1]))
    timed("search", lambda: setattr(console.search, "value", "G"))
    timed("search cleared", lambda: setattr(console.search, "value", ""))
    timed("all schools", lambda: setattr(console.school, "value", ""))
    timed("view -> attention", lambda: setattr(console.view, "value", "attention"))
    timed("threshold 37.0", lambda: setattr(console.threshold, "value", 37.0))
    timed("threshold 37.3 (cached)", lambda: setattr(console.threshold, "value", 37.3))
    timed("threshold 37.5", lambda: setattr(console.threshold, "value", 37.5))
    timed(
        "date -1 day (store load)",
        lambda: setattr(console.day, "value", demo.demo_date - timedelta(days=1)),
    )
    shown = len(console.model.findings.schools)
    print(f"console on {shown} schools:")
    for name, seconds in timings.items():
        print(f"  {name:32s} {seconds * 1000:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="build the demo here (default: a temp folder)")
    parser.add_argument("--scale", type=int, default=1, help="counties of 22 schools")
    args = parser.parse_args()
    if args.root is not None:
        args.root.mkdir(parents=True, exist_ok=True)
        measure(args.root, args.scale)
        return
    with tempfile.TemporaryDirectory(prefix="bench_console_") as tmp:
        measure(Path(tmp), args.scale)


if __name__ == "__main__":
    main()
