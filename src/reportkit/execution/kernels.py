"""Warm kernels: one Python kernel runs several reports, one after another.

Starting a kernel and importing pandas and reportkit in it costs about a second
of CPU; a school report's own cells cost less than half of that. A batch of
hundreds of schools therefore spends most of its time starting kernels, unless a
kernel is kept and handed the next school.

A :class:`WarmKernel` belongs to one worker thread and runs one notebook at a
time through papermill (the :data:`ENGINE` engine, which is papermill's nbclient
engine given an already running kernel). Schools stay apart:

* before every notebook the kernel is reset: all matplotlib figures a notebook of
  its own drew closed, ``%reset -f`` (every user variable, ``In``/``Out`` and the
  output history, then a garbage collection), and the execution count back to 1, so
  the executed notebook looks exactly like one from a fresh kernel. What survives a
  reset (the modules and what they hold) is then frozen (``gc.freeze``): the next
  reset's collection looks only at what the next notebook made, not again at the
  hundred thousand objects of pandas and matplotlib (about 30 ms a report);
* after any failure (a cell error, a timeout, a dead kernel) the kernel is shut
  down and the retry starts a fresh one;
* a kernel is retired after ``max_uses`` notebooks, which bounds memory growth.

On a warm kernel a notebook's cells go to the kernel in one request
(:class:`OneRequestClient`): a small runner there runs them one after another, each
through IPython's own ``run_cell`` as a request of its own would, and marks on the
output channel where each cell starts and ends, so each output lands in its own
cell and the executed notebook is the one cell-by-cell execution gives. A request
a cell costs about 5 ms of CPU in round trips alone, against a school report's
40 ms of its own work.

What stays warm is what is imported (``sys.modules``), nothing a notebook made.
``max_uses=1`` gives a fresh kernel per report.
"""

from __future__ import annotations

import copy
import logging
import re
import secrets
import weakref
from queue import Empty
from time import monotonic
from typing import Any

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.utils import merge_kwargs, remove_args

from reportkit.context import DEFAULT_KERNEL_REUSE
from reportkit.errors import ReportkitError

__all__ = [
    "CELL_MARK",
    "ENGINE",
    "KERNEL_ARGS",
    "RESET_CODE",
    "KernelError",
    "OneRequestClient",
    "WarmKernel",
    "WarmKernelEngine",
]

log = logging.getLogger(__name__)

ENGINE = "reportkit-warm"
KERNEL_ARGS = [
    "--IPKernelApp.log_level=ERROR",  # a TCP-transport notice per start is noise in a batch
    "--HistoryManager.hist_file=:memory:",  # kernels at once must not share a history file
]
RESET_CODE = """\
import sys as __reportkit_sys
if "matplotlib.pyplot" in __reportkit_sys.modules:
    __reportkit_sys.modules["matplotlib.pyplot"].close("all")
del __reportkit_sys
get_ipython().run_line_magic("reset", "-f")
get_ipython().execution_count = 1
import gc as __reportkit_gc
__reportkit_gc.freeze()
del __reportkit_gc
"""

CELL_MARK = "application/vnd.reportkit.cell+json"
"""The MIME type of the marks the runner publishes between cells (never an output)."""
RUN_CELLS = """\
def __reportkit_run_cells(cells, mark, token, started):
    import os, sys
    shell = get_ipython()
    publish = shell.display_pub.publish
    ended = {"token": token}
    written = os.open(started, os.O_WRONLY)
    try:
        for index, source in cells:
            sys.stdout.flush()
            sys.stderr.flush()
            os.lseek(written, 0, 0)
            os.write(written, b"%%12d" %% index)  # survives this process being killed
            publish({mark: dict(ended, cell=index, execution_count=shell.execution_count)})
            ok = shell.run_cell(source, store_history=True).success
            ended = {"token": token, "end": index, "ok": ok}
            if not ok:
                break
    finally:
        os.close(written)
    sys.stdout.flush()
    sys.stderr.flush()
    publish({mark: ended})
try:
    __reportkit_run_cells(%r, %r, %r, %r)
finally:
    del __reportkit_run_cells
"""
_AWAIT = re.compile(r"\b(await|async)\b")


