"""Telling the operator what a run is doing, from its first second.

Each phase (findings, kernels starting, schools, roll-ups; ``daily`` adds ingest
and sending) is announced as it starts. When stderr is not a terminal (cron, a
pipe, a CI log) every announcement and every finished report is one plain line
on stderr; on a terminal a rich display shows the phase with a spinner and the
reports with a bar, a count and an ETA.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reportkit.execution.job import JobResult

__all__ = ["Progress", "announce"]

log = logging.getLogger(__name__)


def announce(text: str, enabled: bool | None = None) -> None:
    """One phase as a line on stderr (also logged); ``enabled=False`` logs only."""
    log.info("%s", text)
    if enabled is not False:
        print(f"[reportkit] {text}", file=sys.stderr, flush=True)


class Progress:
    """Phases and a bar of reports: rich on a terminal, plain lines otherwise.

    ``enabled``: ``None`` detects a terminal on stderr; ``True`` forces the rich
    display; ``False`` prints plain lines.
    """

    def __init__(self, enabled: bool | None = None) -> None:
        self.tty = sys.stderr.isatty() if enabled is None else enabled
        self.total = 0
        self.count = 0
        self._lock = threading.Lock()
        self._bar: Any = None
        self._phase: Any = None
        self._reports: Any = None

    def __enter__(self) -> Progress:
        if self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._bar.start()
        return self

    def phase(self, text: str) -> None:
        """A phase starts (kernels, findings, schools, roll-ups …)."""
        with self._lock:
            log.info("%s", text)
            if self._bar is None:
                print(f"[reportkit] {text}", file=sys.stderr, flush=True)
                return
            if self._phase is None:
                self._phase = self._bar.add_task(text, total=None)
            else:
                self._bar.update(self._phase, description=text)

    def reports(self, total: int, text: str) -> None:
        """The reports start: ``total`` of them."""
        self.phase(text)
        with self._lock:
            self.total = total
            if self._bar is not None:
                self._reports = self._bar.add_task("reports", total=total)

    def advance(self, result: JobResult) -> None:
        with self._lock:
            self.count += 1
            log.info("%s %s %s %.1fs", result.kind, result.id, result.status, result.seconds)
            if self._bar is not None:
                if self._reports is not None:
                    self._bar.update(
                        self._reports, advance=1, description=f"{result.kind} {result.id}"
                    )
                return
            msg = "" if result.error is None else f" {result.error.ename}"
            print(
                f"[{self.count}/{self.total}] {result.kind} {result.id} {result.status}"
                f" {result.seconds:.1f}s{msg}",
                file=sys.stderr,
                flush=True,
            )

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            if self._phase is not None:
                self._bar.update(self._phase, total=1, completed=1)
            self._bar.stop()
            self._bar = None
