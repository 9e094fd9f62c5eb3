"""A day's small files read ahead, in worker processes, while the store is written.

Ingesting a district's day is two kinds of work on each file: reading it (its bytes, a
content hash, the encoding, the header, pandas' parse) and preparing and writing its
rows (:func:`reportkit.ingest.pipeline.ingest_paths`, many schools' files at a time).
The first does not need the store. :class:`ReadAhead` keeps a window of the files to
come: this process reads each one's bytes and hash and asks the store, once for many
files, which were ingested before; the others' bytes go to a
:class:`~concurrent.futures.ProcessPoolExecutor`, 32 files to a task, whose workers
parse them while this process writes the files before them. Files are handed back in
their order. A file whose task has not finished when its turn comes is read here
(and its task cancelled if it has not started): this process would otherwise only
wait, while the worker goes on with the files after it.

Only CSV files of at most :data:`_MAX_BYTES` go to the workers (a spreadsheet goes to
the :class:`~reportkit.ingest.sheets.SheetReader` of the caller, a large file is read
by pyarrow's threads here). A worker that fails on a file, for any reason, returns
nothing for it, and the file is read again in this process, which gives the same
error a file read here would (the error is never built in another process). A pool
that breaks (a worker killed) is shut down and the rest is read here: reading ahead
changes how fast, never what is ingested.

``limits.read_workers`` (rules.yaml) sets the workers: ``None`` (the default) one
fewer than this process's cores, at most 4, when a call has at least
:data:`AUTO_MIN_FILES` files to read ahead, and none on one core; ``0`` none. The
workers are started with ``spawn``, which imports the caller's main module again in
each: a script must keep its work under ``if __name__ == "__main__":`` (a worker that
finds it would ingest refuses, and its files are read here).
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from reportkit import store
from reportkit.errors import IngestError
from reportkit.ingest import readers
from reportkit.ingest.routing import Routed
from reportkit.ingest.sheets import XLS_MAGIC, XLSX_MAGIC, SheetReader

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from reportkit.config import IngestLimits

__all__ = ["AUTO_MIN_FILES", "Fetched", "ReadAhead", "read_workers"]

log = logging.getLogger(__name__)

# with read_workers None, a call reads ahead from this many files on: below it, starting
# a worker (a new interpreter importing pandas, about 1 s) costs more than it saves
AUTO_MIN_FILES = 200
# files read ahead: at most this many, and this many bytes, pending at once; a batch of
# files is written together (pipeline._GROUP_FILES), and the workers read the next
# batch meanwhile
_WINDOW_FILES = 1024
_WINDOW_BYTES = 128 << 20
# the CSV files a worker reads; a larger one is read by pyarrow here (readers._parse_csv)
_MAX_BYTES = 8 << 20
# files given to a worker in one task, at most (and about this many bytes)
_CHUNK_FILES = 32
_CHUNK_BYTES = 4 << 20


def read_workers(limits: IngestLimits, files: int) -> int:
    """The worker processes a call of ``files`` files to read ahead starts."""
    if limits.read_workers is not None:
        return limits.read_workers
    if files < AUTO_MIN_FILES:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(0, min((cores or 1) - 1, 4))


@dataclass
class Fetched:
    """A file read: its hash, its table (None: ingested before, see ``prior``), or
    the error that stopped its reading (raised when it is taken, in its turn)."""

    sha256: str = ""
    table: readers.Table | None = None
    prior: Any = None  # its ingestions row, when its content was ingested before
    error: IngestError | None = None


class ReadAhead:
    """The files of ``items`` read ahead of their turn (see the module's text); use
    :meth:`take` on each of them, in their order. A context manager: the workers are
    shut down on leaving."""

    def __init__(
        self,
        engine: Engine,
        items: Sequence[Routed],
        limits: IngestLimits,
        sheets: SheetReader,
    ) -> None:
        self._engine, self._limits, self._sheets = engine, limits, sheets
        self._todo: deque[Routed] = deque(items)
        # read and not taken yet, in their order: (item, fetched, bytes, the worker's parse)
        self._pending: deque[_Pending] = deque()
        self._pending_bytes = 0
        self._pool: ProcessPoolExecutor | None = None
        workers = read_workers(limits, len(items)) if items else 0
        if workers > 0 and getattr(multiprocessing.current_process(), "_inheriting", False):
            # this process is a worker importing the main module of the one that started
            # it (a script with no ``if __name__ == "__main__":``): ingesting here would
            # ingest the day a second time
            raise RuntimeError(
                "reportkit's reading workers import the main module again: put the "
                'script\'s work under `if __name__ == "__main__":`, or set '
                "limits.read_workers to 0 in rules.yaml"
            )
        if workers > 0:
            # spawn: a worker forked from a process with threads (pyarrow's, the sheet
            # reader's) could inherit a lock held by none of its own threads
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(workers, mp_context=context)
        self.workers = workers
        # how the files taken were read: by a worker, here, or not (ingested before)
        self.counts = {"workers": 0, "here": 0, "known": 0}

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Shut the workers down; the files still pending are read here."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        for pending in self._pending:
            pending.future = None

    def take(self, item: Routed) -> Fetched:
        """``item`` read (the next of the items, in their order); raises the
        :class:`IngestError` that stopped its reading."""
        if not self._pending:
            self._fill(first=True)
        if self._pending[0].item != item:
            next_ = self._pending[0].item.path
            raise ValueError(f"{item.path} taken out of its turn ({next_} is next)")
        pending = self._pending.popleft()
        fetched, data, future = pending.fetched, pending.data, pending.future
        self._pending_bytes -= len(data or b"")
        if not self._half_full():  # refilled in steps: one query for many files
            self._fill()
        if fetched.error is not None:
            raise fetched.error
        if fetched.prior is not None:
            self.counts["known"] += 1
        elif fetched.table is None:
            fetched.table = self._result(future, pending.slot, data, item, fetched.sha256)
        return fetched

    def _result(
        self,
        future: Future[Any] | None,
        slot: int,
        data: bytes | None,
        item: Routed,
        sha256: str,
    ) -> Any:
        if future is not None and not future.done():
            # not read yet: read here rather than wait (this process would only wait;
            # the worker goes on with the files after), and not there if not started
            future.cancel()
        if future is not None and future.done() and not future.cancelled():
            try:
                table = future.result()[slot]
            except BrokenProcessPool:
                log.warning("ingest: a reading worker died; the rest is read in this process")
                self.close()
                table = None
            if table is not None:
                self.counts["workers"] += 1
                return table
        assert data is not None
        self.counts["here"] += 1
        return readers.read_table_bytes(
            data, item.path, item.kind, sha256, limits=self._limits, sheets=self._sheets
        )

    def _fill(self, first: bool = False) -> None:
        """Read files of the window until it is full: bytes and hash, one query for the
        ingested before, the others' parsing given to the workers."""
        fresh: list[_Pending] = []
        while self._todo and (first or self._room()):
            first = False
            pending = _Pending(self._todo.popleft(), Fetched())
            try:
                pending.data = readers.read_bytes(pending.item.path, self._limits)
                pending.fetched.sha256 = hashlib.sha256(pending.data).hexdigest()
            except IngestError as exc:
                pending.fetched.error = exc
            fresh.append(pending)
            self._pending.append(pending)
            self._pending_bytes += len(pending.data or b"")
        read = [(p.item.kind, p.fetched.sha256) for p in fresh if p.data is not None]
        known = self._known(read)
        chunk: list[_Pending] = []
        chunk_bytes = 0
        for pending in fresh:
            if pending.data is None:
                continue
            entry = pending.fetched
            entry.prior = known.get((pending.item.kind, entry.sha256))
            if entry.prior is not None:  # not read: its bytes are not needed
                self._pending_bytes -= len(pending.data)
                pending.data = None
            elif self._pool is not None and _for_workers(pending.data):
                chunk.append(pending)
                chunk_bytes += len(pending.data)
                if len(chunk) == _CHUNK_FILES or chunk_bytes > _CHUNK_BYTES:
                    self._submit(chunk)
                    chunk, chunk_bytes = [], 0
        self._submit(chunk)

    def _submit(self, chunk: list[_Pending]) -> None:
        """A chunk of files given to a worker: one task, one result to hand over (a
        result is taken in by a thread of this process, which waits its turn for the
        interpreter while this one prepares and writes: a file a task would wait)."""
        if not chunk or self._pool is None:
            return
        args = [(p.data or b"", str(p.item.path), p.item.kind, p.fetched.sha256) for p in chunk]
        try:
            future = self._pool.submit(_read_in_worker, args, self._limits)
        except BrokenProcessPool:
            log.warning("ingest: the reading workers stopped; reading in this process")
            self.close()
            return
        for slot, pending in enumerate(chunk):
            pending.future, pending.slot = future, slot

    def _room(self) -> bool:
        return len(self._pending) < _WINDOW_FILES and self._pending_bytes < _WINDOW_BYTES

    def _half_full(self) -> bool:
        files, size = len(self._pending), self._pending_bytes
        return files >= _WINDOW_FILES // 2 or size >= _WINDOW_BYTES // 2

    def _known(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        """The ingestions rows of the contents ingested before, by (kind, hash)."""
        if not keys:
            return {}
        ingestions = store.ingestions
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(ingestions).where(ingestions.c.sha256.in_({s for _, s in keys}))
            )
            return {(row.kind, row.sha256): row for row in rows}


@dataclass
class _Pending:
    item: Routed
    fetched: Fetched
    data: bytes | None = None
    future: Future[Any] | None = None  # the worker's task reading it, with others
    slot: int = 0  # its place in the task's result


def _for_workers(data: bytes) -> bool:
    return len(data) <= _MAX_BYTES and not data.startswith((XLSX_MAGIC, XLS_MAGIC))


def _read_in_worker(
    files: list[tuple[bytes, str, Any, str]], limits: IngestLimits
) -> list[readers.Table | None]:
    """CSV files' tables, read in a worker; None for a file when anything fails (the
    caller reads it again, and its error is made there)."""
    out: list[readers.Table | None] = []
    for data, name, kind, sha256 in files:
        try:
            out.append(readers.read_table_bytes(data, Path(name), kind, sha256, limits=limits))
        except Exception:
            out.append(None)
    return out