class KernelError(ReportkitError, RuntimeError):
    """A warm kernel could not be started or reset (the job using it fails, the batch
    goes on)."""


class WarmKernelEngine(NBClientEngine):
    """papermill's nbclient engine, run on a kernel the caller started.

    Without ``km`` it is papermill's own engine. With ``km`` (and ``kc``, a started
    asynchronous client of that kernel) the kernel and the client are left running
    afterwards; nbclient would otherwise open a new client per notebook, which costs
    about 0.4 s (its readiness check waits for the kernel's output channel to be
    quiet). Without ``kc`` the client nbclient opens is closed afterwards.
    """

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: float = 60,
        execution_timeout: float | None = None,
        km: Any = None,
        kc: Any = None,
        partial_path: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run the notebook; ``partial_path``: where to write it when execution stops
        with something else than a cell error (a timeout, a dead kernel), which papermill
        would otherwise not write when it does not save after every cell.

        Cell ids are set from the cells' positions first (``cell-00`` …): nbformat
        gives the injected parameters cell a random id, which would make every
        rerun of the same report differ."""
        from reportkit.reports import number_cells

        number_cells(nb_man.nb)
        try:
            if km is None:
                return super().execute_managed_notebook(
                    nb_man,
                    kernel_name,
                    log_output=log_output,
                    stdout_file=stdout_file,
                    stderr_file=stderr_file,
                    start_timeout=start_timeout,
                    execution_timeout=execution_timeout,
                    **kwargs,
                )
            return cls._on_kernel(
                nb_man,
                km,
                kc,
                remove_args(["input_path", "timeout", "startup_timeout"], **kwargs),
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logging.getLogger("papermill"),
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
        except Exception as exc:
            if partial_path:
                from papermill.iorw import write_ipynb

                _mark_stopped_cell(nb_man.nb, exc)
                write_ipynb(nb_man.nb, partial_path)
            raise

    @staticmethod
    def _on_kernel(nb_man: Any, km: Any, kc: Any, kwargs: dict, **options: Any) -> Any:
        client = OneRequestClient(nb_man, km=km, **merge_kwargs(kwargs, **options))
        client.kc = kc  # nbclient starts a client only when it has none
        try:
            return client.execute()
        finally:
            if kc is None and client.kc is not None:
                client.kc.stop_channels()
            client.kc = None


papermill_engines.register(ENGINE, WarmKernelEngine)


_LANGUAGE_INFO: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
"""A warm kernel's ``language_info``, by its client (see :meth:`OneRequestClient.execute`)."""


