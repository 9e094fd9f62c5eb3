"""Reports: the sections the notebooks show (and the 更正说明 lines, ``changes``), charts, HTML and PDF rendering, and the
upward Excel forms of the units (``forms``).

The next stages use what this package names; its modules are its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reportkit._lazy import attach

if TYPE_CHECKING:  # the names, for type checkers; they load on first use
    from reportkit.reports.changes import ChangeLine as ChangeLine
    from reportkit.reports.changes import change_heading as change_heading
    from reportkit.reports.changes import change_lines as change_lines
    from reportkit.reports.charts import FONT_RC as FONT_RC
    from reportkit.reports.charts import cjk_font_available as cjk_font_available
    from reportkit.reports.charts import setup_fonts as setup_fonts
    from reportkit.reports.forms import ROW_COLUMNS as ROW_COLUMNS
    from reportkit.reports.forms import Form as Form
    from reportkit.reports.forms import fill_form as fill_form
    from reportkit.reports.forms import load_form as load_form
    from reportkit.reports.forms import write_form as write_form
    from reportkit.reports.html import IDENTITY_MIME as IDENTITY_MIME
    from reportkit.reports.html import MASKED_MIME as MASKED_MIME
    from reportkit.reports.html import Section as Section
    from reportkit.reports.html import class_sort_key as class_sort_key
    from reportkit.reports.html import class_with_head_teacher as class_with_head_teacher
    from reportkit.reports.html import format_pct as format_pct
    from reportkit.reports.html import head_teachers as head_teachers
    from reportkit.reports.html import open_findings as open_findings
    from reportkit.reports.html import render_template as render_template
    from reportkit.reports.pngchart import trend_png as trend_png
    from reportkit.reports.render import PdfPrinter as PdfPrinter
    from reportkit.reports.render import find_chromium as find_chromium
    from reportkit.reports.render import get_renderer as get_renderer
    from reportkit.reports.render import html_exporter as html_exporter
    from reportkit.reports.render import number_cells as number_cells
    from reportkit.reports.render import register_renderer as register_renderer
    from reportkit.reports.render import render_html as render_html
    from reportkit.reports.render import render_pdf as render_pdf
    from reportkit.reports.render import set_pdf_dates as set_pdf_dates
    from reportkit.reports.sections import ActionRow as ActionRow
    from reportkit.reports.sections import DistrictReport as DistrictReport
    from reportkit.reports.sections import SchoolReport as SchoolReport
    from reportkit.reports.sections import UnitReport as UnitReport
    from reportkit.reports.sections import action_rows as action_rows
    from reportkit.reports.sections import warm_up as warm_up
    from reportkit.reports.svgchart import chart_labels as chart_labels
    from reportkit.reports.svgchart import report_chart as report_chart
    from reportkit.reports.svgchart import trend_svg as trend_svg

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "ActionRow": "sections",
        "ChangeLine": "changes",
        "DistrictReport": "sections",
        "FONT_RC": "charts",
        "Form": "forms",
        "IDENTITY_MIME": "html",
        "MASKED_MIME": "html",
        "PdfPrinter": "render",
        "ROW_COLUMNS": "forms",
        "SchoolReport": "sections",
        "Section": "html",
        "UnitReport": "sections",
        "action_rows": "sections",
        "change_heading": "changes",
        "change_lines": "changes",
        "cjk_font_available": "charts",
        "class_sort_key": "html",
        "class_with_head_teacher": "html",
        "fill_form": "forms",
        "find_chromium": "render",
        "format_pct": "html",
        "head_teachers": "html",
        "get_renderer": "render",
        "html_exporter": "render",
        "load_form": "forms",
        "number_cells": "render",
        "open_findings": "html",
        "register_renderer": "render",
        "render_html": "render",
        "render_pdf": "render",
        "render_template": "html",
        "set_pdf_dates": "render",
        "setup_fonts": "charts",
        "trend_png": "pngchart",
        "trend_svg": "svgchart",
        "chart_labels": "svgchart",
        "report_chart": "svgchart",
        "warm_up": "sections",
        "write_form": "forms",
    },
)
