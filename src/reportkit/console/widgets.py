"""The ipywidgets console of the data officer, and the controls of a school report.

:class:`Console` wires controls (district, school, date, class, fever threshold,
view, search, sort) to a :class:`~reportkit.console.ConsoleModel`, which holds the
data and builds the tables; a change of a control re-slices the frames in memory
(a new date loads from the store, a new threshold recomputes the findings). The
officer records follow-ups (:mod:`reportkit.store.followup_log`), renders a school's report
and exports the table shown. :func:`school_controls` is the same console fixed to
one school and date, for ``school_daily.ipynb`` opened interactively (papermill
runs never import this module). Important widgets carry a stable CSS class
(``rk-school``, ``rk-table`` …) for browser tests and styling.
"""

from __future__ import annotations

import base64
import html
import mimetypes
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd

from reportkit.config import project_settings
from reportkit.console.views import COLUMNS, VIEWS, ConsoleModel
from reportkit.errors import FollowupError
from reportkit.i18n import t
from reportkit.privacy import mask_phone, mask_phones
from reportkit.store import ACTIONS

__all__ = ["Console", "school_controls", "table_html", "trend_svg"]

MAX_ROWS = 500  # rows of a table sent to the browser; an export has all

_CSS = """<style>
.rk-console { font-size: 13px; }
.rk-console .rk-title h3 { margin: 4px 0 8px; }
.rk-console .rk-grid { border-collapse: collapse; width: 100%; }
.rk-console .rk-grid th { position: sticky; top: 0; background: #eef2f7; text-align: left;
  padding: 4px 8px; border-bottom: 2px solid #c9d3e0; white-space: nowrap; }
.rk-console .rk-grid td { padding: 3px 8px; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
.rk-console .rk-grid tr:nth-child(even) td { background: #fafbfc; }
.rk-console .rk-c-followup { color: #1d4ed8; }
.rk-console td.rk-c-school, .rk-console td.rk-c-class, .rk-console td.rk-c-name,
.rk-console td.rk-c-level, .rk-console td.rk-c-person_id { white-space: nowrap; }
.rk-console .rk-counts { font-weight: 600; }
.rk-console .rk-links a { color: #1d4ed8; text-decoration: underline; }
.rk-console .rk-error { color: #b91c1c; }
.rk-console .rk-ok { color: #15803d; }
.rk-console .rk-empty, .rk-console .rk-note { color: #6b7280; }
.rk-console .rk-section { border-top: 1px solid #e5e7eb; margin-top: 6px; padding-top: 6px; }
.rk-console .rk-board-cells { display: flex; align-items: center; height: 100%; }
.rk-console .rk-b { display: inline-block; padding: 0 6px; white-space: nowrap; }
.rk-console .rk-b-submission { width: 8.5em; }
.rk-console .rk-b-time_left { width: 10em; color: #6b7280; }
.rk-console .rk-b-reported, .rk-console .rk-b-fever, .rk-console .rk-b-suspected { width: 5.5em; }
.rk-console .rk-board-head { font-weight: 600; color: #374151; }
.rk-console .rk-st-missing { color: #b91c1c; font-weight: 600; }
.rk-console .rk-st-late { color: #b45309; font-weight: 600; }
.rk-console .rk-st-on_time { color: #15803d; }
.rk-console .rk-board-school button, .rk-console button.rk-board-school { text-align: left; }
.rk-console .rk-trend { width: 100%; max-width: 640px; height: auto; }
.rk-console .rk-classes { width: auto; }
</style>"""


_DOWNLOAD_MAX = 10 * 2**20  # bytes sent to the browser in a download link


