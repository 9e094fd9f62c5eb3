"""Which of a file's rows changed, and the issue rows beside them.

:func:`write_rows` takes a file's canonical rows, hashes each row's values
(:func:`row_hash`), compares the hashes with what is stored under the same keys
(one query, :func:`stored_hashes`), and hands only new and changed rows to
:func:`reportkit.store.upsert_frame`, which owns how each dialect writes them
fast. :func:`write_issues` records quarantined rows and data-quality findings
with their message in Chinese and English (:func:`reportkit.i18n.issue_message`),
skipping those already recorded (unique per file, row, column and reason).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reportkit import layout, store
from reportkit.files import write_atomic
from reportkit.i18n import issue_message, refusal_value
from reportkit.schema import Reason

if TYPE_CHECKING:
    from reportkit.ingest.batch import Batch
    from reportkit.ingest.report import FileReport

__all__ = [
    "Written",
    "audit_rows",
    "query_frame",
    "record_rejection",
    "row_hash",
    "stored_hashes",
    "write_changes",
    "write_issues",
    "write_rows",
]


@dataclass(frozen=True)
class Written:
    """What :func:`write_changes` did: each row's status, and the revisions it kept
    of the rows it replaced (``id`` and the key columns)."""

    status: np.ndarray
    revisions: pd.DataFrame


def write_rows(
    conn: sa.Connection,
    table: sa.Table,
    keys: list[str],
    rows: pd.DataFrame,
    constants: dict[str, Any],
    *,
    replaced_by: str = "",
) -> np.ndarray:
    """Insert new rows and replace changed ones; the status of each row.

    ``rows`` hold the table's columns except ``row_hash`` and ``constants``
    (the same value on every row, e.g. ``updated_at``); text columns hold str
    or None, dates ISO text. Returns "inserted", "updated" or "unchanged" per
    row; unchanged rows are not written. A replaced row's earlier version is kept
    in its revisions (see :func:`write_changes`).
    """
    return write_changes(conn, table, keys, rows, constants, replaced_by=replaced_by).status


def write_changes(
    conn: sa.Connection,
    table: sa.Table,
    keys: list[str],
    rows: pd.DataFrame,
    constants: dict[str, Any],
    *,
    replaced_by: str | np.ndarray = "",
    sources: pd.DataFrame | None = None,
) -> Written:
    """:func:`write_rows`, and the revisions kept: the stored version of each row whose
    hash changed is copied into the table's revisions (``replaced_by``: the content hash
    of the file replacing it) in this transaction, before it is replaced.

    Rows of several files at once (:func:`reportkit.ingest.pipeline.ingest_paths`
    ingests a day's small files together) give ``replaced_by`` per row and ``sources``:
    each row's ``source_file`` and ``source_row``, written but not hashed (the same
    values from another file are unchanged). Without ``sources`` the row number is the
    frame's index and the file is in ``constants``."""
    hashes = pd.Series(row_hash(rows), index=rows.index, dtype=object)  # not pandas' str
    rows = rows.assign(row_hash=hashes)
    stored = stored_hashes(conn, table, keys, rows)
    status = np.full(len(rows), "inserted", dtype="<U9")
    known = np.flatnonzero(pd.notna(stored))  # compared only where a hash is stored
    same = stored[known] == rows["row_hash"].to_numpy()[known]
    status[known] = np.where(same, "unchanged", "updated")
    keep = status != "unchanged"
    changed = rows if keep.all() else rows.loc[keep]
    if sources is not None:
        picked = sources if keep.all() else sources.loc[keep]
        changed = changed.assign(**{name: picked[name] for name in picked.columns})
    elif "source_row" in table.c:
        changed = changed.assign(source_row=changed.index)
    updated = status == "updated"
    revisions = pd.DataFrame(columns=["id", *keys])
    if updated.any():  # new and unchanged rows cost nothing here
        at = constants.get("updated_at") or store.utcnow()
        by = np.broadcast_to(np.asarray(replaced_by, dtype=object), len(rows))[updated]
        replaced = rows.loc[updated, keys]
        kept = [
            store.record_revisions(
                conn, table, keys, replaced[by == sha], replaced_by=str(sha), revised_at=at
            )
            for sha in pd.unique(by)
        ]
        revisions = kept[0] if len(kept) == 1 else pd.concat(kept, ignore_index=True)
    store.upsert_frame(conn, table, keys, changed, constants)
    return Written(status, revisions)