class OneRequestClient(PapermillNotebookClient):
    """papermill's notebook client, sending a notebook's cells in one request.

    The kernel runs the cells with :data:`RUN_CELLS`: each through ``run_cell`` with
    its history, one after another, stopping at the first that fails, and publishes a
    :data:`CELL_MARK` display before each cell and after the last (which cell starts,
    its execution count, which ended and whether it succeeded, and a token of this
    request, so that a cell displaying such a mark is only an output). This client routes
    every other message of the request to the running cell through nbclient's own
    ``process_message``, and keeps papermill's account of the cells (start, end,
    status, the failed cell). What a per-cell request would give is kept too: each
    cell's timeout (from its start), a dead kernel noticed within a second, the
    failed cell's ``CellExecutionError`` recorded for papermill to raise. A mark can be
    lost when the kernel is killed right after publishing it, so the runner also
    writes the index of each cell it starts to a file of its own (``mkstemp``, mode
    600): a kernel that died is found dead within a second, and the file names the
    cell it died in.

    A notebook it cannot run this way goes cell by cell as papermill's client would:
    errors allowed (by setting or tag), cells skipped by tag, hooks on cells, streams
    to coalesce, or a cell with ``await``/``async`` (top-level await needs the
    kernel's own loop).
    """

    def execute(self, **kwargs: Any) -> Any:
        """papermill's ``execute``, asking a kernel for its language info once.

        papermill sends a ``kernel_info`` request after every notebook for the
        notebook's ``language_info``; a warm kernel's never changes, so it is kept per
        kernel client from its first notebook and the request (a round trip and two
        status messages a report) is not sent again.
        """
        info = None if self.kc is None else _LANGUAGE_INFO.get(self.kc)
        if info is None:
            nb = super().execute(**kwargs)
            if self.kc is not None and "language_info" in nb.metadata:
                _LANGUAGE_INFO[self.kc] = copy.deepcopy(nb.metadata["language_info"])
            return nb
        self.reset_execution_trackers()
        with self.setup_kernel(**kwargs):
            self.log.info(f"Executing notebook with kernel: {self.kernel_name}")
            self.papermill_execute_cells()
            self.nb.metadata["language_info"] = copy.deepcopy(info)
            self.set_widgets_metadata()
        return self.nb

    def papermill_execute_cells(self) -> None:
        if not self.one_request():
            super().papermill_execute_cells()
            return
        self._run_cells()

    def one_request(self) -> bool:
        """Whether this notebook's cells can go in one request."""
        if self.allow_errors or self.allow_error_names or self.coalesce_streams:
            return False
        if any(
            hook is not None
            for hook in (
                self.on_cell_start,
                self.on_cell_execute,
                self.on_cell_complete,
                self.on_cell_executed,
                self.on_cell_error,
            )
        ):
            return False
        for cell in self.nb.cells:
            if cell.cell_type != "code":
                continue
            tags = cell.metadata.get("tags", [])
            if "raises-exception" in tags or self.skip_cells_with_tag in tags:
                return False
            if _AWAIT.search(cell.source):
                return False
        return True

    def _run_cells(self) -> None:
        import os
        import tempfile

        from jupyter_core.utils import run_sync

        handle, started = tempfile.mkstemp(prefix="reportkit-cell-")  # mode 600
        os.close(handle)
        try:
            run_sync(self._async_run_cells)(started)
        finally:
            os.unlink(started)

    async def _async_run_cells(self, started_file: str) -> None:
        from nbclient.client import timestamp
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

        cells, nb_man = self.nb.cells, self.nb_man
        code = [
            (i, c.source) for i, c in enumerate(cells) if c.cell_type == "code" and c.source.strip()
        ]
        token = secrets.token_hex(8)  # a cell displaying a mark of its own is an output
        msg_id = self.kc.execute(
            RUN_CELLS % (code, CELL_MARK, token, started_file), store_history=False
        )
        passed = 0  # the cells before it have had their start (papermill's cell_start)
        running: int | None = None
        count = 0  # the last cell's execution count
        timeout: int | None = self._get_timeout(cells[code[0][0]]) if code else None
        deadline = None if timeout is None else monotonic() + timeout
        failed = False

        def pass_to(index: int) -> None:  # the cells before it that do not run
            nonlocal passed
            while passed < index:
                nb_man.cell_start(cells[passed], passed)
                nb_man.cell_complete(cells[passed], passed)
                passed += 1

        def start(index: int, execution_count: int, msg: dict | None) -> None:
            nonlocal running, count, timeout, deadline
            running, count = index, execution_count
            pass_to(index)
            cell = cells[index]
            nb_man.cell_start(cell, index)
            cell.outputs = []
            cell["execution_count"] = execution_count
            self.clear_before_next_output = False
            self.code_cells_executed += 1
            if self.record_timing:
                cell["metadata"]["execution"] = {
                    "iopub.status.busy": timestamp(msg),
                    "iopub.execute_input": timestamp(msg),
                }
            timeout = self._get_timeout(cell)
            deadline = None if timeout is None else monotonic() + timeout

        def end(ok: bool, msg: dict | None) -> None:
            nonlocal running, passed, failed
            if running is None:
                return
            cell = cells[running]
            if self.record_timing:
                cell["metadata"]["execution"]["shell.execute_reply"] = timestamp(msg)
                cell["metadata"]["execution"]["iopub.status.idle"] = timestamp(msg)
            if not ok:
                failed = True
                error = next(
                    (o for o in reversed(cell.outputs) if o["output_type"] == "error"),
                    {"ename": "Error", "evalue": "the cell failed", "traceback": []},
                )
                exc = CellExecutionError.from_cell_and_msg(cell, error)
                nb_man.cell_exception(cell, cell_index=running, exception=exc)
            nb_man.cell_complete(cell, cell_index=running)
            passed, running = running + 1, None

        def started_last() -> None:
            """After the kernel died: the cell it was in, which its last mark may not
            have named (the kernel wrote its index to ``started_file`` first)."""
            try:
                with open(started_file, "rb") as f:
                    index = int(f.read() or -1)
            except (OSError, ValueError):
                return
            if index >= 0 and index != running:
                end(True, None)  # the runner starts a cell only after the last succeeded
                start(index, count + 1, None)

        while True:
            wait = 1.0 if deadline is None else max(0.0, min(1.0, deadline - monotonic()))
            try:
                msg = await self.kc.get_iopub_msg(timeout=wait)
            except Empty:
                try:
                    await self._async_check_alive()
                except DeadKernelError:
                    started_last()
                    raise
                if deadline is not None and monotonic() >= deadline:
                    cell = cells[running if running is not None else code[0][0]]
                    raise CellTimeoutError.error_from_timeout_and_cell(
                        "Cell execution timed out", timeout or 0, cell
                    ) from None
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            mark = content.get("data", {}).get(CELL_MARK) if kind == "display_data" else None
            if isinstance(mark, dict) and mark.get("token") == token:
                if "end" in mark:
                    end(mark["ok"], msg)
                if "cell" in mark:
                    start(mark["cell"], mark["execution_count"], msg)
                continue
            if kind == "status":
                if content["execution_state"] == "idle":
                    break
                continue
            if kind != "execute_input" and running is not None:
                self.process_message(msg, cells[running], running)
        reply = await self.async_wait_for_reply(msg_id)
        if reply is not None and reply["content"]["status"] != "ok":
            content = reply["content"]
            raise KernelError(
                f"the kernel could not run the cells: {content.get('ename')}: {content.get('evalue')}"
            )
        if not failed:
            pass_to(len(cells))