def _cell(value: Any, lang: str) -> str:
    if value is None or (not isinstance(value, tuple | list) and pd.isna(value)):
        return ""
    if isinstance(value, bool):
        return t("yes" if value else "no", lang)
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def table_html(frame: pd.DataFrame, name: str, lang: str = "zh-CN", limit: int = MAX_ROWS) -> str:
    """A view's shown rows as an escaped HTML table (at most ``limit`` rows)."""
    columns = COLUMNS[name]
    if frame.empty:
        return f'<p class="rk-empty">{html.escape(t("none", lang))}</p>'
    head = "".join(f"<th>{html.escape(t(c, lang))}</th>" for c in columns)
    body = []
    for record in frame[columns].head(limit).itertuples(index=False):
        cells = []
        for col, value in zip(columns, record, strict=True):
            # phone numbers are never shown, not even in an officer's note
            text = mask_phone(value) if col == "phone" else mask_phones(_cell(value, lang))
            cells.append(f'<td class="rk-c-{col}">{html.escape(text)}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    note = ""
    if len(frame) > limit:
        note = f'<p class="rk-note">{html.escape(t("rows_truncated", lang, shown=limit, n=len(frame)))}</p>'
    return (
        f'<table class="rk-grid"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{note}"
    )


def _msg(text: str, kind: str = "ok") -> str:
    return f'<span class="rk-{kind}">{html.escape(text)}</span>'


def _link(path: Path, lang: str, label: str | None = None) -> str:
    """The file as a link named for what it is (its path in the tooltip), relative to the
    kernel's folder (the notebook's: JupyterLab opens it), and, when small, a download
    link carrying the bytes (works in Voilà too)."""
    path = Path(path).resolve()
    rel = Path(os.path.relpath(path, Path.cwd().resolve())).as_posix()
    shown = label or path.name
    text = (
        f'<a class="rk-file" href="{html.escape(rel, quote=True)}" target="_blank" '
        f'rel="noopener" title="{html.escape(str(path), quote=True)}">{html.escape(shown)}</a>'
    )
    if path.stat().st_size <= _DOWNLOAD_MAX:
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        text += (
            f' <a class="rk-download" href="data:{mime};base64,{data}" '
            f'download="{html.escape(path.name, quote=True)}">[{html.escape(t("download", lang))}]</a>'
        )
    return text


_BOARD_COLUMNS = ("submission", "time_left", "reported", "fever", "suspected")
_CLASS_COLUMNS = ("class", "expected", "reported", "missing", "absent", "fever", "symptomatic")


def board_row_html(row: Any) -> str:
    """One school's cells of the board (after its button), in fixed-width spans."""
    status = html.escape(str(row["_status"]))
    cells = "".join(
        f'<span class="rk-b rk-b-{c}{" rk-st-" + status if c == "submission" else ""}">'
        f"{html.escape(str(row[c]))}</span>"
        for c in _BOARD_COLUMNS
    )
    return f'<div class="rk-board-cells">{cells}</div>'


def board_head_html(lang: str) -> str:
    labels = {"time_left": "deadline", "reported": "reported"}
    cells = "".join(
        f'<span class="rk-b rk-b-{c}">{html.escape(t(labels.get(c, c), lang))}</span>'
        for c in _BOARD_COLUMNS
    )
    return f'<div class="rk-board-cells rk-board-head">{cells}</div>'


def class_table_html(frame: pd.DataFrame, lang: str, heading: str) -> str:
    """A school's classes as an escaped HTML table under ``heading``."""
    if frame.empty:
        return ""
    columns = list(_CLASS_COLUMNS)
    if "head_teacher" in frame and (frame["head_teacher"].fillna("") != "").any():
        columns.insert(1, "head_teacher")  # only where a roster named one
    head = "".join(f"<th>{html.escape(t(c, lang))}</th>" for c in columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v, lang))}</td>" for v in r) + "</tr>"
        for r in frame[columns].itertuples(index=False)
    )
    return (
        f"<h4>{html.escape(heading)}</h4>"
        f'<table class="rk-grid rk-classes"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
    )