def write_issues(
    conn: sa.Connection,
    quarantined: pd.DataFrame,
    findings: pd.DataFrame,
    *,
    sha256: str,
    file: str,
    kind: str,
) -> None:
    """Insert quarantined rows and findings (row, column, value, reason, school_id,
    person_id, date as ISO text; quarantine also raw) not recorded yet. Issues of
    several files at once carry their own ``sha256`` and ``file`` columns."""
    now = store.utcnow()
    for table, frame in ((store.quarantine, quarantined), (store.data_quality, findings)):
        if frame.empty:
            continue
        columns = {name: frame[name].tolist() for name in frame.columns}
        columns["row"] = [int(row) for row in columns["row"]]
        columns["value"] = [_text(v) for v in columns["value"]]
        columns["date"] = [_iso_date(d) for d in columns["date"]]
        issues = zip(
            columns["reason"], columns["row"], columns["value"], columns["column"], strict=True
        )
        columns["message"] = [issue_message(*issue) for issue in issues]
        names = list(columns)
        fixed = {"sha256": sha256, "file": file, "kind": kind, "created_at": now}
        records = [
            {**fixed, **dict(zip(names, values, strict=True))}
            for values in zip(*(map(_none, columns[n]) for n in names), strict=True)
        ]
        store.insert_ignore(conn, table, records)


def record_rejection(
    engine: Engine,
    report: FileReport,
    *,
    source: Path,
    kept: Path,
    school_id: str | None,
    day: date,
    zone: tzinfo,
    at: datetime | None = None,
) -> None:
    """A file refused for what it holds, now kept at ``kept`` (out of the inbox):
    ``<name>.reason.txt`` beside it, and a finding of its school and day in the store.

    The reason file is for whoever looks after the inbox: the file as it arrived, the
    reason in Chinese (the deployment's language) and in English (what the log says,
    what a search finds), and when it was rejected (``at``, default now). The finding (reason
    ``file_rejected``, row 0, column ``file``) keeps the reason as its key and params,
    so that each report words it in its own language (:func:`reportkit.i18n.issue_value`).
    """
    zh, en = report.reason("zh-CN"), report.reason("en")
    why = zh if zh == en else f"{zh}\n{en}"
    write_atomic(
        layout.reason_file(kept),
        f"{source}\n{why}\nrejected {(at or datetime.now(zone)).astimezone(zone).isoformat()}\n",
    )
    with kept.open("rb") as file:
        sha256 = hashlib.file_digest(file, "sha256").hexdigest()
    finding = pd.DataFrame(
        {
            "row": [0],
            "column": ["file"],
            "value": [refusal_value(report.error_key, report.error_params, report.reason())],
            "reason": [Reason.FILE_REJECTED],
            "school_id": [school_id],
            "person_id": [None],
            "date": [day.isoformat()],
        }
    )
    with engine.begin() as conn:
        write_issues(
            conn, pd.DataFrame(), finding, sha256=sha256, file=str(source), kind=str(report.kind)
        )


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def _none(value: Any) -> Any:
    """NaN and NaT as None, as the database wants them."""
    return None if value is not None and not isinstance(value, str) and pd.isna(value) else value


def query_frame(result: sa.CursorResult, columns: list[str]) -> pd.DataFrame:
    """A query's rows as a frame of object columns."""
    rows = result.all()
    array = np.empty((len(rows), len(columns)), dtype=object)
    if rows:
        array[:] = [tuple(r) for r in rows]
    return pd.DataFrame(array, columns=columns, dtype=object)


