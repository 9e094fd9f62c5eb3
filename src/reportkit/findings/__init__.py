"""Findings: the rules applied to a date's check-ins, the model they fill, their files.

::

    rules      every definition (fever, symptomatic, suspected, key person, missing,
               unreachable, clusters, illness absence, submission, gate register,
               zero report), a named function each, with its source
    matrices   check-ins as person x day arrays: the layout, no rule
    compute    compute_findings / load_findings: the rules applied in order
    digests    the days before the report date as kept in the store: who reported,
               and the rows a flag reads (built once, dropped by any write)
    changes    what changed since the version of a report that was sent (更正说明)
    corrections  the date's values corrected after their first receipt, and the flags
               the corrections removed (from the store's revisions)
    attention  the attention and fever lists, and the sentence saying why
    model      Findings, its frames, slices and JSON
    tree       roll-ups over the org tree (UnitRollup, every unit's counts)
    summary    the printable summary of ``reportkit flags``
    files      per-school Arrow files and content hashes

The next stages use what this package names; its modules are its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reportkit._lazy import attach

if TYPE_CHECKING:  # the names, for type checkers; they load on first use
    from reportkit.findings.changes import ReportChanges as ReportChanges
    from reportkit.findings.changes import school_changes as school_changes
    from reportkit.findings.changes import unit_changes as unit_changes
    from reportkit.findings.compute import PreparedDay as PreparedDay
    from reportkit.findings.compute import compute_findings as compute_findings
    from reportkit.findings.compute import load_findings as load_findings
    from reportkit.findings.compute import prepare_day as prepare_day
    from reportkit.findings.compute import reporting_days as reporting_days
    from reportkit.findings.compute import span_days as span_days
    from reportkit.findings.corrections import CORRECTION_COLUMNS as CORRECTION_COLUMNS
    from reportkit.findings.corrections import FLAG_CORRECTION_COLUMNS as FLAG_CORRECTION_COLUMNS
    from reportkit.findings.corrections import compute_corrections as compute_corrections
    from reportkit.findings.files import findings_hash as findings_hash
    from reportkit.findings.files import findings_hashes as findings_hashes
    from reportkit.findings.files import load_district as load_district
    from reportkit.findings.files import load_findings_files as load_findings_files
    from reportkit.findings.files import load_unit as load_unit
    from reportkit.findings.files import read_header as read_header
    from reportkit.findings.files import rollup_hash as rollup_hash
    from reportkit.findings.files import save_district as save_district
    from reportkit.findings.files import save_findings as save_findings
    from reportkit.findings.files import save_unit as save_unit
    from reportkit.findings.files import verified_hash as verified_hash
    from reportkit.findings.model import DQ_COLUMNS as DQ_COLUMNS
    from reportkit.findings.model import PERSON_COLUMNS as PERSON_COLUMNS
    from reportkit.findings.model import ROLLUP_COLUMNS as ROLLUP_COLUMNS
    from reportkit.findings.model import SCHOOL_COLUMNS as SCHOOL_COLUMNS
    from reportkit.findings.model import DistrictRollup as DistrictRollup
    from reportkit.findings.model import Findings as Findings
    from reportkit.findings.summary import summary_lines as summary_lines
    from reportkit.findings.summary import summary_table as summary_table
    from reportkit.findings.tree import UNIT_FIGURES as UNIT_FIGURES
    from reportkit.findings.tree import UnitRollup as UnitRollup
    from reportkit.findings.tree import unit_status as unit_status

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "CORRECTION_COLUMNS": "corrections",
        "DQ_COLUMNS": "model",
        "DistrictRollup": "model",
        "FLAG_CORRECTION_COLUMNS": "corrections",
        "Findings": "model",
        "PERSON_COLUMNS": "model",
        "PreparedDay": "compute",
        "ROLLUP_COLUMNS": "model",
        "ReportChanges": "changes",
        "SCHOOL_COLUMNS": "model",
        "UNIT_FIGURES": "tree",
        "UnitRollup": "tree",
        "compute_corrections": "corrections",
        "compute_findings": "compute",
        "findings_hash": "files",
        "findings_hashes": "files",
        "load_district": "files",
        "load_findings": "compute",
        "load_findings_files": "files",
        "load_unit": "files",
        "prepare_day": "compute",
        "read_header": "files",
        "reporting_days": "compute",
        "rollup_hash": "files",
        "save_district": "files",
        "save_findings": "files",
        "save_unit": "files",
        "school_changes": "changes",
        "span_days": "compute",
        "summary_lines": "summary",
        "summary_table": "summary",
        "unit_changes": "changes",
        "unit_status": "tree",
        "verified_hash": "files",
    },
)