def trend_svg(trend: pd.DataFrame, lang: str) -> str:
    """The 14-day trend as inline SVG, the reports' own chart
    (:func:`reportkit.reports.svgchart.trend_svg`): a few milliseconds, sharp at any
    density, both axes and the dates labelled."""
    from reportkit.reports import report_chart

    return report_chart(trend, lang)


class Console:
    """The officer's console over a :class:`ConsoleModel`; display it, or its ``widget``.

    ``fixed`` pins the school and date (a school report's controls).
    """

    def __init__(self, model: ConsoleModel, report_date: date | None = None, fixed: bool = False):
        self.model = model
        self.lang = lang = model.lang
        self.last_seconds = 0.0
        self._holding = 0
        model.set_date(report_date or model.latest_date() or date.today())
        wide = {"description_width": "initial"}
        config = model.config
        ids = set(model.school_ids)
        districts = [  # every unit of the tree with a school shown here
            d for d in config.districts_by_id.values() if ids & set(config.schools_under(d.id))
        ]

        self.district = w.Dropdown(
            options=([] if fixed else [(t("all_districts", lang), "")])
            + [(d.name, d.id) for d in districts],
            description=t("district", lang),
            disabled=fixed,
            style=wide,
        )
        self.school = w.Dropdown(description=t("school", lang), disabled=fixed, style=wide)
        self.day = w.DatePicker(
            value=model.day, description=t("date", lang), disabled=fixed, style=wide
        )
        self.klass = w.Dropdown(description=t("class", lang), style=wide)
        lo, hi = min(37.0, model.threshold), max(38.5, model.threshold)
        self.threshold = w.FloatSlider(
            value=model.threshold,
            min=lo,
            max=hi,
            step=0.1,
            readout_format=".1f",
            continuous_update=False,
            description=t("fever_threshold", lang),
            style=wide,
        )
        self.view = w.ToggleButtons(
            options=[(t(f"view_{v}", lang), v) for v in VIEWS],
            value="attention",
            style={"button_width": "auto"},
        )
        self.search = w.Text(
            placeholder=t("search_placeholder", lang),
            description=t("search", lang),
            style=wide,
        )
        self.sort_by = w.Dropdown(description=t("sort_by", lang), style=wide)
        self.ascending = w.Checkbox(value=True, description=t("ascending", lang), indent=False)
        self.counts = w.HTML()
        self.table = w.HTML(layout=w.Layout(max_height="460px", overflow="auto"))
        self.person = w.Dropdown(
            description=t("person", lang), style=wide, layout=w.Layout(width="340px")
        )
        self.action = w.Dropdown(
            options=[(t(f"action_{a}", lang), a) for a in ACTIONS],
            description=t("action", lang),
            style=wide,
        )
        self.officer = w.Text(
            placeholder=t("officer_placeholder", lang),
            description=t("officer", lang),
            style=wide,
        )
        self.note = w.Textarea(
            placeholder=t("note_placeholder", lang),
            description=t("note", lang),
            style=wide,
            layout=w.Layout(width="60%", height="56px"),
        )
        self.record = w.Button(description=t("record", lang), button_style="primary", icon="check")
        self.message = w.HTML()
        self.render = w.Button(description=t("render", lang), icon="file")
        self.export = w.Button(description=t("export", lang), icon="download")
        self.links = w.HTML()
        self.reload = w.Button(description=t("reload", lang), icon="refresh")
        # the day at a glance: every school's submission (a click opens its lists), the
        # 14-day trend of the schools selected, the classes of the school selected
        self._board_rows: dict[str, tuple[w.Button, w.HTML]] = {}
        for sid in model.school_ids:
            button = w.Button(
                description=config.school(sid).name,
                tooltip=t("open_school", lang),
                layout=w.Layout(width="15em"),
            )
            button.add_class("rk-board-school")
            button.on_click(lambda _b, sid=sid: self.open_school(sid))
            self._board_rows[sid] = (button, w.HTML())
        self.board = w.GridBox(
            [], layout=w.Layout(grid_template_columns="15em auto", grid_gap="2px 6px")
        )
        self.chart = w.HTML()
        self.class_table = w.HTML()
        self._chart_key: tuple[Any, ...] | None = None
        names = ["district", "school", "day", "klass", "threshold", "view", "search"]
        names += ["sort_by", "ascending", "counts", "table", "person", "action", "officer"]
        names += ["note", "record", "message", "render", "export", "links", "reload"]
        names += ["board", "chart", "class_table"]
        for name in names:
            getattr(self, name).add_class(f"rk-{name.replace('_', '-')}")
        self.day.add_class("rk-date")
        self.klass.add_class("rk-class")

        title = w.HTML(
            f"<h3>{html.escape(t('console_title', lang))}</h3>", _dom_classes=["rk-title"]
        )
        row = w.HBox
        self.widget = w.VBox(
            [
                w.HTML(_CSS),
                title,
                row([self.district, self.school, self.day, self.klass, self.reload]),
                w.VBox(
                    [
                        w.HTML(f"<h4>{html.escape(t('board', lang))}</h4>"),
                        row([w.HTML(layout=w.Layout(width="15em")), w.HTML(board_head_html(lang))]),
                        self.board,
                        row([self.chart, self.class_table]),
                    ],
                    _dom_classes=["rk-section", "rk-overview"],
                ),
                row([self.threshold, self.search]),
                self.view,
                row([self.counts, self.sort_by, self.ascending]),
                self.table,
                w.VBox(
                    [
                        row([self.person, self.action, self.officer]),
                        row([self.note, self.record]),
                        self.message,
                    ],
                    _dom_classes=["rk-section"],
                ),
                w.VBox([row([self.render, self.export]), self.links], _dom_classes=["rk-section"]),
            ]
        )
        self.widget.add_class("rk-console")

        with self._hold():
            self._fill_schools()
            self._fill_sort()
        self.district.observe(self._on_district, "value")
        self.school.observe(self._on_school, "value")
        self.day.observe(self._on_day, "value")
        self.threshold.observe(self._on_threshold, "value")
        self.view.observe(self._on_view, "value")
        for control in (self.klass, self.search, self.sort_by, self.ascending):
            control.observe(lambda _change: self.refresh(), "value")
        self.record.on_click(self._on_record)
        self.render.on_click(self._on_render)
        self.export.on_click(self._on_export)
        self.reload.on_click(lambda _button: self._timed(self._reload))
        self.refresh()

    # -- construction -------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        db: str | None = None,
        params_dir: str | Path | None = None,
        outputs: str | Path | None = None,
        lang: str = "zh-CN",
        school_ids: list[str] | None = None,
        report_date: date | str | None = None,
    ) -> Console:
        """The console on a deployment: arguments, else ``REPORTKIT_*``, else the project's."""
        settings = project_settings(db, params_dir, outputs)
        model = ConsoleModel(settings, lang=lang, school_ids=school_ids)
        if isinstance(report_date, str):
            report_date = date.fromisoformat(report_date)
        return cls(model, report_date)

    @classmethod
    def for_report(
        cls, report: Any, db: str | None = None, params_dir: str | Path | None = None
    ) -> Console:
        """The console fixed to a :class:`~reportkit.reports.SchoolReport`'s school and date."""
        settings = project_settings(
            db or getattr(report, "db", None), params_dir or getattr(report, "params_dir", None)
        )
        model = ConsoleModel(settings, lang=report.lang, school_ids=[report.school.id])
        return cls(model, report.findings.date, fixed=True)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- state ----------------------------------------------------------------------------

    @contextmanager
    def _hold(self) -> Iterator[None]:
        """Change several controls with one refresh at the end (by the caller)."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1

    def _fill_schools(self) -> None:
        config, ids = self.model.config, self.model.school_ids
        schools = [config.school(s) for s in ids]
        if self.district.value:
            under = set(config.schools_under(self.district.value))
            schools = [s for s in schools if s.id in under]
        options = [(f"{s.name} ({s.id})", s.id) for s in schools]
        if len(ids) > 1:
            options.insert(0, (t("all_schools", self.lang), ""))
        self.school.options = options
        self.school.value = options[0][1]
        self._fill_classes()

    def _fill_classes(self) -> None:
        pairs = self.model.classes(self.school.value) if self.school.value else []
        self.klass.options = [(t("all_classes", self.lang), "")] + [
            (" ".join(p for p in pair if p), pair) for pair in pairs
        ]
        self.klass.value = ""
        self.klass.disabled = not pairs
        self.render.disabled = not self.school.value

    def _fill_sort(self) -> None:
        self.sort_by.options = [(t("sort_default", self.lang), "")] + [
            (t(c, self.lang), c) for c in COLUMNS[self.view.value]
        ]
        self.sort_by.value = ""

    def selected_schools(self) -> list[str] | None:
        """The school ids the school and district controls select (None: every school)."""
        if self.school.value:
            return [self.school.value]
        if self.district.value:
            config = self.model.config
            under = set(config.schools_under(self.district.value))
            return [s for s in self.model.school_ids if s in under]
        return None

    def refresh(self) -> None:
        """Show the selected view with the controls' filters; records the time it took."""
        if self._holding:
            return
        started = time.perf_counter()
        name = self.view.value
        self.shown = self.model.select(
            name,
            self.selected_schools(),
            self.klass.value or None,
            self.search.value,
            self.sort_by.value or None,
            self.ascending.value,
        )
        self.counts.value = html.escape(self.model.counts(name, self.shown))
        self.table.value = table_html(self.shown, name, self.lang)
        current = self.person.value
        options = self.model.people_of(self.shown)
        self.person.options = options
        values = [v for _, v in options]
        self.person.value = current if current in values else (values[0] if values else None)
        self._refresh_overview()
        self.last_seconds = time.perf_counter() - started

    def _refresh_overview(self) -> None:
        """The board (values changed only where they changed), the trend, the classes."""
        chosen = self.selected_schools()
        in_district = None  # the board: every school of the district chosen, or all
        if self.district.value:
            config = self.model.config
            in_district = [
                s for s in self.model.school_ids if config.school(s).district == self.district.value
            ]
        board = self.model.board(in_district)
        rows = []
        for record in board.to_dict("records"):
            button, cells = self._board_rows[record["_school_id"]]
            value = board_row_html(record)
            if cells.value != value:
                cells.value = value
            style = "info" if record["_school_id"] == self.school.value else ""
            if button.button_style != style:
                button.button_style = style
            rows += [button, cells]
        if list(self.board.children) != rows:
            self.board.children = rows
        key = (self.model.day, self.model.threshold, tuple(chosen or ()))
        if key != self._chart_key:
            self.chart.value = trend_svg(self.model.trend(chosen), self.lang)
            self._chart_key = key
        sid = self.school.value
        heading = ""
        if sid:
            heading = t("classes_of", self.lang, school=self.model.config.school(sid).name)
        table = class_table_html(self.model.class_table(sid), self.lang, heading) if sid else ""
        if self.class_table.value != table:
            self.class_table.value = table

    def open_school(self, school_id: str) -> None:
        """A click on a school of the board: that school, its people who need attention."""
        with self._hold():
            district = self.model.config.school(school_id).district
            if self.district.value and self.district.value != district:
                self.district.value = district
            self.school.value = school_id
            self.view.value = "attention"
        self.refresh()

    # -- events ---------------------------------------------------------------------------

    def _timed(self, update: Any) -> None:
        started = time.perf_counter()
        update()
        self.refresh()
        self.last_seconds = time.perf_counter() - started

    def _reload(self) -> None:
        self.model.reload()
        with self._hold():
            self._fill_classes()

    def _on_district(self, _change: Any) -> None:
        with self._hold():
            self._fill_schools()
        self.refresh()

    def _on_school(self, _change: Any) -> None:
        with self._hold():
            self._fill_classes()
        self.refresh()

    def _on_day(self, change: Any) -> None:
        if change["new"] is not None:
            self._timed(lambda: self.model.set_date(change["new"]))

    def _on_threshold(self, change: Any) -> None:
        self._timed(lambda: self.model.set_threshold(change["new"]))

    def _on_view(self, _change: Any) -> None:
        with self._hold():
            self._fill_sort()
        self.refresh()

    def _on_record(self, _button: Any = None) -> None:
        if self.person.value is None:
            self.message.value = _msg(t("person_required", self.lang), "error")
            return
        if not self.officer.value.strip():
            self.message.value = _msg(t("officer_required", self.lang), "error")
            return
        school_id, person_id = self.person.value
        try:
            self.model.record(
                school_id, person_id, self.action.value, self.note.value, self.officer.value
            )
        except FollowupError as exc:
            self.message.value = _msg(str(exc), "error")
            return
        name = self.model.names.get((school_id, person_id), person_id)
        self.message.value = _msg(
            t(
                "recorded",
                self.lang,
                name=name,
                action=t(f"action_{self.action.value}", self.lang),
                officer=self.officer.value.strip(),
            )
        )
        self.note.value = ""
        self.refresh()

    def _on_render(self, _button: Any = None) -> None:
        school_id = self.school.value
        if not school_id:
            self.links.value = _msg(t("render_needs_school", self.lang), "error")
            return
        name = self.model.config.school(school_id).name
        self.links.value = _msg(t("rendering", self.lang, school=name))
        self.render.disabled = True
        started = time.perf_counter()
        done = threading.Event()

        def tick() -> None:  # the officer sees it is still going, second by second
            while not done.wait(1.0):
                seconds = int(time.perf_counter() - started)
                self.links.value = _msg(t("render_running", self.lang, school=name, s=seconds))

        ticker = threading.Thread(target=tick, name="reportkit-render-progress", daemon=True)
        ticker.start()
        try:
            job = self.model.render(school_id)
        except Exception as exc:  # shown to the officer; the console stays usable
            done.set()
            ticker.join()
            self.links.value = _msg(t("render_failed", self.lang, error=exc), "error")
            return
        finally:
            done.set()
            self.render.disabled = False
        ticker.join()
        if job.status != "ok":
            error = job.error.evalue if job.error is not None else ""
            self.links.value = _msg(t("render_failed", self.lang, error=error), "error")
            return
        links = " · ".join(
            _link(Path(job.outputs[k]), self.lang, t(f"link_{k}", self.lang))
            for k in ("html", "pdf", "pdf_masked")
            if k in job.outputs
        )
        note = ""
        if abs(self.model.threshold - self.model.rules.fever_celsius) > 1e-9:
            threshold = f"{self.model.rules.fever_celsius:.1f}"
            note = " " + _msg(t("render_rules_threshold", self.lang, t=threshold), "note")
        seconds = f"{time.perf_counter() - started:.0f}"
        self.links.value = _msg(t("render_done", self.lang, s=seconds)) + links + note

    def _on_export(self, _button: Any = None) -> None:
        scope = self.school.value or self.district.value or "all"
        path = self.model.export(self.view.value, self.shown, scope)
        self.links.value = _msg(t("exported", self.lang)) + _link(
            path, self.lang, t("link_xlsx", self.lang)
        )


def school_controls(
    report: Any, db: str | None = None, params_dir: str | Path | None = None
) -> w.Widget:
    """The console fixed to a school report's school and date, as a widget to display."""
    return Console.for_report(report, db, params_dir).widget