def _ignore(msg: Any) -> None:
    """An output hook that drops what silent code prints."""


def _mark_stopped_cell(nb: Any, exc: BaseException) -> None:
    """Mark the cell execution stopped in (the last one started) as failed, with the error.

    papermill marks cells failed only for cell errors; a timeout leaves the hung cell
    "completed" and without output saying why.
    """
    from nbformat.v4 import new_output

    started = [
        c
        for c in nb.cells
        if c.cell_type == "code" and c.metadata.get("papermill", {}).get("start_time")
    ]
    if not started or any(c.metadata["papermill"].get("exception") for c in started):
        return  # nothing ran, or papermill already marked the failed cell
    cell = started[-1]
    cell.metadata["papermill"].update(exception=True, status="failed")
    evalue = str(exc).splitlines()[0] if str(exc) else ""
    cell.outputs.append(
        new_output("error", ename=type(exc).__name__, evalue=evalue, traceback=[evalue])
    )


class WarmKernel:
    """A kernel reused for up to ``max_uses`` notebooks, from one thread only.

    Call :meth:`acquire` for the kernel manager and client to hand papermill
    (``km=``, ``kc=``), then :meth:`release` with whether the notebook succeeded;
    :meth:`close` at the end. The kernel is started lazily, in the calling thread
    (its asyncio loop is that thread's, as nbclient's is).
    """

    def __init__(
        self,
        max_uses: int = DEFAULT_KERNEL_REUSE,
        kernel_name: str = "python3",
        timeout: float = 60.0,
    ) -> None:
        self.max_uses = max(1, max_uses)
        self.kernel_name = kernel_name
        self.timeout = timeout
        self.km: Any = None
        self.kc: Any = None
        self.uses = 0  # notebooks run on the current kernel
        self._dirty = False  # the kernel ran code since it was last reset
        self.started = 0  # kernels started over this object's life

    def acquire(self) -> tuple[Any, Any]:
        """The running kernel's manager and client, reset and ready for the next notebook."""
        from jupyter_core.utils import run_sync

        if self.km is not None and not run_sync(self.km.is_alive)():
            log.warning("kernel %s died; starting a new one", self.km.kernel_id)
            self.discard()
        if self.km is None:
            self._start()
        elif self._dirty:
            try:
                self._reset()
            except Exception as exc:
                log.warning("kernel reset failed (%s); starting a new one", exc)
                self.discard()
                self._start()
        self.uses += 1
        self._dirty = True
        return self.km, self.kc

    def warm(self, code: str) -> None:
        """Start the kernel now and run ``code`` in it (imports, say) before any notebook.

        The next :meth:`acquire` resets the kernel first, so nothing ``code`` defined
        reaches a notebook; what it imported stays loaded.
        """
        from jupyter_core.utils import run_sync

        if self.km is None:
            self._start()
        self._dirty = True  # the next acquire resets
        try:
            reply = run_sync(self.kc.execute_interactive)(
                code, silent=True, store_history=False, timeout=self.timeout, output_hook=_ignore
            )
        except Exception:  # a kernel that hung or died warming up is not kept
            self.discard()
            raise
        if reply["content"]["status"] != "ok":
            content = reply["content"]
            raise KernelError(f"warm-up failed: {content.get('ename')}: {content.get('evalue')}")

    def release(self, ok: bool) -> None:
        """After a notebook: keep the kernel for the next one, or retire it."""
        if not ok or self.uses >= self.max_uses:
            self.discard()

    def discard(self) -> None:
        """Shut the kernel down now; the next :meth:`acquire` starts a fresh one."""
        from jupyter_core.utils import run_sync

        km, kc, self.km, self.kc, self.uses = self.km, self.kc, None, None, 0
        if kc is not None:
            kc.stop_channels()
        if km is None:
            return
        try:
            run_sync(km.shutdown_kernel)(now=True)
        except Exception as exc:  # already dead, or its loop is gone: nothing to keep
            log.debug("kernel shutdown: %s", exc)
        try:
            run_sync(km.cleanup_resources)()
        except Exception as exc:
            log.debug("kernel cleanup: %s", exc)

    close = discard

    def __enter__(self) -> WarmKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        km = AsyncKernelManager(kernel_name=self.kernel_name)
        kc = None
        try:
            run_sync(km.start_kernel)(extra_arguments=list(KERNEL_ARGS))
            kc = km.client()
            kc.start_channels()
            run_sync(kc.wait_for_ready)(timeout=self.timeout)
        except Exception as exc:
            self.km, self.kc = km, kc
            self.discard()
            raise KernelError(f"cannot start kernel {self.kernel_name!r}: {exc}") from exc
        kc.allow_stdin = False
        self.km, self.kc, self.uses, self._dirty = km, kc, 0, False
        self.started += 1

    def _reset(self) -> None:
        from jupyter_core.utils import run_sync

        reply = run_sync(self.kc.execute_interactive)(
            RESET_CODE,
            silent=True,
            store_history=False,
            timeout=self.timeout,
            output_hook=_ignore,
        )
        if reply["content"]["status"] != "ok":
            content = reply["content"]
            raise KernelError(f"{content.get('ename')}: {content.get('evalue')}")
