"""The content hash of findings: equal findings hash equal, any shown change differs."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd

from reportkit import flags, store
from reportkit.findings_files import canonical, findings_hash, rollup_hash

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
    first = flags.load_findings(engine, config, settings.rules(), DAY)
    again = flags.load_findings(engine, config, settings.rules(), DAY)
    ids = first.school_ids
    assert [findings_hash(first, s) for s in ids] == [findings_hash(again, s) for s in ids]
    assert len({findings_hash(first, s) for s in ids}) == len(ids)  # schools differ
    district = config.districts[0].id
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
