"""The console's corrections view: each value corrected after its first receipt, marked
已更正 with the earlier value and the flag the correction removed."""

from __future__ import annotations

import datetime as dt

import yaml

from reportkit import store
from reportkit.config import Settings
from reportkit.console import ConsoleModel
from tests.factories import correction_config, ingest_correction

D = dt.date(2020, 2, 10)


def test_the_corrections_view(sqlite_url, tmp_path):
    config = correction_config()
    params = tmp_path / "params"
    params.mkdir()
    (params / "schools.yaml").write_text(
        yaml.safe_dump(config.model_dump(mode="json", exclude_defaults=True), allow_unicode=True),
        encoding="utf-8",
    )
    ingest_correction(store.connect(sqlite_url), config, tmp_path)
    model = ConsoleModel(Settings(db=sqlite_url, params=params, outputs=tmp_path / "out"))
    model.set_date(D)
    frame = model.view("corrections")
    shown = frame.set_index("corrected_column")
    assert list(shown.index) == ["体温", "症状", "重点地区旅居史"]
    assert shown.loc["体温", "earlier_value"] == "38.2"
    assert shown.loc["体温", "current_value"] == "36.5（已更正）"
    assert set(frame["name"]) == {"张三"}
    assert set(frame["class"]) == {""}  # a roster without classes
    assert "发热" in shown.loc["体温", "corrected_flag"]
    assert model.counts("corrections", frame) == "更正 3 项"
    # a threshold above the first reading: that correction no longer removed a fever
    model.set_threshold(38.5)
    assert "发热" not in model.view("corrections").iloc[0]["corrected_flag"]
    # filtering by school slices the view like the others
    assert model.select("corrections", school_ids=["s002"]).empty
