"""The content hash of findings: equal findings hash equal, any shown change differs."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd

from reportkit import store
from reportkit.findings import findings_hash, load_findings, rollup_hash
from reportkit.findings.files import canonical

DAY = date(2020, 2, 28)


def test_canonical_values_are_the_same_whatever_their_dtype() -> None:
    assert canonical(np.int64(3)) == canonical(3) == canonical(3.0)
    assert canonical(float("nan")) is None
    assert canonical(pd.NA) is None
    assert canonical(pd.NaT) is None
    assert canonical(("a", "b")) == canonical(np.array(["a", "b"], dtype=object)) == ["a", "b"]
    assert canonical(date(2020, 2, 28)) == "2020-02-28"
    assert canonical(np.bool_(True)) is True


def test_recomputed_findings_hash_the_same_and_a_change_differs(demo_settings) -> None:
    settings = demo_settings
    config = settings.schools()
    engine = store.connect(settings.db)
    first = load_findings(engine, config, settings.rules(), DAY)
    again = load_findings(engine, config, settings.rules(), DAY)
    ids = first.school_ids
    assert [findings_hash(first, s) for s in ids] == [findings_hash(again, s) for s in ids]
    assert len({findings_hash(first, s) for s in ids}) == len(ids)  # schools differ
    district = config.rollup_ids[0]
    assert rollup_hash(first.district(district, config)) == rollup_hash(
        again.district(district, config)
    )
    # one more person missing in one school changes that school's hash only
    extra = first.missing.iloc[:1].assign(person_id="x-new")
    changed = replace(first, missing=pd.concat([first.missing, extra], ignore_index=True))
    school = str(extra["school_id"].iloc[0])
    assert findings_hash(changed, school) != findings_hash(first, school)
    other = next(s for s in ids if s != school)
    assert findings_hash(changed, other) == findings_hash(first, other)


# -- files ---------------------------------------------------------------------------


def _demo_findings(settings):
    from reportkit.store import latest_followups

    engine = store.connect(settings.db)
    found = load_findings(engine, settings.schools(), settings.rules(), DAY)
    return replace(found, followups=latest_followups(engine, found.school_ids, DAY))


def test_files_round_trip_keeps_every_hash(demo_settings, tmp_path) -> None:
    from reportkit.findings import load_district, load_findings_files, save_district, save_findings

    config = demo_settings.schools()
    first = _demo_findings(demo_settings)
    folder = tmp_path / "findings"
    hashes = save_findings(first, folder, "run-1")
    assert hashes == {s: findings_hash(first, s) for s in first.school_ids}
    back = load_findings_files(folder, first.school_ids, DAY)
    assert back is not None
    assert {s: findings_hash(back, s) for s in first.school_ids} == hashes
    assert back.to_json() == first.to_json()
    assert back.rules == first.rules
    district = config.rollup_ids[0]
    rollup = first.district(district, config)
    save_district(rollup, folder, "run-1")
    assert rollup_hash(load_district(folder, district, DAY)) == rollup_hash(rollup)
    assert rollup_hash(back.district(district, config)) == rollup_hash(rollup)


def test_a_schools_file_holds_its_own_people_only_and_a_rollup_none(
    demo_settings, small_demo, tmp_path
) -> None:
    from reportkit.findings import save_district, save_findings
    from reportkit.layout import school_findings_file, unit_findings_file

    config = demo_settings.schools()
    found = _demo_findings(demo_settings)
    folder = tmp_path / "findings"
    save_findings(found, folder, "run-1")
    district = config.rollup_ids[0]
    save_district(found.district(district, config), folder, "run-1")
    people = store.load_people(store.connect(demo_settings.db))
    school = small_demo.events["suspected"][0][0]
    data = school_findings_file(folder, school).read_bytes()
    own = set(people.loc[people["school_id"] == school, "person_id"])
    others = set(people.loc[people["school_id"] != school, "person_id"]) - own
    assert [p for p in own if p.encode() in data]  # the school's own people are there
    assert not [p for p in others if p.encode() in data]
    rollup = unit_findings_file(folder, district).read_bytes()
    assert not [p for p in people["person_id"] if p.encode() in rollup]
    assert not [n for n in people["name"] if len(n) >= 2 and n.encode() in rollup]


def test_an_unusable_file_is_never_trusted(demo_settings, tmp_path, caplog) -> None:
    import json
    import pickle

    import pyarrow as pa

    from reportkit.findings import load_findings_files, save_findings
    from reportkit.layout import school_findings_file

    found = _demo_findings(demo_settings)
    folder = tmp_path / "findings"
    save_findings(found, folder, "run-1")
    ids = found.school_ids[:3]
    assert load_findings_files(folder, ids, DAY) is not None
    target = school_findings_file(folder, ids[1])
    good = target.read_bytes()

    # a pickle that runs code when unpickled, under the school's name: never run
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    target.write_bytes(pickle.dumps(Payload()))
    caplog.clear()
    assert load_findings_files(folder, ids, DAY) is None
    assert not marker.exists()
    assert str(target) in caplog.text

    # cut off, empty, of another date, of another schema version, changed content
    for broken in (good[: len(good) // 2], b""):
        target.write_bytes(broken)
        assert load_findings_files(folder, ids, DAY) is None
    target.write_bytes(good)
    assert load_findings_files(folder, ids, date(2020, 2, 27)) is None

    def rewrite(change):
        table = pa.ipc.open_file(pa.py_buffer(good)).read_all()
        header = json.loads(table.schema.metadata[b"reportkit"])
        change(header)
        table = table.replace_schema_metadata({b"reportkit": json.dumps(header).encode()})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        target.write_bytes(sink.getvalue().to_pybytes())

    rewrite(lambda h: h.update(version=h["version"] + 1))
    caplog.clear()
    assert load_findings_files(folder, ids, DAY) is None
    assert "schema version" in caplog.text
    rewrite(lambda h: h.update(hash="0" * 64))
    assert load_findings_files(folder, ids, DAY) is None
    rewrite(lambda h: h.update(id=ids[0]))  # another school's file under this name
    assert load_findings_files(folder, ids, DAY) is None
    target.unlink()
    assert load_findings_files(folder, ids, DAY) is None
    target.write_bytes(good)
    assert load_findings_files(folder, ids, DAY) is not None


def test_report_kernels_read_files_and_recompute_when_unusable(demo_settings, tmp_path) -> None:
    from reportkit.findings import save_findings
    from reportkit.layout import school_findings_file
    from reportkit.reports import open_findings

    found = _demo_findings(demo_settings)
    folder = tmp_path / "findings"
    save_findings(found, folder, "run-1")
    school = found.school_ids[0]
    db, params = demo_settings.db, str(demo_settings.params)
    shown = open_findings(folder, DAY.isoformat(), [school], db, params)
    assert shown.school_ids == [school]  # the school's own file only
    assert findings_hash(shown, school) == findings_hash(found, school)
    school_findings_file(folder, school).write_bytes(b"\x80\x04not arrow")
    again = open_findings(folder, DAY.isoformat(), [school], db, params)
    assert findings_hash(again, school) == findings_hash(found, school)  # from the store