def row_hash(rows: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash (16 hex digits) of a row's canonical values.

    Equal hashes mean nothing changed. Each column is hashed by pandas' SipHash
    with a fixed key (vectorised, the same in every process) and the columns
    are combined in order.
    """
    if rows.empty:
        return np.array([], dtype=object)
    hashed = np.zeros(len(rows), dtype=np.uint64)
    for column in rows.columns:  # combined in order, as boost::hash_combine does
        part = pd.util.hash_array(_hashable(rows[column]), hash_key=_HASH_KEY, categorize=True)
        hashed ^= (
            part
            + np.uint64(0x9E3779B97F4A7C15)
            + (hashed << np.uint64(6))
            + (hashed >> np.uint64(2))
        )
    octets = hashed.astype(">u8").view(np.uint8).reshape(-1, 8)
    digits = np.empty((len(hashed), 16), dtype=np.uint32)  # UCS-4, as numpy's str dtype
    digits[:, 0::2] = _HEX[octets >> 4]
    digits[:, 1::2] = _HEX[octets & 15]
    return digits.view("U16").ravel().astype(object)


_HASH_KEY = "reportkit.row.v1"  # 16 characters, as SipHash needs
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).astype(np.uint32)


def _hashable(values: pd.Series) -> np.ndarray:
    """A column in a form whose hash does not depend on dtype details or None vs NaN."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.array  # hashed per category: the same hashes as its values'
    array = values.to_numpy()
    if array.dtype.kind == "M":
        return array.astype("datetime64[us]").view("i8")
    if array.dtype.kind in "bfi":
        return array
    return array.astype(object, copy=False)  # strings; missing values hash alike (categorized)


def stored_hashes(
    conn: sa.Connection, table: sa.Table, keys: list[str], rows: pd.DataFrame
) -> np.ndarray:
    """The stored row_hash of each row's key (None for new keys), read in one query."""
    if rows.empty:
        return np.array([], dtype=object)
    stmt = sa.select(*(table.c[k] for k in keys), table.c.row_hash).where(
        table.c.school_id.in_(rows["school_id"].unique().tolist())
    )
    if "date" in table.c:
        days = [d for d in rows["date"].unique() if isinstance(d, str)]
        stmt = stmt.where(
            table.c.date.between(date.fromisoformat(min(days)), date.fromisoformat(max(days)))
        )
    stored = query_frame(conn.execute(stmt), [*keys, "stored"])
    if stored.empty:
        return np.full(len(rows), None, dtype=object)
    if "date" in stored:
        stored["date"] = stored["date"].map(lambda d: d.isoformat())
    # keys are unique on both sides (the primary key; rows deduplicated before)
    merged = rows[keys].astype(object).merge(stored, how="left", on=keys)
    if len(merged) != len(rows):
        raise ValueError(f"rows repeat a key of {table.name}: {keys}")
    return merged["stored"].to_numpy(dtype=object)


def _iso_date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


# --- the audit rows of a file's ingestion ---------------------------------------------


def audit_rows(
    batch: Batch,
    report: FileReport,
    status: np.ndarray,
    revisions: pd.DataFrame,
    quarantined: pd.DataFrame,
    findings: pd.DataFrame,
) -> list[dict[str, Any]]:
    """The audit rows of one file written: an ``ingestion`` row per school and date the
    file holds (its counts there, the file's totals beside them), and a ``revision`` row
    per school and date where it replaced rows (how many, the revision ids, whose)."""
    sha256, path = batch.table.sha256, str(batch.path)
    totals = {name: getattr(report, name) for name in _COUNTS}
    counts: dict[tuple[str | None, str | None], dict[str, int]] = {}
    rows = batch.rows
    if len(rows):  # on codes: a file's million rows are counted in milliseconds
        schools, school_names = _codes(rows["school_id"])
        if "date" in rows:
            days, day_names = _codes(rows["date"])
        else:
            days, day_names = np.zeros(len(rows), dtype=np.int64), np.array([None], dtype=object)
        width = len(day_names) + 1
        group = (schools.astype(np.int64) + 1) * width + (days.astype(np.int64) + 1)
        size = (len(school_names) + 1) * width
        for what in ("inserted", "updated", "unchanged"):
            found = np.bincount(group[status == what], minlength=size)
            for g in np.flatnonzero(found):
                school = school_names[g // width - 1] if g // width else None
                day = day_names[g % width - 1] if g % width else None
                counts.setdefault((_key(school), _key(day)), {})[what] = int(found[g])
    for name, issues in (("quarantined", quarantined), ("findings", findings)):
        if issues.empty:
            continue
        keys = pd.DataFrame(
            {
                "school": issues["school_id"].astype(object),
                "date": issues["date"].astype(object) if "date" in issues else None,
            }
        )
        for key, n in keys.groupby(["school", "date"], dropna=False).size().items():
            k = key if isinstance(key, tuple) else (key, None)
            counts.setdefault((_key(k[0]), _key(k[1])), {})[name] = int(n)
    if not counts:
        counts[(batch.default_school, None)] = {}
    out = []
    for (school, day), here in sorted(
        counts.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))
    ):
        detail: dict[str, Any] = {
            "kind": batch.kind,
            "here": {n: here.get(n, 0) for n in _COUNTS[1:]},
            "file": totals,
        }
        out.append(
            store.audit_row(
                "ingestion",
                day=_iso_date(day),
                school_id=school,
                subject=path,
                sha256=sha256,
                detail=detail,
            )
        )
    if not revisions.empty:
        table = {"logs": "checkins", "entries": "entries", "roster": "people"}[batch.kind]
        whose = "entry_id" if "entry_id" in revisions else "person_id"
        if whose == "entry_id":  # gate entries: the school and day of each entry
            by_id = rows.set_index("entry_id")
            revisions = revisions.assign(
                school_id=revisions["entry_id"].map(by_id["school_id"].astype(object)),
                date=revisions["entry_id"].map(by_id["date"].astype(object)),
            )
        by = ["school_id", "date"] if "date" in revisions else ["school_id"]
        for labels, part in revisions.groupby(by, dropna=False):
            parts = (*(labels if isinstance(labels, tuple) else (labels,)), None)
            school, day = parts[0], parts[1]
            part = part.sort_values("id")
            revised: dict[str, Any] = {
                "table": table,
                "count": len(part),
                "ids": part["id"].astype("int64").tolist(),
                whose: sorted(map(str, part[whose].astype(object).unique())),
            }
            out.append(
                store.audit_row(
                    "revision",
                    day=day if isinstance(day, date) else _iso_date(day),
                    school_id=_key(school),
                    subject=path,
                    sha256=sha256,
                    detail=revised,
                )
            )
    return out


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes, values): -1 for a missing value."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), np.asarray(values.cat.categories, dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


_COUNTS = ("rows_read", "inserted", "updated", "unchanged", "quarantined", "findings")


def _key(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
