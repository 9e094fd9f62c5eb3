"""Digests of the days before the report date: who reported, and the rows a flag reads.

The findings of a date read :func:`~reportkit.findings.compute.span_days` days of
check-ins, and of the days before the report date only two things: who reported
on each day (the trend, the days missing in a row) and the rows a flag can read
(a reading at or above the fever threshold, a symptom, a stay in a key area, a
contact). Those days do not change from one afternoon to the next unless a
check-in is written, so each school-day is kept as a *digest* in the store's
``checkin_digests`` table and not loaded again:

- who reported, as one bit per person of the school's roster (``roster_hash``
  names that roster, in the order the findings lay it out);
- the rows a flag reads, in whole (``WINDOW_COLUMNS``), those at or above
  ``floor`` (the fever threshold it was built for) and those with a symptom or
  an exposure.

A digest is used only for the roster and a threshold it holds every row for
(the same roster; a threshold at or above its floor); otherwise it is built
again. A write of a school-day's check-ins deletes that day's digest in the
writer's transaction, whatever wrote it (triggers on ``checkins``, see
:mod:`reportkit.store.tables`), and a digest is stored only if no such write
came between the builder's marking it and storing it: a digest never says what
the check-ins no longer say. :func:`window_before` reads them (building the
missing ones from the check-ins); :func:`keep_day` keeps the report date's, from
the rows the findings loaded anyway, for the afternoons after. Keeping them waits
at most :data:`WAIT_MS` for another process's lock: a busy or read-only store gets
none, with a warning, and the findings are the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from reportkit.findings.matrices import Roster, blank, row_positions

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["WAIT_MS", "Marks", "Window", "keep_day", "roster_hashes", "window_before"]

log = logging.getLogger(__name__)

# how long keeping digests waits for another process's lock before it gives up
WAIT_MS = 2000

_MAGIC = b"RKD1"
_HEADER = struct.Struct("<4sIII")  # magic, people, rows kept, bytes of text
_FLAG_KEY_AREA, _FLAG_CONTACT = 1, 2


def roster_hashes(roster: Roster, n_schools: int) -> list[str]:
    """Per school: a hash of its people's ids in roster order (what a digest's bits are
    laid out by)."""
    out = []
    for i in range(n_schools):
        ids = roster.person_id[roster.bounds[i] : roster.bounds[i + 1]]
        text = "\x1f".join(str(p) for p in ids.tolist())
        out.append(hashlib.blake2b(text.encode(), digest_size=16).hexdigest())
    return out


@dataclass(frozen=True)
class Marks:
    """The school-days a builder marked (``token``), to store their digests later; an
    empty token: nothing is stored (a reader that must not write)."""

    token: str
    floor: float
    hashes: dict[str, str]  # school -> its roster_hash


@dataclass(frozen=True)
class Window:
    """The days before the report date as the findings read them.

    ``rows``: the check-ins a flag can read (``WINDOW_COLUMNS``); ``reported``:
    people x span, who reported on each day before the report date (the last
    column, the report date, is false); ``kept`` and ``built``: school-days read
    from digests, and built from the check-ins now."""

    rows: pd.DataFrame
    reported: np.ndarray
    kept: int
    built: int
    marks: Marks


# -- encoding ----------------------------------------------------------------------------


def _encode(
    n_people: int,
    reported: np.ndarray,
    pos: np.ndarray,
    temperature: np.ndarray,
    flags: np.ndarray,
    texts: list[list[Any]],
) -> bytes:
    text = json.dumps(texts, ensure_ascii=False).encode() if len(pos) else b""
    bits = np.zeros(n_people, dtype=bool)
    bits[reported] = True
    return b"".join(
        (
            _HEADER.pack(_MAGIC, n_people, len(pos), len(text)),
            np.packbits(bits).tobytes(),
            pos.astype("<i4").tobytes(),
            temperature.astype("<f8").tobytes(),
            flags.astype(np.uint8).tobytes(),
            text,
        )
    )


def _decode(payload: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list]:
    magic, n, k, n_text = _HEADER.unpack_from(payload)
    if magic != _MAGIC:
        raise ValueError("not a check-in digest")
    at = _HEADER.size
    n_bits = (n + 7) // 8
    bits = np.unpackbits(np.frombuffer(payload, np.uint8, n_bits, at), count=n).astype(bool)
    at += n_bits
    pos = np.frombuffer(payload, "<i4", k, at).astype(np.int64)
    at += 4 * k
    temperature = np.frombuffer(payload, "<f8", k, at)
    at += 8 * k
    flags = np.frombuffer(payload, np.uint8, k, at)
    at += k
    texts = json.loads(payload[at : at + n_text].decode()) if n_text else [[], []]
    return bits, pos, temperature, flags, texts


def _fits(payload: bytes, n_people: int) -> bool:
    """Whether ``payload`` is a whole digest of ``n_people`` (a damaged one is not used)."""
    if len(payload) < _HEADER.size:
        return False
    magic, n, k, n_text = _HEADER.unpack_from(payload)
    size = _HEADER.size + (n + 7) // 8 + 13 * k + n_text
    return magic == _MAGIC and n == n_people and len(payload) == size


def _kept_rows(rows: pd.DataFrame, floor: float) -> np.ndarray:
    """The rows a flag can read: a reading at or above ``floor``, a symptom, an exposure."""
    temperature = pd.to_numeric(rows["temperature"], errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        hot = temperature >= floor
    symptoms = ~blank(rows["symptoms"].to_numpy(dtype=object))
    return hot | symptoms | rows["key_area"].to_numpy(bool) | rows["contact"].to_numpy(bool)


def _build(
    rows: pd.DataFrame,
    roster: Roster,
    school_ids: list[str],
    days: Sequence[date],
    floor: float,
    positions: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[tuple[int, date], bytes]:
    """The digests of ``days`` x every school of ``school_ids`` from their check-ins
    (``rows``: those days' and schools', at least ``WINDOW_COLUMNS``; ``positions``:
    their :func:`row_positions`, when known)."""
    row_school, row_person = positions or row_positions(rows, roster, school_ids)
    day_index = {d: j for j, d in enumerate(days)}
    codes, uniques = pd.factorize(rows["date"].to_numpy(dtype=object))
    row_day = np.array([day_index.get(d, -1) for d in uniques.tolist()] + [-1], dtype=np.int64)
    row_day = row_day[codes]
    use = (row_person >= 0) & (row_day >= 0)
    kept = _kept_rows(rows, floor) if len(rows) else np.zeros(0, dtype=bool)
    key = row_school * len(days) + row_day
    order = np.flatnonzero(use)
    order = order[np.argsort(key[order], kind="stable")]
    cuts = np.searchsorted(key[order], np.arange(len(school_ids) * len(days) + 1))
    temperature = pd.to_numeric(rows["temperature"], errors="coerce").to_numpy(dtype=float)
    flags = (
        rows["key_area"].to_numpy(bool) * _FLAG_KEY_AREA
        + rows["contact"].to_numpy(bool) * _FLAG_CONTACT
    )
    symptoms = rows["symptoms"].to_numpy(dtype=object)
    places = rows["key_area_place"].to_numpy(dtype=object)
    out: dict[tuple[int, date], bytes] = {}
    for i in range(len(school_ids)):
        lo = roster.bounds[i]
        n = int(roster.bounds[i + 1] - lo)
        for j, d in enumerate(days):
            group = order[cuts[i * len(days) + j] : cuts[i * len(days) + j + 1]]
            whole = group[kept[group]]
            texts = [
                [None if pd.isna(v) else str(v) for v in symptoms[whole].tolist()],
                [None if pd.isna(v) else str(v) for v in places[whole].tolist()],
            ]
            out[(i, d)] = _encode(
                n,
                row_person[group] - lo,
                row_person[whole] - lo,
                temperature[whole],
                flags[whole],
                texts,
            )
    return out


# -- the store ----------------------------------------------------------------------------


def _stored(
    engine: Engine, school_ids: list[str], start: date, end: date
) -> Iterable[tuple[str, date, str, float, bytes]]:
    from reportkit.store import checkin_digests as t

    stmt = sa.select(t.c.school_id, t.c.date, t.c.roster_hash, t.c.floor, t.c.payload).where(
        t.c.date.between(start, end), t.c.payload.is_not(None)
    )
    if len(school_ids) <= 500:
        stmt = stmt.where(t.c.school_id.in_(school_ids))
    with engine.connect() as conn:
        for school, day, roster_hash, floor, payload in conn.execute(stmt):
            if isinstance(day, str):
                day = date.fromisoformat(day)
            yield school, day, roster_hash, floor, payload


def _mark(engine: Engine, pairs: Sequence[tuple[str, date]]) -> str:
    """Mark ``pairs`` (school, date) as being built by a new token: from now on a write
    of their check-ins deletes the mark, so :func:`_store` keeps only digests no write
    came after. On PostgreSQL, writers in flight are waited for (``DIGEST_LOCK``)."""
    from reportkit.store import DIGEST_LOCK, checkin_digests, upsert, utcnow

    token = uuid.uuid4().hex
    if not pairs:
        return token
    now = utcnow()
    rows = [
        {"school_id": s, "date": d, "token": token, "roster_hash": None, "floor": None,
         "payload": None, "created_at": now}
        for s, d in pairs
    ]  # fmt: skip

    def mark(conn: sa.Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": DIGEST_LOCK})
        upsert(conn, checkin_digests, rows)

    return token if _write(engine, mark, "mark") else ""


def _write(engine: Engine, work: Callable[[sa.Connection], None], what: str) -> bool:
    """Run ``work`` in a transaction that waits at most :data:`WAIT_MS` for a lock.
    Digests are a cache: a store that is busy or refuses writes gets none (a warning),
    and the findings go on from the check-ins; False then."""
    from reportkit.errors import StoreError
    from reportkit.store import bounded_wait, error_reason

    try:
        with engine.connect() as conn, bounded_wait(conn, WAIT_MS):
            work(conn)
    except (sa.exc.SQLAlchemyError, StoreError) as exc:
        log.warning("check-in digests not kept (%s): %s", what, error_reason(exc))
        return False
    return True


def _store(
    engine: Engine,
    token: str,
    digests: dict[tuple[str, date], bytes],
    hashes: dict[str, str],
    floor: float,
) -> int:
    """Store the digests whose mark of ``token`` is still there; how many were."""
    from reportkit.store import checkin_digests as t

    if not token or not digests:
        return 0
    stmt = (
        sa.update(t)
        .where(
            t.c.school_id == sa.bindparam("s"),
            t.c.date == sa.bindparam("d"),
            t.c.token == token,
        )
        .values(roster_hash=sa.bindparam("h"), floor=floor, payload=sa.bindparam("p"))
    )
    params = [{"s": s, "d": d, "h": hashes[s], "p": p} for (s, d), p in digests.items()]
    stored = 0

    def store(conn: sa.Connection) -> None:
        nonlocal stored
        for i in range(0, len(params), 5000):
            result = conn.execute(stmt, params[i : i + 5000])
            stored += max(result.rowcount or 0, 0)

    return stored if _write(engine, store, "store") else 0


# -- entry points -----------------------------------------------------------------------


def window_before(
    engine: Engine,
    roster: Roster,
    school_ids: list[str],
    start: date,
    report_date: date,
    floor: float,
    columns: Sequence[str],
    *,
    keep: bool = True,
) -> Window:
    """The days ``start .. report_date - 1`` of ``school_ids`` (laid out by ``roster``)
    as the findings read them, for a fever threshold of ``floor`` or above.

    Digests that fit are read; the other school-days are loaded from the check-ins
    (``columns``) and, with ``keep``, stored as digests. With ``keep`` the report
    date's school-days are marked too, for :func:`keep_day`; mark before loading the
    report date's rows."""
    from reportkit import store

    span = (report_date - start).days + 1
    days = [start + timedelta(days=j) for j in range(span - 1)]
    hashes = roster_hashes(roster, len(school_ids))
    index = {s: i for i, s in enumerate(school_ids)}
    found: dict[tuple[int, date], bytes] = {}
    if days:
        for school, day, roster_hash, kept_floor, payload in _stored(
            engine, school_ids, days[0], days[-1]
        ):
            i = index.get(school)
            if i is None or roster_hash != hashes[i] or kept_floor > floor:
                continue
            if _fits(payload, int(roster.bounds[i + 1] - roster.bounds[i])):
                found[(i, day)] = payload  # else built again, like a missing one
    missing = [(i, d) for i in range(len(school_ids)) for d in days if (i, d) not in found]
    token = ""
    if keep:
        marked = [(school_ids[i], d) for i, d in missing]
        marked += [(s, report_date) for s in school_ids]
        token = _mark(engine, marked)
    built: dict[tuple[int, date], bytes] = {}
    by_day: dict[date, list[int]] = {}
    for i, d in missing:
        by_day.setdefault(d, []).append(i)
    for d, schools in by_day.items():
        ids = [school_ids[i] for i in schools]
        rows = store.load_checkins(engine, d, d, ids, columns=columns)
        wanted = set(schools)
        for (i, _), payload in _build(rows, roster, school_ids, [d], floor).items():
            if i in wanted:
                built[(i, d)] = payload
    marks = Marks(token, floor, dict(zip(school_ids, hashes, strict=True)))
    if keep:
        named = {(school_ids[i], d): p for (i, d), p in built.items()}
        _store(engine, token, named, marks.hashes, floor)
    rows, reported = _expand({**found, **built}, roster, school_ids, days, span)
    return Window(rows, reported, len(found), len(built), marks)


