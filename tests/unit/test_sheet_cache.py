"""The validated sheet read back from the store's cache is the sheet validation returned; a
damaged cache is never read as the sheet."""

from __future__ import annotations

import json

import pytest

import omtx_hub.plan as plan_module
from omtx_hub.config import ConfigError, load_config
from omtx_hub.plan import build_plan, read_validated_sheet
from omtx_hub.store import LocalStore
from omtx_hub.store_layout import SHEET_OBJECT
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


def test_a_damaged_or_unsealed_sheet_cache_is_validated_again(tmp_path, monkeypatch, caplog):
    # Issue 19, item 2: the cache is sealed. An edited cache (ethanol planned as benzene), a
    # truncated one, or one written before caches were sealed is never read as the sheet.
    raw = write_screen(tmp_path, rows=[("ethanol", "CCO"), ("methanol", "CO")])
    config = load_config(raw)
    store = LocalStore(config.store)
    name = build_plan(config, store).sheet
    assert name.startswith("sheets/") and name.endswith(".json")
    sealed = store.read_blob(name)
    validations = []
    validate = plan_module.validate_sheet
    monkeypatch.setattr(
        plan_module,
        "validate_sheet",
        lambda *args, **kwargs: validations.append(1) or validate(*args, **kwargs),
    )
    edited = sealed.replace(b'\\"CCO\\"', b'\\"c1ccccc1\\"')
    assert edited != sealed
    for damage in (edited, sealed[: len(sealed) // 2]):
        store.write_blob(name, damage)
        with caplog.at_level("WARNING"):
            ligands = build_plan(config, store).ligands
        assert list(ligands["modeled_smiles"]) == ["CCO", "CO"]
        assert f"store object {store.location}/{name} is damaged" in caplog.text
        assert store.read_blob(name) == sealed  # validated and cached anew
    assert len(validations) == 2
    assert len(list((store.root / "quarantine").iterdir())) == 2
    # Cached before caches were sealed (the same content, no seal): validated again.
    content = json.loads(sealed)
    store.write_blob(name, json.dumps({"tsv": content["tsv"]}).encode())
    build_plan(config, store)
    assert len(validations) == 3 and store.read_blob(name) == sealed


def test_a_plan_whose_sheet_cache_is_damaged_asks_to_plan_again(tmp_path):
    config = load_config(write_screen(tmp_path))
    store = LocalStore(config.store)
    name = build_plan(config, store).sheet
    store.write_blob(name, store.read_blob(name)[:-10])
    with pytest.raises(ConfigError, match="Run the screen again to plan it anew"):
        read_validated_sheet(name, store)
    assert store.read_blob(name) is None and any((store.root / "quarantine").iterdir())
    # Sealed, but no validated sheet (no `line` column): moved aside as well.
    key = name.removeprefix("sheets/").removesuffix(".json")
    store.write_object(SHEET_OBJECT, key, {"tsv": "smiles\nCCO\n"})
    with pytest.raises(ConfigError, match="Run the screen again to plan it anew"):
        read_validated_sheet(name, store)
    assert store.read_blob(name) is None
    assert len(list((store.root / "quarantine").iterdir())) == 2
