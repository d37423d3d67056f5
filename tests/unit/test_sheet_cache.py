"""The validated sheet read back from the store's cache is the sheet validation returned."""

from __future__ import annotations

import omtx_hub.plan as plan_module
from omtx_hub.config import load_config
from omtx_hub.plan import build_plan
from omtx_hub.store import LocalStore
from tests.screens import write_screen

# Cells pandas would turn into numbers or NaN if it guessed types.
ROWS = [
    ("NA", "CCO", "007", "NaN"),
    ("1e5", "CCN", "010", ""),
    ("null", "CCC", "1.50", "x"),
    ("TRUE", "CO", "12", "null"),
]


def test_cached_sheet_keeps_every_cell_as_text(tmp_path, monkeypatch):
    raw = write_screen(tmp_path, rows=ROWS, extra_columns="batch,note")
    config = load_config(raw)
    validated = build_plan(config, LocalStore(config.store)).ligands

    def fail(*args, **kwargs):
        raise AssertionError("the sheet was validated again")

    monkeypatch.setattr(plan_module, "validate_sheet", fail)
    cached = build_plan(config, LocalStore(config.store)).ligands
    assert list(cached["name"]) == ["NA", "1e5", "null", "TRUE"]
    assert list(cached["batch"]) == ["007", "010", "1.50", "12"]
    assert list(cached["note"]) == ["NaN", "", "x", "null"]
    assert list(cached["line"]) == [2, 3, 4, 5]
    assert cached.equals(validated)
