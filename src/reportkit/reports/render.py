"""Turn executed report notebooks into offline HTML and A4 PDF files.

This module owns:

* the HTML exporter: nbconvert's ``HTMLExporter`` with reportkit's own template
  (``reportkit/templates/reportkit``, extending nbconvert's ``lab`` template). The
  output has no code, no prompts, no errors or stderr, images embedded as data URIs,
  one inline stylesheet and no external resources (no scripts, CDN or web fonts).
  Cells are dropped with tags: ``remove`` (or ``remove-cell``) drops a whole cell,
  ``remove-output`` drops a cell's outputs.
* :class:`PdfPrinter`: one headless Chromium (via playwright) kept open for a whole
  batch and safe to call from many threads; it runs in a private thread with its own
  asyncio loop, and up to ``max_pages`` PDFs print concurrently. Pages may not load
  anything from the network (http, https, ws, ftp requests are aborted).
* :func:`write_atomic` and :func:`ensure_dir`, used for every file and folder
  reportkit writes under ``outputs/``: atomic, and private (0600/0700, or
  0640/0750 for the group named by ``$REPORTKIT_GROUP``), the umask respected.
* the renderer registry (``html``, ``pdf``), like papermill's engines.

The Chromium binary is ``$REPORTKIT_CHROMIUM``, else ``/usr/bin/chromium``, else
``chromium`` / ``chromium-browser`` on ``PATH``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import nbformat
from jinja2 import BytecodeCache, Environment
from jinja2.bccache import Bucket
from nbconvert.exporters import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from nbconvert.utils.iso639_1 import iso639_1
from traitlets import default, validate
from traitlets.config import Config

from reportkit.errors import RenderError
from reportkit.files import write_atomic
from reportkit.layout import TEMPLATES
from reportkit.reports.html import IDENTITY_MIME, MASKED_MIME

__all__ = [
    "CellIdPreprocessor",
    "MaskedNamesPreprocessor",
    "PdfPrinter",
    "Renderer",
    "StripErrorsPreprocessor",
    "find_chromium",
    "get_renderer",
    "html_exporter",
    "number_cells",
    "register_renderer",
    "render_html",
    "render_pdf",
    "set_pdf_dates",
]

REMOVE_CELL_TAGS = frozenset({"remove", "remove-cell"})
REMOVE_OUTPUT_TAGS = frozenset({"remove-output"})
CHROMIUM_ENV = "REPORTKIT_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 10.0
"""Seconds to close a page, or the browser, before giving up on it."""
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
CHROMIUM_ARGS += ["--disable-background-networking", "--disable-component-update", "--disable-quic"]
CHROMIUM_ARGS += ["--disable-dev-shm-usage"]  # Docker's 64 MB /dev/shm crashes long pages
FOOTER_TEMPLATE = (
    '<div style="width:100%;text-align:center;font-size:8px;color:#666;'
    "font-family:'Noto Sans CJK SC',sans-serif;\">"
    '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
)
PDF_MARGIN = {"top": "14mm", "right": "11mm", "bottom": "16mm", "left": "11mm"}
# nbconvert's HTML priority minus JavaScript, widgets and mermaid (all need scripts).
DISPLAY_PRIORITY = ["text/html", "text/markdown", "image/svg+xml", "text/latex"]
DISPLAY_PRIORITY += ["image/png", "image/jpeg", "text/plain"]
NotebookLike = nbformat.NotebookNode | str | Path


# ---------------------------------------------------------------------------- HTML


class StripErrorsPreprocessor(Preprocessor):
    """Drop ``error`` outputs and ``stderr`` streams: readers never see tracebacks."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            cell.outputs = [
                out
                for out in cell.outputs
                if out.output_type != "error"
                and not (out.output_type == "stream" and out.get("name") == "stderr")
            ]
        return cell, resources


def number_cells(nb: Any) -> None:
    """Give every cell the id ``cell-<position>`` (deterministic, unique, valid)."""
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5):
        return  # ids exist from nbformat 4.5 on
    width = max(2, len(str(len(nb.cells) - 1)))
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index:0{width}d}"


class CellIdPreprocessor(Preprocessor):
    """Number the cells (``cell-00`` …): the HTML shows cell ids, and nbformat makes
    random ones, so the same content would render to different bytes."""

    def preprocess(self, nb, resources):
        number_cells(nb)
        return nb, resources


