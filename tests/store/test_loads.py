"""The by-school read: a school's rows joined into one string per column by the
database and split here give back exactly what the row-by-row read gives.

:func:`reportkit.store.loads._read_by_school` on SQLite and PostgreSQL, against the
row read it stands in for (``_read``), on values chosen to break it: floats of every
digit, NULL beside empty text, Chinese text, a value holding the separator, a value
equal to the null mark, text where a number belongs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from reportkit import store
from reportkit.store import loads
from tests.factories import CHECKIN_KEYS as KEYS
from tests.factories import mixed_rows, write_constants

DAY = pd.Timestamp("2020-02-10").date()


def _hashed(rows: pd.DataFrame) -> pd.DataFrame:
    hashes = pd.Series([f"h{i}" for i in rows.index], index=rows.index, dtype=object)
    return rows.assign(row_hash=hashes, source_row=rows.index)


def _stored(engine, rows: pd.DataFrame) -> None:
    with engine.begin() as conn:
        store.upsert_frame(conn, store.checkins, KEYS, _hashed(rows), write_constants())


def _hard_rows(n: int = 400) -> pd.DataFrame:
    rows = mixed_rows(n)
    rng = np.random.default_rng(11)
    temps = rng.uniform(34.0, 42.0, n)  # full 17-digit floats
    temps[:6] = [37.29999999999999, 37.3, 0.1 + 0.2, 36.0, 1e-300, 123456789.12345679]
    temps[6] = np.nan
    rows["temperature"] = temps
    rows["symptoms"] = np.where(np.arange(n) % 9 == 0, "fever,cough", "").astype(object)
    rows["key_area"] = np.arange(n) % 11 == 0
    rows["key_area_place"] = np.where(rows["key_area"], "湖北武汉", None).astype(object)
    rows["contact"] = np.arange(n) % 13 == 0
    rows.iloc[3, rows.columns.get_loc("name")] = ""  # empty beside NULL
    rows.iloc[4, rows.columns.get_loc("absence_reason")] = ""  # packed: "" is not its default
    rows.iloc[5, rows.columns.get_loc("key_area_place")] = ""
    return rows


def _by_rows(engine, monkeypatch, load, *args) -> pd.DataFrame:
    with monkeypatch.context() as m:
        m.setattr(loads, "_read_by_school", lambda *a, **k: None)
        return load(engine, *args)


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _spy(monkeypatch) -> list[bool]:
    """Records whether each by-school read stood in for the rows (True) or not."""
    used: list[bool] = []
    real = loads._read_by_school

    def spy(*args, **kwargs):
        frame = real(*args, **kwargs)
        used.append(frame is not None)
        return frame

    monkeypatch.setattr(loads, "_read_by_school", spy)
    return used


def test_by_school_read_gives_back_the_rows_exactly(engine, monkeypatch):
    rows = _hard_rows()
    _stored(engine, rows)
    used = _spy(monkeypatch)
    for start in (DAY, DAY - pd.Timedelta(days=3)):  # one day (no date column read), a span
        fast = loads.load_checkins(engine, start, DAY)
        slow = _by_rows(engine, monkeypatch, loads.load_checkins, start, DAY)
        pd.testing.assert_frame_equal(_sorted(fast, KEYS), _sorted(slow, KEYS))
    assert used == [True, True]
    # the floats are the very ones written, not their 15-digit text
    got = _sorted(fast, KEYS).set_index("person_id")["temperature"]
    want = rows.set_index("person_id")["temperature"].reindex(got.index)
    assert np.array_equal(got.to_numpy(), want.to_numpy(), equal_nan=True)
    assert (got == 37.29999999999999).sum() == 1
    assert (got == 37.3).sum() == 1
    assert fast["name"].isna().sum() == rows["name"].isna().sum()
    assert (fast["name"] == "").sum() == 1
    assert (fast["absence_reason"] == "").sum() == 1
    assert (fast["key_area_place"] == "").sum() == 1
    assert fast["key_area_place"].eq("湖北武汉").sum() == rows["key_area"].sum()
    assert fast["absent"].dtype == bool
    assert fast["absent"].sum() == rows["absent"].sum()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("name", "张\x1f三"),
        ("name", loads.NULL_MARK),
        ("symptoms_other", loads.NULL_MARK),
        ("key_area_place", "a\x1f"),
        ("symptoms", "fever" + loads.PACK),
        ("absence_reason", loads.NULL_MARK),
    ],
)
def test_a_value_the_join_cannot_carry_is_read_by_rows(engine, monkeypatch, column, value):
    rows = _hard_rows(60)
    rows.iloc[10, rows.columns.get_loc(column)] = value
    _stored(engine, rows)
    where = [store.checkins.c.date.between(DAY, DAY)]
    columns = list(dict.fromkeys(["school_id", "person_id", "session", column, "absence_reason"]))
    sparse = [c for c in columns if c in loads._SPARSE]
    assert loads._read_by_school(engine, store.checkins, columns, where, sparse=sparse) is None
    used = _spy(monkeypatch)
    frame = loads.load_checkins(engine, DAY, DAY)
    assert used == [False]  # the rows were read instead, and hold the value as written
    person = rows.iloc[10]["person_id"]
    assert frame.loc[frame["person_id"] == person, column].tolist() == [value]
    slow = _by_rows(engine, monkeypatch, loads.load_checkins, DAY, DAY)
    pd.testing.assert_frame_equal(_sorted(frame, KEYS), _sorted(slow, KEYS))


def test_text_where_a_temperature_belongs_reads_as_unknown(sqlite_url, monkeypatch):
    engine = store.connect(sqlite_url)
    rows = _hard_rows(30)
    _stored(engine, rows)
    person = rows.iloc[4]["person_id"]
    with engine.begin() as conn:  # SQLite keeps text in a REAL column as text
        conn.execute(
            sa.text("UPDATE checkins SET temperature = 'abc' WHERE person_id = :p"), {"p": person}
        )
    fast = loads.load_checkins(engine, DAY, DAY)
    slow = _by_rows(engine, monkeypatch, loads.load_checkins, DAY, DAY)
    pd.testing.assert_frame_equal(_sorted(fast, KEYS), _sorted(slow, KEYS))
    assert fast.loc[fast["person_id"] == person, "temperature"].isna().all()
    engine.dispose()


def test_people_by_school_are_the_rows(engine, monkeypatch):
    n = 250
    now = store.utcnow()
    people = [
        {
            "school_id": f"s{i % 7:03d}",
            "person_id": f"{i:05d}",
            "name": f"学生{i}",
            "role": "student" if i % 10 else "staff",
            "grade": None if i % 10 == 0 else f"{i % 6 + 1}年级",
            "class": None if i % 10 == 0 else "" if i % 17 == 0 else f"{i % 4}班",
            "status": "active",
            "row_hash": f"h{i}",
            "updated_at": now,
        }
        for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(sa.insert(store.people), people)
    used = _spy(monkeypatch)
    for ids in (None, ["s001", "s003"]):
        fast = loads.load_people(engine, ids)
        slow = _by_rows(engine, monkeypatch, loads.load_people, ids)
        keys = ["school_id", "person_id"]
        pd.testing.assert_frame_equal(_sorted(fast, keys), _sorted(slow, keys))
    assert used == [True, True]
    assert len(fast) == sum(1 for i in range(n) if i % 7 in (1, 3))
    assert fast["grade"].isna().sum() > 0
    assert (fast["class"] == "").sum() > 0
