"""Molecules validated before (omtx_hub.validated_molecules): a sheet that shares compounds with
an earlier one validates only its new SMILES, with the same results as validating them all."""

from __future__ import annotations

import json

import pytest

import omtx_hub.keys as keys_module
import omtx_hub.validated_molecules as molecules_module
from omtx_hub.chemistry import prepare_ligands
from omtx_hub.keys import molecules_key
from omtx_hub.molecule_parts import part_of
from omtx_hub.sheet import SheetError, validate_sheet
from omtx_hub.store import LocalStore
from omtx_hub.store_layout import (
    MOLECULES_OBJECT,
    validated_molecules_key,
    validated_molecules_path,
)
from omtx_hub.validated_molecules import ValidatedMolecules

# A salt, a charged acid, a racemate in CXSMILES and plain molecules: what standardisation,
# flags and changes look like.
SMILES = ["CCO", "CC(=O)[O-].[Na+]", "C[C@H](N)C(=O)O |&1:1|", "c1ccccc1O", "CCN(CC)CC.Cl"]


def sheet(tmp_path, name: str, rows: list[tuple[str, str]]):
    path = tmp_path / name
    path.write_text("name,smiles\n" + "".join(f"{n},{s}\n" for n, s in rows))
    return path


def validated_with(store, path, **options):
    molecules = ValidatedMolecules(store, affinity=True, salts="strip")
    table = validate_sheet(path, affinity=True, prepare=molecules.prepare, **options)
    return table, molecules


def counted_preparations(monkeypatch) -> list[str]:
    """The SMILES RDKit and Boltz prepare from now on."""
    prepared: list[str] = []

    def counting(smiles, **options):
        prepared.extend(smiles)
        return prepare_ligands(smiles, **options)

    monkeypatch.setattr(molecules_module, "prepare_ligands", counting)
    return prepared


def test_a_sheet_of_known_compounds_validates_none_of_them(tmp_path, monkeypatch):
    store = LocalStore(tmp_path / "store")
    first = sheet(tmp_path, "first.csv", [(f"a{i}", s) for i, s in enumerate(SMILES)])
    plain = validate_sheet(first, affinity=True)
    cached, molecules = validated_with(store, first)
    assert cached.equals(plain) and (molecules.reused, molecules.validated) == (0, len(SMILES))
    prepared = counted_preparations(monkeypatch)
    # The same compounds under other names, in another order, and one new compound.
    rows = [(f"b{i}", s) for i, s in enumerate(reversed(SMILES))] + [("new", "CCCl")]
    second = sheet(tmp_path, "second.csv", rows)
    reused, molecules = validated_with(store, second)
    assert prepared == ["CCCl"]
    assert (molecules.reused, molecules.validated) == (len(SMILES), 1)
    assert reused.equals(validate_sheet(second, affinity=True))


def test_a_molecule_is_validated_once_per_validator_version_in_any_sheet(tmp_path, monkeypatch):
    store = LocalStore(tmp_path / "store")
    validated_with(store, sheet(tmp_path, "first.csv", [("ethanol", "CCO")]))
    prepared = counted_preparations(monkeypatch)
    # Another sheet, the compound in another row under another name, beside a repeat of it.
    rows = [("new", "CCCl"), ("alcohol", "CCO"), ("again", "CCO")]
    other = sheet(tmp_path, "other.csv", rows)
    validated_with(store, other)
    assert prepared == ["CCCl"]
    # A new validator version (what it does changed) validates every SMILES again, once.
    prepared.clear()
    monkeypatch.setattr(keys_module, "VALIDATOR_VERSION", f"{keys_module.VALIDATOR_VERSION}-next")
    _, molecules = validated_with(store, other)
    assert prepared == ["CCCl", "CCO"] and (molecules.reused, molecules.validated) == (0, 2)


def test_what_validation_depends_on_keeps_results_apart(tmp_path, monkeypatch):
    store = LocalStore(tmp_path / "store")
    path = sheet(tmp_path, "s.csv", [("acetate", "CC(=O)[O-].[Na+]")])
    validated_with(store, path)
    prepared = counted_preparations(monkeypatch)
    # Boltz standardises only the affinity ligand; `salts: reject` refuses the salt.
    without = ValidatedMolecules(store, affinity=False, salts="strip")
    validate_sheet(path, affinity=False, prepare=without.prepare)
    rejecting = ValidatedMolecules(store, affinity=True, salts="reject")
    with pytest.raises(SheetError, match="line 2"):
        validate_sheet(path, affinity=True, salts="reject", prepare=rejecting.prepare)
    assert prepared == ["CC(=O)[O-].[Na+]"] * 2
    assert molecules_key(affinity=True, salts="strip") != molecules_key(
        affinity=False, salts="strip"
    )


def test_refused_smiles_are_not_kept_and_a_damaged_part_is_validated_again(tmp_path, monkeypatch):
    store = LocalStore(tmp_path / "store")
    with pytest.raises(SheetError, match="line 3"):
        validated_with(store, sheet(tmp_path, "bad.csv", [("ok", "CCO"), ("bad", "C1CC")]))
    key = molecules_key(affinity=True, salts="strip")
    kept = {
        cell
        for path in (tmp_path / "store").rglob("*.json")
        for cell in json.loads(path.read_text())["molecules"]
    }
    assert kept == {"CCO"}
    part = store.root / validated_molecules_path(key, part_of("CCO"))
    sealed = part.read_text()
    prepared = counted_preparations(monkeypatch)
    # Cut short, edited to say that ethanol is benzene (the seal left as it was), or written
    # before parts were sealed: never served, validated again and written anew (sealed).
    for damage in (
        '{"CCO": ["cut sho',
        sealed.replace('"CCO",', '"c1ccccc1",', 1),
        json.dumps({"CCO": ["c1ccccc1", "c1ccccc1", 6, [], []]}),
    ):
        part.write_text(damage)
        table, _ = validated_with(store, sheet(tmp_path, "again.csv", [("ok", "CCO")]))
        assert prepared == ["CCO"] and table.loc[0, "modeled_smiles"] == "CCO"
        prepared.clear()
        assert json.loads(part.read_text())["molecules"]["CCO"][1] == "CCO"
    # Sealed, yet no part of ours (another version's shape): moved aside too, never raised.
    part_key = validated_molecules_key(key, part_of("CCO"))
    store.write_object(MOLECULES_OBJECT, part_key, {"molecules": {"CCO": ["c1ccccc1"]}})
    table, _ = validated_with(store, sheet(tmp_path, "again.csv", [("ok", "CCO")]))
    assert prepared == ["CCO"] and table.loc[0, "modeled_smiles"] == "CCO"
    # The damaged ones are in the store's quarantine, the unsealed one was replaced.
    assert len(list((store.root / "quarantine").iterdir())) == 3