def keep_day(
    engine: Engine,
    marks: Marks,
    roster: Roster,
    school_ids: list[str],
    rows: pd.DataFrame,
    day: date,
    positions: tuple[np.ndarray, np.ndarray] | None = None,
) -> int:
    """Store the digests of ``day`` (the report date) from its check-ins ``rows``, loaded
    after :func:`window_before` marked them; how many were stored (a school-day whose
    check-ins were written since is not). ``positions``: the rows' :func:`row_positions`,
    when known."""
    if not marks.token:
        return 0
    digests = _build(rows, roster, school_ids, [day], marks.floor, positions)
    named = {(school_ids[i], d): p for (i, d), p in digests.items()}
    return _store(engine, marks.token, named, marks.hashes, marks.floor)


def _expand(
    digests: dict[tuple[int, date], bytes],
    roster: Roster,
    school_ids: list[str],
    days: list[date],
    span: int,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows kept whole, and who reported (people x span), from ``digests``."""
    reported = np.zeros((roster.n, span), dtype=bool)
    column = {d: j for j, d in enumerate(days)}
    people, dates, temps, flags, symptoms, places = [], [], [], [], [], []
    for (i, d), payload in digests.items():
        bits, pos, temperature, flag, texts = _decode(payload)
        lo, hi = roster.bounds[i], roster.bounds[i + 1]
        if len(bits) != hi - lo:
            raise ValueError(f"a digest of {school_ids[i]} on {d} is of another roster")
        reported[lo:hi, column[d]] = bits
        if len(pos):
            people.append(pos + lo)
            dates.extend([d] * len(pos))
            temps.append(temperature)
            flags.append(flag)
            symptoms.extend(texts[0])
            places.extend(texts[1])
    person = np.concatenate(people) if people else np.zeros(0, dtype=np.int64)
    flag_all = np.concatenate(flags) if flags else np.zeros(0, dtype=np.uint8)
    frame = pd.DataFrame(
        {
            "school_id": roster.school_id[person],
            "person_id": roster.person_id[person],
            "date": pd.Series(dates, dtype=object),
            "temperature": np.concatenate(temps) if temps else np.zeros(0),
            "symptoms": pd.Series(symptoms, dtype=object),
            "key_area": (flag_all & _FLAG_KEY_AREA) > 0,
            "key_area_place": pd.Series(places, dtype=object),
            "contact": (flag_all & _FLAG_CONTACT) > 0,
        }
    )
    return frame, reported
