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

What stays warm is what is imported (``sys.modules``), nothing a notebook made.
``max_uses=1`` gives a fresh kernel per report.
"""

from __future__ import annotations

import logging
from typing import Any

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.utils import merge_kwargs, remove_args

from reportkit.context import DEFAULT_KERNEL_REUSE
from reportkit.errors import ReportkitError

__all__ = [
    "ENGINE",
    "KERNEL_ARGS",
    "RESET_CODE",
    "KernelError",
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
        client = PapermillNotebookClient(nb_man, km=km, **merge_kwargs(kwargs, **options))
        client.kc = kc  # nbclient starts a client only when it has none
        try:
            return client.execute()
        finally:
            if kc is None and client.kc is not None:
                client.kc.stop_channels()
            client.kc = None


papermill_engines.register(ENGINE, WarmKernelEngine)


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
