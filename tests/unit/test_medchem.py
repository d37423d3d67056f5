"""Structural alerts and properties (omtx_hub.medchem) against known molecules, and their
cache in the result store (omtx_hub.chemistry_cache): a molecule is computed once."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors

import omtx_hub.chemistry_cache as cache_module
from omtx_hub.chemistry_cache import ChemistryCache, chemistry_columns
from omtx_hub.keys import chemistry_key
from omtx_hub.medchem import MoleculeChemistry, chemistry_of_molecules, molecule_chemistry
from omtx_hub.records import CHEMISTRY_COLUMNS
from omtx_hub.store import LocalStore
from omtx_hub.store_layout import CHEMISTRY_OBJECT, object_path, part_key

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
# 5-benzylidene rhodanine: PAINS A's ene_rhod, also a Brenk Michael acceptor and NIH rhodanine.
BENZYLIDENE_RHODANINE = "O=C1NC(=S)SC1=Cc1ccccc1"
# N-phenylacrylamide: a Brenk Michael acceptor, no PAINS.
ACRYLAMIDE = "C=CC(=O)Nc1ccccc1"


def test_a_pains_ene_rhod_is_named_with_its_set():
    alerts = molecule_chemistry(BENZYLIDENE_RHODANINE).alerts
    assert "PAINS_A:ene_rhod_A(235)" in alerts
    assert "Brenk:Michael_acceptor_1" in alerts and "NIH:rhodanine" in alerts


def test_a_michael_acceptor_is_a_brenk_alert_and_no_pains():
    alerts = molecule_chemistry(ACRYLAMIDE).alerts
    assert "Brenk:Michael_acceptor_1" in alerts
    assert not any(alert.startswith("PAINS") for alert in alerts)


def test_aspirin_properties_are_rdkits():
    chemistry = molecule_chemistry(ASPIRIN)
    molecule = Chem.MolFromSmiles(ASPIRIN)
    assert chemistry.qed == round(QED.qed(molecule), 3) == pytest.approx(0.550, abs=1e-3)
    assert chemistry.mw == pytest.approx(Descriptors.MolWt(molecule), abs=1e-3)
    assert chemistry.mw == pytest.approx(180.159, abs=1e-3)
    assert chemistry.clogp == pytest.approx(Crippen.MolLogP(molecule), abs=1e-3)
    assert chemistry.tpsa == pytest.approx(63.6, abs=0.01)
    assert (chemistry.hbd, chemistry.hba) == (1, 3)
    assert chemistry.rotatable_bonds == rdMolDescriptors.CalcNumRotatableBonds(molecule)
    assert chemistry.formal_charge == 0
    # Aspirin is a phenol ester (Brenk), which chemists know and buy anyway.
    assert chemistry.alerts == ("Brenk:phenol_ester",)


def test_formal_charge_is_the_modelled_molecules():
    assert molecule_chemistry("C[N+](C)(C)C").formal_charge == 1


def test_columns_join_alerts_and_stored_form_reads_back():
    chemistry = molecule_chemistry(BENZYLIDENE_RHODANINE)
    columns = chemistry.columns()
    assert list(columns) == list(CHEMISTRY_COLUMNS)
    assert columns["alerts"] == ";".join(chemistry.alerts)
    assert MoleculeChemistry.from_json(json.loads(json.dumps(chemistry.to_json()))) == chemistry


def test_an_unreadable_smiles_is_named():
    with pytest.raises(ValueError, match="cannot read the modelled SMILES 'C1CC'"):
        molecule_chemistry("C1CC")


def test_workers_give_the_same_results_in_order():
    smiles = [ASPIRIN, ACRYLAMIDE, BENZYLIDENE_RHODANINE, "CCO"]
    assert chemistry_of_molecules(smiles, workers=2) == [molecule_chemistry(s) for s in smiles]


def counted(monkeypatch) -> list[str]:
    computed: list[str] = []

    def counting(smiles, **options):
        computed.extend(smiles)
        return chemistry_of_molecules(smiles, **options)

    monkeypatch.setattr(cache_module, "chemistry_of_molecules", counting)
    return computed


def test_a_rerun_computes_nothing_and_new_molecules_alone(tmp_path, monkeypatch):
    store = LocalStore(tmp_path / "store")
    computed = counted(monkeypatch)
    first = ChemistryCache(store).chemistry([ASPIRIN, ACRYLAMIDE, ASPIRIN])
    assert sorted(computed) == sorted([ASPIRIN, ACRYLAMIDE])
    computed.clear()
    again = ChemistryCache(store)
    assert again.chemistry([ACRYLAMIDE, ASPIRIN]) == first and computed == []
    assert (again.reused, again.computed) == (2, 0)
    again.chemistry([ASPIRIN, "CCO"])
    assert computed == ["CCO"] and (again.reused, again.computed) == (1, 1)


def test_the_cache_key_names_the_version_and_rdkit():
    from rdkit import rdBase

    assert chemistry_key() == f"c1-rdkit{rdBase.rdkitVersion}"


def test_a_damaged_part_is_computed_again(tmp_path, monkeypatch):
    store = LocalStore(tmp_path / "store")
    ChemistryCache(store).chemistry([ASPIRIN])
    part = next((tmp_path / "store" / "chemistry").rglob("*.json"))
    assert part.relative_to(tmp_path / "store").as_posix() == object_path(
        CHEMISTRY_OBJECT, part_key(chemistry_key(), part.stem)
    )
    part.write_text(part.read_text().replace("Brenk", "Brenx"))
    computed = counted(monkeypatch)
    assert ChemistryCache(store).chemistry([ASPIRIN])[ASPIRIN].alerts == ("Brenk:phenol_ester",)
    assert computed == [ASPIRIN]


def test_rows_get_their_molecules_columns_and_ccd_rows_none(tmp_path):
    store = LocalStore(tmp_path / "store")
    smiles = pd.Series([ASPIRIN, None, "", ASPIRIN], index=[10, 11, 12, 13])
    columns = chemistry_columns(smiles, store)
    assert list(columns.columns) == list(CHEMISTRY_COLUMNS)
    assert list(columns.index) == [10, 11, 12, 13]
    assert columns.loc[10, "alerts"] == "Brenk:phenol_ester" == columns.loc[13, "alerts"]
    assert columns.loc[[11, 12], "mw"].isna().all()
    assert columns["hbd"].dtype == "Int64" and columns.loc[10, "hbd"] == 1
