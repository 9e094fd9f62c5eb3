"""Core-seconds of this process and every process it starts (kernels, Chromium and
Chromium's own children), for the benchmarks.

``resource.RUSAGE_CHILDREN`` misses most of Chromium: its renderers are reaped by
playwright's driver, not by us. :class:`CoreClock` instead samples the CPU times of
every descendant while it runs (every ``interval`` seconds, and at ``stop``), keeps the
last figure of each process, and adds this process's own time.
"""

from __future__ import annotations

import threading

import psutil


class CoreClock:
    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._me = psutil.Process()
        self._seen: dict[tuple[int, float], float] = {}  # (pid, create time) -> cpu s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_self = 0.0
        self._start_kids: dict[tuple[int, float], float] = {}

    def _sample(self) -> dict[tuple[int, float], float]:
        found: dict[tuple[int, float], float] = {}
        for child in self._me.children(recursive=True):
            try:
                times = child.cpu_times()
                found[(child.pid, child.create_time())] = times.user + times.system
            except psutil.Error:
                continue  # it ended between the listing and the reading
        return found

    def _own(self) -> float:
        times = self._me.cpu_times()
        return times.user + times.system

    def start(self) -> CoreClock:
        self._start_self = self._own()
        self._start_kids = self._sample()  # processes already running count from now
        self._seen = dict(self._start_kids)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._seen.update(self._sample())

    def stop(self) -> float:
        """The core-seconds spent since :meth:`start`; call it before the processes the
        run started are shut down, or the last ``interval`` of each is lost."""
        self._seen.update(self._sample())
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        kids = sum(v - self._start_kids.get(k, 0.0) for k, v in self._seen.items())
        return self._own() - self._start_self + kids