class MaskedNamesPreprocessor(Preprocessor):
    """Show each output's masked HTML (names as 张*丽) where a section gave one.

    Sections that show names carry the masked fragment under
    :data:`reportkit.reports.MASKED_MIME`; every other output is left as it is.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            for out in cell.outputs:
                data = out.get("data")
                if data is not None and MASKED_MIME in data:
                    data["text/html"] = data[MASKED_MIME]
        return cell, resources


class _TemplateCode(BytecodeCache):
    """Compiled templates shared by every exporter of the process.

    Exporters are per thread (see :func:`html_exporter`) and each has its own Jinja
    environment; without this each worker thread of every batch would parse and
    compile the same templates again (about 0.11 s of CPU a thread). Jinja keys the code by
    template name and checks it against the source's checksum, so an edited template
    is compiled anew.
    """

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_TEMPLATE_CODE = _TemplateCode()


class ReportHTMLExporter(HTMLExporter):
    """``HTMLExporter`` using reportkit's template; accepts BCP 47 tags like ``zh-CN``."""

    def _create_environment(self) -> Environment:
        environment = super()._create_environment()
        environment.bytecode_cache = _TEMPLATE_CODE
        return environment

    @default("template_name")
    def _template_name_default(self) -> str:
        return "reportkit"

    @default("extra_template_basedirs")
    def _default_extra_template_basedirs(self) -> list[str]:
        return [str(TEMPLATES)]

    @validate("language_code")
    def _valid_language_code(self, proposal: Any) -> str:
        # nbconvert only accepts bare ISO 639-1 codes; ``<html lang>`` wants "zh-CN".
        value = proposal["value"]
        if not re.fullmatch(r"[A-Za-z]{2}(-[A-Za-z0-9]{2,8})*", value) or (
            value[:2].lower() not in iso639_1
        ):
            raise RenderError(f"Not a language tag: {value!r} (use e.g. 'zh-CN' or 'en')")
        return value


_local = threading.local()


def _exporter_config(lang: str) -> Config:
    return Config(
        {
            "HTMLExporter": {
                "exclude_input": True,
                "exclude_input_prompt": True,
                "exclude_output_prompt": True,
                "exclude_anchor_links": True,
                "embed_images": True,
                "language_code": lang,
                # the notebook is validated once, after the last preprocessor, instead
                # of after each (nbconvert's default): about 17 ms less a report
                "optimistic_validation": True,
            },
            "NbConvertBase": {
                "display_data_priority": list(DISPLAY_PRIORITY),
            },
            "TagRemovePreprocessor": {
                "enabled": True,
                "remove_cell_tags": set(REMOVE_CELL_TAGS),
                "remove_all_outputs_tags": set(REMOVE_OUTPUT_TAGS),
            },
            "CSSHTMLHeaderPreprocessor": {"enabled": False},  # pygments CSS: no code shown
        }
    )


def html_exporter(lang: str = "zh-CN", *, masked: bool = False) -> HTMLExporter:
    """Return this thread's reusable exporter for ``lang`` (``<html lang="...">``);
    ``masked``: one that shows names masked (:class:`MaskedNamesPreprocessor`).

    Exporters are cached per thread (nbconvert exporters keep per-call state), so the
    result may be reused freely from the calling thread.
    """
    cache: dict[tuple[str, bool], HTMLExporter] = _local.__dict__.setdefault("exporters", {})
    exporter = cache.get((lang, masked))
    if exporter is None:
        exporter = ReportHTMLExporter(config=_exporter_config(lang))
        if masked:
            exporter.register_preprocessor(MaskedNamesPreprocessor(), enabled=True)
        cache[(lang, masked)] = exporter
    return exporter


def _title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The page's (and so the PDF's) title: the report's own, in its language, from its
    title section's identity; else the notebook's title, its first heading, ``fallback``."""
    for cell in nb.cells:
        for out in cell.get("outputs", ()):
            identity = (out.get("data") or {}).get(IDENTITY_MIME)
            if isinstance(identity, dict) and identity.get("title"):
                return str(identity["title"])
    if nb.metadata.get("title"):
        return str(nb.metadata["title"])
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


def render_html(nb: NotebookLike, lang: str = "zh-CN", *, masked: bool = False) -> str:
    """Render a notebook (node, or path to an ``.ipynb``) to one self-contained HTML page;
    ``masked``: with names masked where the sections gave a masked rendering."""
    path: Path | None = None
    if isinstance(nb, nbformat.NotebookNode):
        node = nb
    else:
        path = Path(nb)
        try:
            node = nbformat.read(path, as_version=4)
        except (OSError, ValueError) as exc:
            raise RenderError(f"Cannot read notebook {path}: {exc}") from exc
    resources = {
        "metadata": {
            "name": _title(node, path.stem if path else "report"),
            "path": str(path.parent) if path else "",
        }
    }
    try:
        body, _ = html_exporter(lang, masked=masked).from_notebook_node(node, resources=resources)
    except RenderError:
        raise
    except Exception as exc:
        where = f" {path}" if path else ""
        raise RenderError(f"Cannot render notebook{where} to HTML: {exc}") from exc
    return body


# ----------------------------------------------------------------------------- PDF


def find_chromium(executable: str | Path | None = None) -> str:
    """Locate the Chromium binary; raise :class:`RenderError` if there is none."""
    chosen = executable or os.environ.get(CHROMIUM_ENV)
    if chosen:
        if Path(chosen).is_file() and os.access(chosen, os.X_OK):
            return str(chosen)
        raise RenderError(
            f"Chromium not found at {chosen} (from {'argument' if executable else CHROMIUM_ENV}); "
            "install it with `apt-get install chromium` or point REPORTKIT_CHROMIUM at it"
        )
    for candidate in (DEFAULT_CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise RenderError(
        "No Chromium browser found (looked for $REPORTKIT_CHROMIUM, /usr/bin/chromium, "
        "chromium, chromium-browser); PDF output needs it: `apt-get install chromium`"
    )


def print_slots(cpus: int | None = None) -> int:
    """How many PDFs one Chromium prints at once by default: half the CPUs, 1 to 4.

    A print keeps Chromium busy on more than one core (its renderer, a print
    compositor it starts for each PDF, the browser process), and prints that overlap
    on a busy machine cost it more: the demo's 29 reports printed two at a time on 2
    CPUs took 20-45 % more of Chromium's CPU time than one after another, and a batch
    of ``--jobs 2`` finished no later with one print at a time. A print is under half
    of a report's core-seconds, so half the CPUs keeps printing off the critical path
    of a batch with as many jobs as CPUs.
    """
    cpus = cpus or os.cpu_count() or 1
    return max(1, min(4, cpus // 2))


class PdfPrinter:
    """One headless Chromium for a whole batch; ``print_*`` may be called from any thread.

    Playwright's API is not thread-safe, so the browser lives in a private thread that
    runs an asyncio loop; callers hand it jobs and block on the result. Up to
    ``max_pages`` pages (default :func:`print_slots`) print at once; other callers
    wait their turn. The browser starts on ``__enter__``/:meth:`start` or the first
    print, and is relaunched if it crashes. Use as a context manager, or call
    :meth:`close`.

    A page is reused for up to ``page_uses`` prints (a new page in a new context costs
    about 0.5 s more per PDF): each print replaces the whole document, and pages run
    no JavaScript, so nothing of one report stays for the next. A page whose print
    failed is closed, never reused.
    """

    def __init__(
        self,
        executable: str | Path | None = None,
        *,
        max_pages: int | None = None,
        timeout: float = 120.0,
        page_uses: int = 50,
    ) -> None:
        self.executable = executable
        self.max_pages = max_pages or print_slots()
        self.timeout = timeout
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._playwright: Any = None
        self._browser: Any = None
        # Bound to the printer's loop on first use (Python >= 3.10).
        self._slots = asyncio.Semaphore(self.max_pages)
        self._relaunch = asyncio.Lock()
        self._exe = ""
        self.page_uses = page_uses
        self._idle: list[tuple[Any, int]] = []  # pages ready for the next print, with uses

    def __enter__(self) -> PdfPrinter:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> PdfPrinter:
        """Launch the browser (idempotent); raises :class:`RenderError` if it cannot."""
        with self._lock:
            if self._closed:
                raise RenderError("PdfPrinter is closed")
            if self._loop is not None:
                return self
            exe = find_chromium(self.executable)
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=self._run_loop, args=(loop,), name="reportkit-pdf", daemon=True
            )
            thread.start()
            try:
                asyncio.run_coroutine_threadsafe(self._launch(exe), loop).result(self.timeout)
            except BaseException as exc:
                loop.call_soon_threadsafe(loop.stop)
                thread.join()
                if isinstance(exc, RenderError) or not isinstance(exc, Exception):
                    raise
                raise RenderError(f"Cannot start Chromium ({exe}): {exc}") from exc
            self._loop, self._thread = loop, thread
        return self

    def print_html(
        self, html: str, out_path: Path | str, *, created: datetime | None = None
    ) -> Path:
        """Print an HTML document to an A4 PDF at ``out_path`` (written atomically).

        ``created``: the time the PDF says it was made (see :func:`set_pdf_dates`)."""
        return write_atomic(Path(out_path), self.pdf_bytes(html, created=created, name=out_path))

    def pdf_bytes(
        self, html: str, *, created: datetime | None = None, name: object = "a PDF"
    ) -> bytes:
        """Print an HTML document to the bytes of an A4 PDF; ``created``: its dates."""
        data = self._print_bytes(name, html=html)
        return set_pdf_dates(data, created) if created is not None else data

    def print_file(self, html_path: Path | str, out_path: Path | str) -> Path:
        """Print an HTML file (opened via ``file://``) to an A4 PDF at ``out_path``."""
        html_path = Path(html_path).resolve()
        if not html_path.is_file():
            raise RenderError(f"No such HTML file: {html_path}")
        return self._print(out_path, url=html_path.as_uri())

    def close(self) -> None:
        """Close the browser and stop the worker thread. Safe to call twice."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            self._closed = True
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(CLOSE_TIMEOUT + 5)
        except Exception as exc:  # a browser stuck on a page: it ends with this process
            log.warning(
                "Chromium did not close cleanly (%s); it ends with this process",
                str(exc) or type(exc).__name__,
            )
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()

    # -- internals (the coroutines below run on the printer's own thread) --

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def _print(
        self, out_path: Path | str, *, html: str | None = None, url: str | None = None
    ) -> Path:
        return write_atomic(Path(out_path), self._print_bytes(out_path, html=html, url=url))

    def _print_bytes(
        self, out_path: object, *, html: str | None = None, url: str | None = None
    ) -> bytes:
        self.start()
        loop = self._loop
        if loop is None:
            raise RenderError("PdfPrinter is closed")
        started = threading.Event()  # set once the print has a page
        future = asyncio.run_coroutine_threadsafe(self._pdf_bytes(html, url, started), loop)
        try:
            # the wait for a free page does not count against this print's timeout:
            # behind a print that hangs, the others wait for its page, they do not fail
            while not started.wait(0.25) and not future.done():
                if self._loop is None:
                    future.cancel()
                    raise RenderError(f"Cannot print {out_path}: the PdfPrinter was closed")
            # the print times out in the loop (its page then closed within CLOSE_TIMEOUT)
            data = future.result(self.timeout + CLOSE_TIMEOUT + 5)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise RenderError(f"Printing {out_path} timed out after {self.timeout:.0f} s") from exc
        except RenderError:
            raise
        except Exception as exc:
            raise RenderError(f"Cannot print {out_path}: {exc}") from exc
        return data

    async def _launch(self, exe: str) -> None:
        from playwright.async_api import async_playwright

        self._exe = exe
        self._playwright = await async_playwright().start()
        try:
            await self._launch_browser()
        except BaseException:
            await self._playwright.stop()
            raise

    async def _launch_browser(self) -> None:
        self._browser = await self._playwright.chromium.launch(
            executable_path=self._exe,
            args=CHROMIUM_ARGS,
            handle_sigint=False,
            handle_sigterm=False,
            handle_sighup=False,
        )

    async def _pdf_bytes(
        self, html: str | None, url: str | None, started: threading.Event | None = None
    ) -> bytes:
        async with self._slots:
            if started is not None:
                started.set()
            if not self._browser.is_connected():  # Chromium died mid-batch: start a new one
                async with self._relaunch:
                    if not self._browser.is_connected():
                        self._idle.clear()
                        await self._launch_browser()
            page, uses = self._idle.pop() if self._idle else (await self._new_page(), 0)
            ok = False
            try:
                data = await asyncio.wait_for(self._print_page(page, html, url), self.timeout)
                ok = True
                return data
            finally:
                if ok and uses + 1 < self.page_uses:
                    self._idle.append((page, uses + 1))
                else:  # bounded: a page stuck loading must not keep its slot
                    with contextlib.suppress(Exception):  # its browser may be gone
                        await asyncio.wait_for(page.context.close(), CLOSE_TIMEOUT)

    @staticmethod
    async def _print_page(page: Any, html: str | None, url: str | None) -> bytes:
        if html is not None:
            await page.set_content(html, wait_until="load")
        else:
            await page.goto(url, wait_until="load")
        data: bytes = await page.pdf(
            format="A4",
            print_background=True,
            display_header_footer=True,
            header_template="<span></span>",
            footer_template=FOOTER_TEMPLATE,
            margin=PDF_MARGIN,
        )
        return data

    async def _new_page(self) -> Any:
        # A context of its own, without JavaScript (reports have none), offline.
        context = await self._browser.new_context(java_script_enabled=False)
        await context.route(_NETWORK, _refuse)
        return await context.new_page()

    async def _shutdown(self) -> None:
        self._idle.clear()
        try:
            if self._browser is not None:
                await asyncio.wait_for(self._browser.close(), CLOSE_TIMEOUT)
        finally:
            if self._playwright is not None:
                await asyncio.wait_for(self._playwright.stop(), CLOSE_TIMEOUT)
        self._browser = self._playwright = None


_NETWORK = re.compile(r"^(https?|wss?|ftp)://")
_PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \((D:\d{14}(?:Z|[+-]\d{2}'\d{2}'?))\)")


def set_pdf_dates(data: bytes, created: datetime) -> bytes:
    """Chromium's PDF with its CreationDate and ModDate set to ``created``.

    Chromium writes the time of printing, so the same report printed twice differs;
    with the run's time the bytes are the same. The dates are rewritten in place with
    the same length (the cross-reference offsets stay valid); a date of another form
    is left as it is. ``created`` should be aware (naive means UTC).
    """
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)

    def stamp(match: re.Match[bytes]) -> bytes:
        old = match.group(2)
        if old.endswith(b"Z"):
            new = created.astimezone(UTC).strftime("D:%Y%m%d%H%M%SZ")
        else:
            offset = created.strftime("%z") or "+0000"
            new = created.strftime("D:%Y%m%d%H%M%S") + f"{offset[:3]}'{offset[3:]}'"
            if not old.endswith(b"'"):
                new = new[:-1]
        encoded = new.encode("ascii")
        if len(encoded) != len(old):
            return match.group(0)
        return b"/" + match.group(1) + b" (" + encoded + b")"

    return _PDF_DATE.sub(stamp, data)


async def _refuse(route: Any) -> None:
    await route.abort()


def render_pdf(
    html: str,
    out_path: Path | str,
    printer: PdfPrinter | None = None,
    *,
    created: datetime | None = None,
) -> Path:
    """Print ``html`` to an A4 PDF; pass a started :class:`PdfPrinter` in batches."""
    if printer is not None:
        return printer.print_html(html, out_path, created=created)
    with PdfPrinter() as own:
        return own.print_html(html, out_path, created=created)


# ------------------------------------------------------------------------ registry


class Renderer(Protocol):
    """Writes one output file for an executed notebook and returns its path.

    Called as ``fn(nb, out_path, lang=..., printer=...)``; renderers ignore options
    they do not use (``html`` ignores ``printer``).
    """

    def __call__(
        self, nb: NotebookLike, out_path: Path, *, lang: str = ..., printer: PdfPrinter | None = ...
    ) -> Path: ...


_RENDERERS: dict[str, Renderer] = {}


def register_renderer(name: str, fn: Renderer | Callable[..., Path]) -> None:
    """Register (or replace) the renderer for output format ``name``."""
    _RENDERERS[name] = fn


def get_renderer(name: str) -> Renderer:
    """Return the renderer for ``name``; raise :class:`RenderError` if unknown."""
    try:
        return _RENDERERS[name]
    except KeyError:
        known = ", ".join(sorted(_RENDERERS))
        raise RenderError(f"No renderer named {name!r}; known: {known}") from None


def _html_renderer(nb: NotebookLike, out_path: Path, *, lang: str = "zh-CN", **_: Any) -> Path:
    return write_atomic(out_path, render_html(nb, lang))


def _pdf_renderer(
    nb: NotebookLike, out_path: Path, *, lang: str = "zh-CN", printer: PdfPrinter | None = None
) -> Path:
    return render_pdf(render_html(nb, lang), out_path, printer)


register_renderer("html", _html_renderer)
register_renderer("pdf", _pdf_renderer)
